"""Kubernetes rules: v1 requests as Kubernetes quantities, scale settings, the name rule."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator.plan.kubernetes import (
    NAME_LENGTHS,
    container_resources,
    cpu_quantity,
    memory_quantity,
    name_length_ok,
    scale_settings,
)
from generator.plan.rules import Scale
from generator.sources.legacy import AutoScaler, Resources


@pytest.mark.parametrize(
    ("cores", "quantity"),
    [(0.5, "500m"), (1, "1"), (1.0, "1"), (2, "2"), (0.25, "250m"), (0.001, "1m"), (1.5, "1500m")],
)
def test_cpu_quantities(cores: float, quantity: str) -> None:
    assert cpu_quantity(cores) == quantity


@pytest.mark.parametrize(("cores", "quantity"), [(4.03, "4030m"), (2.007, "2007m"), (1.1, "1100m")])
def test_cpu_millicores_are_not_inflated_by_float_noise(cores: float, quantity: str) -> None:
    # 4.03 * 1000 == 4030.000000000001 in binary floating point; ceil must not add 1m.
    assert cpu_quantity(cores) == quantity


def test_a_sub_millicore_request_rounds_up_to_1m() -> None:
    assert cpu_quantity(0.0004) == "1m"


@given(st.integers(1, 64_000).filter(lambda m: m % 1000))
def test_any_millicore_value_maps_back_to_itself(millicores: int) -> None:
    assert cpu_quantity(millicores / 1000) == f"{millicores}m"


@pytest.mark.parametrize(
    ("gb", "quantity"),
    [(1.5, "1536Mi"), (2, "2Gi"), (2.0, "2Gi"), (0.5, "512Mi"), (0.1, "103Mi"), (16, "16Gi")],
)
def test_memory_quantities(gb: float, quantity: str) -> None:
    assert memory_quantity(gb) == quantity


@given(st.floats(0.001, 512, allow_nan=False))
def test_memory_is_never_less_than_v1_asked_for(gb: float) -> None:
    quantity = memory_quantity(gb)
    match = re.fullmatch(r"(\d+)(Gi|Mi)", quantity)
    assert match is not None, quantity
    mib = int(match.group(1)) * (1024 if match.group(2) == "Gi" else 1)
    assert Decimal(mib) >= Decimal(gb) * 1024
    assert Decimal(mib) - Decimal(gb) * 1024 < 1


def test_no_v1_requests_means_no_container_requirements() -> None:
    assert container_resources(None) is None
    assert container_resources(Resources()) is None
    assert container_resources(Resources(cpu=0, memory_gb=0, gpu=0)) is None


def test_requests_without_limits() -> None:
    assert container_resources(Resources(cpu=0.5, memory_gb=1.5, gpu=0)) == {
        "containerResourceRequests": {"cpu": "500m", "memory": "1536Mi"}
    }


def test_requests_and_limits() -> None:
    found = container_resources(
        Resources(cpu=1, memory_gb=2, cpu_limit=2, memory_gb_limit=4, gpu=None)
    )
    assert found == {
        "containerResourceLimits": {"cpu": "2", "memory": "4Gi"},
        "containerResourceRequests": {"cpu": "1", "memory": "2Gi"},
    }


def test_gpus_are_requested_and_limited_in_whole_devices() -> None:
    found = container_resources(Resources(cpu=4, memory_gb=16, gpu=1))
    assert found == {
        "containerResourceLimits": {"gpu": "1"},
        "containerResourceRequests": {"cpu": "4", "gpu": "1", "memory": "16Gi"},
    }
    fractional = container_resources(Resources(cpu=1, memory_gb=1, gpu=0.5))
    assert fractional == {
        "containerResourceLimits": {"gpu": "1"},
        "containerResourceRequests": {"cpu": "1", "gpu": "1", "memory": "1Gi"},
    }


def test_negative_v1_values_are_no_quantities() -> None:
    # "-1" is no Kubernetes quantity: the deployment would fail at apply time.
    assert container_resources(Resources(cpu=-1, memory_gb=-2, gpu=-1)) is None
    assert container_resources(Resources(cpu=1, memory_gb=-2)) == {
        "containerResourceRequests": {"cpu": "1"}
    }


def test_without_the_v1_autoscaler_the_scale_is_fixed() -> None:
    assert scale_settings(Scale(3, None)) == {"scaleType": "Default"}


def test_the_v1_autoscaler_becomes_target_utilization() -> None:
    settings = scale_settings(Scale(2, AutoScaler(True, 2, 8, 65, 1)))
    assert settings == {
        "maxInstances": 8,
        "minInstances": 2,
        "pollingInterval": "PT1S",
        "scaleType": "TargetUtilization",
        "targetUtilizationPercentage": 65,
    }
    assert list(settings) == sorted(settings)


def test_longer_refresh_periods_are_iso_durations() -> None:
    settings = scale_settings(Scale(1, AutoScaler(True, 1, 3, 70, 90)))
    assert settings["pollingInterval"] == "PT1M30S"


def test_unset_autoscaler_fields_are_left_to_the_service() -> None:
    settings = scale_settings(Scale(1, AutoScaler(True, 1, 3, None, None)))
    assert settings == {"maxInstances": 3, "minInstances": 1, "scaleType": "TargetUtilization"}


@pytest.mark.parametrize(
    ("total", "ok"), [(5, False), (6, True), (7, True), (61, True), (62, True), (63, False)]
)
def test_endpoint_plus_deployment_name_length(total: int, ok: bool) -> None:
    endpoint = "e" * (total // 2)
    deployment = "d" * (total - len(endpoint))
    assert name_length_ok(endpoint, deployment) is ok
    assert NAME_LENGTHS == (6, 62)
