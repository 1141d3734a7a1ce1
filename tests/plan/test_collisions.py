"""Names that meet after normalisation, ignoring case, never give two resources of one name:
the later service gets a diagnostic and is not migrated; the earlier one is unchanged."""

from __future__ import annotations

from typing import Any

from generator.plan.build import build_plan
from generator.sources.overrides import Override
from generator.sources.snapshot import read_snapshot
from tests.conftest import SnapshotFactory, aci, aks


def autoscaled(name: str) -> dict[str, Any]:
    return aks(
        name,
        autoScaler={
            "autoscaleEnabled": True,
            "minReplicas": 1,
            "maxReplicas": 4,
            "targetUtilization": 70,
        },
    )


def test_endpoints_equal_apart_from_case(make_snapshot: SnapshotFactory) -> None:
    plan = build_plan(read_snapshot(make_snapshot([aci("churn"), aci("CHURN")])), {})
    assert [e.name for e in plan.workspace.endpoints] == ["churn"]
    (refused,) = [o for o in plan.outcomes if o.status == "not-migrated"]
    assert refused.service == "CHURN"
    assert [d.code for d in refused.diagnostics if d.level.value == "error"] == [
        "duplicate-endpoint"
    ]


def test_a_renamed_service_meeting_a_literal_name(make_snapshot: SnapshotFactory) -> None:
    """'my svc' becomes a valid name with a hash; a service literally called that loses."""
    from generator.plan.naming import valid_name

    taken = valid_name("my svc")
    plan = build_plan(read_snapshot(make_snapshot([aci("my svc"), aci(taken.upper())])), {})
    assert [e.name for e in plan.workspace.endpoints] == [taken]
    assert {o.service: o.status for o in plan.outcomes} == {
        "my svc": "migrated",
        taken.upper(): "not-migrated",
    }


def test_autoscale_settings_of_two_endpoints_never_share_a_name(
    make_snapshot: SnapshotFactory,
) -> None:
    """Endpoint aaa-b with deployment blue and endpoint AAA with deployment b-Blue both want
    the resource-group-wide autoscale setting aaa-b-blue-autoscale (Azure ignores case)."""
    snapshot = read_snapshot(make_snapshot([autoscaled("aaa-b"), autoscaled("zzz")]))
    plan = build_plan(snapshot, {"zzz": Override(endpoint_name="AAA", deployment_name="b-Blue")})
    names = [
        d.autoscale.name for e in plan.workspace.endpoints for d in e.deployments if d.autoscale
    ]
    assert len({n.lower() for n in names}) == len(names) == 1
    (refused,) = [o for o in plan.outcomes if o.status == "not-migrated"]
    assert refused.service == "zzz"
    assert "duplicate-name" in {d.code for d in refused.diagnostics}
    assert "aaa-b-blue-autoscale" in refused.reason.lower()
