"""An export killed mid-way leaves no half snapshot, and an older snapshot stays intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.export.conftest import RG, SUB, WS, FakeAzure, Fault

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (
    "import sys\n"
    "from tests.export.conftest import FakeCredential\n"
    "from generator.export import command\n"
    "sys.exit(command.main(sys.argv[1:], credential=FakeCredential()))\n"
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_killed_export_leaves_the_old_snapshot(azure: FakeAzure, tmp_path: Path,
                                               sig: signal.Signals) -> None:
    out = tmp_path / "snap"
    out.mkdir()
    (out / "snapshot.json").write_text('{"old": true}')
    release = threading.Event()
    azure.faults.append(Fault(path="/blob/azureml/ExperimentRun/dcid.LocalUpload/b2c3d4e5/score.py",
                              hang=release))
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, "--subscription", SUB, "--resource-group", RG,
         "--workspace", WS, "--out", str(out)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert azure.reached.wait(60), "the export never reached the hanging download"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert "Traceback" not in err
    assert (out / "snapshot.json").read_text() == '{"old": true}'
    assert sorted(p.name for p in out.iterdir()) == ["snapshot.json"]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "snap"]
    if sig == signal.SIGKILL:  # nothing can clean up after SIGKILL; the next run does
        assert all(name.startswith(".snap.partial-") for name in leftovers)
    else:
        assert leftovers == []
        assert "interrupted; nothing was written" in err
