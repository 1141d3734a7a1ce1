"""Bicep and Terraform send the same ARM bodies: read back from each (pycep + the Bicep
read-back for one, tfparse for the other), field by field, for the example snapshot and for
generated services (hostile strings, AKS autoscale, token auth, kept keys, private network)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from generator.pipeline import Options, generate
from tests.conftest import EXAMPLE, WORKSPACE, SnapshotFactory, aci, aks
from tests.support import bicep, terraform

HOSTILE_TEXT = (
    "Says \"hi\" \\ it's ''' ${var.secret} $${x} \\${y} %{ if } \t tab \r\n crlf "
    "\x01\x7f\u2028 ünï 日本 \U0001f600 ends\\"
)
HOSTILE_TAGS = {
    "true": "null",
    "": "empty key",
    "a b": "sp ace",
    "1abc": "digit",
    "x'y": "quo'te",
    "multi\nline": "line\nbreak",
    "ends\\": "\\",
    "${k}": "${v}",
    "ключ": "значение",
}


def _hostile() -> dict[str, Any]:
    service = aci(
        "hostile-aci",
        description=HOSTILE_TEXT,
        kvTags=HOSTILE_TAGS,
        authEnabled=False,
    )
    request = service["environmentImageRequest"]
    request["modelIds"] = ["we'ird${m}\\:7"]
    request["environment"] = {
        "name": "env-a",
        "environmentVariables": {
            "AZUREML_ENTRY_SCRIPT": "src/it's ${x}.py",
            "WEIRD": HOSTILE_TEXT,
            "EMPTY": "",
        },
    }
    return service


CASES: dict[str, dict[str, Any]] = {
    "hostile-strings": {"services": [_hostile()]},
    "aks-autoscale-with-keys": {
        "services": [
            aks(
                "fraud-aks",
                numReplicas=None,
                autoScaler={
                    "autoscaleEnabled": True,
                    "minReplicas": 2,
                    "maxReplicas": 6,
                    "targetUtilization": 55,
                    "refreshPeriodInSeconds": 10,
                },
                livenessProbeRequirements={
                    "periodSeconds": 10,
                    "initialDelaySeconds": 30,
                    "timeoutSeconds": 2,
                    "failureThreshold": 3,
                    "successThreshold": 1,
                },
            ),
            aci("keyed-aci"),
        ],
        "keys": {
            "fraud-aks": {"primaryKey": "pk-fraud-SECRET-1", "secondaryKey": "sk-fraud-SECRET-2"},
            "keyed-aci": {"primaryKey": "pk-aci-SECRET-3", "secondaryKey": "sk-aci-SECRET-4"},
        },
    },
    "aks-token-auth": {
        "services": [
            aks("recs-token", authEnabled=False, aadAuthEnabled=True, scoringTimeoutMs=300000)
        ],
        "keys": {
            "recs-token": {"primaryKey": "unused-SECRET-5", "secondaryKey": "unused-SECRET-6"}
        },
    },
    "private-workspace-renamed-symbol-clash": {
        "services": [aci("My_Service.v1"), aci("ab-cd"), aci("abCd")],
        "workspace": {**WORKSPACE, "publicNetworkAccess": "Disabled"},
    },
    "environment-inputs": {
        "services": [
            aci(
                "no-env-version",
                environmentImageRequest={
                    "modelIds": ["m:1", "n:2"],
                    "environment": {"name": "custom", "python": {}},
                },
            )
        ]
    },
}


def generate_case(make_snapshot: SnapshotFactory, out: Path, case: dict[str, Any]) -> Path:
    snapshot = make_snapshot(
        copy.deepcopy(case["services"]), case.get("keys"), case.get("workspace")
    )
    generate(Options(input=snapshot, out=out, targets=("terraform", "bicep")))
    return out


def _arm_ids(evaluated: dict[str, Any]) -> dict[str, str]:
    """tfparse stands in a random id for each resource's `id`: map it to the ARM id."""
    blocks = {b["id"]: b for b in evaluated.get("azapi_resource", [])}
    ids: dict[str, str] = {}

    def arm(block: dict[str, Any]) -> str:
        kind = block["type"].split("@")[0]
        parent = block["parent_id"]
        parent_id = arm(blocks[parent]) if parent in blocks else parent
        if "/workspaces/" in parent_id:  # a child of the workspace (or of its children)
            return f"{parent_id}/{kind.rsplit('/', 1)[1]}/{block['name']}"
        return f"{parent_id}/providers/{kind}/{block['name']}"

    for uid, block in blocks.items():
        ids[uid] = arm(block)
    return ids


def _replace(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, list):
        return [_replace(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, ids) for k, v in value.items()}
    return value


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in patch.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def terraform_bodies(module: Path) -> dict[str, dict[str, Any]]:
    """What Terraform sends, with resource ids as ARM ids and each traffic step as the PUT
    azapi_update_resource makes (GET, merge the body in, PUT: the endpoint body plus traffic)."""
    evaluated = terraform.evaluate(module)
    with mock.patch.object(terraform, "evaluate", return_value=evaluated):
        raw = terraform.bodies(module)
    found: dict[str, dict[str, Any]] = dict(_replace(raw, _arm_ids(evaluated)))
    for key in [k for k in found if k.startswith("traffic:")]:
        endpoint = found[f"endpoint:{key.split(':', 1)[1]}"]
        found[key] = _merge(endpoint, found[key])
    return found


def assert_same_bodies(out: Path, workspace: dict[str, str]) -> dict[str, dict[str, Any]]:
    name = workspace["name"]
    tf = terraform_bodies(out / "terraform" / name)
    bc = bicep.bodies(
        out / "bicep" / name,
        scope={
            "subscriptionId": workspace["subscriptionId"],
            "resourceGroup": workspace["resourceGroup"],
        },
    )
    assert sorted(bc) == sorted(tf)
    for key in tf:
        for field in sorted(set(tf[key]) | set(bc[key])):
            assert bc[key].get(field) == tf[key].get(field), f"{key} {field}"
    return bc


def test_example_snapshot_same_bodies(tmp_path: Path) -> None:
    import json

    generate(Options(input=EXAMPLE, out=tmp_path, targets=("terraform", "bicep")))
    workspace = json.loads((EXAMPLE / "snapshot.json").read_text(encoding="utf-8"))["workspace"]
    found = assert_same_bodies(tmp_path, workspace)
    assert len([k for k in found if k.startswith("endpoint:")]) == 6
    assert "autoscale:fraud-aks-blue-autoscale" in found


@pytest.mark.parametrize("case", sorted(CASES))
def test_generated_services_same_bodies(
    case: str, make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    spec = CASES[case]
    out = generate_case(make_snapshot, tmp_path / "out", spec)
    found = assert_same_bodies(out, spec.get("workspace") or WORKSPACE)
    assert any(k.startswith("deployment:") for k in found)
    if case == "aks-autoscale-with-keys":
        assert any(k.startswith("autoscale:") for k in found)
        assert {k for k in found if k.startswith("endpoint-secrets:")} == {
            "endpoint-secrets:fraud-aks",
            "endpoint-secrets:keyed-aci",
        }
        assert found["endpoint-secrets:fraud-aks"]["properties"]["keys"] == {
            "primaryKey": "test-primary-fraud-aks",
            "secondaryKey": "test-secondary-fraud-aks",
        }
    if case == "hostile-strings":
        assert found["endpoint:hostile-aci"]["properties"]["description"] == HOSTILE_TEXT
        assert found["endpoint:hostile-aci"]["tags"] == HOSTILE_TAGS
    if case == "aks-token-auth":
        assert found["endpoint:recs-token"]["properties"]["authMode"] == "AMLToken"
        assert not any(k.startswith("endpoint-secrets:") for k in found)
