"""Quota pre-flight: figures checked by hand against the documented rules."""

from __future__ import annotations

from generator.pipeline import Options, plan_from
from generator.plan.model import Concat, Deployment, Endpoint, WorkspaceId, WorkspacePlan
from generator.plan.quota import check_quota, usage_command, vm_size, with_reserve


def _deployment(name: str, size: str, instances: int) -> Deployment:
    return Deployment(name, {"instanceType": size}, {"name": "Default", "capacity": instances}, {})


def _endpoint(name: str, *deployments: Deployment, compute: str | None = None) -> Endpoint:
    props: dict[str, object] = {}
    if compute:
        props["compute"] = Concat((WorkspaceId(), f"/computes/{compute}"))
    return Endpoint(
        name,
        name,
        props,  # type: ignore[arg-type]
        {},
        deployments,
        {d.name: 0 for d in deployments},
        kind="Kubernetes" if compute else "Managed",
    )


def _workspace(*endpoints: Endpoint) -> WorkspacePlan:
    return WorkspacePlan("sub", "rg", "ws", "westeurope", endpoints, ())


def test_the_reserve_is_ceil_of_one_point_two_times_the_instances() -> None:
    ds3 = vm_size("standard_ds3_v2")
    a100 = vm_size("Standard_NC24ads_A100_v4")
    assert ds3 and a100
    # The docs' example: 10 instances need quota for 12; one instance needs two (the
    # "Additional needed: 8" for one 4-vCPU instance in user reports).
    assert [with_reserve(n, ds3) for n in (1, 2, 3, 5, 10)] == [2, 3, 4, 6, 12]
    assert with_reserve(10, a100) == 10  # the A100/ND sizes are exempt


def test_docs_example_and_an_exempt_gpu_family() -> None:
    check = check_quota(
        _workspace(
            _endpoint("a", _deployment("blue", "Standard_DS3_v2", 10)),
            _endpoint("b", _deployment("blue", "Standard_NC24ads_A100_v4", 2)),
            _endpoint("c", _deployment("blue", "Standard_Custom_v9", 1)),
        )
    )
    by_family = {f.family: f for f in check.families}
    assert by_family["standardDSv2Family"].vcpus == 48  # 12 x 4 vCPUs
    assert by_family["standardNCADSA100v4Family"].vcpus == 48  # 2 x 24, no reserve
    assert not by_family["standardNCADSA100v4Family"].reserve
    assert check.total_vcpus == 96
    assert check.unknown_sizes == ("Standard_Custom_v9",)
    assert (check.endpoints.needed, check.deployments.needed) == (3, 3)
    assert not check.over


def test_example_workspace_by_hand() -> None:
    plan, _ = plan_from(Options())
    check = check_quota(plan.workspace)
    assert (check.endpoints.needed, check.endpoints.limit) == (6, 100)
    assert (check.deployments.needed, check.deployments.limit) == (7, 500)
    assert check.busiest and (check.busiest.what, check.busiest.needed) == ("ab-endpoint", 2)
    by_family = {f.family: f for f in check.families}
    # DSv2: churn DS1 x1 -> 2 x 1; fraud DS2 x2 -> 3 x 2; recs DS3 x3 -> 4 x 4;
    # sentiment DS2 x1 -> 2 x 2; ab-endpoint two DS2 x1 -> 2 x (2 x 2).
    assert by_family["standardDSv2Family"].vcpus == 2 + 6 + 16 + 4 + 8
    assert by_family["standardDSv2Family"].instances == 1 + 2 + 3 + 1 + 2
    # fraud-aks autoscales to 8: ceil(9.6) = 10 x 2 vCPUs instead of 6; ab-endpoint's
    # versions give no replica count, so they autoscale to v1's default 10 each:
    # ceil(12) = 12 x 2 vCPUs instead of 2 x 2 each.
    assert by_family["standardDSv2Family"].max_vcpus == 36 - 6 + 20 - 8 + 2 * 24
    # ESv3: ocr E4s_v3 x1 -> 2 x 4.
    assert by_family["standardESv3Family"].vcpus == 8
    assert check.total_vcpus == 44


def test_limits_per_subscription_endpoint_and_cluster() -> None:
    many = [_endpoint(f"e{i}", _deployment("blue", "Standard_F2s_v2", 1)) for i in range(101)]
    wide = _endpoint("wide", *[_deployment(f"d{i}", "Standard_F2s_v2", 1) for i in range(21)])
    cluster = [_endpoint(f"k{i}", _deployment("blue", "", 1), compute="aks-v2") for i in range(61)]
    check = check_quota(_workspace(*many, wide, *cluster))
    over = {c.what: (c.needed, c.limit) for c in check.over}
    assert over["endpoints"] == (163, 100)
    assert "deployments" not in over  # 101 + 21 + 61 = 183 of 500
    assert over["deployments of endpoint wide"] == (21, 20)
    assert check.busiest and (check.busiest.what, check.busiest.over) == ("wide", True)
    assert over["endpoints on Kubernetes compute aks-v2"] == (61, 60)
    # Kubernetes deployments use the cluster, not managed VM quota.
    assert [f.family for f in check.families] == ["standardFSv2Family"]
    assert check.families[0].vcpus == 122 * 2 * 2


def test_usage_command_names_the_workspace() -> None:
    command = usage_command(_workspace())
    assert command[:4] == ["az", "ml", "compute", "list-usage"]
    assert command[command.index("--location") + 1] == "westeurope"
    assert command[command.index("--workspace-name") + 1] == "ws"
