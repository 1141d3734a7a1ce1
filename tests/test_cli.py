"""The command line as a user runs it: exit status, one-line errors, nothing half-written."""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from generator.output import MANIFEST
from tests.conftest import EXAMPLE, ROOT, SnapshotFactory, aci


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "generator", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd or ROOT,
        timeout=120,
    )


def test_help_is_instant_and_imports_nothing_heavy() -> None:
    code = (
        "import sys\nfrom generator.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'azureml', 'azure', 'jinja2', 'yaml', 'regex', 'generator.render'})\n"
        "print('HEAVY', heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "usage: gen-iac" in result.stdout
    assert "HEAVY []" in result.stdout
    assert "export" in result.stdout and "--target" in result.stdout


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("gen-iac ")


def test_example_migrates_with_partial_status(tmp_path: Path) -> None:
    result = run("--target", "terraform", "--out", str(tmp_path / "out"))
    # The example holds an image-based service and an AKS endpoint: not migrated, exit 1.
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "legacy-image-svc" in result.stderr
    assert (tmp_path / "out/MIGRATION.md").exists()
    assert (tmp_path / "out/terraform/mlw-contoso-prod/main.churn-aci.tf").exists()


def test_all_migrated_is_exit_0(make_snapshot: SnapshotFactory, tmp_path: Path) -> None:
    result = run("--input", str(make_snapshot([aci()])), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr


def test_unreadable_input_is_exit_2_with_one_line_and_nothing_written(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"services": [')
    out = tmp_path / "out"
    result = run("--input", str(bad), "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert str(bad) in result.stderr and "invalid JSON" in result.stderr
    assert not out.exists()


def test_broken_service_names_file_service_and_field(
    make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    broken = aci("broken", containerResourceRequirements={"cpu": 1, "memoryInGB": 0})
    snapshot = make_snapshot([broken, aci("fine")])
    result = run("--input", str(snapshot), "--out", str(tmp_path / "o"), "--quiet")
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert (
        "snapshot.json" in line
        and "'broken'" in line
        and "containerResourceRequirements.memoryInGB" in line
    )
    assert (tmp_path / "o/terraform/ws-test/main.fine.tf").exists()
    report = json.loads((tmp_path / "o/migration.json").read_text())
    assert {s["service"]: s["status"] for s in report["services"]} == {
        "broken": "not-migrated",
        "fine": "migrated",
    }


def test_bad_flags_are_usage_errors(tmp_path: Path) -> None:
    assert run("--sku", "nonsense", "--out", str(tmp_path)).returncode == 2
    assert run("--instance-count", "a=zero", "--out", str(tmp_path)).returncode == 2
    assert run("--target", "pulumi").returncode == 2


def test_edited_output_is_kept_and_reported_and_the_rest_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run("--out", str(out))
    edited = out / "terraform/mlw-contoso-prod/main.churn-aci.tf"
    edited.write_text("# mine\n")
    (out / "MIGRATION.md").write_text("stale\n")  # an unedited file gen-iac rewrites...
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"]["MIGRATION.md"] = hashlib.sha256(b"stale\n").hexdigest()
    (out / MANIFEST).write_text(json.dumps(manifest))  # ...as if it had written "stale"
    result = run("--out", str(out))
    assert result.returncode == 1, result.stderr  # the example's usual status, not a refusal
    assert edited.read_text() == "# mine\n"
    assert "main.churn-aci.tf" in result.stderr and "--force" in result.stderr
    assert (out / "MIGRATION.md").read_text() != "stale\n"
    assert run("--out", str(out), "--force").returncode == 1
    assert edited.read_text() != "# mine\n"


def test_same_input_same_bytes_across_hash_seeds(tmp_path: Path) -> None:
    for seed in ("1", "12345"):
        run("--input", str(EXAMPLE), "--out", str(tmp_path / seed), env={"PYTHONHASHSEED": seed})
    comparison = filecmp.dircmp(tmp_path / "1", tmp_path / "12345")
    assert _identical(comparison)


def _identical(c: filecmp.dircmp[str]) -> bool:
    if c.left_only or c.right_only or c.diff_files or c.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
    return not mismatch and not errors and all(_identical(s) for s in c.subdirs.values())


def _state(root: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        str(p.relative_to(root)): (
            p.read_bytes() if p.is_file() else b"",
            p.lstat().st_mode,
            p.lstat().st_mtime_ns,
        )
        for p in sorted(root.rglob("*"))
    } | {".": (b"", root.lstat().st_mode, root.lstat().st_mtime_ns)}


def test_check_up_to_date_then_drift_and_it_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run("--target", "terraform", "--target", "bicep", "--out", str(out))
    before = _state(out)
    result = run("--target", "terraform", "--target", "bicep", "--out", str(out), "--check")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stderr
    # A different choice changes generated files: drift, each listed with a short diff.
    result = run(
        "--target", "terraform", "--target", "bicep", "--out", str(out), "--check",
        "--sku", "churn-aci=Standard_DS3_v2",
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    drifted = [line for line in result.stderr.splitlines() if line.startswith("drift: ")]
    assert any("main.churn-aci.tf: would change" in line for line in drifted)
    # A new size cannot change in place: a new deployment beside the old, said first.
    assert "+" in result.stderr and "kept churn-aci/blue: replaced by green" in result.stderr
    assert "Traceback" not in result.stderr
    # An edit of a generated file is drift too; --check never repairs it.
    edited = out / "terraform/mlw-contoso-prod/main.churn-aci.tf"
    edited.write_text("# mine\n")
    before = _state(out)
    result = run("--target", "terraform", "--target", "bicep", "--out", str(out), "--check")
    assert result.returncode == 3 and "main.churn-aci.tf: edited by a person" in result.stderr
    assert _state(out) == before  # nothing written: no lock file, manifest or staging folder


def test_check_of_a_folder_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    result = run("--out", str(tmp_path / "none"), "--check")
    assert result.returncode == 3
    assert not (tmp_path / "none").exists()


def test_an_out_that_is_a_file_is_one_line_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("a file\n")
    result = run("--out", str(out))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not a folder" in result.stderr
    assert out.read_text() == "a file\n"


def test_a_second_run_while_one_writes_stops_with_one_line(tmp_path: Path) -> None:
    import fcntl

    out = tmp_path / "out"
    run("--out", str(out))
    before = _state(out)
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a running gen-iac holds it
        result = run("--out", str(out), "--sku", "churn-aci=Standard_DS3_v2")
    finally:
        os.close(fd)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "another gen-iac run" in result.stderr
    assert _state(out) == before


def test_arguments_and_paths_that_are_not_utf8_are_handled(tmp_path: Path) -> None:
    """Non-UTF-8 bytes in argv become lone surrogates in Python: refused as choices, carried
    as escaped text in messages and reports, never a traceback."""
    bad = subprocess.run(
        [sys.executable, "-m", "generator", "--out", str(tmp_path / "o"),
         b"--sku=churn-aci=Standard_\xff"],
        capture_output=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count(b"\n") == 1 and b"--sku" in bad.stderr
    snapshot = os.fsencode(tmp_path) + b"/snap\xff"
    shutil.copytree(EXAMPLE, os.fsdecode(snapshot))
    result = subprocess.run(
        [sys.executable, "-m", "generator", b"--input", snapshot, "--out", str(tmp_path / "o")],
        capture_output=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    (tmp_path / "o/MIGRATION.md").read_text(encoding="utf-8")


# --- unsafe places, at once -----------------------------------------------------------------


def test_unsafe_out_folders_are_refused_at_once_with_one_line(tmp_path: Path) -> None:
    """Each refused before any planning: one line, exit 2, nothing written anywhere; the
    figure is the whole process (Python's start included) on this machine."""
    home = tmp_path / "home"
    (home / "notes").mkdir(parents=True)
    snapshot = tmp_path / "snapshot"
    shutil.copytree(EXAMPLE, snapshot)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "README.md").write_text("not gen-iac's\n")
    cases = {
        "/": "file-system root",
        str(home): "home folder",
        str(ROOT): "gen-iac's own checkout",
        str(snapshot / "out"): "which this command reads",
        str(snapshot): "which this command reads",
        str(theirs): "non-empty folder without .gen-iac-manifest.json",
    }
    before = sorted(p for p in tmp_path.rglob("*"))
    for out, why in cases.items():
        for check in ([], ["--check"]):
            began = time.monotonic()
            result = run("--input", str(snapshot), "--out", out, *check, env={"HOME": str(home)})
            took = time.monotonic() - began
            assert result.returncode == 2, (out, result.stderr)
            assert result.stderr.count("\n") == 1 and why in result.stderr, result.stderr
            assert took < 5, took  # no planning (the example plans in seconds here)
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_a_second_run_is_refused_before_any_planning(tmp_path: Path) -> None:
    """The lock is taken before the planner is imported: measured against a snapshot whose
    planning alone takes longer than the whole refusal."""
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    big = tmp_path / "big"
    big.mkdir()
    services = [aci(f"svc-{n:04d}") for n in range(1500)]
    doc = {"workspace": {**json.loads((EXAMPLE / "snapshot.json").read_text())["workspace"]},
           "services": services}  # fmt: skip
    (big / "snapshot.json").write_text(json.dumps(doc))
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        began = time.monotonic()
        result = run("--input", str(big), "--out", str(out))
        refused = time.monotonic() - began
    finally:
        os.close(fd)
    assert result.returncode == 2 and "another gen-iac run" in result.stderr
    began = time.monotonic()
    assert run("--input", str(big), "--out", str(out), "-q").returncode == 0
    whole = time.monotonic() - began
    assert refused < whole / 2, (refused, whole)


# --- logs are data --------------------------------------------------------------------------

COMMANDS = (
    "::add-mask::x",
    "::warning file=a::pwned",
    "::stop-commands::tok",
    "##vso[task.setvariable variable=ARM_CLIENT_ID]evil",
    "##VSO[task.prependpath]/tmp",
    "##[section]fake",
)


def forms_a_command(line: str) -> bool:
    return line.lstrip().startswith("::") or "##vso[" in line.lower() or "##[" in line


def test_snapshot_text_never_forms_a_ci_logging_command(
    make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    """Hostile service names (renamed, and printed in findings) and descriptions, in the
    default summary, -v, -q and a --check diff."""
    services = [aci(name) for name in COMMANDS] + [
        aci("ok-svc", description="\n".join(COMMANDS))
    ]
    snapshot = make_snapshot(services)
    out = tmp_path / "out"
    printed: list[str] = []
    for flags in ([], ["-v"], ["-q"]):
        result = run("--input", str(snapshot), "--out", str(out), *flags)
        assert result.returncode == 0, result.stderr
        printed += result.stderr.splitlines()
    main = next(out.glob("terraform/*/main.ok-svc.tf"))
    main.write_text(main.read_text() + "\n".join(COMMANDS) + "\n")  # a pull request's edit
    result = run("--input", str(snapshot), "--out", str(out), "--check")
    assert result.returncode == 3
    printed += result.stderr.splitlines()
    assert any("#\\#vso[task.setvariable" in line for line in printed)
    assert any("::stop-commands::tok" in line for line in printed)  # shown, as data
    assert not [line for line in printed if forms_a_command(line)]


def test_check_with_keys_never_prints_a_key(make_snapshot: SnapshotFactory, tmp_path: Path) -> None:
    key = "k3y-" + "a" * 40
    snapshot = make_snapshot([aci("svc", authEnabled=True)], keys={"svc": {
        "primaryKey": key, "secondaryKey": key[::-1]}})  # fmt: skip
    out = tmp_path / "out"
    assert run("--input", str(snapshot), "--out", str(out), "--write-keys").returncode == 0
    rotated = make_snapshot([aci("svc", authEnabled=True)], keys={"svc": {
        "primaryKey": "n3w-" + "b" * 40, "secondaryKey": "n3w-" + "c" * 40}})  # fmt: skip
    for args in (["--input", str(rotated), "--write-keys"], ["--input", str(snapshot)]):
        result = run(*args, "--out", str(out), "--check")
        assert result.returncode == 3, result.stderr
        assert "keys" in result.stderr or "drift" in result.stderr
        for secret in (key, key[::-1], "n3w-"):
            assert secret not in result.stderr
