"""Real payload shapes, end to end: the MMS form, the ARM form (single and listed, with a
nextLink), a v2 endpoints list given by mistake and empty or unknown documents. Each run is
the command a user types; it checks the exit status and the report's words.

The fixtures in tests/sources/payloads/ follow the shapes of the `workspaces/services` API's
published examples (azure-rest-api-specs, 2020-05-01-preview to 2021-04-01: the ARM resource
nests the service in `properties`, an asset may have no id, a list page has a nextLink) and of
what GET /services?expand=true returns (MMS form, v2 deployments listed as MIRAMLCOMPUTE).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from generator.cli import main
from tests.conftest import ROOT

PAYLOADS = ROOT / "tests" / "sources" / "payloads"
WORKSPACE = [
    "--subscription",
    "0b1f6471-1bf0-4dda-aec3-cb9272f09590",
    "--resource-group",
    "rg-ml",
    "--workspace",
    "mlw-shapes",
    "--location",
    "westeurope",
]


def generate(
    payload: Path, out: Path, capsys: pytest.CaptureFixture[str], *flags: str
) -> tuple[int, str]:
    targets = ["--target", "terraform", "--target", "bicep"]
    status = main([*targets, "--input", str(payload), "--out", str(out), *WORKSPACE, *flags])
    return status, capsys.readouterr().err


def report(out: Path) -> tuple[str, dict[str, Any]]:
    markdown = (out / "MIGRATION.md").read_text(encoding="utf-8")
    return markdown, json.loads((out / "migration.json").read_text(encoding="utf-8"))


def test_arm_single_service_is_migrated_with_v1_timeout_and_its_own_script(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = generate(PAYLOADS / "arm-service.json", tmp_path / "out", capsys)
    assert status == 0, err
    assert "1 service(s): 1 migrated, 0 not migrated, 0 skipped" in err
    markdown, data = report(tmp_path / "out")
    assert "| `churn-aks` | AKS | migrated | `churn-aks` |" in markdown
    assert "v1 AKS then timed out after 60 s, v2 after 5 s" in markdown
    assert "compute type (none)" not in markdown
    body = (tmp_path / "out/terraform/mlw-shapes/main.churn-aks.tf").read_text()
    assert 'requestTimeout                   = "PT1M"' in body
    # driverProgram score.py is the only asset, the user's own script: the entry script.
    (service,) = data["services"]
    (deployment,) = service["deployments"]
    assert deployment["scoringScript"] == "score.py"
    assert deployment["entryScriptRule"].startswith("driverProgram, the user's own script")
    assert "`no-code`" not in markdown and "records no scoring code" not in markdown


def test_arm_list_with_next_link_is_migrated_but_never_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = generate(PAYLOADS / "arm-list-nextlink.json", tmp_path / "out", capsys)
    assert status == 1
    # Said on the default console, whole, not only with -v.
    assert "error: " in err and "field 'nextLink': the list has a nextLink" in err
    assert "2 service(s): 2 migrated" in err
    markdown, data = report(tmp_path / "out")
    assert "- `later-pages-missing` (the workspace; field `nextLink`)" in markdown
    assert "services on later pages are not in this file" in markdown
    summary = (tmp_path / "out/SUMMARY.md").read_text(encoding="utf-8")
    assert "**Not all of the input was read** (`later-pages-missing`)" in summary
    assert [d["code"] for d in data["findings"] if d["level"] == "error"] == ["later-pages-missing"]
    # The ACI service moves from eastus2 to the workspace's region and loses its DNS label.
    assert "the v1 container ran in eastus2; the v2 endpoint runs in the workspace's" in markdown
    assert "'sentiment-contoso'" in markdown and "`dns-label-lost`" in markdown


def test_mms_list_migrates_and_skips_v2_deployments_for_a_true_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = generate(PAYLOADS / "mms-list.json", tmp_path / "out", capsys)
    assert status == 0, err
    assert "2 service(s): 1 migrated, 0 not migrated, 1 skipped" in err
    markdown, _ = report(tmp_path / "out")
    assert (
        "- `credit-blue` (MIRAMLCOMPUTE): a v2 managed online deployment, which the v1 API "
        "lists too: already v2" in markdown
    )


def test_mms_and_arm_forms_of_one_service_give_the_same_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    trees = []
    for form in ("mms-service", "arm-service"):
        folder = tmp_path / form
        folder.mkdir()
        shutil.copy(PAYLOADS / f"{form}.json", folder / "services.json")
        monkeypatch.chdir(folder)  # the report names the input as given: the same name
        status, err = generate(Path("services.json"), Path("out"), capsys)
        assert status == 0, err
        trees.append(
            {
                p.relative_to(folder / "out"): p.read_bytes()
                for p in (folder / "out").rglob("*")
                if p.is_file()
            }
        )
    mms, arm = trees
    assert len(mms) > 10 and mms == arm


@pytest.mark.parametrize(
    ("content", "looks_like"),
    [
        (
            (PAYLOADS / "v2-endpoints.json").read_text(),
            "a list of v2 online endpoints "
            "(Microsoft.MachineLearningServices/workspaces/onlineEndpoints), not v1 services",
        ),
        (
            json.dumps(json.loads((PAYLOADS / "v2-endpoints.json").read_text())["value"][0]),
            "a v2 online endpoint (Microsoft.MachineLearningServices/workspaces/onlineEndpoints)",
        ),
        ("{}", "an empty document, not v1 services"),
        ("[]", "an empty list: it holds no v1 service to migrate"),
        ('{"value": []}', "an empty list: it holds no v1 service to migrate"),
        (
            '{"value": [{"name": "x", "kind": "Managed"}]}',
            "a list of objects without a computeType",
        ),
        (
            '{"name": "x", "properties": {"computeType": "ACI"}, "type": "Microsoft.Web/sites"}',
            "an ARM resource of type 'Microsoft.Web/sites', not v1 services",
        ),
        ("null", "an empty document"),
        ("42", "a JSON number, not v1 services"),
    ],
)
def test_input_that_is_not_v1_services_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, looks_like: str
) -> None:
    payload = tmp_path / "input.json"
    payload.write_text(content)
    status, err = generate(payload, tmp_path / "out", capsys)
    assert status == 2
    (line,) = err.splitlines()
    assert line.startswith(f"gen-iac: error: {payload}: ") and looks_like in line
    assert not (tmp_path / "out").exists()


def test_an_unrecognised_entry_among_services_is_not_migrated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = json.loads((PAYLOADS / "mms-list.json").read_text())
    endpoint = json.loads((PAYLOADS / "v2-endpoints.json").read_text())["value"][0]
    listing["value"] += [endpoint, {"name": "odd", "computeType": "Unknown"}]
    payload = tmp_path / "mixed.json"
    payload.write_text(json.dumps(listing))
    status, err = generate(payload, tmp_path / "out", capsys)
    assert status == 1
    assert "4 service(s): 1 migrated, 2 not migrated, 1 skipped" in err
    markdown, _ = report(tmp_path / "out")
    assert (
        "an ARM resource of type 'Microsoft.MachineLearningServices/workspaces/onlineEndpoints' "
        "(a v2 online endpoint), not a v1 service" in markdown
    )
    assert "compute type 'Unknown' is not one gen-iac knows" in markdown
    assert "UNKNOWN" not in markdown


def test_a_mistyped_service_name_in_a_choice_is_seen_without_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = generate(
        PAYLOADS / "arm-service.json",
        tmp_path / "out",
        capsys,
        "--sku",
        "churn-ask=Standard_F4s_v2",
    )
    assert status == 0
    expected = (
        "names 'churn-ask', which is not a service in the snapshot (did you mean 'churn-aks'?)"
    )
    assert any(line.startswith("warning: ") and expected in line for line in err.splitlines())
    markdown, _ = report(tmp_path / "out")
    assert "`unknown-override` (the workspace)" in markdown and expected in markdown
