"""Plan building for issue 5: AKS endpoints with versions, the Kubernetes target and the
rollout choices (deployment name, initial traffic, mirror). Each problem stays with its
service; the other services of the snapshot migrate."""

from __future__ import annotations

from typing import Any

import pytest

from generator.diagnostics import InputError, Level
from generator.pipeline import parse_choices
from generator.plan.build import build_plan
from generator.plan.model import (
    Concat,
    Endpoint,
    MigrationPlan,
    ServiceOutcome,
    WorkspaceId,
)
from generator.sources.overrides import Override
from generator.sources.snapshot import read_snapshot
from tests.conftest import WORKSPACE, SnapshotFactory, aci, aks

PRIVATE = {**WORKSPACE, "publicNetworkAccess": "Disabled"}
MANAGED_ONLY = ("publicNetworkAccess", "egressPublicNetworkAccess", "mirrorTraffic")


def version(
    name: str,
    percent: Any = None,
    default: bool | None = None,
    role: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    payload = aks(name, **fields)
    for key, value in (("trafficPercentile", percent), ("isDefault", default), ("type", role)):
        if value is not None:
            payload[key] = value
    return payload


def aks_endpoint(name: str, *versions: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An AKSENDPOINT payload with its versions as the SDK's `versions` map."""
    payload: dict[str, Any] = {
        "name": name,
        "computeType": "AKSENDPOINT",
        "authEnabled": True,
        "description": "A/B",
        "kvTags": {"team": "risk"},
        "scoringUri": f"http://10.0.0.1:80/api/v1/endpoint/{name}/score",
        "versions": {v["name"]: v for v in versions},
    }
    payload.update(fields)
    return payload


def ab(name: str = "ab-test", **fields: Any) -> dict[str, Any]:
    """Two versions, 70/30: control is the default."""
    return aks_endpoint(
        name,
        version("control", 70.0, True, "Control"),
        version("treatment", 30.0, False, "Treatment"),
        **fields,
    )


def plan(
    make_snapshot: SnapshotFactory,
    services: list[Any],
    overrides: dict[str, Override] | None = None,
    defaults: Override | None = None,
    **kw: Any,
) -> MigrationPlan:
    return build_plan(read_snapshot(make_snapshot(services, **kw)), overrides or {}, defaults)


def outcome(p: MigrationPlan, name: str) -> ServiceOutcome:
    return next(o for o in p.outcomes if o.service == name)


def endpoint(p: MigrationPlan, name: str) -> Endpoint:
    return next(e for e in p.workspace.endpoints if e.service == name)


def codes(o: ServiceOutcome, level: Level | None = None) -> set[str]:
    return {d.code for d in o.diagnostics if level is None or d.level is level}


def errors(o: ServiceOutcome) -> list[str]:
    return [d.code for d in o.diagnostics if d.level is Level.ERROR]


# --- AKS endpoints with versions -------------------------------------------------------------


def test_versions_become_deployments_with_the_v1_split(make_snapshot: SnapshotFactory) -> None:
    p = plan(make_snapshot, [ab()])
    e = endpoint(p, "ab-test")
    assert e.name == "ab-test"
    assert [d.name for d in e.deployments] == ["control", "treatment"]
    assert e.traffic == {"control": 70, "treatment": 30}
    assert e.mirror_traffic == {}
    assert e.kind == "Managed"
    assert "traffic" not in e.properties  # set after the deployments exist
    o = outcome(p, "ab-test")
    assert o.status == "migrated" and o.deployments == ("control", "treatment")


def test_the_variants_array_gives_the_same_endpoint(make_snapshot: SnapshotFactory) -> None:
    versions = [version("treatment", 30.0, False, "Treatment"), version("control", 70.0, True)]
    as_map = aks_endpoint("ab-test", *versions)
    as_array = {k: v for k, v in as_map.items() if k != "versions"}
    as_array["variants"] = versions  # a different order: deployments are sorted by name
    from_map = plan(make_snapshot, [as_map])
    from_array = plan(make_snapshot, [as_array])
    assert from_array.workspace.endpoints == from_map.workspace.endpoints
    assert [d.name for d in from_array.workspace.endpoints[0].deployments] == [
        "control",
        "treatment",
    ]
    assert outcome(from_array, "ab-test").rollout == outcome(from_map, "ab-test").rollout


def test_a_versions_map_entry_without_a_name_takes_its_key(make_snapshot: SnapshotFactory) -> None:
    unnamed = {k: v for k, v in version("ignored", 100.0, True).items() if k != "name"}
    payload = aks_endpoint("keyed")
    payload["versions"] = {"from-key": unnamed}
    p = plan(make_snapshot, [payload])
    assert [d.name for d in endpoint(p, "keyed").deployments] == ["from-key"]


def test_invalid_version_names_are_made_valid_with_a_warning(
    make_snapshot: SnapshotFactory,
) -> None:
    p = plan(
        make_snapshot,
        [aks_endpoint("ab-test", version("Version_A", 50.0, True), version("v2", 50.0))],
    )
    e = endpoint(p, "ab-test")
    names = [d.name for d in e.deployments]
    assert "Version_A" not in names and "v2" not in names
    assert len(names) == 2
    renamed = [d for d in outcome(p, "ab-test").diagnostics if d.code == "renamed"]
    assert {d.field for d in renamed} == {"versions.Version_A", "versions.v2"}
    assert all(d.level is Level.WARNING for d in renamed)
    assert sorted(e.traffic.values()) == [50, 50] and set(e.traffic) == set(names)
    rollout = {r.version: r.deployment for r in outcome(p, "ab-test").rollout}
    assert set(rollout) == {"Version_A", "v2"} and set(rollout.values()) == set(names)


def test_a_case_insensitive_collision_stops_only_that_endpoint(
    make_snapshot: SnapshotFactory,
) -> None:
    p = plan(
        make_snapshot,
        [
            aks_endpoint("clash", version("Alpha1", 50.0, True), version("alpha1", 50.0)),
            aci("fine"),
        ],
    )
    bad = outcome(p, "clash")
    assert bad.status == "not-migrated"
    assert errors(bad) == ["version-name-collision"]
    assert "'Alpha1'" in bad.reason and "'alpha1'" in bad.reason
    assert outcome(p, "fine").status == "migrated"
    assert [e.name for e in p.workspace.endpoints] == ["fine"]


def test_an_endpoint_without_versions_is_not_migrated(make_snapshot: SnapshotFactory) -> None:
    p = plan(make_snapshot, [aks_endpoint("empty"), aci("fine")])
    assert errors(outcome(p, "empty")) == ["no-versions"]
    assert outcome(p, "fine").status == "migrated"


def test_roles_and_v1_percents_are_in_the_rollout(make_snapshot: SnapshotFactory) -> None:
    p = plan(make_snapshot, [ab()])
    control, treatment = outcome(p, "ab-test").rollout
    assert (
        control.deployment,
        control.version,
        control.role,
        control.is_default,
        control.v1_percent,
        control.traffic,
        control.mirror,
    ) == ("control", "control", "Control", True, 70.0, 70, 0)
    assert control.instance_type  # a managed VM size per version
    assert (
        treatment.deployment,
        treatment.role,
        treatment.is_default,
        treatment.v1_percent,
        treatment.traffic,
    ) == ("treatment", "Treatment", False, 30.0, 30)


def test_a_single_service_has_a_blue_rollout_without_a_version(
    make_snapshot: SnapshotFactory,
) -> None:
    p = plan(make_snapshot, [aks("single")])
    (r,) = outcome(p, "single").rollout
    assert (r.deployment, r.version, r.traffic, r.mirror) == ("blue", None, 100, 0)
    assert endpoint(p, "single").traffic == {"blue": 100}


# --- percentages -------------------------------------------------------------------------------


def test_missing_percentages_go_to_the_default_with_a_warning(
    make_snapshot: SnapshotFactory,
) -> None:
    p = plan(
        make_snapshot,
        [aks_endpoint("ab-test", version("control", None, True), version("treatment", None))],
    )
    assert endpoint(p, "ab-test").traffic == {"control": 100, "treatment": 0}
    o = outcome(p, "ab-test")
    assert o.status == "migrated"
    assert {"traffic-missing"} <= codes(o, Level.WARNING)
    assert "traffic-remainder" in codes(o, Level.INFO)


def test_a_sum_under_100_tops_up_the_default(make_snapshot: SnapshotFactory) -> None:
    p = plan(
        make_snapshot,
        [aks_endpoint("ab-test", version("control", 50.0, True), version("treatment", 30.0))],
    )
    assert endpoint(p, "ab-test").traffic == {"control": 70, "treatment": 30}


@pytest.mark.parametrize(
    ("percents", "message"),
    [
        ((-10.0, 100.0), "-10 is outside 0-100"),
        ((150.0, 0.0), "150 is outside 0-100"),
        ((70.0, 40.0), "sum to 110, over 100"),
    ],
)
def test_impossible_percentages_stop_only_that_endpoint(
    make_snapshot: SnapshotFactory, percents: tuple[float, float], message: str
) -> None:
    bad = aks_endpoint(
        "bad-split", version("control", percents[0], True), version("treatment", percents[1])
    )
    p = plan(make_snapshot, [bad, ab(), aks("single")])
    o = outcome(p, "bad-split")
    assert o.status == "not-migrated"
    (error,) = [d for d in o.diagnostics if d.level is Level.ERROR]
    assert (error.code, error.field) == ("invalid-traffic", "versions.trafficPercentile")
    assert message in error.message
    assert {e.service for e in p.workspace.endpoints} == {"ab-test", "single"}


def _field_errors(p: MigrationPlan) -> dict[str, list[tuple[str, str]]]:
    return {
        o.service: [(d.code, d.field) for d in o.diagnostics if d.level is Level.ERROR]
        for o in p.outcomes
        if o.status == "not-migrated"
    }


def test_a_percentage_that_is_not_a_number_is_a_field_error(
    make_snapshot: SnapshotFactory,
) -> None:
    bad = aks_endpoint("bad-split", version("control", "sixty", True), version("treatment", 40))
    p = plan(make_snapshot, [bad, ab()])
    found = [e for errs in _field_errors(p).values() for e in errs]
    assert found == [("invalid-field", "versions.control.trafficPercentile")]
    (message,) = [d.message for o in p.not_migrated for d in o.diagnostics]
    assert "expected a number" in message and "'sixty'" in message
    assert outcome(p, "ab-test").status == "migrated"
    assert {e.service for e in p.workspace.endpoints} == {"ab-test"}


def test_a_variant_percentage_error_names_the_array_position(
    make_snapshot: SnapshotFactory,
) -> None:
    bad = {k: v for k, v in ab("bad-split").items() if k != "versions"}
    bad["variants"] = [version("control", 60, True), version("treatment", True)]
    p = plan(make_snapshot, [bad])
    found = [e for errs in _field_errors(p).values() for e in errs]
    assert found == [("invalid-field", "variants[1].trafficPercentile")]
    assert p.workspace.endpoints == ()


@pytest.mark.parametrize("shape", ["versions", "variants"])
def test_a_version_field_error_belongs_to_its_endpoint(
    make_snapshot: SnapshotFactory, shape: str
) -> None:
    bad = aks_endpoint("bad-split", version("control", "sixty", True), version("treatment", 40))
    if shape == "variants":
        bad["variants"] = list(bad.pop("versions").values())
    p = plan(make_snapshot, [bad, ab()])
    assert sorted(o.service for o in p.outcomes) == ["ab-test", "bad-split"]
    o = outcome(p, "bad-split")
    assert o.status == "not-migrated"
    assert "trafficPercentile" in o.reason
    assert {d.service for d in o.diagnostics} == {"bad-split"}


# --- Kubernetes target -----------------------------------------------------------------------

K8S = Override(endpoint_kind="kubernetes", compute="k8s")


def test_the_kubernetes_kind_for_all_applies_to_aks_services_only(
    make_snapshot: SnapshotFactory,
) -> None:
    p = plan(make_snapshot, [aci("on-aci"), aks("on-aks"), ab()], defaults=K8S)
    kinds = {e.service: e.kind for e in p.workspace.endpoints}
    assert kinds == {"on-aci": "Managed", "on-aks": "Kubernetes", "ab-test": "Kubernetes"}
    assert {o.service: o.endpoint_kind for o in p.outcomes} == kinds
    assert "compute" not in endpoint(p, "on-aci").properties
    aci_deployment = endpoint(p, "on-aci").deployments[0].properties
    assert aci_deployment["endpointComputeType"] == "Managed"


def test_a_kubernetes_endpoint_needs_a_compute(make_snapshot: SnapshotFactory) -> None:
    p = plan(
        make_snapshot,
        [aks("on-aks"), aci("on-aci")],
        defaults=Override(endpoint_kind="kubernetes"),
    )
    o = outcome(p, "on-aks")
    assert o.status == "not-migrated"
    (error,) = [d for d in o.diagnostics if d.level is Level.ERROR]
    assert (error.code, error.field) == ("no-compute", "compute")
    assert "--compute" in error.message
    assert outcome(p, "on-aci").status == "migrated"


def test_a_per_service_kind_wins_over_the_default(make_snapshot: SnapshotFactory) -> None:
    p = plan(
        make_snapshot,
        [aks("stays-managed"), aks("on-k8s")],
        overrides={"stays-managed": Override(endpoint_kind="managed")},
        defaults=K8S,
    )
    assert endpoint(p, "stays-managed").kind == "Managed"
    assert endpoint(p, "on-k8s").kind == "Kubernetes"


def test_kubernetes_bodies(make_snapshot: SnapshotFactory) -> None:
    scaler = {
        "autoscaleEnabled": True,
        "minReplicas": 2,
        "maxReplicas": 6,
        "targetUtilization": 60,
        "refreshPeriodInSeconds": 1,
    }
    resources = {"cpu": 0.5, "memoryInGB": 1.5, "cpuLimit": 1, "memoryInGBLimit": 2, "gpu": 0}
    p = plan(
        make_snapshot,
        [
            aks("on-k8s", autoScaler=scaler, containerResourceRequirements=resources),
            ab(),
            aci("on-aci"),
        ],
        defaults=K8S,
        workspace=PRIVATE,
    )
    for service in ("on-k8s", "ab-test"):
        e = endpoint(p, service)
        assert e.properties["compute"] == Concat((WorkspaceId(), "/computes/k8s"))
        assert not set(MANAGED_ONLY) & set(e.properties)
        assert e.mirror_traffic == {}
        for d in e.deployments:
            assert d.properties["endpointComputeType"] == "Kubernetes"
            assert not set(MANAGED_ONLY) & set(d.properties)
            assert "instanceType" not in d.properties  # the cluster's default instance type
            assert d.autoscale is None  # scaling is the deployment's scaleSettings
            assert "containerResourceRequirements" in d.properties
            assert "scaleSettings" in d.properties
        assert "kubernetes-prerequisites" in codes(outcome(p, service), Level.WARNING)
    single = endpoint(p, "on-k8s").deployments[0].properties
    assert single["containerResourceRequirements"] == {
        "containerResourceLimits": {"cpu": "1", "memory": "2Gi"},
        "containerResourceRequests": {"cpu": "500m", "memory": "1536Mi"},
    }
    assert single["scaleSettings"] == {
        "maxInstances": 6,
        "minInstances": 2,
        "pollingInterval": "PT1S",
        "scaleType": "TargetUtilization",
        "targetUtilizationPercentage": 60,
    }
    versioned = endpoint(p, "ab-test").deployments[0].properties
    assert versioned["scaleSettings"] == {"scaleType": "Default"}
    assert endpoint(p, "ab-test").traffic == {"control": 70, "treatment": 30}
    # The private workspace still closes the managed endpoint next to them.
    assert endpoint(p, "on-aci").properties["publicNetworkAccess"] == "Disabled"
    assert outcome(p, "on-aci").rollout[0].instance_type


def test_kubernetes_takes_an_instance_type_override(make_snapshot: SnapshotFactory) -> None:
    p = plan(
        make_snapshot,
        [aks("on-k8s", containerResourceRequirements=None)],
        overrides={"on-k8s": Override(instance_type="gpu-large")},
        defaults=K8S,
    )
    (d,) = endpoint(p, "on-k8s").deployments
    assert d.properties["instanceType"] == "gpu-large"
    assert "containerResourceRequirements" not in d.properties
    assert "no-resources" not in codes(outcome(p, "on-k8s"))


def test_kubernetes_without_requests_warns(make_snapshot: SnapshotFactory) -> None:
    p = plan(make_snapshot, [aks("on-k8s", containerResourceRequirements=None)], defaults=K8S)
    assert outcome(p, "on-k8s").status == "migrated"
    assert "no-resources" in codes(outcome(p, "on-k8s"), Level.WARNING)


def test_kubernetes_request_timeouts_allow_300_seconds(make_snapshot: SnapshotFactory) -> None:
    p = plan(make_snapshot, [aks("on-k8s", scoringTimeoutMs=240_000)], defaults=K8S)
    settings = endpoint(p, "on-k8s").deployments[0].properties["requestSettings"]
    assert settings["requestTimeout"] == "PT4M"  # type: ignore[index,call-overload]
    assert "clamped-timeout" not in codes(outcome(p, "on-k8s"))


def test_kubernetes_autoscale_notes_do_not_promise_azure_monitor(
    make_snapshot: SnapshotFactory,
) -> None:
    p = plan(make_snapshot, [aks("on-k8s", autoScaler={"autoscaleEnabled": True})], defaults=K8S)
    assert endpoint(p, "on-k8s").deployments[0].autoscale is None
    messages = [d.message for d in outcome(p, "on-k8s").diagnostics]
    assert not [m for m in messages if "Azure Monitor" in m]


@pytest.mark.parametrize(("deployment_length", "migrated"), [(30, True), (31, False)])
def test_the_kubernetes_name_length_rule(
    make_snapshot: SnapshotFactory, deployment_length: int, migrated: bool
) -> None:
    endpoint_name = "e" * 32
    deployment_name = "d" * deployment_length  # 32 + 30 = 62 is the limit
    p = plan(
        make_snapshot,
        [aks(endpoint_name), aci("fine")],
        overrides={endpoint_name: Override(deployment_name=deployment_name)},
        defaults=K8S,
    )
    o = outcome(p, endpoint_name)
    assert (o.status == "migrated") is migrated
    if not migrated:
        (error,) = [d for d in o.diagnostics if d.level is Level.ERROR]
        assert error.code == "name-length"
        assert "63" in error.message
    assert outcome(p, "fine").status == "migrated"


def test_the_name_length_rule_is_kubernetes_only(make_snapshot: SnapshotFactory) -> None:
    p = plan(
        make_snapshot,
        [aks("e" * 32)],
        overrides={"e" * 32: Override(deployment_name="d" * 32)},
    )
    assert outcome(p, "e" * 32).status == "migrated"


# --- rollout choices -----------------------------------------------------------------------


def test_mirror_shadows_the_treatment(make_snapshot: SnapshotFactory) -> None:
    p = plan(make_snapshot, [ab()], defaults=Override(mirror=20))
    e = endpoint(p, "ab-test")
    assert e.traffic == {"control": 100, "treatment": 0}
    assert e.mirror_traffic == {"treatment": 20}
    rollout = {r.deployment: (r.traffic, r.mirror) for r in outcome(p, "ab-test").rollout}
    assert rollout == {"control": (100, 0), "treatment": (0, 20)}
    assert "mirror" in codes(outcome(p, "ab-test"), Level.INFO)


def test_mirroring_the_version_with_all_traffic_keeps_the_endpoint_live(
    make_snapshot: SnapshotFactory,
) -> None:
    flipped = aks_endpoint(
        "flipped", version("control", 0.0, True, "Control"), version("treatment", 100.0)
    )
    p = plan(make_snapshot, [flipped], defaults=Override(mirror=10))
    e = endpoint(p, "flipped")
    assert e.traffic == {"control": 100, "treatment": 0}
    assert e.mirror_traffic == {"treatment": 10}


@pytest.mark.parametrize(
    ("services", "defaults", "why"),
    [
        ([aks("single")], Override(mirror=20), "second deployment"),
        ([ab("single")], Override(mirror=20, endpoint_kind="kubernetes", compute="k8s"), "Kub"),
    ],
)
def test_mirror_is_ignored_where_it_cannot_apply(
    make_snapshot: SnapshotFactory, services: list[Any], defaults: Override, why: str
) -> None:
    p = plan(make_snapshot, services, defaults=defaults)
    e = endpoint(p, "single")
    assert e.mirror_traffic == {}
    assert sum(e.traffic.values()) == 100
    (warning,) = [d for d in outcome(p, "single").diagnostics if d.code == "mirror-ignored"]
    assert warning.level is Level.WARNING and warning.field == "mirror"
    assert why in warning.message


def test_dark_launch_sets_every_deployment_to_zero(make_snapshot: SnapshotFactory) -> None:
    p = plan(make_snapshot, [ab(), aks("single")], defaults=Override(initial_traffic=0))
    for service in ("ab-test", "single"):
        e = endpoint(p, service)
        assert set(e.traffic) == {d.name for d in e.deployments}
        assert set(e.traffic.values()) == {0}
        (warning,) = [d for d in outcome(p, service).diagnostics if d.code == "dark-launch"]
        assert warning.level is Level.WARNING
        assert "azureml-model-deployment" in warning.message
    assert {r.traffic for r in outcome(p, "ab-test").rollout} == {0}


def test_dark_launch_with_a_mirror(make_snapshot: SnapshotFactory) -> None:
    p = plan(make_snapshot, [ab()], defaults=Override(initial_traffic=0, mirror=10))
    e = endpoint(p, "ab-test")
    assert e.traffic == {"control": 0, "treatment": 0}
    assert e.mirror_traffic == {"treatment": 10}


def test_initial_traffic_100_changes_nothing(make_snapshot: SnapshotFactory) -> None:
    p = plan(make_snapshot, [ab()], defaults=Override(initial_traffic=100))
    assert endpoint(p, "ab-test").traffic == {"control": 70, "treatment": 30}
    assert "dark-launch" not in codes(outcome(p, "ab-test"))


def test_a_deployment_name_for_single_services(make_snapshot: SnapshotFactory) -> None:
    p = plan(
        make_snapshot,
        [aks("renamed"), aks("default"), ab()],
        overrides={
            "renamed": Override(deployment_name="green"),
            "ab-test": Override(deployment_name="green"),
        },
    )
    e = endpoint(p, "renamed")
    assert [d.name for d in e.deployments] == ["green"]
    assert e.traffic == {"green": 100}
    assert outcome(p, "renamed").deployments == ("green",)
    assert [d.name for d in endpoint(p, "default").deployments] == ["blue"]
    # Versions keep their own names; the choice is noted, not applied.
    assert [d.name for d in endpoint(p, "ab-test").deployments] == ["control", "treatment"]
    assert "deployment-name-ignored" in codes(outcome(p, "ab-test"), Level.INFO)


@pytest.mark.parametrize("name", ["1green", "gr", "green--1", "green_1", "g" * 33])
def test_an_invalid_deployment_name_is_an_error(make_snapshot: SnapshotFactory, name: str) -> None:
    p = plan(
        make_snapshot,
        [aks("renamed"), aci("fine")],
        overrides={"renamed": Override(deployment_name=name)},
    )
    o = outcome(p, "renamed")
    assert o.status == "not-migrated"
    (error,) = [d for d in o.diagnostics if d.level is Level.ERROR]
    assert (error.code, error.field) == ("invalid-deployment-name", "deployment_name")
    assert repr(name) in error.message
    assert outcome(p, "fine").status == "migrated"


# --- choice flags --------------------------------------------------------------------------


def test_choice_flags_for_all_and_per_service() -> None:
    defaults, per_service = parse_choices(
        {
            "--endpoint-kind": ["kubernetes"],
            "--compute": ["k8s", "ab-test=other"],
            "--mirror": ["ab-test=20"],
            "--initial-traffic": ["0"],
            "--deployment-name": ["svc=green"],
        }
    )
    assert defaults == Override(endpoint_kind="kubernetes", compute="k8s", initial_traffic=0)
    assert per_service == {
        "ab-test": Override(compute="other", mirror=20),
        "svc": Override(deployment_name="green"),
    }


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--mirror", "51", "from 1 to 50"),
        ("--mirror", "0", "from 1 to 50"),
        ("--initial-traffic", "50", "0 or 100"),
        ("--endpoint-kind", "serverless", "managed or kubernetes"),
        ("--mirror", "x=ten", "--mirror 'x=ten'"),
        ("--compute", "=k8s", "SERVICE=VALUE or VALUE"),
    ],
)
def test_bad_choice_flags_are_usage_errors(flag: str, value: str, expected: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_choices({flag: [value]})
    assert expected in str(caught.value)
