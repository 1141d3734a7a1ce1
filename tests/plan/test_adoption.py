"""Adopting what exists: `onlineEndpoints` read from the snapshot, compared with the plan,
rendered as Terraform import blocks and a report section.

The recording (recordings/contoso-online-endpoints.json) is what the export writes for the
example workspace: raw ARM endpoints as the list API returns them (2025-12-01; null fields
left out), each with its raw ARM deployments. It holds a managed endpoint whose names differ
in case only, a Kubernetes endpoint, a managed endpoint whose deployment differs and which
has a deployment gen-iac does not generate, and an endpoint gen-iac does not generate.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from generator.diagnostics import Level
from generator.pipeline import Options, generate, plan_from
from generator.plan.adoption import (
    AdoptedDeployment,
    AdoptedEndpoint,
    Change,
    KeptDeployment,
    adopt,
)
from generator.plan.model import MigrationPlan
from generator.render.imports import import_blocks, import_targets
from generator.sources.existing import ExistingDeployment, ExistingEndpoint, read_existing
from generator.sources.overrides import Override
from tests.golden import EXAMPLE

RECORDING = Path(__file__).parent / "recordings" / "contoso-online-endpoints.json"
WS_ID = (
    "/subscriptions/8f2d3c1e-5b7a-4e9c-9d21-6a0b4c3e2f10/resourceGroups/rg-ml-prod"
    "/providers/Microsoft.MachineLearningServices/workspaces/mlw-contoso-prod"
)
KUBERNETES = Override(endpoint_kind="kubernetes", compute="aks-v2")


def recorded() -> list[dict[str, Any]]:
    data = json.loads(RECORDING.read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def snapshot_with(tmp_path: Path, endpoints: Any) -> Path:
    snapshot = tmp_path / "snapshot"
    shutil.copytree(EXAMPLE, snapshot)
    data = json.loads((snapshot / "snapshot.json").read_text(encoding="utf-8"))
    data["onlineEndpoints"] = endpoints
    (snapshot / "snapshot.json").write_text(json.dumps(data), encoding="utf-8")
    return snapshot


def planned(tmp_path: Path, defaults: Override | None = None) -> MigrationPlan:
    snapshot = snapshot_with(tmp_path, recorded())
    plan, _ = plan_from(Options(input=snapshot, defaults=defaults or Override()))
    return plan


def test_the_recording_reads_as_typed_records() -> None:
    endpoints, warnings = read_existing({"onlineEndpoints": recorded()}, "snapshot.json")
    assert warnings == []
    assert [e.name for e in endpoints] == [
        "Churn-ACI",
        "fraud-aks",
        "recs-aks-token",
        "scratch-test",
    ]
    fraud = endpoints[1]
    assert fraud == ExistingEndpoint(
        name="fraud-aks",
        id=f"{WS_ID}/onlineEndpoints/fraud-aks",
        location="westeurope",
        auth_mode="Key",
        compute=f"{WS_ID}/computes/aks-v2",
        public_network_access=None,
        identity_type="SystemAssigned",
        provisioning_state="Succeeded",
        traffic=(("blue", 100),),
        deployments=(
            ExistingDeployment(
                name="blue",
                id=f"{WS_ID}/onlineEndpoints/fraud-aks/deployments/blue",
                endpoint_compute_type="Kubernetes",
                instance_type=None,
                instance_count=1,
                scale_type="TargetUtilization",
                egress_public_network_access=None,
                provisioning_state="Succeeded",
            ),
        ),
    )
    assert endpoints[2].deployments[1].provisioning_state == "Failed"


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ({"value": []}, "onlineEndpoints", "expected a list of online endpoint resources"),
        (["x"], "onlineEndpoints[0]", "expected an online endpoint object"),
        ([{"name": "a"}], "onlineEndpoints[0]", "an endpoint needs its name and id; left out"),
        (
            [{"name": "a", "id": "/x", "properties": {"authMode": 3}}],
            "onlineEndpoints[0].properties.authMode",
            "expected a string, got the number 3; this existing resource is not adopted",
        ),
        (
            [{"name": "a", "id": "/x", "deployments": {"blue": {}}}],
            "onlineEndpoints[0].deployments",
            "expected a list of objects, got an object; this existing resource is not adopted",
        ),
        (
            [{"name": "a", "id": "/x", "properties": {"traffic": {"blue": "100"}}}],
            "onlineEndpoints[0].properties.traffic",
            "expected an object of whole numbers, got an object; this existing resource is not "
            "adopted",
        ),
    ],
)
def test_a_bad_shape_is_one_warning_line(value: Any, field: str, message: str) -> None:
    endpoints, warnings = read_existing({"onlineEndpoints": value}, "snap/snapshot.json")
    assert endpoints == ()
    assert [(w.level, w.code, w.field, w.message) for w in warnings] == [
        (Level.WARNING, "invalid-existing", field, message)
    ]
    assert warnings[0].line() == f"warning: snap/snapshot.json: field {field!r}: {message}"


def test_a_bad_deployment_leaves_out_that_deployment_only() -> None:
    endpoint = dict(recorded()[2])
    endpoint["deployments"] = [
        {"name": "blue", "id": "/x/blue", "sku": {"capacity": "three"}},
        {"name": "green", "id": "/x/green"},
    ]
    endpoints, warnings = read_existing({"onlineEndpoints": [endpoint]}, "s.json")
    assert [d.name for d in endpoints[0].deployments] == ["green"]
    assert [w.field for w in warnings] == ["onlineEndpoints[0].deployments[0].sku.capacity"]


def test_no_online_endpoints_means_nothing_to_adopt(tmp_path: Path) -> None:
    plan, _ = plan_from(Options())
    assert plan.adoption.endpoints == () and plan.adoption.others == ()


def test_managed_plan_adopts_and_lists_every_difference(tmp_path: Path) -> None:
    adoption = planned(tmp_path).adoption
    assert adoption.others == ("scratch-test",)
    assert adoption.endpoints == (
        AdoptedEndpoint(
            name="churn-aci",
            existing_name="Churn-ACI",
            resource_id=f"{WS_ID}/onlineEndpoints/churn-aci",
            changes=(),
            deployments=(
                AdoptedDeployment(
                    name="blue",
                    existing_name="Blue",
                    resource_id=f"{WS_ID}/onlineEndpoints/churn-aci/deployments/blue",
                    changes=(),
                    provisioning_state="Succeeded",
                ),
            ),
            provisioning_state="Succeeded",
        ),
        AdoptedEndpoint(
            name="fraud-aks",
            existing_name="fraud-aks",
            resource_id=f"{WS_ID}/onlineEndpoints/fraud-aks",
            changes=(Change("kind", "Kubernetes", "Managed", in_place=False),),
            deployments=(
                AdoptedDeployment(
                    name="blue",
                    existing_name="blue",
                    resource_id=f"{WS_ID}/onlineEndpoints/fraud-aks/deployments/blue",
                    changes=(
                        Change("properties.endpointComputeType", "Kubernetes", "Managed", False),
                        Change("sku.capacity", "1", "2"),
                    ),
                    provisioning_state="Succeeded",
                ),
            ),
            provisioning_state="Succeeded",
        ),
        AdoptedEndpoint(
            name="recs-aks-token",
            existing_name="recs-aks-token",
            resource_id=f"{WS_ID}/onlineEndpoints/recs-aks-token",
            changes=(Change("properties.authMode", "Key", "AMLToken"),),
            deployments=(
                AdoptedDeployment(
                    name="blue",
                    existing_name="blue",
                    resource_id=f"{WS_ID}/onlineEndpoints/recs-aks-token/deployments/blue",
                    changes=(
                        Change(
                            "properties.instanceType",
                            "Standard_DS2_v2",
                            "Standard_DS3_v2",
                            in_place=False,
                        ),
                    ),
                    provisioning_state="Succeeded",
                ),
            ),
            kept=(KeptDeployment("green", 10),),
            provisioning_state="Succeeded",
        ),
    )
    assert [e.blocked for e in adoption.endpoints] == [False, True, True]
    assert adoption.deployment_count == 3


def test_kubernetes_plan_adopts_the_kubernetes_endpoint_in_place(tmp_path: Path) -> None:
    adoption = planned(tmp_path, KUBERNETES).adoption
    fraud = next(e for e in adoption.endpoints if e.name == "fraud-aks")
    assert fraud.changes == ()
    assert fraud.deployments[0].changes == (Change("sku.capacity", "1", "2"),)
    recs = next(e for e in adoption.endpoints if e.name == "recs-aks-token")
    assert recs.changes == (
        Change("kind", "Managed", "Kubernetes", in_place=False),
        Change("properties.authMode", "Key", "AMLToken"),
    )


def test_another_compute_cannot_be_changed_in_place(tmp_path: Path) -> None:
    plan = planned(tmp_path, Override(endpoint_kind="kubernetes", compute="aks-blue"))
    fraud = next(e for e in plan.adoption.endpoints if e.name == "fraud-aks")
    assert fraud.changes == (Change("properties.compute", "aks-v2", "aks-blue", in_place=False),)


def test_location_and_network_differences() -> None:
    plan, _ = plan_from(Options())
    existing = ExistingEndpoint(
        name="ocr-aci-private",
        id="/x",
        location="West Europe",
        public_network_access="Enabled",
        identity_type="SystemAssigned,UserAssigned",
        deployments=(
            ExistingDeployment("blue", "/x/blue", egress_public_network_access="Enabled"),
        ),
    )
    (adopted,) = adopt(plan.workspace, [existing]).endpoints
    assert adopted.changes == (
        Change("properties.publicNetworkAccess", "Enabled", "Disabled"),
        Change("identity.type", "SystemAssigned,UserAssigned", "SystemAssigned"),
    )
    assert adopted.deployments[0].changes == (
        Change("properties.egressPublicNetworkAccess", "Enabled", "Disabled"),
    )
    moved = adopt(plan.workspace, [ExistingEndpoint("ocr-aci-private", "/x", "northeurope")])
    assert moved.endpoints[0].changes == (
        Change("location", "northeurope", "westeurope", in_place=False),
    )


def test_import_blocks_address_the_terraform_labels(tmp_path: Path) -> None:
    plan = planned(tmp_path)
    assert import_targets(plan) == [
        ("azapi_resource.endpoint_churn_aci", f"{WS_ID}/onlineEndpoints/churn-aci"),
        (
            "azapi_resource.deployment_churn_aci__blue",
            f"{WS_ID}/onlineEndpoints/churn-aci/deployments/blue",
        ),
        ("azapi_resource.endpoint_fraud_aks", f"{WS_ID}/onlineEndpoints/fraud-aks"),
        (
            "azapi_resource.deployment_fraud_aks__blue",
            f"{WS_ID}/onlineEndpoints/fraud-aks/deployments/blue",
        ),
        ("azapi_resource.endpoint_recs_aks_token", f"{WS_ID}/onlineEndpoints/recs-aks-token"),
        (
            "azapi_resource.deployment_recs_aks_token__blue",
            f"{WS_ID}/onlineEndpoints/recs-aks-token/deployments/blue",
        ),
    ]
    text = import_blocks(plan, ["fraud-aks"])
    assert text.endswith(
        "import {\n"
        "  to = azapi_resource.endpoint_fraud_aks\n"
        f'  id = "{WS_ID}/onlineEndpoints/fraud-aks?api-version=2025-12-01"\n'
        "}\n\n"
        "import {\n"
        "  to = azapi_resource.deployment_fraud_aks__blue\n"
        f'  id = "{WS_ID}/onlineEndpoints/fraud-aks/deployments/blue?api-version=2025-12-01"\n'
        "}\n"
    )
    assert import_blocks(plan, ["sentiment-aci"]) == ""


def test_generate_writes_imports_and_the_report_section(tmp_path: Path, hclfmt: str) -> None:
    snapshot = snapshot_with(tmp_path, recorded())
    out = tmp_path / "out"
    generate(Options(input=snapshot, out=out, targets=("terraform", "bicep")))
    path = out / "terraform" / "mlw-contoso-prod" / "imports.tf"
    imports = path.read_text()
    assert imports.count("import {") == 6
    for flag in ("-check", "-require-no-change"):
        done = subprocess.run([hclfmt, flag, str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    # Every address names a resource the module declares.
    module = "".join(
        p.read_text() for p in (out / "terraform" / "mlw-contoso-prod").glob("main.*.tf")
    )
    for address, _ in import_targets(planned(tmp_path / "again")):
        kind, label = address.split(".")
        assert f'resource "{kind}" "{label}"' in module
    report = (out / "MIGRATION.md").read_text()
    section = report[report.index("## Existing online endpoints") :]
    assert "3 endpoint(s) and 3 deployment(s)" in section
    assert "`terraform/mlw-contoso-prod/imports.tf`" in section
    assert "Bicep: the deployment (incremental mode) updates them in place" in section
    assert "- Endpoint `churn-aci` (exists as `Churn-ACI`): no change" in section
    assert "`properties.authMode`: `Key` -> `AMLToken`\n" in section
    assert (
        "`properties.instanceType`: `Standard_DS2_v2` -> `Standard_DS3_v2`: not changed on an "
        "existing deployment, so the apply fails" in section
    )
    assert "Deployment `green` exists but is not generated" in section
    assert "It has 10 % of the live traffic now: set it to 0 before applying" in section
    assert "left alone (1): `scratch-test`." in section


def test_a_snapshot_string_renders_as_text_in_the_report(tmp_path: Path) -> None:
    endpoint = dict(recorded()[2])
    endpoint["properties"] = {**endpoint["properties"], "authMode": "<b>x</b> | # `y`"}
    snapshot = snapshot_with(tmp_path, [endpoint])
    out = tmp_path / "out"
    generate(Options(input=snapshot, out=out))
    report = (out / "MIGRATION.md").read_text()
    assert "`properties.authMode`: `` <b>x</b> \\| # `y` `` -> `AMLToken`" in report
