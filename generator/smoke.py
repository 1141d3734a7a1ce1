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
graceful timeout and no control socket. PYTHON is `--python`, else the bundle's own
`<bundle>/.venv`, else the interpreter running gen-iac.

The server is always stopped, also on errors and Ctrl-C: SIGTERM to its process group, then
SIGKILL after a grace period. Exit status: 0 when /score answered 2xx, 1 when it answered
anything else or the server did not come up in time (the end of the server's log is shown),
2 on bad usage (no bundle, no bundles.json, no script, no request, no server package).
Only the standard library is imported: the CLI imports this module.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, NoReturn

PROG = "gen-iac smoke"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 60.0
GRACE_SECONDS = 5.0  # between SIGTERM and SIGKILL
GRACEFUL_SERVER_SECONDS = 2  # gunicorn's own SIGTERM-to-SIGKILL delay for its workers
LOG_TAIL_LINES = 40
SERVER_REQUIREMENT = "azureml-inference-server-http>=1.4.1,<2"

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
    """A problem to report in one line; `status` is the exit status; `log` adds the server log."""

    def __init__(self, message: str, status: int, log: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.log = log


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: {message} (see {PROG} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Start a bundle's scoring script under azureml-inference-server-http on "
        f"{HOST}, wait until it is live, POST one request to /score, print the HTTP status and "
        "the response body, and stop the server.",
        epilog="exit status: 0 the request answered 2xx, 1 any other answer or the server did "
        "not come up, 2 bad usage (missing bundle, bundles.json, script, request or server).",
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
        "(default: BUNDLE/.venv if present, else the one running gen-iac)",
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
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SmokeError(f"cannot read {manifest}: {exc}", EXIT_USAGE) from None
    except json.JSONDecodeError as exc:
        raise SmokeError(f"{manifest}: not valid JSON ({exc})", EXIT_USAGE) from None
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
    """--python, else the bundle's .venv, else this interpreter (SmokeError, exit 2)."""
    if given:
        found = given if os.sep in given or (os.altsep and os.altsep in given) else None
        found = found or shutil.which(given)
        if not found or not Path(found).is_file():
            raise SmokeError(f"--python {given}: no such interpreter", EXIT_USAGE)
        # Not resolved: a venv's python is a symlink whose location selects the venv.
        return str(Path(found).absolute())
    for candidate in (bundle / ".venv/bin/python", bundle / ".venv/Scripts/python.exe"):
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


class Server:
    """The server process and its log; `stop()` leaves no process of its group behind."""

    def __init__(self, argv: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self._log: IO[bytes] = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by stop()
            prefix="gen-iac-smoke-", suffix=".log", delete=False
        )
        self.log_path = Path(self._log.name)
        self.python = argv[0]
        posix = os.name == "posix"
        try:
            self.proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                # Own process group: the workers go down with the master, and a Ctrl-C
                # meant for gen-iac does not reach them before we stop them ourselves.
                start_new_session=posix,
                creationflags=0 if posix else getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
            )
        except OSError as exc:
            self._close_log()
            self.remove_log()
            raise SmokeError(f"cannot start {argv[0]}: {exc.strerror}", EXIT_USAGE) from None

    def exited(self) -> int | None:
        return self.proc.poll()

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL what is left after the grace period."""
        try:
            self._signal(signal.SIGTERM)
            if not self._wait_gone(GRACE_SECONDS):
                self._kill()
        except KeyboardInterrupt:
            # A second Ctrl-C while stopping: no more grace.
            self._kill()
        finally:
            self._close_log()

    def _kill(self) -> None:
        self._signal(signal.SIGKILL if os.name == "posix" else signal.SIGTERM)
        self._wait_gone(GRACE_SECONDS)

    def _signal(self, sig: int) -> None:
        try:
            if os.name == "posix":
                os.killpg(self.proc.pid, sig)
            elif sig == signal.SIGTERM:
                self.proc.terminate()
            else:
                self.proc.kill()
        except (ProcessLookupError, PermissionError):
            pass  # already gone

    def _wait_gone(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return False
        while _group_alive(self.proc.pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _close_log(self) -> None:
        self._log.close()

    def remove_log(self) -> None:
        self.log_path.unlink(missing_ok=True)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs (zombies awaiting a reaper do not count)."""
    if os.name != "posix":
        return False
    proc = Path("/proc")
    if not (proc / "self/stat").exists():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited while we looked
        # After "(comm)": state, ppid, pgrp.
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _opener() -> urllib.request.OpenerDirector:
    # No proxy: an HTTP(S)_PROXY from the environment must not carry loopback traffic.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_until_live(server: Server, port: int, timeout: float) -> None:
    """Poll GET / (the server's liveness route) until 200, the process exits or time runs out."""
    opener = _opener()
    url = f"http://{HOST}:{port}/"
    deadline = time.monotonic() + timeout
    while True:
        status = server.exited()
        if status is not None:
            _raise_exited(server, status)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SmokeError(
                f"the server was not live on {HOST}:{port} within {timeout:g} s",
                EXIT_FAILED,
                server.tail(),
            )
        try:
            # The master accepts before init() has finished; the answer waits for the worker.
            with opener.open(url, timeout=min(2.0, remaining)) as response:
                if response.status == 200:
                    return
        except (OSError, http.client.HTTPException):
            pass  # refused (not bound yet), timed out (init running) or reset
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def _raise_exited(server: Server, status: int) -> NoReturn:
    tail = server.tail()
    if status == _NO_SERVER:
        last = tail.splitlines()[-1] if tail else ""
        raise SmokeError(
            f"{server.python} cannot import azureml-inference-server-http ({last}); "
            f"install it there: pip install '{SERVER_REQUIREMENT}'",
            EXIT_USAGE,
        )
    if status == _UNSUPPORTED_SERVER:
        raise SmokeError(
            f"the azureml-inference-server-http of {server.python} is not supported; "
            f"install {SERVER_REQUIREMENT}",
            EXIT_USAGE,
        )
    raise SmokeError(
        f"the server exited with status {status} before it was live", EXIT_FAILED, tail
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
    print(f"{PROG}: {error}", file=sys.stderr)
    if error.log:
        print(f"--- end of the server log ---\n{error.log}\n---", file=sys.stderr)


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
    server = Server(
        server_command(python, bundle.script, port), bundle.code, server_env(bundle.code, model_dir)
    )
    try:
        wait_until_live(server, port, args.timeout)
        try:
            status, reason, answer = score(port, body, args.timeout)
        except SmokeError as error:
            raise SmokeError(str(error), error.status, server.tail()) from None
        text = answer.decode("utf-8", errors="replace")
        print(f"HTTP {status} {reason}".rstrip())
        print(text, end="" if text.endswith("\n") else "\n")
        failed = not 200 <= status < 300
        if failed:
            _report(SmokeError(f"POST /score answered {status}", EXIT_FAILED, server.tail()))
        return EXIT_FAILED if failed else EXIT_OK
    finally:
        server.stop()
        server.remove_log()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
