"""The record of what gen-iac generated: plan data round-trips through it exactly, and the
rollout rules (names, create-only properties) hold."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from generator.pipeline import Options, plan_from
from generator.plan.memory import (
    decode_record,
    encode_record,
    immutable_changes,
    next_name,
    renamed,
)
from generator.plan.model import DeploymentId
from tests.conftest import EXAMPLE


def test_every_endpoint_of_the_example_round_trips_through_its_record() -> None:
    plan, _ = plan_from(Options(input=EXAMPLE))
    ws = plan.workspace
    assert len(ws.endpoints) >= 6
    for endpoint in ws.endpoints:
        by_key = {(a.kind, a.key): a for a in ws.assets}
        text = json.dumps(encode_record(ws.name, endpoint, by_key), sort_keys=True)
        record = decode_record(json.loads(text), "record", ws.name)
        assert record.endpoint == endpoint
        used = endpoint.asset_keys
        mine = tuple(f"{endpoint.name}/{d.name}" for d in endpoint.deployments)
        assert [replace(a, kept=False) for a in record.assets] == [
            replace(a, files={}, deployments=tuple(u for u in a.deployments if u in mine))
            for a in sorted(ws.assets, key=lambda a: (a.kind, a.key))
            if (a.kind, a.key) in used
        ]


def test_a_map_with_a_dollar_key_stays_data() -> None:
    plan, _ = plan_from(Options(input=EXAMPLE))
    endpoint = replace(plan.workspace.endpoints[0], tags={"$": "workspace"})
    by_key = {(a.kind, a.key): a for a in plan.workspace.assets}
    data = json.loads(json.dumps(encode_record(plan.workspace.name, endpoint, by_key)))
    assert decode_record(data, "record", plan.workspace.name).endpoint.tags == {"$": "workspace"}


@pytest.mark.parametrize(
    ("name", "taken", "expected"),
    [
        ("blue", {"blue"}, "green"),
        ("green", {"green"}, "blue"),
        ("blue", {"blue", "green"}, "blue-r2"),
        ("versiona", {"versiona"}, "versiona-r2"),
        ("versiona-r2", {"versiona-r2"}, "versiona-r3"),
        ("a" * 32, {"a" * 32}, "a" * 29 + "-r2"),
    ],
)
def test_the_replacement_of_a_deployment_has_a_free_valid_name(
    name: str, taken: set[str], expected: str
) -> None:
    assert next_name(name, taken) == expected


def test_a_renamed_deployment_scales_on_a_setting_of_its_own() -> None:
    plan, _ = plan_from(Options(input=EXAMPLE))
    fraud = next(e for e in plan.workspace.endpoints if e.name == "fraud-aks")
    blue = fraud.deployments[0]
    green = renamed(blue, "fraud-aks", "green")
    assert green.name == "green" and green.planned == "blue"
    assert green.autoscale is not None and green.autoscale.name == "fraud-aks-green-autoscale"
    text = repr(green.autoscale.properties)
    assert repr(DeploymentId("fraud-aks", "green")) in text
    assert repr(DeploymentId("fraud-aks", "blue")) not in text
    bigger = replace(green, properties={**green.properties, "instanceType": "Standard_F8s_v2"})
    assert immutable_changes(blue, bigger) == ["instanceType"]
    assert immutable_changes(blue, green) == []
