"""`gen-iac smoke` against the real azureml-inference-server-http, on bundles built here.

The churn bundle is made the way the generator makes it: the v1 source tarball's `src/`
becomes `code/<key>/`, and bundles.json names `score.py` for that key. The expected churn probability is computed
here from model.json, independently of the scoring code. The server package is a test
dependency (the `test` extra): when it is missing these tests fail, they never skip.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import socket
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from generator import smoke
from generator.smoke import OutputTail, main, missing_variable
from tests.conftest import ROOT

CHURN_TARBALL = ROOT / "examples/snapshot/assets/churn-aci/7d3e9a1c.tar.gz"
CHURN_MODEL = ROOT / "examples/models/churn-model/3"


@pytest.fixture(scope="module", autouse=True)
def server_installed() -> None:
    if importlib.util.find_spec("azureml_inference_server_http") is None:
        pytest.fail(
            "azureml-inference-server-http is not installed: pip install -e '.[test,smoke]'",
            pytrace=False,
        )


def write_bundle(root: Path, files: dict[str, bytes], script: str = "score.py") -> Path:
    """A generated bundles tree at `root` (bundles/<ws>/): `files` in code/test-blue/ and
    bundles.json naming `script`. Returns the code folder, what `gen-iac smoke` takes."""
    code = root / "code" / "test-blue"
    code.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = code / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    index = {
        "code": {"test-blue": {"deployments": ["test-endpoint/blue"], "scoringScript": script}},
        "deployments": {"test-endpoint/blue": {"code": "test-blue", "environment": None}},
        "environments": {},
    }
    (root / "bundles.json").write_text(json.dumps(index, sort_keys=True), encoding="utf-8")
    return code


def churn_files() -> dict[str, bytes]:
    """The regular files under src/ in the v1 source tarball, relative to src/."""
    files = {}
    with tarfile.open(CHURN_TARBALL, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith("src/"):
                stream = tar.extractfile(member)
                assert stream is not None
                files[member.name.removeprefix("src/")] = stream.read()
    return files


def script_bundle(root: Path, source: str) -> Path:
    return write_bundle(root, {"score.py": textwrap.dedent(source).encode()})


def churn_probability(row: list[float]) -> float:
    model = json.loads((CHURN_MODEL / "model.json").read_text(encoding="utf-8"))
    z = model["bias"]
    for x, mean, scale, weight in zip(
        row, model["means"], model["scales"], model["weights"], strict=True
    ):
        z += weight * (x - mean) / scale
    return 1.0 / (1.0 + math.exp(-z))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def running(pid: int) -> bool:
    """Whether `pid` runs; a zombie waiting for its reaper does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (the server's carries the script)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes() and running(int(cmdline.parent.name)):
                found.append(int(cmdline.parent.name))
        except (OSError, ValueError):
            continue
    return found


def test_churn_bundle_answers_what_the_model_computes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = write_bundle(tmp_path / "bundle", churn_files())
    before = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*"))
    rows = [[5.0, 99.9, 3.0], [48.0, 30.0, 1.0], [12.0, 70.0, 0.0]]
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"data": rows}), encoding="utf-8")

    status = main(
        [str(bundle), "--model-dir", str(CHURN_MODEL), "--request", str(request), "--timeout", "60"]
    )

    out, err = capsys.readouterr()
    assert status == 0, err
    head, _, body = out.partition("\n")
    assert head == "HTTP 200 OK"
    probabilities = json.loads(body)["probabilities"]
    assert probabilities == pytest.approx([churn_probability(r) for r in rows], rel=1e-12)
    # The code folder is what gets uploaded: a smoke run must not add __pycache__ to it.
    assert sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*")) == before


def test_module_entry_sends_the_bundles_sample_request(tmp_path: Path) -> None:
    files = churn_files()
    bundle = write_bundle(tmp_path / "bundle", files)
    (bundle / "sample-request.json").write_bytes(files["sample-request.json"])
    rows = json.loads(files["sample-request.json"])["data"]

    result = subprocess.run(
        [sys.executable, "-m", "generator.smoke", str(bundle), "--model-dir", str(CHURN_MODEL)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition("\n")
    assert head == "HTTP 200 OK"
    expected = [churn_probability(r) for r in rows]
    assert json.loads(body)["probabilities"] == pytest.approx(expected, rel=1e-12)


def test_init_failure_is_exit_1_with_the_server_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = script_bundle(
        tmp_path / "bundle",
        """\
        def init():
            raise RuntimeError("model file is corrupt")


        def run(raw_data):
            return raw_data
        """,
    )
    request = tmp_path / "request.json"
    request.write_text("{}", encoding="utf-8")

    status = main([str(bundle), "--request", str(request), "--timeout", "60"])

    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""
    lines = err.splitlines()
    assert lines[1] == "gen-iac smoke: the server exited with status 3 in init() of score.py"
    # The log comes after the message, oldest line first, between its two rules.
    assert lines[2].startswith("--- server log")
    assert lines[-1] == "--- end of the server log ---"
    assert "RuntimeError: model file is corrupt" in lines[2:-1]
    assert lines.index("RuntimeError: model file is corrupt") > lines.index(
        next(line for line in lines if "Invoking user's init function" in line)
    )


def test_run_failure_prints_the_answer_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = script_bundle(
        tmp_path / "bundle",
        """\
        def init():
            pass


        def run(raw_data):
            raise ValueError("unexpected payload")
        """,
    )
    request = tmp_path / "request.json"
    request.write_text('{"data": []}', encoding="utf-8")

    status = main([str(bundle), "--request", str(request)])

    out, err = capsys.readouterr()
    assert status == 1
    assert out.startswith("HTTP 500 ")
    assert "gen-iac smoke: POST /score answered 500" in err
    assert "ValueError: unexpected payload" in err


def test_server_never_live_is_exit_1_and_leaves_nothing_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pids = tmp_path / "pids.txt"
    bundle = script_bundle(
        tmp_path / "bundle",
        f"""\
        import os
        import time


        def init():
            with open({str(pids)!r}, "w") as f:
                f.write(f"{{os.getpid()}} {{os.getppid()}}")
            time.sleep(300)


        def run(raw_data):
            return raw_data
        """,
    )
    request = tmp_path / "request.json"
    request.write_text("{}", encoding="utf-8")
    port = free_port()

    status = main([str(bundle), "--request", str(request), "--port", str(port), "--timeout", "4"])

    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""
    assert f"gen-iac smoke: the server was not live on 127.0.0.1:{port} within 4 s" in err
    assert "Invoking user's init function" in err  # the log tail
    worker, master = (int(p) for p in pids.read_text().split())
    assert not running(worker) and not running(master)
    assert processes_mentioning(str(bundle)) == []
    assert port_is_free(port)


def test_interpreter_without_the_server_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = script_bundle(
        tmp_path / "bundle", "def init():\n    pass\n\n\ndef run(d):\n    return d\n"
    )
    (bundle / "sample-request.json").write_text("{}", encoding="utf-8")
    # The workspace's bundles/<ws>/.venv (beside the code folders, so never uploaded) is
    # preferred over the interpreter running gen-iac.
    venv = tmp_path / "bundle" / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)

    status = main([str(bundle)])

    err = capsys.readouterr().err
    assert status == 2
    assert str(venv) in err
    assert "cannot import azureml-inference-server-http" in err
    python = venv / "bin/python"
    assert f"install it there: {python} -m pip install 'azureml-inference-server-http>=" in err
    assert err.count("\n") == 2  # the "starting" line and this one


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-folder", "bundle folder not found"),
        ("no-manifest", "bundles.json not found"),
        ("bad-json", "invalid JSON"),
        ("deep-json", "bundles.json:1:73: nested deeper than 64 levels"),
        ("duplicate-key", "bundles.json:1:55: duplicate key 'test-blue'"),
        ("no-code-entry", "no code entry for 'test-blue'"),
        ("no-scoring-script", "scoringScript of 'test-blue' is missing"),
        ("script-outside-code", "must be a path inside"),
        ("script-missing", "test-blue/score.py not found"),
        ("no-request", "no request to send"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    root = tmp_path / "bundles"
    bundle = root / "code" / "test-blue"
    index = root / "bundles.json"
    if case != "no-folder":
        write_bundle(root, {"score.py": b"def init():\n    pass\n"})
    if case == "no-manifest":
        index.unlink()
    elif case == "bad-json":
        index.write_text("{", encoding="utf-8")
    elif case == "deep-json":
        index.write_text('{"code": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    elif case == "duplicate-key":
        entry = '{"scoringScript": "score.py"}'
        index.write_text(
            f'{{"code": {{"test-blue": {entry}, "test-blue": {entry}}}}}', encoding="utf-8"
        )
    elif case == "no-code-entry":
        index.write_text('{"code": {"other": {"scoringScript": "score.py"}}}', encoding="utf-8")
    elif case == "no-scoring-script":
        index.write_text('{"code": {"test-blue": {"deployments": []}}}', encoding="utf-8")
    elif case == "script-outside-code":
        write_bundle(root, {}, script="../../bundles.json")
    elif case == "script-missing":
        (bundle / "score.py").unlink()
    args = [str(bundle)]
    if case != "no-request":
        request = tmp_path / "request.json"
        request.write_text("{}", encoding="utf-8")
        args += ["--request", str(request)]

    status = main(args)

    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("gen-iac smoke: ")
    assert message in err


def test_example_assets_are_what_make_assets_builds() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples/make_assets.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_churn_tarball_is_the_v1_layout() -> None:
    with tarfile.open(CHURN_TARBALL, "r:gz") as tar:
        names = tar.getnames()
        owners = {(m.uid, m.gid) for m in tar.getmembers()}
    assert names == ["src", "src/features.py", "src/sample-request.json", "src/score.py"]
    assert owners == {(0, 0)}
    # The gzip header carries no time and no file name, so the bytes are reproducible.
    header = CHURN_TARBALL.read_bytes()[:10]
    assert header[4:8] == b"\0\0\0\0" and not header[3] & 0x08


def test_the_generated_example_bundle_answers_over_http(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole path: gen-iac writes the churn bundle from the example snapshot's tar.gz
    asset, and `gen-iac smoke` serves it with the real inference server."""
    from generator.cli import main as cli

    out = tmp_path / "out"
    assert cli(["--target", "terraform", "--out", str(out), "--quiet"]) == 1  # one not migrated
    bundle = out / "bundles" / "mlw-contoso-prod" / "code" / "churn-aci-blue"
    sample = json.loads((bundle / "sample-request.json").read_text(encoding="utf-8"))
    capsys.readouterr()

    status = cli(["smoke", str(bundle), "--model-dir", str(CHURN_MODEL), "--timeout", "60"])

    out_text, err = capsys.readouterr()
    assert status == 0, err
    head, _, body = out_text.partition("\n")
    assert head == "HTTP 200 OK"
    expected = [churn_probability(r) for r in sample["data"]]
    assert json.loads(body)["probabilities"] == pytest.approx(expected, rel=1e-12)


def test_a_missing_model_dir_is_named_before_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZUREML_MODEL_DIR", raising=False)
    bundle = script_bundle(
        tmp_path / "bundle",
        """\
        import os

        MODEL_DIR = os.environ["AZUREML_MODEL_DIR"]


        def init():
            pass


        def run(raw_data):
            return raw_data
        """,
    )
    (bundle / "sample-request.json").write_text("{}", encoding="utf-8")

    status = main([str(bundle), "--timeout", "60"])

    lines = capsys.readouterr().err.splitlines()
    assert status == 1
    assert lines[1] == ("gen-iac smoke: the server exited with status 3 while importing score.py")
    assert lines[2].startswith(
        "gen-iac smoke: the scoring code (score.py) reads AZUREML_MODEL_DIR, which is "
        "not set: pass --model-dir DIR"
    )
    assert lines[3].startswith("--- server log")
    assert lines.index("KeyError: 'AZUREML_MODEL_DIR'") > 3
    assert lines[-1] == "--- end of the server log ---"


def test_a_variable_read_with_getenv_is_named_when_init_fails_on_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHURN_THRESHOLDS", raising=False)
    bundle = script_bundle(
        tmp_path / "bundle",
        """\
        import os


        def init():
            global path
            path = os.path.join(os.getenv("CHURN_THRESHOLDS"), "thresholds.json")


        def run(raw_data):
            return raw_data
        """,
    )
    (bundle / "sample-request.json").write_text("{}", encoding="utf-8")

    status = main([str(bundle), "--model-dir", str(CHURN_MODEL)])

    lines = capsys.readouterr().err.splitlines()
    assert status == 1
    assert lines[1] == "gen-iac smoke: the server exited with status 3 in init() of score.py"
    assert lines[2].startswith(
        "gen-iac smoke: the scoring code (score.py) reads the environment variable "
        "CHURN_THRESHOLDS, which is not set"
    )


@pytest.mark.parametrize(
    ("log", "env", "expected"),
    [
        # os.environ[...] in 3.11+ and in 3.10 (os.py is a file there)
        (['  File "<frozen os>", line 679, in __getitem__', "KeyError: 'MY_VAR'"], {}, "MY_VAR"),
        (
            [
                '  File "/usr/lib/python3.10/os.py", line 680, in __getitem__',
                "    raise KeyError(key) from None",
                "KeyError: 'MY_VAR'",
            ],
            {},
            "MY_VAR",
        ),
        # a KeyError from the code's own dict says nothing about the environment
        (['  File "/b/code/score.py", line 3, in init', "KeyError: 'MY_VAR'"], {}, None),
        # the variable is set: the code failed on something else
        (
            ['  File "<frozen os>", line 679, in __getitem__', "KeyError: 'MY_VAR'"],
            {"MY_VAR": "x"},
            None,
        ),
        (
            [
                '    path = os.path.join(os.environ.get("DATA_DIR"), "x")',
                "TypeError: expected str, bytes or os.PathLike object, not NoneType",
            ],
            {},
            "DATA_DIR",
        ),
        # getenv in the failing frame, but the error is not about None
        (['    n = int(os.getenv("N", "1"))', "ZeroDivisionError: division by zero"], {}, None),
    ],
)
def test_missing_variable_reads_the_traceback(
    log: list[str], env: dict[str, str], expected: str | None
) -> None:
    assert missing_variable(log, env) == expected


def test_a_daemon_started_by_init_is_stopped_with_the_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """init() double-forks a daemon into a session of its own that ignores SIGTERM, and starts
    another program in a new session: both leave the server's process group."""
    monkeypatch.setattr(smoke, "GRACE_SECONDS", 1.0)
    pids = tmp_path / "pids.txt"
    bundle = script_bundle(
        tmp_path / "bundle",
        f"""\
        import os
        import signal
        import subprocess
        import sys
        import time


        def init():
            child = subprocess.Popen(
                [sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True
            )
            first = os.fork()
            if first == 0:
                os.setsid()
                if os.fork() == 0:
                    try:
                        signal.signal(signal.SIGTERM, signal.SIG_IGN)
                        with open({str(pids)!r}, "w") as f:
                            f.write(f"{{child.pid}} {{os.getpid()}}")
                        time.sleep(300)
                    finally:
                        os._exit(0)
                os._exit(0)
            os.waitpid(first, 0)
            while not os.path.exists({str(pids)!r}):
                time.sleep(0.05)


        def run(raw_data):
            return {{"ok": True}}
        """,
    )
    (bundle / "sample-request.json").write_text("{}", encoding="utf-8")

    status = main([str(bundle), "--timeout", "60"])

    out, err = capsys.readouterr()
    assert status == 0, err
    assert out.startswith("HTTP 200 OK")
    child, daemon = (int(p) for p in pids.read_text().split())
    assert os.getsid(0) not in (session(child), session(daemon))  # they had left
    assert not running(child) and not running(daemon)
    assert processes_mentioning(str(bundle)) == []


def session(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except ProcessLookupError:
        return None


def test_a_flood_of_output_is_cut_to_a_bounded_tail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = script_bundle(
        tmp_path / "bundle",
        """\
        import sys

        for i in range(20_000):
            print(f"noise line {i:06d}")
        print("x" * 1_000_000)
        sys.stdout.flush()
        raise SystemExit("giving up")


        def init():
            pass


        def run(raw_data):
            return raw_data
        """,
    )
    (bundle / "sample-request.json").write_text("{}", encoding="utf-8")

    status = main([str(bundle), "--timeout", "60"])

    err = capsys.readouterr().err
    lines = err.splitlines()
    assert status == 1
    header = next(line for line in lines if line.startswith("--- server log"))
    assert header.startswith("--- server log: the last 40 of 20,")
    assert "gen-iac keeps only the last 200 lines, the rest was cut" in header
    assert len(err) < 40 * 2200 + 2000
    assert "noise line 019999" in err
    # The server prefixes printed lines ("... azmlinfsrv.print - "): 2,048 bytes are kept.
    long_line = next(line for line in lines if "x" * 100 in line)
    prefix, _, rest = long_line.partition("x" * 100)
    cut = 1_000_000 - (2048 - len(prefix.encode()))
    assert rest == "x" * (2048 - len(prefix) - 100) + f" [... {cut:,} more bytes of this line cut]"


def test_output_tail_keeps_the_last_lines_whatever_the_chunks() -> None:
    data = b"".join(f"line {i}\n".encode() for i in range(1000)) + b"y" * 50 + b"\n" + b"end"
    for size in (1, 7, 4096, len(data)):
        tail = OutputTail(max_lines=5, max_line_bytes=20)
        for start in range(0, len(data), size):
            tail.feed(data[start : start + size])
        tail.close()
        assert tail.lines() == [
            "line 997",
            "line 998",
            "line 999",
            "y" * 20 + " [... 30 more bytes of this line cut]",
            "end",
        ]
        assert (tail.total_lines, tail.total_bytes) == (1002, len(data))
        excerpt = tail.excerpt(2)
        assert excerpt.lines == ("y" * 20 + " [... 30 more bytes of this line cut]", "end")
        assert excerpt.header() == (
            f"--- server log: the last 2 of 1,002 lines ({len(data) / 1024:.1f} KiB; "
            "gen-iac keeps only the last 5 lines, the rest was cut) ---"
        )


def test_the_install_hint_is_the_smoke_extra() -> None:
    """The command the missing-server message gives installs what `gen-iac[smoke]` does."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = text.split("\nsmoke = [\n", 1)[1].split("\n]", 1)[0]
    assert [line.strip().rstrip(",").strip('"') for line in block.splitlines()] == [
        smoke.SERVER_REQUIREMENT
    ]


def test_output_tail_counts_the_line_still_being_written() -> None:
    tail = OutputTail(max_lines=5, max_line_bytes=20)
    tail.feed(b"first\r\nsecond\nthi")
    excerpt = tail.excerpt()
    assert excerpt.lines == ("first", "second", "thi")
    assert excerpt.header() == "--- server log (3 lines) ---"
    tail.feed(b"rd\n")
    tail.close()
    assert tail.lines() == ["first", "second", "third"]
    assert tail.total_lines == 3


def test_what_the_scoring_code_prints_or_answers_never_forms_a_ci_logging_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The smoke job shows the answer and, on failure, the server's log: both are the
    snapshot code's text, so both are shown as data."""
    bundle = script_bundle(
        tmp_path / "bundle",
        """\
        def init():
            print("::add-mask::x")
            print("##vso[task.setvariable variable=PATH]/tmp/evil")


        def run(raw_data):
            return "::stop-commands::tok\\n##vso[task.prependpath]/tmp"
        """,
    )
    request = tmp_path / "request.json"
    request.write_text("{}", encoding="utf-8")
    main([str(bundle), "--request", str(request)])
    out, _ = capsys.readouterr()
    assert "stop-commands" in out and "#\\#vso[task.prependpath]" in out
    bundle.joinpath("score.py").write_text(
        'print("::add-mask::x")\nprint("##vso[task.setvariable variable=A]b")\n'
        'raise SystemExit(3)\n'
    )
    main([str(bundle), "--request", str(request), "--timeout", "30"])
    out2, err = capsys.readouterr()
    assert "task.setvariable" in err
    for line in (out + out2 + err).splitlines():
        assert not line.lstrip().startswith("::"), line
        assert "##vso[" not in line.lower() and "##[" not in line, line
