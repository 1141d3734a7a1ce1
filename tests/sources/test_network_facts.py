"""The workspace's network facts in a snapshot: typed, optional, one clear line when mistyped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.diagnostics import InputError
from generator.sources.snapshot import NetworkFacts, PrivateEndpoint, read_snapshot
from tests.conftest import WORKSPACE, aci


def read(tmp_path: Path, workspace: dict[str, Any], errors: Any = None) -> Any:
    path = tmp_path / "snapshot.json"
    doc: dict[str, Any] = {"workspace": {**WORKSPACE, **workspace}, "services": [aci()]}
    if errors is not None:
        doc["errors"] = errors
    path.write_text(json.dumps(doc))
    return read_snapshot(path).workspace


def test_absent_facts_are_the_defaults(tmp_path: Path) -> None:
    assert read(tmp_path, {}).network == NetworkFacts()


def test_facts_as_the_export_writes_them(tmp_path: Path) -> None:
    workspace = read(tmp_path, {
        "publicNetworkAccess": "Disabled",
        "v1LegacyMode": False,
        "privateEndpointConnections": [
            {"name": "ws.pe-a", "properties": {
                "privateLinkServiceConnectionState": {"status": "Approved"}}},
            {"properties": {}},
        ],
        "managedNetwork": {"isolationMode": "AllowInternetOutbound", "outboundRules": {}},
        "computes": {"aks": {"properties": {"computeType": "AKS"}}},
    })
    assert workspace.public_network_access == "Disabled"
    assert workspace.network == NetworkFacts(
        v1_legacy_mode=False,
        private_endpoints=(PrivateEndpoint("ws.pe-a", "Approved"), PrivateEndpoint("#1", "")),
        managed_network="AllowInternetOutbound",
    )


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("v1LegacyMode", "yes", "expected true or false"),
    ("privateEndpointConnections", {"a": 1}, "expected a list of objects"),
    ("privateEndpointConnections", ["x"], "expected a list of objects"),
    ("managedNetwork", [], "expected an object"),
])
def test_mistyped_facts_are_one_line(tmp_path: Path, field: str, value: Any,
                                     expected: str) -> None:
    with pytest.raises(InputError, match=f"field 'workspace.{field}': {expected}"):
        read(tmp_path, {field: value})


def test_the_exports_network_error_is_kept_until_someone_fills_the_value_in(
        tmp_path: Path) -> None:
    errors = [{"service": "aci", "what": "workspace.network", "message": "not this one"},
              {"service": "", "what": "workspace.network", "message": "HTTP 403"}]
    assert read(tmp_path, {}, errors).network.unreadable == "HTTP 403"
    assert read(tmp_path, {"publicNetworkAccess": "Enabled"}, errors).network.unreadable is None
    missing = [{"service": "", "what": "workspace.publicNetworkAccess", "message": "absent"}]
    assert read(tmp_path, {}, missing).network.unreadable == "absent"
    assert read(tmp_path, {}, [{"service": "", "what": "services", "message": "x"}]
                ).network.unreadable is None
