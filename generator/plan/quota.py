"""Quota pre-flight: what the plan needs against the default limits of the subscription in the
workspace's region, before an apply fails half-way with `OutOfQuota`.

Facts (Azure ML "Manage and increase quotas" and "Managed online endpoints SKU list"):
- per subscription and region, all endpoint kinds together: 100 endpoints, 500 deployments,
  20 deployments per endpoint (raisable by a support request); a Kubernetes compute holds at
  most 60 endpoints and 100 deployments;
- a managed deployment of N instances needs quota for ceil(1.2 x N) instances of its VM size
  (20 % kept for upgrades; 10 instances need quota for 12), except the A100 and ND sizes the
  SKU list names; the quota is counted in vCPUs per VM family, and in total per region.
Pure: the plan in, figures out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from generator.plan.model import Concat, WorkspacePlan

MAX_ENDPOINTS = 100
MAX_DEPLOYMENTS = 500
MAX_DEPLOYMENTS_PER_ENDPOINT = 20
MAX_ENDPOINTS_PER_CLUSTER = 60
MAX_DEPLOYMENTS_PER_CLUSTER = 100
RESERVE_PERCENT = 20


@dataclass(frozen=True)
class VmSize:
    name: str
    family: str  # the quota family as `az ml compute list-usage` names it (name.value)
    vcpus: int
    memory_gib: float
    gpus: int = 0
    reserve: bool = True  # whether 20 % extra quota is kept for upgrades


def _sizes() -> dict[str, VmSize]:
    rows: list[VmSize] = []

    def family(fam: str, sizes: list[tuple[str, int, float]], gpus: tuple[int, ...] = ()) -> None:
        for i, (name, vcpus, mem) in enumerate(sizes):
            rows.append(VmSize(name, fam, vcpus, mem, gpus[i] if gpus else 0))

    family(
        "standardDSv2Family",
        [
            ("Standard_DS1_v2", 1, 3.5),
            ("Standard_DS2_v2", 2, 7),
            ("Standard_DS3_v2", 4, 14),
            ("Standard_DS4_v2", 8, 28),
            ("Standard_DS5_v2", 16, 56),
        ],
    )
    family(
        "standardFSv2Family",
        [(f"Standard_F{n}s_v2", n, 2 * n) for n in (2, 4, 8, 16, 32, 48, 64, 72)],
    )
    family("standardESv3Family", [(f"Standard_E{n}s_v3", n, 8 * n) for n in (2, 4, 8, 16, 32)])
    rows.append(VmSize("Standard_E48s_v3", "standardESv3Family", 48, 384))
    rows.append(VmSize("Standard_E64s_v3", "standardESv3Family", 64, 432))
    family(
        "standardDASv4Family",
        [(f"Standard_D{n}as_v4", n, 4 * n) for n in (2, 4, 8, 16, 32, 48, 64, 96)],
    )
    family(
        "standardDAv4Family",
        [(f"Standard_D{n}a_v4", n, 4 * n) for n in (2, 4, 8, 16, 32, 48, 64, 96)],
    )
    family(
        "standardNCASv3_T4Family",
        [
            ("Standard_NC4as_T4_v3", 4, 28),
            ("Standard_NC8as_T4_v3", 8, 56),
            ("Standard_NC16as_T4_v3", 16, 110),
            ("Standard_NC64as_T4_v3", 64, 440),
        ],
        (1, 1, 1, 4),
    )
    family(
        "standardNCSv3Family",
        [
            ("Standard_NC6s_v3", 6, 112),
            ("Standard_NC12s_v3", 12, 224),
            ("Standard_NC24s_v3", 24, 448),
        ],
        (1, 2, 4),
    )
    # Exempt from the 20 % reserve (the SKU list's own list).
    for name, fam, vcpus, mem, gpus in (
        ("Standard_NC24ads_A100_v4", "standardNCADSA100v4Family", 24, 220, 1),
        ("Standard_NC48ads_A100_v4", "standardNCADSA100v4Family", 48, 440, 2),
        ("Standard_NC96ads_A100_v4", "standardNCADSA100v4Family", 96, 880, 4),
        ("Standard_ND96asr_v4", "standardNDASv4_A100Family", 96, 900, 8),
        ("Standard_ND96amsr_A100_v4", "standardNDAMSv4_A100Family", 96, 1900, 8),
        ("Standard_ND40rs_v2", "standardNDSv2Family", 40, 672, 8),
    ):
        rows.append(VmSize(name, fam, vcpus, mem, gpus, reserve=False))
    return {r.name.lower(): r for r in rows}


VM_SIZES = _sizes()


def vm_size(name: str) -> VmSize | None:
    """The size's facts (VM sizes are case-insensitive); None when gen-iac does not know it."""
    return VM_SIZES.get(name.lower())


def with_reserve(instances: int, size: VmSize) -> int:
    """Instances the quota must hold for a deployment of `instances`: ceil(1.2 x N)."""
    if not size.reserve:
        return instances
    return -(-instances * (100 + RESERVE_PERCENT) // 100)


@dataclass(frozen=True)
class FamilyNeed:
    family: str
    sizes: tuple[str, ...]
    deployments: int
    instances: int  # initial instance count, summed
    vcpus: int  # quota needed for the initial count, reserve included
    max_vcpus: int  # the same at every autoscale maximum
    reserve: bool  # whether any of its sizes keeps the 20 % reserve


@dataclass
class _Acc:
    sizes: set[str] = field(default_factory=set)
    deployments: int = 0
    instances: int = 0
    vcpus: int = 0
    max_vcpus: int = 0
    reserve: bool = False


@dataclass(frozen=True)
class Limit:
    what: str
    needed: int
    limit: int

    @property
    def over(self) -> bool:
        return self.needed > self.limit


@dataclass(frozen=True)
class QuotaCheck:
    location: str
    endpoints: Limit
    deployments: Limit
    per_endpoint: tuple[Limit, ...]  # only endpoints above the limit
    busiest: Limit | None  # the endpoint with the most deployments (None: no endpoint)
    per_cluster: tuple[Limit, ...]  # Kubernetes computes: endpoints and deployments
    families: tuple[FamilyNeed, ...]  # managed deployments, by family
    total_vcpus: int
    total_max_vcpus: int
    unknown_sizes: tuple[str, ...]  # sizes gen-iac has no figures for (e.g. from --sku)

    @property
    def over(self) -> tuple[Limit, ...]:
        checks = (self.endpoints, self.deployments, *self.per_endpoint, *self.per_cluster)
        return tuple(c for c in checks if c.over)


def check_quota(workspace: WorkspacePlan) -> QuotaCheck:
    endpoints = workspace.endpoints
    deployments = sum(len(e.deployments) for e in endpoints)
    per_endpoint = tuple(
        Limit(f"deployments of endpoint {e.name}", len(e.deployments), MAX_DEPLOYMENTS_PER_ENDPOINT)
        for e in endpoints
        if len(e.deployments) > MAX_DEPLOYMENTS_PER_ENDPOINT
    )
    clusters: dict[str, list[int]] = {}
    for e in endpoints:
        if e.kind == "Kubernetes":
            counts = clusters.setdefault(_compute_name(e.properties.get("compute")), [0, 0])
            counts[0] += 1
            counts[1] += len(e.deployments)
    per_cluster = tuple(
        limit
        for name, (eps, deps) in sorted(clusters.items())
        for limit in (
            Limit(f"endpoints on Kubernetes compute {name}", eps, MAX_ENDPOINTS_PER_CLUSTER),
            Limit(f"deployments on Kubernetes compute {name}", deps, MAX_DEPLOYMENTS_PER_CLUSTER),
        )
    )

    acc: dict[str, _Acc] = {}
    unknown: set[str] = set()
    for e in endpoints:
        if e.kind != "Managed":
            continue
        for d in e.deployments:
            name = str(d.properties.get("instanceType", ""))
            size = vm_size(name)
            if size is None:
                unknown.add(name)
                continue
            instances = _int(d.sku.get("capacity"), 1)
            highest = max(instances, _autoscale_max(d.autoscale.properties) if d.autoscale else 0)
            row = acc.setdefault(size.family, _Acc())
            row.sizes.add(size.name)
            row.deployments += 1
            row.instances += instances
            row.vcpus += with_reserve(instances, size) * size.vcpus
            row.max_vcpus += with_reserve(highest, size) * size.vcpus
            row.reserve = row.reserve or size.reserve
    families = tuple(
        FamilyNeed(
            family,
            tuple(sorted(row.sizes)),
            row.deployments,
            row.instances,
            row.vcpus,
            row.max_vcpus,
            row.reserve,
        )
        for family, row in sorted(acc.items())
    )
    return QuotaCheck(
        location=workspace.location,
        endpoints=Limit("endpoints", len(endpoints), MAX_ENDPOINTS),
        deployments=Limit("deployments", deployments, MAX_DEPLOYMENTS),
        per_endpoint=per_endpoint,
        busiest=max(
            (Limit(e.name, len(e.deployments), MAX_DEPLOYMENTS_PER_ENDPOINT) for e in endpoints),
            key=lambda limit: limit.needed,
            default=None,
        ),
        per_cluster=per_cluster,
        families=families,
        total_vcpus=sum(f.vcpus for f in families),
        total_max_vcpus=sum(f.max_vcpus for f in families),
        unknown_sizes=tuple(sorted(unknown)),
    )


def usage_command(workspace: WorkspacePlan) -> list[str]:
    """The `az` command that shows the current usage and limit of every VM family."""
    return [
        "az",
        "ml",
        "compute",
        "list-usage",
        "--subscription",
        workspace.subscription_id,
        "--resource-group",
        workspace.resource_group,
        "--workspace-name",
        workspace.name,
        "--location",
        workspace.location,
        "--output",
        "table",
    ]


def _compute_name(value: object) -> str:
    if isinstance(value, Concat) and isinstance(value.parts[-1], str):
        return value.parts[-1].rsplit("/", 1)[-1]
    return str(value) if value else "(unknown)"


def _int(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def _autoscale_max(properties: Mapping[str, object]) -> int:
    profiles = properties.get("profiles")
    best = 0
    if isinstance(profiles, list):
        for p in profiles:
            capacity = p.get("capacity") if isinstance(p, dict) else None
            if isinstance(capacity, dict):
                best = max(best, _int(capacity.get("maximum"), 0))
    return best
