"""`gen-iac smoke BUNDLE`: serve a bundle's scoring code locally and send it one request.

BUNDLE is a code folder of the generated bundles, `bundles/<workspace>/code/<key>/` (the
report names each deployment's); its scoring script is the `scoringScript` that
`bundles/<workspace>/bundles.json` (two levels up) records for `<key>`. This command starts the code under azureml-inference-server-http (the
server v2 online deployments run) the way a deployment loads it, and checks that it comes up
and answers a request before anything is deployed.

How the server is started: `PYTHON -c <launcher> --entry_script <code>/<scoringScript>
--port N`, with the code folder as working directory and `AML_APP_ROOT` (so sibling modules
import as in a deployment), `AZUREML_MODEL_DIR` from `--model-dir`, in a new session (process
group). The launcher is the `azmlinfsrv` console script (`amlserver.run`) with two changes:
it binds 127.0.0.1, where `azmlinfsrv` always binds 0.0.0.0, and it gives gunicorn a short
graceful timeout and no control socket. PYTHON is `--python`, else `bundles/<ws>/.venv`
(beside the code folders, never inside one: a folder's files are hashed and uploaded), else
the interpreter running gen-iac.

The server is always stopped, also on errors and Ctrl-C: SIGTERM to its process group and to
every process whose environment carries this run's marker (so a daemon that init() started in
a session of its own goes too), then SIGKILL after a grace period. Its output goes through a
pipe into a bounded tail (the last LOG_KEEP_LINES lines, each cut at LOG_LINE_BYTES), never to
disk; what is shown says how much was cut.

Exit status: 0 when /score answered 2xx, 1 when it answered anything else, or the server exited
(the message says whether while importing the script or in its init(), with the exit status)
or did not come up in time; then a line names the flag or environment variable the code failed
on, when the log shows one (`KeyError: 'AZUREML_MODEL_DIR'`: pass --model-dir), and the end of
the server's log follows. 2 on bad usage (no bundle, no bundles.json, no script, no request, no
server package: the install command is given). Only the standard library is imported (and
gen-iac's strict JSON reader, itself standard library only): the CLI imports this module.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import math
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, NoReturn

from generator import jsonread

PROG = "gen-iac smoke"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 60.0
GRACE_SECONDS = 5.0  # between SIGTERM and SIGKILL
GRACEFUL_SERVER_SECONDS = 2  # gunicorn's own SIGTERM-to-SIGKILL delay for its workers
LOG_TAIL_LINES = 40  # shown
LOG_KEEP_LINES = 200  # kept in memory while the server runs (the older ones are dropped)
LOG_LINE_BYTES = 2048  # kept of one line (the rest of it is dropped, and the cut is marked)
SERVER_REQUIREMENT = "azureml-inference-server-http>=1.4.1,<2"  # the `smoke` extra's range
MODEL_DIR_VARIABLE = "AZUREML_MODEL_DIR"
# Set (to a random value) in the server's environment: every process the scoring code starts
# inherits it, also one that leaves the process group, so stop() finds them all.
_MARKER = "GEN_IAC_SMOKE_RUN"

# Launcher exit statuses that mean "this interpreter cannot run the server at all".
_NO_SERVER, _UNSUPPORTED_SERVER = 97, 98
_LAUNCHER = f"""\
import sys
try:
    from azureml_inference_server_http import amlserver
except ImportError as exc:
    print("gen-iac smoke launcher:", repr(exc), file=sys.stderr)
    sys.exit({_NO_SERVER})
if not hasattr(amlserver, "DEFAULT_HOST"):
    print("gen-iac smoke launcher: amlserver.DEFAULT_HOST is gone", file=sys.stderr)
    sys.exit({_UNSUPPORTED_SERVER})
amlserver.DEFAULT_HOST = {HOST!r}
try:
    from gunicorn import config
except ImportError:  # Windows: waitress
    pass
else:
    import os
    # Stop fast even while init() runs, and share no ~/.gunicorn control socket (gunicorn 27+).
    extra = " --graceful-timeout {GRACEFUL_SERVER_SECONDS}"
    if hasattr(config, "ControlSocketDisable"):
        extra += " --no-control-socket"
    os.environ["GUNICORN_CMD_ARGS"] = os.environ.get("GUNICORN_CMD_ARGS", "") + extra
sys.argv[0] = "azmlinfsrv"
amlserver.run()
"""

# Inherited settings that would point the server at other code, ports or telemetry.
_DROPPED_ENV = (
    "AZUREML_ENTRY_SCRIPT",
    "AZUREML_SOURCE_DIRECTORY",
    "AZUREML_CONFIG_FILE",
    "AZUREML_DEBUG_PORT",
    "AML_APP_INSIGHTS_ENABLED",
    "AML_APP_INSIGHTS_KEY",
    "SEPERATE_HEALTH_ENDPOINT",
    "HEALTH_PORT",
)


class SmokeError(Exception):
    """A problem to report in one line; `status` is the exit status; `hint` a second line
    (the flag or variable to set); `log` the end of the server's output, shown after them."""

    def __init__(
        self,
        message: str,
        status: int,
        log: LogExcerpt | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.log = log
        self.hint = hint


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: {message} (see {PROG} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Start a bundle's scoring script under azureml-inference-server-http on "
        f"{HOST}, wait until it is live, POST one request to /score, print the HTTP status and "
        "the response body, and stop the server.",
        epilog="The interpreter needs azureml-inference-server-http and the scoring code's "
        "dependencies; gen-iac's `smoke` extra installs the server (pip install -e '.[smoke]' "
        "in a checkout). exit status: 0 the request answered 2xx, 1 any other answer or the "
        "server did not come up, 2 bad usage (missing bundle, bundles.json, script, request or "
        "server).",
    )
    parser.add_argument(
        "bundle", type=Path, metavar="BUNDLE", help="a code folder: bundles/<workspace>/code/<key>"
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        metavar="DIR",
        help="model folder, passed as AZUREML_MODEL_DIR (default: the inherited value, if any)",
    )
    parser.add_argument(
        "--request",
        type=Path,
        metavar="FILE",
        help="JSON body to POST to /score (default: BUNDLE/sample-request.json)",
    )
    parser.add_argument(
        "--python",
        metavar="PYTHON",
        help="interpreter whose environment has the server and the scoring dependencies "
        "(default: BUNDLE/../../.venv, i.e. bundles/<ws>/.venv, if present, else the one "
        "running gen-iac)",
    )
    parser.add_argument(
        "--port", type=_port, metavar="N", help="port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for the server to be live, and again for the answer "
        f"(default: {DEFAULT_TIMEOUT:g})",
    )
    return parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 1-65535")
    return port


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return value


INDEX = "bundles.json"


@dataclass(frozen=True)
class Bundle:
    root: Path  # the code folder as given (absolute)
    code: Path  # the code folder, resolved
    script: Path  # absolute; inside code
    scoring_script: str  # as bundles.json says, relative to the code folder


def load_bundle(root: Path) -> Bundle:
    """Check BUNDLE (a code folder, bundles/<ws>/code/<key>/) and read its scoring script
    from ../../bundles.json (SmokeError, exit 2)."""
    if not root.is_dir():
        raise SmokeError(f"bundle folder not found: {root}", EXIT_USAGE)
    code = root.resolve()
    manifest = code.parent.parent / INDEX
    if code.parent.name != "code" or not manifest.is_file():
        raise SmokeError(
            f"{INDEX} not found two levels above {root}: BUNDLE is a code folder of the "
            "generated bundles, bundles/<workspace>/code/<key>",
            EXIT_USAGE,
        )
    try:
        data = jsonread.load(manifest)
    except OSError as exc:
        raise SmokeError(f"cannot read {manifest}: {exc}", EXIT_USAGE) from None
    except jsonread.JsonError as exc:  # duplicate keys, deep nesting, not JSON: one line
        raise SmokeError(str(exc), EXIT_USAGE) from None
    codes = data.get("code") if isinstance(data, dict) else None
    entry = codes.get(code.name) if isinstance(codes, dict) else None
    if not isinstance(entry, dict):
        raise SmokeError(f"{manifest}: no code entry for {code.name!r}", EXIT_USAGE)
    script = entry.get("scoringScript")
    if not isinstance(script, str) or not script.strip():
        raise SmokeError(
            f"{manifest}: scoringScript of {code.name!r} is missing or not a string", EXIT_USAGE
        )
    path = (code / script).resolve()
    # An absolute or ../ path would run code the bundle does not ship.
    if Path(script).is_absolute() or not path.is_relative_to(code):
        raise SmokeError(
            f"{manifest}: scoringScript {script!r} must be a path inside {root}", EXIT_USAGE
        )
    if not path.is_file():
        missing = " (the snapshot had no code: put it there)" if entry.get("missingCode") else ""
        raise SmokeError(
            f"{root / script} not found (scoringScript in {manifest}){missing}", EXIT_USAGE
        )
    return Bundle(root=root, code=code, script=path, scoring_script=script)


def choose_python(bundle: Path, given: str | None) -> str:
    """--python, else bundles/<ws>/.venv, else this interpreter (SmokeError, exit 2). Never
    a .venv inside the code folder: everything there is hashed and uploaded."""
    if given:
        found = given if os.sep in given or (os.altsep and os.altsep in given) else None
        found = found or shutil.which(given)
        if not found or not Path(found).is_file():
            raise SmokeError(f"--python {given}: no such interpreter", EXIT_USAGE)
        # Not resolved: a venv's python is a symlink whose location selects the venv.
        return str(Path(found).absolute())
    venv = bundle.parent.parent / ".venv"
    for candidate in (venv / "bin/python", venv / "Scripts/python.exe"):
        if candidate.is_file():
            return str(candidate.absolute())
    return sys.executable


def read_request(bundle: Path, given: Path | None) -> bytes:
    """--request, else the code folder's sample-request.json."""
    path = given if given is not None else bundle / "sample-request.json"
    if given is None and not path.is_file():
        raise SmokeError(
            f"no request to send: pass --request FILE or add {path} to the bundle", EXIT_USAGE
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SmokeError(f"cannot read request file {path}: {exc.strerror}", EXIT_USAGE) from None


def pick_port(wanted: int | None) -> int:
    """`wanted` after checking nothing listens there, or a free port when it is None."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Same option gunicorn binds with, so a port in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, wanted or 0))
        except OSError:
            raise SmokeError(f"port {wanted} on {HOST} is already in use", EXIT_USAGE) from None
        port: int = probe.getsockname()[1]
        return port


def server_command(python: str, script: Path, port: int) -> list[str]:
    return [python, "-c", _LAUNCHER, "--entry_script", str(script), "--port", str(port)]


def server_env(code: Path, model_dir: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env["AML_APP_ROOT"] = str(code)
    env["WORKER_COUNT"] = "1"
    env["PYTHONUNBUFFERED"] = "1"  # the log tail must be current when we print it
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ in the bundle's code folder
    if model_dir is not None:
        env["AZUREML_MODEL_DIR"] = str(model_dir)
    return env


@dataclass(frozen=True)
class LogExcerpt:
    """What is shown of the server's output: its last lines, and how much there was."""

    lines: tuple[str, ...]  # oldest first
    total_lines: int  # lines the server wrote in all
    total_bytes: int
    kept_lines: int  # lines the bounded buffer still held

    def header(self) -> str:
        shown = len(self.lines)
        if shown == self.total_lines:
            return f"--- server log ({_count(shown, 'line')}) ---"
        cut = ""
        if self.kept_lines < self.total_lines:
            cut = f"; gen-iac keeps only the last {self.kept_lines} lines, the rest was cut"
        return (
            f"--- server log: the last {shown} of {self.total_lines:,} lines "
            f"({_size(self.total_bytes)}{cut}) ---"
        )


class OutputTail:
    """The end of a byte stream in bounded memory: at most `max_lines` complete lines, each
    cut to `max_line_bytes` (the cut is marked on the line), plus running totals."""

    def __init__(self, max_lines: int = LOG_KEEP_LINES, max_line_bytes: int = LOG_LINE_BYTES):
        self._lines: deque[str] = deque(maxlen=max_lines)
        self._max_line = max_line_bytes
        self._partial = bytearray()
        self._partial_dropped = 0  # bytes of the current line beyond max_line_bytes
        self._lock = threading.Lock()
        self.total_lines = 0
        self.total_bytes = 0

    def feed(self, chunk: bytes) -> None:
        with self._lock:
            self.total_bytes += len(chunk)
            start = 0
            while True:
                end = chunk.find(b"\n", start)
                piece = chunk[start:] if end < 0 else chunk[start:end]
                room = self._max_line - len(self._partial)
                self._partial += piece[: max(room, 0)]
                self._partial_dropped += max(len(piece) - max(room, 0), 0)
                if end < 0:
                    return
                self._end_line()
                start = end + 1

    def close(self) -> None:
        """The stream ended: a last line without a newline still counts."""
        with self._lock:
            if self._partial or self._partial_dropped:
                self._end_line()

    def _end_line(self) -> None:
        text = self._partial.decode("utf-8", errors="replace").rstrip("\r")
        if self._partial_dropped:
            text += f" [... {self._partial_dropped:,} more bytes of this line cut]"
        self._lines.append(text)
        self.total_lines += 1
        self._partial.clear()
        self._partial_dropped = 0

    def lines(self) -> list[str]:
        """The kept lines, oldest first, and the line still being written, if any."""
        with self._lock:
            lines = list(self._lines)
            if self._partial:
                lines.append(self._partial.decode("utf-8", errors="replace"))
            return lines

    def excerpt(self, lines: int = LOG_TAIL_LINES) -> LogExcerpt:
        with self._lock:
            kept = list(self._lines)
            total = self.total_lines
            if self._partial:
                kept.append(self._partial.decode("utf-8", errors="replace"))
                total += 1
            return LogExcerpt(tuple(kept[-lines:]), total, self.total_bytes, len(kept))


class Server:
    """The server process and the end of its output. `stop()` ends the process group and
    every process that carries this run's marker in its environment: a daemon that init()
    started in a session of its own (setsid, double fork) keeps the marker."""

    def __init__(self, argv: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self.python = argv[0]
        self.marker = f"{_MARKER}={secrets.token_hex(16)}"
        self.env = dict(env)
        self.output = OutputTail()
        posix = os.name == "posix"
        try:
            self.proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env={**env, _MARKER: self.marker.partition("=")[2]},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # Own session and process group: the workers go down with the master, and a
                # Ctrl-C meant for gen-iac does not reach them before we stop them ourselves.
                start_new_session=posix,
                creationflags=0 if posix else getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
            )
        except OSError as exc:
            raise SmokeError(f"cannot start {argv[0]}: {exc.strerror}", EXIT_USAGE) from None
        assert self.proc.stdout is not None
        # A thread drains the pipe so the server never blocks on a full one; what it reads
        # goes into the bounded tail, never to disk.
        self._reader = threading.Thread(
            target=_pump, args=(self.proc.stdout, self.output), name="smoke-log", daemon=True
        )
        self._reader.start()
        self.survivors: list[int] = []
        self._seen: set[int] = set()

    def exited(self) -> int | None:
        return self.proc.poll()

    def excerpt(self, lines: int = LOG_TAIL_LINES) -> LogExcerpt:
        return self.output.excerpt(lines)

    def settle(self, quiet: float = 0.2, limit: float = 2.0) -> None:
        """Let the reader catch up with what the server has written (an answer can arrive
        before the log lines written ahead of it are read): wait until the output has been
        quiet for `quiet` seconds, `limit` seconds at most."""
        deadline = time.monotonic() + limit
        seen = -1
        while self._reader.is_alive() and time.monotonic() < deadline:
            if self.output.total_bytes == seen:
                return
            seen = self.output.total_bytes
            time.sleep(quiet)

    def drain(self, seconds: float = 1.0) -> None:
        """Wait a little for the rest of the output (EOF comes when every writer is gone)."""
        self._reader.join(seconds)

    def stop(self) -> None:
        """SIGTERM the group and the marked processes, SIGKILL what is left after the grace
        period; `survivors` lists any process that outlived even that."""
        try:
            self._signal(signal.SIGTERM)
            if not self._wait_gone(GRACE_SECONDS):
                self._kill()
        except KeyboardInterrupt:
            # A second Ctrl-C while stopping: no more grace.
            self._kill()
        finally:
            self.drain()

    def _kill(self) -> None:
        self._signal(signal.SIGKILL if os.name == "posix" else signal.SIGTERM)
        if not self._wait_gone(GRACE_SECONDS):
            self.survivors = self._members()

    def _signal(self, sig: int) -> None:
        if os.name != "posix":
            with contextlib.suppress(OSError):
                if sig == signal.SIGTERM:
                    self.proc.terminate()
                else:
                    self.proc.kill()
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)
        for pid in self._members():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def _members(self) -> list[int]:
        # A process found once stays followed until it is gone: a dying one may already
        # show an empty environment while it still runs.
        self._seen.update(_live_processes(self.proc.pid, self.marker.encode()))
        self._seen = {pid for pid in self._seen if _running(pid)}
        return sorted(self._seen)

    def _wait_gone(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        while self._members():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True


def _pump(stream: IO[bytes], tail: OutputTail) -> None:
    try:
        while chunk := os.read(stream.fileno(), 65536):
            tail.feed(chunk)
    except (OSError, ValueError):
        pass  # closed under us
    finally:
        tail.close()
        with contextlib.suppress(OSError):
            stream.close()


def _live_processes(pgid: int, marker: bytes) -> list[int]:
    """Processes of group `pgid`, or whose environment holds `marker` (NAME=VALUE), that still
    run; zombies awaiting a reaper do not count. Without /proc only the group is known."""
    if os.name != "posix":
        return []
    proc = Path("/proc")
    if not (proc / "self/stat").exists():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    found = []
    me = os.getpid()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            # After "(comm)": state, ppid, pgrp.
            if len(fields) < 3 or fields[0] in ("Z", "X"):
                continue
            if fields[2] == str(pgid) or marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue  # exited while we looked, or not ours to read
    return found


def _running(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not), where /proc tells; else whether it exists."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        if Path("/proc/self/stat").exists():
            return False
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    return state not in ("Z", "X")


def _opener() -> urllib.request.OpenerDirector:
    # No proxy: an HTTP(S)_PROXY from the environment must not carry loopback traffic.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_until_live(server: Server, port: int, timeout: float, script: str) -> None:
    """Poll GET / (the server's liveness route) until 200, the process exits or time runs out."""
    opener = _opener()
    url = f"http://{HOST}:{port}/"
    deadline = time.monotonic() + timeout
    while True:
        status = server.exited()
        if status is not None:
            raise exited_error(server, status, script)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            server.settle()
            lines = server.output.lines()
            still = " (init() was still running)" if server_stage(lines) == "init" else ""
            raise SmokeError(
                f"the server was not live on {HOST}:{port} within {timeout:g} s{still}",
                EXIT_FAILED,
                server.excerpt(),
                missing_setting(lines, server.env, script),
            )
        try:
            # The master accepts before init() has finished; the answer waits for the worker.
            with opener.open(url, timeout=min(2.0, remaining)) as response:
                if response.status == 200:
                    return
        except (OSError, http.client.HTTPException):
            pass  # refused (not bound yet), timed out (init running) or reset
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


# What the server logs, by stage of loading the scoring script (azureml-inference-server-http
# 1.x, server/user_script.py and server/aml_blueprint.py).
_IMPORT_FAILED = ("Failed to import user script", "UserScriptImportException")
_INIT_STARTED, _INIT_DONE = "Invoking user's init function", "init has completed successfully"
_INIT_FAILED = "User's init function failed"


def server_stage(lines: Sequence[str]) -> str | None:
    """`import` or `init` when the log shows the server stopped (or still is) importing the
    scoring script or running its init(), else None."""
    text = "\n".join(lines)
    if any(marker in text for marker in _IMPORT_FAILED):
        return "import"
    if _INIT_FAILED in text or (_INIT_STARTED in text and _INIT_DONE not in text):
        return "init"
    return None


def exited_error(server: Server, status: int, script: str) -> SmokeError:
    """The error for a server that exited before it was live, saying at what stage."""
    server.drain()
    lines = server.output.lines()
    if status == _NO_SERVER:
        last = lines[-1] if lines else ""
        also = ""
        if server.python == sys.executable:
            also = " (in a gen-iac checkout: pip install -e '.[smoke]')"
        return SmokeError(
            f"{server.python} cannot import azureml-inference-server-http ({last}); install it "
            f"there: {shlex.quote(server.python)} -m pip install '{SERVER_REQUIREMENT}'{also}",
            EXIT_USAGE,
        )
    if status == _UNSUPPORTED_SERVER:
        return SmokeError(
            f"the azureml-inference-server-http of {server.python} is not supported; install "
            f"it there: {shlex.quote(server.python)} -m pip install '{SERVER_REQUIREMENT}'",
            EXIT_USAGE,
        )
    how = f"with status {status}"
    if status < 0:
        with contextlib.suppress(ValueError):
            how = f"on signal {signal.Signals(-status).name}"
    stage = server_stage(lines)
    where = {"import": f"while importing {script}", "init": f"in init() of {script}"}.get(
        stage or "", "before it was live"
    )
    return SmokeError(
        f"the server exited {how} {where}",
        EXIT_FAILED,
        server.excerpt(),
        missing_setting(lines, server.env, script),
    )


_KEY_ERROR = re.compile(r"KeyError: '([A-Za-z_][A-Za-z0-9_]*)'$")
_OS_GETITEM = re.compile(r'File "(?:<frozen os>|.*[/\\]os\.py)", line \d+, in __getitem__')
_ENV_READ = re.compile(
    r"""(?:getenv|environ\.get|environ)\s*[(\[]\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]"""
)
_NONE_ERROR = re.compile(r"^(?:TypeError|AttributeError|ValueError)\b.*\bNoneType\b")


def missing_variable(lines: Sequence[str], env: Mapping[str, str]) -> str | None:
    """The environment variable the scoring code failed on, when the log shows one that the
    server's environment `env` does not have: `os.environ[NAME]` raising KeyError, or
    `os.getenv(NAME)` / `os.environ.get(NAME)` in the failing frames next to an error about
    None."""
    for i, line in enumerate(lines):
        match = _KEY_ERROR.search(line.strip())
        if (
            match
            and match[1] not in env
            and any(_OS_GETITEM.search(before) for before in lines[max(0, i - 3) : i])
        ):
            return match[1]
    if any(_NONE_ERROR.search(line.strip()) for line in lines):
        for line in lines:
            for name in _ENV_READ.findall(line):
                if name not in env:
                    return str(name)
    return None


def missing_setting(lines: Sequence[str], env: Mapping[str, str], script: str) -> str | None:
    """One line naming the flag or variable to set, when the log shows the code needed one."""
    name = missing_variable(lines, env)
    if name is None:
        return None
    if name == MODEL_DIR_VARIABLE:
        return (
            f"the scoring code ({script}) reads {name}, which is not set: pass --model-dir DIR "
            "(the folder that holds the model files; a v2 deployment sets it to where the "
            "model is mounted)"
        )
    return (
        f"the scoring code ({script}) reads the environment variable {name}, which is not "
        f"set: set it where {PROG} runs (the server inherits the environment), e.g. "
        f"{name}=... {PROG} ..."
    )


def score(port: int, body: bytes, timeout: float) -> tuple[int, str, bytes]:
    """POST the body to /score: (status, reason, response body); SmokeError if no answer."""
    request = urllib.request.Request(
        f"http://{HOST}:{port}/score",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with _opener().open(request, timeout=timeout) as response:
            return response.status, response.reason, response.read()
    except urllib.error.HTTPError as exc:  # 4xx/5xx: an answer all the same
        return exc.code, str(exc.reason), exc.read()
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise SmokeError(f"POST /score got no answer: {reason}", EXIT_FAILED) from None


def _report(error: SmokeError) -> None:
    """The error line, the hint line, then the log, oldest line first, between two rules."""
    print(f"{PROG}: {error}", file=sys.stderr)
    if error.hint:
        print(f"{PROG}: {error.hint}", file=sys.stderr)
    if error.log is not None:
        body = _as_data(error.log.lines)
        print(f"{error.log.header()}\n{body}\n--- end of the server log ---", file=sys.stderr)


def _as_data(lines: Sequence[str]) -> str:
    """What the scoring code wrote, line by line as the console shows data: it may not form
    a CI logging command (`##vso[...]`, `::add-mask::`) in the pipeline's log."""
    from generator.console import safe

    return "\n".join(safe(line) for line in lines)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the finally that stops the server


def main(argv: list[str]) -> int:
    """Entry of `gen-iac smoke`; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help: 0, bad usage: 2
        return int(exc.code or 0)
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: nothing to install
        previous = None
    try:
        return _smoke(args)
    except SmokeError as error:
        _report(error)
        return error.status
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; the server was stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _smoke(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle.absolute())
    model_dir: Path | None = args.model_dir
    if model_dir is not None:
        if not model_dir.is_dir():
            raise SmokeError(f"--model-dir {model_dir}: no such folder", EXIT_USAGE)
        model_dir = model_dir.resolve()
    body = read_request(bundle.root, args.request)
    python = choose_python(bundle.root, args.python)
    port = pick_port(args.port)
    print(
        f"{PROG}: starting {bundle.scoring_script} on http://{HOST}:{port} with {python}",
        file=sys.stderr,
    )
    script = bundle.scoring_script
    server = Server(
        server_command(python, bundle.script, port), bundle.code, server_env(bundle.code, model_dir)
    )
    try:
        return _serve(server, port, body, args.timeout, script)
    finally:
        server.stop()
        if server.survivors:
            print(
                f"{PROG}: could not stop process(es) {', '.join(map(str, server.survivors))} "
                "started by the scoring code",
                file=sys.stderr,
            )


def _serve(server: Server, port: int, body: bytes, timeout: float, script: str) -> int:
    wait_until_live(server, port, timeout, script)
    try:
        status, reason, answer = score(port, body, timeout)
    except SmokeError as error:
        exited = server.exited()
        if exited is not None:  # the worker took the master down with it
            raise exited_error(server, exited, script) from None
        server.settle()
        raise SmokeError(str(error), error.status, server.excerpt()) from None
    text = answer.decode("utf-8", errors="replace")
    print(_as_data([f"HTTP {status} {reason}".rstrip(), *text.splitlines()]))
    if 200 <= status < 300:
        return EXIT_OK
    server.settle()
    lines = server.output.lines()
    _report(
        SmokeError(
            f"POST /score answered {status}",
            EXIT_FAILED,
            server.excerpt(),
            missing_setting(lines, server.env, script),
        )
    )
    return EXIT_FAILED


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _size(n: int) -> str:
    if n < 1024:
        return _count(n, "byte")
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):,.1f} MiB"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
