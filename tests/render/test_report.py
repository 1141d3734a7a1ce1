"""The migration report: like-for-like costs, findings once, plain words, per-target steps,
SUMMARY.md bounded, migration.json by reference."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from generator.pipeline import Options, generate
from generator.plan.adoption import AdoptedDeployment, AdoptedEndpoint, Adoption, Change
from generator.plan.model import MigrationPlan
from generator.render.markdown import text
from generator.render.report import finding_id, render_report
from tests.conftest import SnapshotFactory, aci, aks


def _benchmark() -> Any:
    path = Path(__file__).resolve().parents[2] / "scripts" / "benchmark.py"
    spec = importlib.util.spec_from_file_location("gen_iac_benchmark", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while loading
    spec.loader.exec_module(module)
    return module


def _example(tmp_path: Path, targets: tuple[str, ...] = ("terraform", "bicep")) -> Any:
    result = generate(Options(out=tmp_path, targets=targets))
    return (
        result,
        (tmp_path / "MIGRATION.md").read_text(encoding="utf-8"),
        json.loads((tmp_path / "migration.json").read_text(encoding="utf-8")),
    )


def test_costs_compare_like_with_like(tmp_path: Path) -> None:
    _, markdown, report = _example(tmp_path)
    cost = report["totals"]["cost"]
    # ACI: churn 1 CPU/1 GB, ocr 4/16, sentiment 0.5/2.0 with the guide's formula...
    v1 = (29.565 + 3.2485 * 1) + (29.565 * 4 + 3.2485 * 16) + (29.565 + 3.2485 * 2)
    assert cost["aci"]["services"] == 3
    assert abs(cost["aci"]["v1MonthlyUsd"] - v1) < 1e-9
    # ...against v2 for the same three services: DS1 + E4s_v3 + DS2.
    assert abs(cost["aci"]["v2MonthlyUsd"]["payAsYouGo"] - (41.610 + 194.180 + 83.220)) < 1e-9
    # AKS: v2 only, apart: fraud 2 x DS2, recs 3 x DS3, ab-endpoint 2 x DS2.
    assert cost["aks"]["services"] == 3
    aks_v2 = 2 * 83.220 + 3 * 167.170 + 2 * 83.220
    assert abs(cost["aks"]["v2MonthlyUsd"]["payAsYouGo"] - aks_v2) < 1e-9
    assert "| 3 ACI service(s): v1 and v2 for the same services | $239.11 | $319.01 |" in markdown
    assert "| 3 AKS service(s): v2 only" in markdown and "| | $834.39 |" in markdown


def test_plain_words_and_the_size_line(tmp_path: Path) -> None:
    _, markdown, _ = _example(tmp_path)
    summary = (tmp_path / "SUMMARY.md").read_text(encoding="utf-8")
    assert "seed" not in markdown.lower() and "seed" not in summary.lower()
    assert (
        "- Size: `Standard_DS1_v2`: v1 asked for 1 CPU / 1 GB; the VM has 1 vCPU / 3.5 GiB "
        "(the migration guide's table)"
    ) in markdown
    assert "v1 asked for 0.5 CPU / 2 GB; the VM has 2 vCPU / 7 GiB" in markdown


def test_smoke_commands_only_where_the_bundle_has_code(tmp_path: Path) -> None:
    _, markdown, _ = _example(tmp_path)
    smoke = re.findall(r"`gen-iac smoke [^`]*`", markdown)
    # churn-aci, fraud-aks, recs-aks-token, sentiment-aci have code; ab-endpoint's two
    # versions and ocr-aci-private have none.
    assert len(smoke) == 4
    assert not any("ab-endpoint" in s or "ocr-aci-private" in s for s in smoke)
    churn = next(s for s in smoke if "churn-aci" in s)
    assert churn.endswith(
        "--request bundles/mlw-contoso-prod/code/churn-aci-blue/sample-request.json`"
    )
    recs = next(s for s in smoke if "recs-aks-token" in s)
    assert recs.endswith("--request REQUEST.json`")  # no sample request in that bundle


def test_before_you_apply_for_each_target(tmp_path: Path) -> None:
    _, markdown, _ = _example(tmp_path / "both")
    before = markdown.split("## Before you apply", 1)[1].split("\n## ", 1)[0]
    for folder in ("ab-endpoint-versiona", "ab-endpoint-versionb", "ocr-aci-private-blue"):
        assert f"- `bundles/mlw-contoso-prod/code/{folder}/`" in before
    terraform = before.split("### Terraform", 1)[1].split("### Bicep", 1)[0]
    bicep = before.split("### Bicep", 1)[1]
    assert "`terraform/mlw-contoso-prod/inputs.auto.tfvars`" in terraform
    assert "- `environment_ids` (" in terraform and " apply migration.tfplan" in terraform
    assert "`bicep/mlw-contoso-prod/inputs.json`" in bicep
    assert "- `environmentIds` (" in bicep and "upload-bundles.sh" in bicep
    assert "az deployment group create" in bicep
    _, only_terraform, _ = _example(tmp_path / "tf", ("terraform",))
    assert "### Terraform" in only_terraform and "### Bicep" not in only_terraform


def test_each_finding_once_with_its_services(tmp_path: Path) -> None:
    result, markdown, report = _example(tmp_path)
    plan: MigrationPlan = result.plan
    # A note every migrated service shares is said once, for all of them.
    note = "endpoint names are unique per Azure region"
    assert markdown.count(note) == 1
    assert "`endpoint-name-region` (every migrated service; field `name`)" in markdown
    # A warning shared by some services is listed once with them.
    assert markdown.count("no exported keys for this service") == 1
    assert (
        "`new-keys` (4 services: `ab-endpoint`, `churn-aci`, `fraud-aks`, `ocr-aci-private`)"
        in markdown
    )
    # A service's section refers to it; its own findings stay in its section, once, even
    # when they name two fields (two versions).
    section = markdown.split("### `ab-endpoint`", 1)[1].split("\n### ", 1)[0]
    assert "- Also (see Findings): `changed-default`, `new-keys`" in section
    assert section.count("neither numReplicas nor autoScaler.autoscaleEnabled") == 1
    assert "(`versions.versiona.autoScaler`, `versions.versionb.autoScaler`)" in section
    # Every distinct message of the plan is in the report exactly once.
    messages = {d.message for o in plan.outcomes for d in o.diagnostics}
    for message in messages:
        assert markdown.count(str(text(message))) == 1, message
    distinct = {finding_id(d) for o in plan.outcomes for d in o.diagnostics}
    assert {f["id"] for f in report["findings"]} == distinct


def test_json_carries_codes_and_references(tmp_path: Path) -> None:
    result, _, report = _example(tmp_path)
    findings = {f["id"]: f for f in report["findings"]}
    by_name = {s["service"]: s for s in report["services"]}
    for outcome in result.plan.outcomes:
        refs = by_name[outcome.service]["diagnostics"]
        assert all(set(r) == {"finding", "field"} for r in refs)
        listed = {
            (findings[r["finding"]]["code"], findings[r["finding"]]["message"], r["field"] or "")
            for r in refs
        }
        assert listed == {(d.code, d.message, d.field) for d in outcome.diagnostics}
    assert findings[next(k for k in findings if k.startswith("new-keys:"))]["services"] == 4
    churn = by_name["churn-aci"]
    assert churn["sku"] == {
        "instanceType": "Standard_DS1_v2",
        "rule": "seed-table",
        "requested": {"cpu": 1, "memoryGb": 1, "gpu": 0},
        "vm": {"vcpus": 1, "memoryGib": 3.5, "gpus": 0},
    }
    assert report["quota"]["endpoints"] == {"needed": 6, "limit": 100}


def test_report_stays_small_for_many_services(tmp_path: Path) -> None:
    """Shared findings are not repeated per service: the report grows by a few hundred
    bytes per service (MIGRATION.md was ~2.5 KB per service when they were)."""
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(json.dumps(_benchmark().synthetic(300)), encoding="utf-8")
    generate(Options(input=snapshot, out=tmp_path / "out", targets=("terraform", "bicep")))
    markdown = (tmp_path / "out/MIGRATION.md").read_text(encoding="utf-8")
    report = (tmp_path / "out/migration.json").read_bytes()
    assert markdown.count("endpoint names are unique per Azure region") == 1
    assert markdown.count("the environment has no conda dependencies") == 1
    assert len(markdown.encode()) / 300 < 900, len(markdown.encode()) / 300
    assert len(report) / 300 < 1700, len(report) / 300  # was ~2,900 with the prose


def test_summary_stays_short_for_any_size(make_snapshot: SnapshotFactory, tmp_path: Path) -> None:
    services: list[dict[str, Any]] = []
    for i in range(150):
        services.append(aci(f"aci-{i:03d}", authEnabled=i % 2 == 0))
        services.append(
            aks(f"aks-{i:03d}", containerResourceRequirements={"cpu": 40 + i % 30, "memoryInGB": 8})
        )
    # Not migrated, each for its own reason.
    services += [
        aci(f"bad-{i:03d}", containerResourceRequirements={"cpu": 1, "memoryInGB": 0})
        for i in range(40)
    ]
    services += [aci(f"img-{i:03d}", imageId=f"img:{i}") for i in range(20)]
    result = generate(Options(input=make_snapshot(services), out=tmp_path / "out"))
    summary = (tmp_path / "out/SUMMARY.md").read_text(encoding="utf-8")
    lines = summary.splitlines()
    assert len(lines) <= 60, len(lines)
    assert len(result.plan.not_migrated) == 60
    assert "## Not migrated (60)" in summary and "- and 54 more: see `MIGRATION.md`" in summary
    assert "## Quota check" in summary and "## Cost per month" in summary
    assert "## Adopted" not in summary  # the plan has no adoption data
    # 300 endpoints: three times the default limit of a subscription and region.
    assert "- endpoints 300 of 100, deployments 300 of 500" in summary
    assert "**over the limit: 1 request(s) for more are needed first**" in summary
    markdown = (tmp_path / "out/MIGRATION.md").read_text(encoding="utf-8")
    assert "| online endpoints | 300 | 100 | **over: request more first** |" in markdown


def test_summary_lists_adopted_resources_when_the_plan_has_them(tmp_path: Path) -> None:
    result, _, _ = _example(tmp_path)
    blue = AdoptedDeployment(
        "blue",
        "blue",
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices"
        "/workspaces/w/onlineEndpoints/churn-aci/deployments/blue",
        (Change("properties.instanceType", "Standard_DS2_v2", "Standard_DS1_v2", False),),
    )
    endpoint = AdoptedEndpoint(
        "churn-aci",
        "Churn-ACI",
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices"
        "/workspaces/w/onlineEndpoints/churn-aci",
        deployments=(blue,),
    )
    plan = replace(result.plan, adoption=Adoption(endpoints=(endpoint,)))
    files = {f.path: f.text for f in render_report(plan, ("terraform",), "snapshot", None)}
    summary = files["SUMMARY.md"]
    assert "## Adopted (already in Azure, imported by the first apply)" in summary
    assert "- endpoint `churn-aci`: no change" in summary
    assert "- deployment `churn-aci/blue`: the apply changes `properties.instanceType`" in summary


def test_shared_folders_are_named_once_with_their_users(
    make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    snapshot = make_snapshot([aci("svc-a"), aci("svc-b"), aci("svc-c")])
    generate(Options(input=snapshot, out=tmp_path / "out"))
    markdown = (tmp_path / "out/MIGRATION.md").read_text(encoding="utf-8")
    assert "Shared folders: deployments with the same scoring code or environment" in markdown
    assert (
        "- `bundles/ws-test/environments/env-a-1/`: 3 deployments (`svc-a/blue`, `svc-b/blue`, "
        "`svc-c/blue`)\n"
    ) in markdown


def _balanced(span: str) -> bool:
    """Brackets and double quotes of a code span pair up (a span cut in two does not)."""
    depth = {"(": 0, "[": 0, "{": 0}
    closing = {")": "(", "]": "[", "}": "{"}
    for c in span:
        if c in depth:
            depth[c] += 1
        elif c in closing:
            depth[closing[c]] -= 1
            if depth[closing[c]] < 0:
                return False
    return all(v == 0 for v in depth.values()) and span.count('"') % 2 == 0


def test_every_code_span_renders_whole_and_every_command_block_is_plain_shell(
    tmp_path: Path,
) -> None:
    """As GitHub renders the report (markdown-it, CommonMark with tables): no stray backtick
    in prose, no code span cut in two, and the shell blocks parse (`bash -n`) without shell
    options that would close the terminal they are pasted into."""
    import subprocess

    from markdown_it import MarkdownIt

    _, markdown, _ = _example(tmp_path)
    tokens = MarkdownIt("commonmark", {"html": True}).enable("table").parse(markdown)
    spans = []
    for token in tokens:
        for child in token.children or []:
            if child.type == "code_inline":
                spans.append(child.content)
            elif child.type == "text":
                assert "`" not in child.content, child.content
    assert len(spans) > 100
    assert [s for s in spans if not _balanced(s)] == []
    assert 'os.path.join(os.environ["AZUREML_MODEL_DIR"], "<relative path>")' in spans
    blocks = [t.content for t in tokens if t.type == "fence" and t.info == "sh"]
    assert len(blocks) == 5  # quota usage, Terraform plan and apply, Bicep preview and deploy
    for block in blocks:
        assert "set -" not in block and "cd " not in block.split("(", 1)[0]
        check = subprocess.run(["bash", "-n"], input=block, text=True, capture_output=True)
        assert check.returncode == 0, (block, check.stderr)
    assert "terraform -chdir=terraform/mlw-contoso-prod plan -out migration.tfplan" in markdown
    # Generated files carry no executable bit: the script is run through bash.
    assert 'GEN_IAC_UPLOAD="$(bash upload-bundles.sh --dry-run)"' in markdown
    assert "./upload-bundles.sh" not in markdown


def test_a_renamed_finding_code_keeps_its_former_code_for_one_release(
    make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    big = aci("big", containerResourceRequirements={"cpu": 8, "memoryInGB": 32})
    out = tmp_path / "out"
    generate(Options(input=make_snapshot([big, aci("small")]), out=out))
    report = json.loads((out / "migration.json").read_text(encoding="utf-8"))
    (finding,) = [f for f in report["findings"] if f["code"] == "size-beyond-guide-table"]
    assert finding["formerCode"] == "sku-outside-seed"
    assert all("formerCode" not in f for f in report["findings"] if f is not finding)
    markdown = (out / "MIGRATION.md").read_text(encoding="utf-8")
    assert "`size-beyond-guide-table` (formerly `sku-outside-seed`)" in markdown
