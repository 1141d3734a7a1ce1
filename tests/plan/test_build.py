"""Plan building: one service at a time, each problem a diagnostic, others unaffected."""

from __future__ import annotations

from typing import Any

from generator.diagnostics import Level
from generator.plan.build import build_plan
from generator.plan.model import AssetId, Concat, MigrationPlan, ServiceOutcome
from generator.sources.overrides import Override
from generator.sources.snapshot import read_snapshot
from tests.conftest import SnapshotFactory, aci, aks


def plan(
    make_snapshot: SnapshotFactory,
    services: list[Any],
    overrides: dict[str, Override] | None = None,
    **kw: Any,
) -> MigrationPlan:
    return build_plan(read_snapshot(make_snapshot(services, **kw)), overrides or {})


def outcome(p: MigrationPlan, name: str) -> ServiceOutcome:
    return next(o for o in p.outcomes if o.service == name)


def codes(o: ServiceOutcome) -> set[str]:
    return {d.code for d in o.diagnostics}


def test_bad_resources_stop_only_that_service(make_snapshot: SnapshotFactory) -> None:
    p = plan(
        make_snapshot,
        [aci("no-cpu", containerResourceRequirements={"cpu": 0, "memoryInGB": 1}), aci("fine")],
    )
    bad = outcome(p, "no-cpu")
    assert bad.status == "not-migrated"
    (error,) = [d for d in bad.diagnostics if d.level is Level.ERROR]
    assert error.field == "containerResourceRequirements.cpu"
    assert "expected a number > 0, got 0" in error.message
    assert [e.name for e in p.workspace.endpoints] == ["fine"]


def test_missing_resources_keep_v1_defaults(make_snapshot: SnapshotFactory) -> None:
    """v1 gave a container 0.1 CPU and 0.5 GB when none were asked for (ACI and AKS)."""
    p = plan(make_snapshot, [aci("no-cpu", containerResourceRequirements={"memoryInGB": 4})])
    sku = outcome(p, "no-cpu").sku
    assert sku is not None and sku.requested == (0.1, 4, 0)
    (kept,) = [d for d in outcome(p, "no-cpu").diagnostics if d.code == "v1-default-kept"]
    assert "0.1 CPU and 0.5 GB" in kept.message


def test_sku_override_needs_no_resources(make_snapshot: SnapshotFactory) -> None:
    p = plan(
        make_snapshot,
        [aci("no-cpu", containerResourceRequirements=None)],
        {"no-cpu": Override(instance_type="Standard_DS3_v2", instance_count=2)},
    )
    (endpoint,) = p.workspace.endpoints
    deployment = endpoint.deployments[0]
    assert deployment.properties["instanceType"] == "Standard_DS3_v2"
    assert deployment.sku == {"capacity": 2, "name": "Default"}
    assert outcome(p, "no-cpu").sku.rule == "override"  # type: ignore[union-attr]


def test_image_based_services_are_not_migrated(make_snapshot: SnapshotFactory) -> None:
    p = plan(make_snapshot, [aci("img", imageId="img:1")])
    o = outcome(p, "img")
    assert o.status == "not-migrated" and "image-based" in codes(o)
    assert "custom container" in o.reason


def test_invalid_names_are_replaced_and_collisions_refused(make_snapshot: SnapshotFactory) -> None:
    p = plan(
        make_snapshot,
        [aci("Bad_Name"), aci("svc-one"), aci("svc-two")],
        {"svc-two": Override(endpoint_name="svc-one")},
    )
    renamed = outcome(p, "Bad_Name")
    assert renamed.endpoint is not None and renamed.endpoint.startswith("bad-name-")
    assert "renamed" in codes(renamed)
    assert outcome(p, "svc-two").status == "not-migrated"
    assert "duplicate-endpoint" in codes(outcome(p, "svc-two"))


def test_no_auth_becomes_key_with_a_warning(make_snapshot: SnapshotFactory) -> None:
    p = plan(make_snapshot, [aci("open", authEnabled=False)])
    assert p.workspace.endpoints[0].properties["authMode"] == "Key"
    assert "auth-none" in codes(outcome(p, "open"))


def test_private_network(make_snapshot: SnapshotFactory) -> None:
    p = plan(
        make_snapshot,
        [aci("in-vnet", vnetConfiguration={"vnetName": "v", "subnetName": "s"}), aci("public")],
    )
    endpoints = {e.name: e for e in p.workspace.endpoints}
    assert endpoints["in-vnet"].properties["publicNetworkAccess"] == "Disabled"
    assert endpoints["in-vnet"].deployments[0].properties["egressPublicNetworkAccess"] == "Disabled"
    assert "publicNetworkAccess" not in endpoints["public"].properties
    private_ws = {
        "subscriptionId": "s",
        "resourceGroup": "g",
        "name": "w",
        "location": "l",
        "publicNetworkAccess": "Disabled",
    }
    p = plan(make_snapshot, [aci("public")], workspace=private_ws)
    assert p.workspace.endpoints[0].properties["publicNetworkAccess"] == "Disabled"


def test_unsupported_settings_are_reported(make_snapshot: SnapshotFactory) -> None:
    p = plan(
        make_snapshot,
        [
            aci(
                "odd",
                sslEnabled=True,
                cname="x.contoso.com",
                state="Failed",
                encryptionProperties={
                    "vaultBaseUrl": "https://kv",
                    "keyName": "k",
                    "keyVersion": "1",
                },
            ),
            aks("collect", dataCollection={"storageEnabled": True}),
        ],
    )
    assert {"tls-custom-dns", "unhealthy", "encryption"} <= codes(outcome(p, "odd"))
    assert "data-collection" in codes(outcome(p, "collect"))


def test_a_transitioning_service_is_an_operation_in_flight(make_snapshot: SnapshotFactory) -> None:
    p = plan(make_snapshot, [aci("busy", state="Transitioning")])
    (found,) = [d for d in outcome(p, "busy").diagnostics if d.field == "state"]
    assert found.code == "operation-in-flight"
    assert "export again when it has ended" in found.message
    assert "fail the same way" not in found.message


def test_references(make_snapshot: SnapshotFactory) -> None:
    registered = aci("reg")
    registered["environmentImageRequest"] = {
        "modelIds": ["m:2", "n:1"],
        "environmentReference": {"name": "e", "version": "3"},
        "assets": [{"id": "drv.py"}, {"id": "main.py"}],
        "driverProgram": "drv.py",
    }
    p = plan(make_snapshot, [registered])
    props = p.workspace.endpoints[0].deployments[0].properties
    assert isinstance(props["model"], Concat) and props["model"].parts[1] == "/models/m/versions/2"
    assert isinstance(props["environmentId"], Concat)
    code = props["codeConfiguration"]
    assert isinstance(code, dict) and code["scoringScript"] == "main.py"
    # No assets in this snapshot: the code version is still registered from the bundle
    # folder, which the report tells the user to fill.
    assert code["codeId"] == AssetId("code", "reg-blue")
    assert {"multi-model", "missing-code"} <= codes(outcome(p, "reg"))
    assert p.workspace.inputs == ()


def test_non_nfc_text_is_normalized_with_a_warning(make_snapshot: SnapshotFactory) -> None:
    p = plan(make_snapshot, [aci("accents", description="Cafe\u0301", kvTags={"k": "e\u0301"})])
    endpoint = p.workspace.endpoints[0]
    assert endpoint.properties["description"] == "Caf\u00e9"
    assert endpoint.tags == {"k": "\u00e9"}
    assert "unicode-normalized" in codes(outcome(p, "accents"))


def test_keys_are_kept_for_key_auth_only(make_snapshot: SnapshotFactory) -> None:
    keys = {n: {"primaryKey": "a", "secondaryKey": "b"} for n in ("with-key", "token")}
    p = plan(
        make_snapshot,
        [aci("with-key"), aks("token", aadAuthEnabled=True, authEnabled=False)],
        keys=keys,
    )
    endpoints = {e.name: e for e in p.workspace.endpoints}
    assert endpoints["with-key"].keys_from == "with-key"
    assert endpoints["token"].keys_from is None
    assert "keys-unused" in codes(outcome(p, "token"))


def test_unknown_override_is_a_general_warning(make_snapshot: SnapshotFactory) -> None:
    p = plan(make_snapshot, [aci()], {"ghost": Override(instance_count=2)})
    assert [d.code for d in p.diagnostics] == ["unknown-override"]


def test_reader_errors_become_not_migrated_outcomes(make_snapshot: SnapshotFactory) -> None:
    p = plan(make_snapshot, [aci("typo", authEnabled="yes"), aci()])
    typo = outcome(p, "typo")
    assert typo.status == "not-migrated"
    assert "authEnabled: expected true or false" in typo.reason
    assert [o.status for o in p.outcomes].count("migrated") == 1
