"""A real `python -m generator` killed (SIGKILL) at several moments of a large re-run leaves the
old tree or the new one (once its commit is rolled forward), and a plain re-run gives exactly
the fresh tree; two runs into one folder at once never mix their trees."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator.output import JOURNAL, STAGING_PREFIX, recover
from generator.pipeline import Options, generate
from tests.conftest import ROOT, WORKSPACE, aci

SERVICES = 200
TARGETS = ("terraform",)


def files(root: Path) -> dict[str, bytes]:
    """The tree as a reader sees it: every file, gen-iac's own bookkeeping folders aside."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not str(p.relative_to(root)).startswith(STAGING_PREFIX)
    }


def write_snapshot(folder: Path, version: str, names: range) -> Path:
    folder.mkdir(parents=True)
    services = [aci(f"svc-{n:04d}", description=f"{version} of {n}") for n in names]
    doc = {"workspace": WORKSPACE, "services": services}
    (folder / "snapshot.json").write_text(json.dumps(doc), encoding="utf-8")
    return folder


def start(snapshot: Path, out: Path) -> subprocess.Popen[bytes]:
    args = ["--input", str(snapshot), "--out", str(out), "-q"]
    for target in TARGETS:
        args += ["--target", target]
    return subprocess.Popen(
        [sys.executable, "-m", "generator", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def held(out: Path, pid: int) -> bool:
    """Whether process `pid` holds the flock a run takes on its output folder (read from
    /proc/locks: probing with flock ourselves could make the run find the folder taken)."""
    inode = f":{out.stat().st_ino} "
    with open("/proc/locks", encoding="ascii") as locks:
        return any(" FLOCK " in line and f" {pid} " in line and inode in line for line in locks)


def signal_at(
    old: Path, out: Path, snapshot: Path, moment: float | str, signum: int
) -> subprocess.Popen[bytes]:
    """A copy of the `old` tree at `out`, a run into it, and `signum` sent `moment` seconds
    after its start, or when the staging folder or the journal (the commit point) appears."""
    shutil.copytree(old, out)
    process = start(snapshot, out)
    if isinstance(moment, float):
        # Seconds after the run holds its lock on `out` (the first thing it does), not after
        # the process started: a loaded machine may take longer than `moment` to start Python.
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline and not held(out, process.pid):
            time.sleep(0.001)
        time.sleep(moment)
    else:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            if moment == "journal" and (out / JOURNAL).exists():
                break
            if moment == "staging" and any(
                p.name.startswith(STAGING_PREFIX) for p in out.iterdir()
            ):
                break
            time.sleep(0.0005)
    process.send_signal(signum)
    return process


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("interrupt")
    # The new snapshot changes every service's text, drops 20 services and adds 20.
    old_in = write_snapshot(base / "in" / "old", "first", range(SERVICES))
    new_in = write_snapshot(base / "in" / "new", "second", range(20, SERVICES + 20))
    generate(Options(input=old_in, out=base / "old", targets=TARGETS))
    # The new tree is the re-run's: the 20 services gone stay, kept from the record (day 2).
    shutil.copytree(base / "old", base / "new")
    generate(Options(input=new_in, out=base / "new", targets=TARGETS))
    old, new = files(base / "old"), files(base / "new")
    assert old != new and len(old) > SERVICES
    return {"base": base, "old_in": old_in, "new_in": new_in, "old": old, "new": new}


def test_sigkill_at_any_moment_leaves_old_or_new_and_a_rerun_gives_the_fresh_tree(
    trees: dict[str, object],
) -> None:
    base, new_in = trees["base"], trees["new_in"]
    assert isinstance(base, Path) and isinstance(new_in, Path)
    old, new = trees["old"], trees["new"]
    # How long a whole re-run takes here, to spread the kills over it.
    out = base / "timing"
    shutil.copytree(base / "old", out)
    began = time.monotonic()
    assert start(new_in, out).wait(timeout=120) == 0
    duration = time.monotonic() - began
    assert files(out) == new

    seen: dict[str, int] = {"old": 0, "new": 0, "journal": 0}
    moments: list[float | str] = [duration * f for f in (0.3, 0.6, 0.9)]
    moments += ["staging", "journal", "journal", "journal"]
    for number, moment in enumerate(moments):
        out = base / f"kill{number}"
        process = signal_at(base / "old", out, new_in, moment, signal.SIGKILL)
        process.wait(timeout=30)
        if (out / JOURNAL).exists():
            seen["journal"] += 1  # committed, not all moved in: the next run completes it
        else:
            assert files(out) in (old, new), f"kill {number} at {moment}: a mixed tree"
        recover(out)  # what the next run does first
        state = files(out)
        assert state in (old, new), f"kill {number} at {moment}: a mixed tree after recovery"
        seen["old" if state == old else "new"] += 1
        assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]
        # A plain re-run (no --force) gives exactly the fresh tree.
        rerun = start(new_in, out)
        assert rerun.wait(timeout=120) == 0, rerun.stderr.read() if rerun.stderr else ""
        assert files(out) == new
        assert not (out / JOURNAL).exists()
        shutil.rmtree(out)
    assert seen["old"] and seen["journal"], seen  # both sides of the commit point were hit


def test_two_runs_into_one_folder_never_mix(trees: dict[str, object]) -> None:
    base, old_in, new_in = trees["base"], trees["old_in"], trees["new_in"]
    assert isinstance(base, Path) and isinstance(old_in, Path) and isinstance(new_in, Path)
    old, new = trees["old"], trees["new"]
    stopped = 0
    for attempt in range(3):
        if stopped:
            break
        out = base / f"concurrent{attempt}"
        shutil.copytree(base / "old", out)
        first, second = start(new_in, out), start(old_in, out)
        codes = (first.wait(timeout=120), second.wait(timeout=120))
        assert sorted(codes) in ([0, 0], [0, 2]), codes
        for process, code in zip((first, second), codes, strict=True):
            err = process.stderr.read().decode() if process.stderr else ""
            if code == 2:
                stopped += 1
                assert err.count("\n") == 1 and "another gen-iac run" in err, err
        assert files(out) in (old, new)
        assert not [p for p in out.iterdir() if p.name.startswith(".gen-iac-s")]
    assert stopped >= 1  # the runs did overlap at least once, and one of them stopped


def test_ctrl_c_at_any_moment_is_one_line_exit_130_and_old_or_new(
    trees: dict[str, object],
) -> None:
    """SIGINT (what Ctrl-C sends) to a real run: planning, staging, at the commit point and
    while moving in. One line, exit 130, never a traceback; the tree is the old one or,
    once the next run completes a committed move, the new one."""
    base, new_in = trees["base"], trees["new_in"]
    assert isinstance(base, Path) and isinstance(new_in, Path)
    old, new = trees["old"], trees["new"]
    moments: list[float | str] = [0.4, 0.8, "staging", "journal", "journal"]
    interrupted = 0
    for number, moment in enumerate(moments):
        out = base / f"sigint{number}"
        process = signal_at(base / "old", out, new_in, moment, signal.SIGINT)
        code = process.wait(timeout=60)
        err = process.stderr.read().decode() if process.stderr else ""
        leftovers = (out / JOURNAL).exists() or any(
            p.name.startswith(STAGING_PREFIX) for p in out.iterdir()
        )
        finished = code == 0 or (
            # The run had finished and Python was exiting, its signal handlers already reset:
            # SIGINT then ends the process silently, with the new tree complete.
            code == -signal.SIGINT and not err and not leftovers and files(out) == new
        )
        if finished:
            assert files(out) == new
            continue
        interrupted += 1
        # 130, or killed by SIGINT after the line: CPython re-sends SIGINT to itself at exit
        # when a KeyboardInterrupt escaped its runner during start-up (Py_RunMain's
        # _Py_UnhandledKeyboardInterrupt), which a shell reports as 130 too.
        assert code in (130, -signal.SIGINT), (moment, code, err)
        one_line = err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err
        assert one_line, (moment, code, err)
        if not (out / JOURNAL).exists():
            assert files(out) in (old, new), f"{moment}: a mixed tree"
            assert not [p for p in out.iterdir() if p.name.startswith(STAGING_PREFIX)]
        recover(out)
        assert files(out) in (old, new), f"{moment}: a mixed tree after recovery"
        shutil.rmtree(out)
    assert interrupted >= 3
