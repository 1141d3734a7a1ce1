"""The seed SKU table (migration guide): every row, every corner, the gaps and beyond."""

from __future__ import annotations

from decimal import Decimal

import pytest

from generator.plan.sku import NoSize, choose_sku

# The seed table as printed in the migration guide: (cpu interval, memory interval, SKU).
SEED = [
    ((0, 1), (0, 1.2), "Standard_DS1_v2"),
    ((1, 2), (1.2, 1.7), "Standard_F2s_v2"),
    ((1, 2), (1.7, 4.7), "Standard_DS2_v2"),
    ((1, 2), (4.7, 13.7), "Standard_E2s_v3"),
    ((2, 4), (0, 5.7), "Standard_F4s_v2"),
    ((2, 4), (5.7, 11.7), "Standard_DS3_v2"),
    ((2, 4), (11.7, 16), "Standard_E4s_v3"),
]


def _inside(interval: tuple[float, float]) -> list[float]:
    low, high = interval
    return [low + 0.01, (low + high) / 2, high]  # just above the open end, middle, closed end


@pytest.mark.parametrize(("cpu_range", "mem_range", "sku"), SEED)
def test_every_point_of_a_seed_row_maps_to_its_sku(cpu_range, mem_range, sku):  # type: ignore[no-untyped-def]
    for cpu in _inside(cpu_range):
        for memory in _inside(mem_range):
            choice = choose_sku(cpu, memory)
            assert choice.instance_type == sku, (cpu, memory)
            assert choice.rule == "seed-table"


@pytest.mark.parametrize(
    ("cpu", "memory", "sku"),
    [
        (0.1, 0.5, "Standard_DS1_v2"),  # v1 defaults
        (1, 1.2, "Standard_DS1_v2"),  # closed upper corner
        (1.01, 1.21, "Standard_F2s_v2"),  # just past it
        (2, 13.7, "Standard_E2s_v3"),
        (4, 16, "Standard_E4s_v3"),  # largest corner
    ],
)
def test_corners(cpu: float, memory: float, sku: str) -> None:
    assert choose_sku(cpu, memory).instance_type == sku


@pytest.mark.parametrize(
    ("cpu", "memory", "sku"),
    [
        (0.5, 2, "Standard_DS2_v2"),  # <= 1 CPU with > 1.2 GB: no seed row
        (1, 4, "Standard_DS2_v2"),
        (1, 8, "Standard_E2s_v3"),
        (2, 1, "Standard_F2s_v2"),  # (1, 2] CPU with <= 1.2 GB
        (0.5, 14, "Standard_E4s_v3"),
    ],
)
def test_gaps_take_the_cheapest_covering_row(cpu: float, memory: float, sku: str) -> None:
    choice = choose_sku(cpu, memory)
    assert (choice.instance_type, choice.rule) == (sku, "seed-table-gap")
    assert choice.prices is not None


@pytest.mark.parametrize(
    ("cpu", "memory", "sku"),
    [
        (6, 8, "Standard_D8as_v4"),
        (4, 20, "Standard_D8as_v4"),
        (8, 40, "Standard_D16as_v4"),
        (90, 300, "Standard_D96as_v4"),
    ],
)
def test_beyond_the_table_takes_the_smallest_general_purpose_size(
    cpu: float, memory: float, sku: str
) -> None:
    choice = choose_sku(cpu, memory)
    assert (choice.instance_type, choice.rule, choice.prices) == (sku, "general-purpose", None)


def test_gpu_requests_get_a_gpu_size() -> None:
    assert choose_sku(1, 4, gpu=1).instance_type == "Standard_NC4as_T4_v3"
    assert choose_sku(6, 50, gpu=1).instance_type == "Standard_NC8as_T4_v3"
    assert choose_sku(6, 64, gpu=1).instance_type == "Standard_NC16as_T4_v3"
    assert choose_sku(4, 16, gpu=2).instance_type == "Standard_NC12s_v3"
    assert choose_sku(1, 4, gpu=1).rule == "gpu"


def test_nothing_covers_an_absurd_request() -> None:
    with pytest.raises(NoSize):
        choose_sku(500, 4)
    with pytest.raises(NoSize):
        choose_sku(1, 4, gpu=16)


def test_seed_prices_are_attached() -> None:
    prices = choose_sku(3, 8).prices
    assert prices is not None
    assert (prices.pay_as_you_go, prices.reserved_1y, prices.reserved_3y) == (
        Decimal("167.170"),
        Decimal("108.165"),
        Decimal("70.781"),
    )
