"""What the generator needs, recorded by the export (never guessed), and what the generator
then makes of it: v1 legacy mode, network settings (unreadable ones included), private
endpoints, computes, v2 endpoints, image-based services."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from generator.cli import main as cli_main
from generator.export import command
from generator.pipeline import Options, plan_from
from tests.export.conftest import ARM_WS, RECORDINGS, RG, SUB, WS, FakeAzure, FakeCredential, Fault


def run(out: Path, credential: FakeCredential, *extra: str) -> tuple[int, str]:
    err = io.StringIO()
    status = command.main(
        ["--subscription", SUB, "--resource-group", RG, "--workspace", WS, "--out", str(out),
         *extra], credential=credential, sleep=lambda s: None, stream=err)
    return status, err.getvalue()


def generate(snapshot: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    status = cli_main(["--target", "terraform", "--input", str(snapshot), "--out", str(out)])
    return status, capsys.readouterr().err


def load(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "snapshot.json").read_text())
    return data


def test_v1_legacy_mode_is_recorded_and_blocks_every_service(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    azure.workspaces[WS].arm["properties"]["v1LegacyMode"] = True
    snap = tmp_path / "snap"
    status, err = run(snap, credential)
    assert status == 0, err
    assert load(snap)["workspace"]["v1LegacyMode"] is True
    plan, _ = plan_from(Options(input=snap))
    assert [(o.service, o.status) for o in plan.outcomes] == [
        ("aci-iris", "not-migrated"), ("aks-churn", "not-migrated"),
        ("aks-fraud", "not-migrated"), ("blue-7f3c", "skipped")]
    for outcome in plan.not_migrated:
        codes = [d.code for d in outcome.diagnostics if d.level.value == "error"]
        assert codes == ["v1-legacy-mode"]
        assert "--v1-legacy-mode false" in outcome.reason
    status, err = generate(snap, tmp_path / "out", capsys)
    assert status == 1
    assert "v1 legacy mode" in (tmp_path / "out" / "MIGRATION.md").read_text()


def test_unreadable_network_settings_are_an_error_never_public(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    azure.faults.append(Fault(path=f"{WS}?api-version=2024-10-01", status=403, times=-1, body={
        "error": {"code": "AuthorizationFailed", "message": "The client 'x' does not have "
                  "authorization to perform action 'read' over scope "
                  "'https://127.0.0.1/x?sv=2020&sig=SECRET'"}}))
    snap = tmp_path / "snap"
    status, err = run(snap, credential)
    assert status == 1
    data = load(snap)
    assert "publicNetworkAccess" not in data["workspace"]
    assert "v1LegacyMode" not in data["workspace"]
    [entry] = data["errors"]
    assert (entry["service"], entry["what"]) == ("", "workspace.network")
    assert "HTTP 403" in entry["message"] and "AuthorizationFailed" not in entry["message"]
    assert "does not have authorization" in entry["message"]
    assert "sig=SECRET" not in (snap / "snapshot.json").read_text() and "sig=" not in err
    assert "workspace.network: reading the workspace network settings: HTTP 403" in err
    # the services are still exported
    assert [s["name"] for s in data["services"]] == ["aci-iris", "aks-churn", "aks-fraud",
                                                     "blue-7f3c"]
    status, err = generate(snap, tmp_path / "out", capsys)
    assert status == 1
    plan, _ = plan_from(Options(input=snap))
    assert [o.service for o in plan.not_migrated] == ["aci-iris", "aks-churn", "aks-fraud"]
    assert all("network-unknown" in {d.code for d in o.diagnostics} for o in plan.not_migrated)
    report = (tmp_path / "out" / "MIGRATION.md").read_text()
    assert "could not read the workspace's network settings" in report
    assert plan.workspace.endpoints == ()  # no endpoint guessed public


def test_a_missing_public_network_access_is_an_error_too(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    del azure.workspaces[WS].arm["properties"]["publicNetworkAccess"]
    snap = tmp_path / "snap"
    status, _ = run(snap, credential)
    assert status == 1
    assert [(e["what"]) for e in load(snap)["errors"]] == ["workspace.publicNetworkAccess"]
    plan, _ = plan_from(Options(input=snap))
    assert len(plan.not_migrated) == 3


PRIVATE_ENDPOINT = {
    "id": f"{ARM_WS}/privateEndpointConnections/ws-legacy.pe-ml-1a2b",
    "name": "ws-legacy.pe-ml-1a2b",
    "type": "Microsoft.MachineLearningServices/workspaces/privateEndpointConnections",
    "location": "westeurope",
    "properties": {
        "privateEndpoint": {"id": f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/"
                                  "Microsoft.Network/privateEndpoints/pe-ml"},
        "privateLinkServiceConnectionState": {"status": "Approved",
                                              "description": "Auto-Approved",
                                              "actionsRequired": "None"},
        "provisioningState": "Succeeded",
    },
}


def test_private_endpoints_make_the_endpoints_private(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    azure.workspaces[WS].arm["properties"]["privateEndpointConnections"] = [PRIVATE_ENDPOINT]
    snap = tmp_path / "snap"
    assert run(snap, credential)[0] == 0
    assert load(snap)["workspace"]["privateEndpointConnections"] == [PRIVATE_ENDPOINT]
    plan, _ = plan_from(Options(input=snap))
    [iris] = [e for e in plan.workspace.endpoints if e.name == "aci-iris"]
    assert iris.properties["publicNetworkAccess"] == "Disabled"
    assert iris.deployments[0].properties["egressPublicNetworkAccess"] == "Disabled"
    outcome = next(o for o in plan.outcomes if o.service == "aci-iris")
    assert any("ws-legacy.pe-ml-1a2b" in d.message for d in outcome.diagnostics)


def test_managed_network_keeps_egress_to_the_workspace_network(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    props = azure.workspaces[WS].arm["properties"]
    props["publicNetworkAccess"] = "Disabled"
    props["managedNetwork"] = {"isolationMode": "AllowOnlyApprovedOutbound",
                               "outboundRules": {}, "status": {"status": "Active"}}
    snap = tmp_path / "snap"
    assert run(snap, credential)[0] == 0
    assert load(snap)["workspace"]["managedNetwork"]["isolationMode"] == "AllowOnlyApprovedOutbound"
    plan, _ = plan_from(Options(input=snap))
    [iris] = [e for e in plan.workspace.endpoints if e.name == "aci-iris"]
    assert iris.properties["publicNetworkAccess"] == "Disabled"
    assert "egressPublicNetworkAccess" not in iris.deployments[0].properties


def test_unreadable_computes_and_endpoint_deployments_are_errors(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    data = azure.workspaces[WS]
    second = copy.deepcopy(data.endpoints[0])
    second["name"] = "churn-v2"
    second["id"] = second["id"].replace("credit-v2", "churn-v2")
    data.endpoints.append(second)
    data.deployments["churn-v2"] = []
    data.arm_page_size = 1  # two pages of endpoints: nextLink on ARM's host is followed
    azure.faults += [Fault(path="/computes?", status=500, times=-1),
                     Fault(path="/onlineEndpoints/credit-v2/deployments", status=403, times=-1)]
    snap = tmp_path / "snap"
    status, _ = run(snap, credential)
    assert status == 1
    snapshot = load(snap)
    assert "computes" not in snapshot["workspace"]
    assert [(e["service"], e["what"]) for e in snapshot["errors"]] == [
        ("", "workspace.computes"), ("", "onlineEndpoints.credit-v2.deployments")]
    endpoints = snapshot["onlineEndpoints"]
    assert [e["name"] for e in endpoints] == ["credit-v2", "churn-v2"]
    assert "deployments" not in endpoints[0]  # unknown, not "none"
    assert endpoints[1]["deployments"] == []
    assert "HTTP 500, still failing after 6 tries" in snapshot["errors"][0]["message"]


IMAGE_SERVICE: dict[str, Any] = {
    "id": "aci-legacy-image", "name": "aci-legacy-image", "kvTags": {}, "properties": {},
    "state": "Healthy", "createdTime": "2020-06-02T08:00:00.0000000+00:00",
    "computeType": "ACI", "deploymentType": "HttpRealtimeEndpoint",
    "containerResourceRequirements": {"cpu": 1.0, "memoryInGB": 1.0},
    "imageId": "legacy-image:3", "imageDigest": "sha256:" + "ab" * 32,
    "scoringUri": "http://aci-legacy-image.westeurope.azurecontainer.io/score",
    "location": "westeurope", "authEnabled": False, "sslEnabled": False,
    "appInsightsEnabled": False, "publicIp": "20.0.0.30",
}


def test_image_based_services_get_their_image_details_and_assets(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    missing = dict(IMAGE_SERVICE, id="aci-gone-image", name="aci-gone-image",
                   imageId="gone-image:1")
    azure.workspaces[WS].pages[1]["value"] += [copy.deepcopy(IMAGE_SERVICE), missing]
    snap = tmp_path / "snap"
    status, _ = run(snap, credential)
    assert status == 1
    data = load(snap)
    service = next(s for s in data["services"] if s["name"] == "aci-legacy-image")
    details = service["imageDetails"]
    recorded = azure.recording("mms_images.json")["legacy-image:3"]
    assert details["imageLocation"] == recorded["imageLocation"]
    assert details["assets"] == recorded["assets"]
    # a SAS URL in the payload keeps its path, never its query
    assert details["imageBuildLogUri"] == recorded["imageBuildLogUri"].split("?")[0]
    assert "ImageLogSasSignature" not in (snap / "snapshot.json").read_text()
    folder = snap / "assets" / "aci-legacy-image"
    assert sorted(p.name for p in folder.iterdir()) == ["dependencies.tar.gz", "driver",
                                                        "myenv.yml"]
    assert (folder / "myenv.yml").read_bytes() == (RECORDINGS / "blobs" / "myenv.yml.blob").read_bytes()
    assert [(e["service"], e["what"]) for e in data["errors"]] == [("aci-gone-image",
                                                                    "imageDetails")]
    assert "HTTP 404" in data["errors"][0]["message"]
    assert "gone-image:1" in data["errors"][0]["message"]
    plan, _ = plan_from(Options(input=snap))
    outcome = next(o for o in plan.outcomes if o.service == "aci-legacy-image")
    assert outcome.status == "not-migrated" and "image-based" in {d.code for d in outcome.diagnostics}
