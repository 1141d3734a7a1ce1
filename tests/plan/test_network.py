"""Network rules (plan/network.py): the workspace facts the export recorded become the right
findings and bodies; unreadable facts and v1 legacy mode are never guessed past."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.diagnostics import Level
from generator.plan.build import build_plan
from generator.plan.network import decide
from generator.sources.overrides import Override
from generator.sources.snapshot import NetworkFacts, PrivateEndpoint, Workspace, read_snapshot
from tests.conftest import WORKSPACE, aci, aks


def ws(access: str | None = "Enabled", **facts: Any) -> Workspace:
    return Workspace("s", "rg-ml", "ws-ml", "westeurope", access, NetworkFacts(**facts))


APPROVED = (PrivateEndpoint("ws-ml.pe-1", "Approved"),)
PENDING = (PrivateEndpoint("ws-ml.pe-2", "Pending"),)


def test_public_workspace_changes_nothing() -> None:
    net = decide(ws(), None, kubernetes=False)
    assert (net.public_access_disabled, net.egress_disabled, net.findings, net.blocking) == (
        False, False, (), None)


def test_v1_legacy_mode_blocks_and_says_how_to_turn_it_off() -> None:
    for kubernetes in (False, True):
        net = decide(ws(v1_legacy_mode=True), None, kubernetes)
        assert net.blocking is not None
        assert (net.blocking.level, net.blocking.code, net.blocking.field) == (
            Level.ERROR, "v1-legacy-mode", "workspace.v1LegacyMode")
        assert ("az ml workspace update --name ws-ml --resource-group rg-ml "
                "--v1-legacy-mode false") in net.blocking.message
    assert decide(ws(v1_legacy_mode=False), None, False).blocking is None


def test_unreadable_network_blocks_managed_endpoints_and_warns_for_kubernetes() -> None:
    unreadable = ws(None, unreadable="reading the workspace network settings: HTTP 403")
    net = decide(unreadable, None, kubernetes=False)
    assert net.blocking is not None and net.blocking.code == "network-unknown"
    assert "HTTP 403" in net.blocking.message
    assert 'workspace.publicNetworkAccess ("Enabled" or "Disabled")' in net.blocking.message
    k8s = decide(unreadable, None, kubernetes=True)
    assert k8s.blocking is None and [f.code for f in k8s.findings] == ["network-unknown"]
    # a value filled in by hand since wins over the export's error
    assert decide(ws("Enabled", unreadable="x"), None, False).blocking is None


def test_private_workspace_legacy_isolation() -> None:
    net = decide(ws("Disabled"), None, kubernetes=False)
    assert (net.public_access_disabled, net.egress_disabled) == (True, True)
    [finding] = net.findings
    assert (finding.code, finding.field) == ("network-isolation", "workspace.publicNetworkAccess")


def test_approved_private_endpoints_make_the_workspace_private() -> None:
    net = decide(ws("Enabled", private_endpoints=APPROVED), None, kubernetes=False)
    assert (net.public_access_disabled, net.egress_disabled) == (True, True)
    assert "ws-ml.pe-1" in net.findings[0].message
    assert net.findings[0].field == "workspace.privateEndpointConnections"
    pending = decide(ws("Enabled", private_endpoints=PENDING), None, kubernetes=False)
    assert (pending.public_access_disabled, pending.findings) == (False, ())


@pytest.mark.parametrize("mode", ["AllowInternetOutbound", "AllowOnlyApprovedOutbound"])
def test_managed_network_leaves_egress_to_the_workspace(mode: str) -> None:
    net = decide(ws("Disabled", managed_network=mode), None, kubernetes=False)
    assert (net.public_access_disabled, net.egress_disabled) == (True, False)
    assert [f.code for f in net.findings] == ["network-isolation", "managed-network"]
    assert ("outbound rules" in net.findings[1].message) == (mode == "AllowOnlyApprovedOutbound")
    public = decide(ws("Enabled", managed_network=mode), None, kubernetes=False)
    assert (public.public_access_disabled, public.egress_disabled) == (False, False)
    assert [(f.level, f.code) for f in public.findings] == [(Level.INFO, "managed-network")]
    off = decide(ws("Enabled", managed_network="Disabled"), None, kubernetes=False)
    assert off.findings == ()


def test_aci_vnet_and_kubernetes() -> None:
    net = decide(ws(), ("vnet-a", "snet"), kubernetes=False)
    assert (net.public_access_disabled, net.egress_disabled) == (True, True)
    assert "VNet 'vnet-a'" in net.findings[0].message
    k8s = decide(ws("Disabled"), None, kubernetes=True)
    assert (k8s.public_access_disabled, k8s.egress_disabled) == (False, False)
    assert [f.code for f in k8s.findings] == ["network-isolation"]


def snapshot(tmp_path: Path, workspace: dict[str, Any], services: list[Any],
             errors: list[dict[str, str]] | None = None) -> Path:
    path = tmp_path / "snapshot.json"
    doc: dict[str, Any] = {"workspace": workspace, "services": services}
    if errors is not None:
        doc["errors"] = errors
    path.write_text(json.dumps(doc))
    return path


def test_the_plan_blocks_a_legacy_mode_workspace(tmp_path: Path) -> None:
    path = snapshot(tmp_path, {**WORKSPACE, "publicNetworkAccess": "Enabled",
                               "v1LegacyMode": True}, [aci("a"), aks("b")])
    plan = build_plan(read_snapshot(path), {})
    assert [(o.service, o.status) for o in plan.outcomes] == [("a", "not-migrated"),
                                                              ("b", "not-migrated")]
    assert plan.workspace.endpoints == ()
    assert all("v1 legacy mode" in o.reason for o in plan.outcomes)


def test_the_plan_blocks_managed_endpoints_when_the_network_was_unreadable(
        tmp_path: Path) -> None:
    errors = [{"service": "", "what": "workspace.network",
               "message": "reading the workspace network settings: HTTP 403"}]
    path = snapshot(tmp_path, dict(WORKSPACE), [aci("a"), aks("b")], errors)
    kubernetes = Override(endpoint_kind="kubernetes", compute="k8s")
    plan = build_plan(read_snapshot(path), {"b": kubernetes})
    status = {o.service: o.status for o in plan.outcomes}
    assert status == {"a": "not-migrated", "b": "migrated"}
    b = next(o for o in plan.outcomes if o.service == "b")
    assert "network-unknown" in {d.code for d in b.diagnostics}
    general = [d for d in plan.diagnostics if d.code == "export-failed"]
    assert len(general) == 1 and "workspace.network" in general[0].message


def test_the_plan_gives_private_bodies_for_private_endpoints(tmp_path: Path) -> None:
    connection = {"name": "ws-test.pe", "properties": {
        "privateLinkServiceConnectionState": {"status": "Approved"}}}
    path = snapshot(tmp_path, {**WORKSPACE, "publicNetworkAccess": "Enabled",
                               "privateEndpointConnections": [connection],
                               "managedNetwork": {"isolationMode": "Disabled"}}, [aci("a")])
    [endpoint] = build_plan(read_snapshot(path), {}).workspace.endpoints
    assert endpoint.properties["publicNetworkAccess"] == "Disabled"
    assert endpoint.deployments[0].properties["egressPublicNetworkAccess"] == "Disabled"
