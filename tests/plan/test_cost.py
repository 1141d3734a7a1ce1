"""The seed cost formula and table: ACI ranges reproduce the guide's column."""

from __future__ import annotations

from decimal import Decimal

import pytest

from generator.plan.cost import aci_monthly_cost, compare, total
from generator.plan.model import CostComparison, Prices
from generator.plan.sku import choose_sku

# "ACI costs range" column of the migration guide: (cpu, memory) at the top of each row
# must cost the upper end of the range.
SEED_RANGES = [
    (1, 1.2, "33.463"),
    (2, 1.7, "64.652"),
    (2, 4.7, "74.398"),
    (2, 13.7, "103.634"),
    (3, 5.7, "107.211"),
    (4, 5.7, "136.776"),
    (3, 11.7, "126.702"),
    (4, 11.7, "156.267"),
    (3, 16, "140.671"),
    (4, 16, "170.236"),
]


@pytest.mark.parametrize(("cpu", "memory", "upper"), SEED_RANGES)
def test_aci_formula_reproduces_the_seed_ranges(cpu: float, memory: float, upper: str) -> None:
    assert aci_monthly_cost(cpu, memory).quantize(Decimal("0.001")) == Decimal(upper)


def test_rounding_up_cpu_to_a_core_and_memory_to_a_tenth() -> None:
    # 0.1 CPU -> 1 core; 0.51 GB -> 0.6 GB
    assert aci_monthly_cost(0.1, 0.51) == Decimal("29.5650") + Decimal("3.2485") * Decimal("0.6")
    # The lower ends of the seed ranges: 1 core + 0 GB = $29.565; 2 cores + 1.2 GB = $63.028
    assert aci_monthly_cost(1, 0) == Decimal("29.565")
    assert aci_monthly_cost(2, 1.2).quantize(Decimal("0.001")) == Decimal("63.028")


def test_compare_multiplies_the_sku_prices_by_instances() -> None:
    choice = choose_sku(1, 1)
    cost = compare("ACI", 1, 1, choice.prices, 3)
    assert cost.v2 is not None
    assert cost.v2.pay_as_you_go == Decimal("41.610") * 3
    assert cost.v2.reserved_3y == Decimal("17.696") * 3
    aks = compare("AKS", 1, 1, choice.prices, 1)
    assert aks.v1_monthly is None


def test_total_adds_up_an_endpoints_deployments_and_is_unknown_when_a_part_is() -> None:
    a = CostComparison(
        Decimal("10.5"), "ACI container", 1, Prices(Decimal(1), Decimal(2), Decimal(3))
    )
    b = CostComparison(
        Decimal("4"), "ACI container", 2, Prices(Decimal(10), Decimal(20), Decimal(30))
    )
    both = total([a, b])
    assert both == CostComparison(
        Decimal("14.5"), "ACI container", 3, Prices(Decimal(11), Decimal(22), Decimal(33))
    )
    assert total([a]) is a
    unpriced = CostComparison(None, "share of the AKS cluster", 1, None)
    unknown = total([a, unpriced])
    assert unknown.v1_monthly is None and unknown.v2 is None and unknown.instances == 2
