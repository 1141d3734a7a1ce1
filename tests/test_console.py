"""The console: a summary that fits a screen for any workspace; -v every finding; -q errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from generator.console import WIDTH, fit, lines, relative
from generator.diagnostics import Level
from generator.pipeline import Options, generate
from tests.conftest import ROOT, SnapshotFactory, aci, aks


def _big(make_snapshot: SnapshotFactory) -> Path:
    services: list[dict[str, Any]] = []
    for i in range(150):
        services.append(aci(f"aci-{i:03d}-" + "x" * (i % 3) * 40, authEnabled=i % 2 == 0))
        services.append(aks(f"aks-{i:03d}", numReplicas=None))
    services += [aci(f"bad-{i:03d}", containerResourceRequirements={"cpu": 1}) for i in range(40)]
    services += [aci(f"img-{i:03d}", imageId=f"img:{i}") for i in range(20)]
    return make_snapshot(services)


def test_summary_is_bounded_for_hundreds_of_services(
    make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    snapshot = _big(make_snapshot)
    result = generate(Options(input=snapshot, out=tmp_path / "out"))
    findings = [d for o in result.plan.outcomes for d in o.diagnostics]
    assert len(result.plan.outcomes) == 360 and len(findings) > 1000
    out = lines(result, cwd=tmp_path)
    assert len(out) <= 40, len(out)
    assert all(len(line) <= WIDTH for line in out)
    text = "\n".join(out)
    assert "not migrated (60):" in text and "... 50 more in the report" in text
    assert "gen-iac: 360 service(s): 300 migrated, 60 not migrated, 0 skipped" in text
    assert "report: out/MIGRATION.md\nsummary for a pull request: out/SUMMARY.md" in text
    assert str(tmp_path) not in text  # relative paths only
    # Grouped by code, with a count of services and a few names.
    keyless = [
        o.service for o in result.plan.outcomes if any(d.code == "new-keys" for d in o.diagnostics)
    ]
    new_keys = next(line for line in out if " new-keys " in line)
    count, names = new_keys.split(None, 3)[2:]
    shown, rest = names.rsplit(" +", 1)
    assert count == str(len(keyless))
    assert len(shown.split(", ")) + int(rest) == len(keyless)
    assert shown.startswith(keyless[0])
    # Long names are cut with an ellipsis.
    assert any("…" in line for line in out)


def test_verbose_lists_every_finding_and_quiet_only_errors(
    make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    result = generate(Options(input=_big(make_snapshot), out=tmp_path / "out"))
    every = list(result.plan.diagnostics) + [d for o in result.plan.outcomes for d in o.diagnostics]
    verbose = lines(result, verbose=True, cwd=tmp_path)
    for d in every:
        assert any(d.message in line and repr(d.service) in line for line in verbose)
    quiet = lines(result, quiet=True, cwd=tmp_path)
    errors = [d for d in every if d.level is Level.ERROR]
    assert len(quiet) == len(errors) and all(line.startswith("error: ") for line in quiet)


def test_cli_flags_and_paths_relative_to_where_it_ran(
    make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    snapshot = make_snapshot([aci("one"), aci("two", containerResourceRequirements={"cpu": 1})])

    def run(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "generator", "--input", str(snapshot), "--out", "out", *flags],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=120,
        )

    default = run()
    assert default.returncode == 1
    assert "report: out/MIGRATION.md" in default.stderr
    assert str(snapshot) not in default.stderr and str(tmp_path) not in default.stderr
    verbose = run("-v")
    assert f"{snapshot.name}/snapshot.json: service 'one'" in verbose.stderr
    quiet = run("-q")
    assert quiet.stderr.startswith("error: ") and len(quiet.stderr.splitlines()) == 1
    assert run("-q", "-v").returncode == 2


def test_line_helpers() -> None:
    assert fit("a\nb\tc") == "a b c"
    long = fit("x" * 150)
    assert len(long) == WIDTH and long.endswith("…")
    assert relative("/base/out/MIGRATION.md", Path("/base")) == "out/MIGRATION.md"
    assert relative("out", Path("/base")) == "out"


def test_a_rerun_says_what_it_merged_into_the_persons_traffic_file(
    make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    generate(Options(input=make_snapshot([aci("svc-a")]), out=out))
    rollout = out / "terraform/ws-test/rollout.auto.tfvars"
    edited = rollout.read_text(encoding="utf-8").replace("blue = 100", "blue = 0")
    rollout.write_text(edited, encoding="utf-8")
    result = generate(Options(input=make_snapshot([aci("svc-a"), aci("svc-b")]), out=out))
    shown = lines(result, cwd=tmp_path)
    assert (
        "merged: terraform/ws-test/rollout.auto.tfvars: added endpoint svc-b with its "
        "initial split"
    ) in shown
    text = rollout.read_text(encoding="utf-8")
    assert '"svc-a" = { blue = 0 }' in text and '"svc-b" = { blue = 100 }' in text


def test_safe_breaks_every_ci_logging_command_visibly() -> None:
    from generator.console import safe

    assert safe("::warning::x") == "\\::warning::x"
    assert safe("    ::add-mask::x") == "    \\::add-mask::x"
    assert safe(" +::x") == " +::x"  # only the start of a line counts on GitHub
    assert safe("drift ##vso[task.setvariable variable=a]b") == "drift #\\#vso[task.setvariable variable=a]b"
    assert safe("a ##VsO[x] ##[group]y") == "a #\\#VsO[x] #\\#[group]y"
    assert safe("###vso[x]") == "##\\#vso[x]"
    assert safe("a\nb\r\x1b[31m\ud800") == "a\\nb\\r\\x1b[31m\\ud800"
    assert safe("plain: text, ## not a command") == "plain: text, ## not a command"
