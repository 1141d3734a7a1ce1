"""`gen-iac plan-summary`: a recorded `terraform show -json` plan, built by hand after Terraform's
documented JSON output format (https://developer.hashicorp.com/terraform/internals/json-format,
"Plan Representation" and "Change Representation"), read as a reviewer would want it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from generator.cli import main
from generator.plan_summary import render, summarize

WS = (
    "/subscriptions/8f2d3c1e-5b7a-4e9c-9d21-6a0b4c3e2f10/resourceGroups/rg-ml-prod"
    "/providers/Microsoft.MachineLearningServices/workspaces/mlw-contoso-prod"
)
ENDPOINT_TYPE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints@2025-12-01"
DEPLOYMENT_TYPE = (
    "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments@2025-12-01"
)


def change(
    address: str,
    actions: list[str],
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    **extra: Any,
) -> dict[str, Any]:
    kind, name = address.split(".")
    return {
        "address": address,
        "mode": "managed",
        "type": kind,
        "name": name,
        "provider_name": "registry.terraform.io/azure/azapi",
        "change": {"actions": actions, "before": before, "after": after, "after_unknown": {}},
        **extra,
    }


def deployment(name: str, instance: str, count: int) -> dict[str, Any]:
    return {
        "type": DEPLOYMENT_TYPE,
        "name": name,
        "parent_id": f"{WS}/onlineEndpoints/ab-endpoint",
        "body": {"properties": {"instanceType": instance}, "sku": {"capacity": count}},
    }


def traffic(split: dict[str, int]) -> dict[str, Any]:
    return {
        "type": ENDPOINT_TYPE,
        "resource_id": f"{WS}/onlineEndpoints/ab-endpoint",
        "body": {"properties": {"traffic": split}},
    }


PLAN: dict[str, Any] = {
    "format_version": "1.2",
    "terraform_version": "1.11.4",
    "resource_changes": [
        change(
            "azapi_update_resource.traffic_ab_endpoint",
            ["update"],
            traffic({"versiona": 60, "versionb": 40}),
            traffic({"versiona": 10, "versionb": 90}),
        ),
        change(
            "azapi_resource.deployment_ab_endpoint__versionc",
            ["create"],
            None,
            deployment("versionc", "Standard_DS3_v2", 2),
        ),
        change(
            "azapi_resource.deployment_ab_endpoint__versionb",
            ["update"],
            deployment("versionb", "Standard_DS2_v2", 1),
            deployment("versionb", "Standard_DS2_v2", 3),
        ),
        change(
            "azapi_resource.deployment_ab_endpoint__versiona",
            ["delete"],
            deployment("versiona", "Standard_DS2_v2", 1),
            None,
        ),
        change(
            "azapi_resource.endpoint_churn_aci",
            ["delete", "create"],
            {"type": ENDPOINT_TYPE, "name": "churn-aci", "parent_id": WS, "body": {}},
            {"type": ENDPOINT_TYPE, "name": "churn-aci", "parent_id": WS, "body": {}},
            action_reason="replace_because_cannot_update",
        ),
        change("azapi_resource.endpoint_fraud_aks", ["no-op"], {"name": "x"}, {"name": "x"}),
        change("azurerm_storage_blob.code_churn", ["create"], None, {"name": "score.py"}),
    ],
}


def test_a_reviewer_reads_deletions_first_then_traffic_then_deployments() -> None:
    assert render(summarize(PLAN)) == (
        "**:warning: 2 resource(s) deleted or replaced: check each before approving.**\n"
        "\n"
        "- **deleted** deployment `ab-endpoint/versiona`\n"
        "- **replaced** endpoint `churn-aci` (`replace_because_cannot_update`)\n"
        "\n"
        "**Traffic** (old -> new)\n"
        "\n"
        "- `ab-endpoint` traffic: versiona 60 -> 10, versionb 40 -> 90\n"
        "\n"
        "**Deployments**\n"
        "\n"
        "- added `ab-endpoint/versionc`: `Standard_DS3_v2` x `2`\n"
        "- resized `ab-endpoint/versionb`: `Standard_DS2_v2` x `1` -> `Standard_DS2_v2` x `3`\n"
        "- deleted `ab-endpoint/versiona`\n"
        "\n"
        "**Other changes**\n"
        "\n"
        "- `create azurerm_storage_blob`: 1\n"
    )


def test_no_change_says_so() -> None:
    assert render(summarize({"format_version": "1.2", "resource_changes": []})) == "No changes.\n"


def test_a_long_summary_is_capped_and_points_at_the_artifact() -> None:
    many = {
        "format_version": "1.2",
        "resource_changes": [
            change(
                f"azapi_resource.deployment_{i}",
                ["delete"],
                deployment(f"d{i}", "Standard_DS2_v2", 1),
                None,
            )
            for i in range(100)
        ],
    }
    text = render(summarize(many), max_lines=20)
    lines = text.splitlines()
    assert len(lines) == 21  # 19 of the 205 lines, a blank line and the pointer
    assert lines[-1] == "... 186 more line(s): see the full plan artifact."


def test_plan_text_is_data_in_the_markdown() -> None:
    hostile = json.loads(json.dumps(PLAN))
    body = hostile["resource_changes"][1]["change"]["after"]
    body["name"] = "<img src=x onerror=alert(1)> [link](http://evil) ##vso[task.setvariable]"
    html = MarkdownIt("commonmark", {"html": True}).parse(render(summarize(hostile)))
    inline = [t for block in html if block.children for t in block.children]
    assert not [t for t in inline if t.type in {"html_inline", "link_open"}]


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN), encoding="utf-8")
    assert main(["plan-summary", str(plan)]) == 0
    assert "versiona 60 -> 10" in capsys.readouterr().out
    plan.write_text('{"resource_changes": []}', encoding="utf-8")
    assert main(["plan-summary", str(plan)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a Terraform JSON plan" in err
    plan.write_text("{", encoding="utf-8")
    assert main(["plan-summary", str(plan)]) == 2
