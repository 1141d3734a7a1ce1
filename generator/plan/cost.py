"""Monthly cost comparison from the seed migration guide (USD, rough, per month)."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from generator.plan.model import CostComparison, Prices

ACI_PER_CPU = Decimal("29.5650")
ACI_PER_GB = Decimal("3.2485")


def aci_monthly_cost(cpu: float, memory_gb: float) -> Decimal:
    """$29.5650 x CPU rounded up to a whole core + $3.2485 x GB rounded up to a tenth."""
    cores = Decimal(str(cpu)).to_integral_value(rounding=ROUND_CEILING)
    tenths = (Decimal(str(memory_gb)) * 10).to_integral_value(rounding=ROUND_CEILING) / 10
    return ACI_PER_CPU * cores + ACI_PER_GB * tenths


def compare(
    compute_type: str, cpu: float, memory_gb: float, prices: Prices | None, instances: int
) -> CostComparison:
    v2 = (
        Prices(
            prices.pay_as_you_go * instances,
            prices.reserved_1y * instances,
            prices.reserved_3y * instances,
        )
        if prices
        else None
    )
    if compute_type == "ACI":
        return CostComparison(aci_monthly_cost(cpu, memory_gb), "ACI container", instances, v2)
    return CostComparison(
        None, "share of the AKS cluster (not in the migration guide)", instances, v2
    )


def total(costs: list[CostComparison]) -> CostComparison:
    """Costs of an endpoint's deployments added up; unknown if any part is unknown."""
    if len(costs) == 1:
        return costs[0]
    v1 = [c.v1_monthly for c in costs if c.v1_monthly is not None]
    v2 = [c.v2 for c in costs]
    return CostComparison(
        sum(v1, Decimal(0)) if len(v1) == len(costs) else None,
        costs[0].v1_basis,
        sum(c.instances for c in costs),
        Prices(
            sum((p.pay_as_you_go for p in v2 if p), Decimal(0)),
            sum((p.reserved_1y for p in v2 if p), Decimal(0)),
            sum((p.reserved_3y for p in v2 if p), Decimal(0)),
        )
        if None not in v2
        else None,
    )
