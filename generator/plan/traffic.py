"""Traffic rules: v1 AKS endpoint percentiles -> v2 integer splits, mirror choice, checks.

v2 wants whole percentages that sum to 0 or 100 over an endpoint's deployments, and at most
one mirrored deployment with at most 50 % (reference: v2-arm-reference.md section 4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from generator.diagnostics import Finding, Level

MAX_MIRROR = 50


@dataclass(frozen=True)
class Share:
    """One v1 version's claim on the endpoint's traffic."""

    name: str  # the v2 deployment name
    percent: float | None  # v1 trafficPercentile; None when the payload has none
    is_default: bool = False
    role: str | None = None  # v1 version type: Control | Treatment


class TrafficError(ValueError):
    """The v1 percentages cannot be turned into a v2 split."""


def split(shares: list[Share]) -> tuple[dict[str, int], list[Finding]]:
    """Whole percentages summing to 100, by largest remainder.

    v1 sent the traffic no version claimed to the default version, so a sum under 100 is
    settled by giving the rest to the default version (else the Control version, else the
    first by name). Missing percentages count as 0. Negative values, values over 100 and
    sums over 100 raise TrafficError: guessing would change who gets live traffic.
    """
    if not shares:
        raise TrafficError("the endpoint has no versions")
    findings: list[Finding] = []
    for s in shares:
        if s.percent is not None and not 0 <= s.percent <= 100:
            raise TrafficError(
                f"version {s.name!r}: trafficPercentile {s.percent:g} is outside 0-100"
            )
    missing = [s.name for s in shares if s.percent is None]
    if missing:
        findings.append(
            Finding(
                Level.WARNING,
                "traffic-missing",
                f"no trafficPercentile for {', '.join(missing)}: counted as 0",
                "versions.trafficPercentile",
            )
        )
    wanted = {s.name: s.percent or 0.0 for s in shares}
    total = sum(wanted.values())
    if total > 100 + 1e-9:
        raise TrafficError(f"the versions' trafficPercentile values sum to {total:g}, over 100")
    if total < 100 - 1e-9:
        receiver = _remainder_receiver(shares)
        wanted[receiver] += 100 - total
        findings.append(
            Finding(
                Level.INFO,
                "traffic-remainder",
                f"the v1 percentages sum to {total:g}; the remaining {100 - total:g} % goes to "
                f"{receiver!r}, the version v1 sent unclaimed traffic to",
                "versions.trafficPercentile",
            )
        )
    return largest_remainder(wanted, tie_first=_remainder_receiver(shares)), findings


def largest_remainder(wanted: dict[str, float], tie_first: str | None = None) -> dict[str, int]:
    """Round shares that sum to 100 into integers that sum to 100: floor every share, then
    give the missing points to the largest fractions (ties: `tie_first`, then by name)."""
    floors = {name: math.floor(value + 1e-9) for name, value in wanted.items()}
    missing = 100 - sum(floors.values())
    # Fractions compared as decimals: 10.4 - 10 and 0.4 - 0 differ in binary floating point
    # (0.40000000000000036 vs 0.4) but are the same tie.
    order = sorted(
        wanted,
        key=lambda n: (-round(wanted[n] - floors[n], 9), n != tie_first, n),
    )
    for name in order[:missing]:
        floors[name] += 1
    return dict(sorted(floors.items()))


def _remainder_receiver(shares: list[Share]) -> str:
    """The default version, else the Control version, else the first by name."""
    defaults = sorted(s.name for s in shares if s.is_default)
    controls = sorted(s.name for s in shares if (s.role or "").lower() == "control")
    return (defaults or controls or sorted(s.name for s in shares))[0]


def mirror_target(shares: list[Share], traffic: dict[str, int]) -> str | None:
    """The deployment that gets mirrored traffic: the Treatment version, else the
    non-default version with the least live traffic. None when there is only one."""
    if len(shares) < 2:
        return None
    receiver = _remainder_receiver(shares)
    candidates = [s for s in shares if s.name != receiver]
    treatments = [s for s in candidates if (s.role or "").lower() == "treatment"]
    pool = treatments or candidates
    return sorted(pool, key=lambda s: (traffic.get(s.name, 0), s.name))[0].name


def with_mirror(
    shares: list[Share], traffic: dict[str, int], percent: int
) -> tuple[dict[str, int], dict[str, int]]:
    """Shadow-test `mirror_target`: its live share moves to the default version and it gets
    `percent` of the live requests as a copy. A deployment takes live or mirrored traffic,
    never both."""
    target = mirror_target(shares, traffic)
    if target is None:
        raise TrafficError("mirroring needs a second deployment to copy traffic to")
    live = dict(traffic)
    moved = live[target]
    live[target] = 0
    if sum(traffic.values()):  # a dark endpoint stays dark; otherwise nothing is lost
        live[_remainder_receiver(shares)] += moved
    return live, {target: percent}


def check(traffic: dict[str, int], mirror: dict[str, int], deployments: list[str]) -> list[str]:
    """The v2 rules a split must meet; each problem as one sentence (empty: valid)."""
    problems: list[str] = []
    unknown = sorted((set(traffic) | set(mirror)) - set(deployments))
    if unknown:
        problems.append(f"not a deployment of this endpoint: {', '.join(unknown)}")
    if any(not 0 <= p <= 100 for p in traffic.values()):
        problems.append("every traffic percentage must be 0-100")
    if sum(traffic.values()) not in (0, 100):
        problems.append(f"traffic sums to {sum(traffic.values())}, expected 0 or 100")
    if sum(1 for p in mirror.values() if p) > 1:  # the maps list every deployment, zeros too
        problems.append("at most one deployment can receive mirrored traffic")
    if any(not 0 <= p <= MAX_MIRROR for p in mirror.values()):
        problems.append(f"mirrored traffic must be 0-{MAX_MIRROR} %")
    both = sorted(d for d, p in mirror.items() if p and traffic.get(d))
    if both:
        problems.append(f"{', '.join(both)} cannot take live and mirrored traffic at once")
    return problems
