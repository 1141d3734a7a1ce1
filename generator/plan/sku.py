"""VM size for a v1 CPU/memory/GPU request.

The seed table (migration guide) read as "the cheapest row whose CPU and memory upper bounds
cover the request": this reproduces every row and fills the table's gaps. Outside the table
the smallest covering general-purpose size (Dasv4, 4 GiB per vCPU) is chosen; GPU requests
get the smallest covering GPU size. The seed has prices only for its own rows.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from decimal import Decimal

from generator.plan.model import Prices, SkuChoice


@dataclass(frozen=True)
class SeedRow:
    instance_type: str
    cpu: tuple[float, float]  # (lower, upper]: the request intervals of the seed table
    memory_gb: tuple[float, float]
    prices: Prices


def _p(payg: str, one: str, three: str) -> Prices:
    return Prices(Decimal(payg), Decimal(one), Decimal(three))


# Ordered by pay-as-you-go price: the first covering row is the cheapest.
SEED_TABLE: tuple[SeedRow, ...] = (
    SeedRow("Standard_DS1_v2", (0, 1), (0, 1.2), _p("41.610", "27.003", "17.696")),
    SeedRow("Standard_F2s_v2", (1, 2), (1.2, 1.7), _p("61.758", "36.500", "22.638")),
    SeedRow("Standard_DS2_v2", (1, 2), (1.7, 4.7), _p("83.220", "54.086", "35.391")),
    SeedRow("Standard_E2s_v3", (1, 2), (4.7, 13.7), _p("97.090", "57.086", "36.500")),
    SeedRow("Standard_F4s_v2", (2, 4), (0, 5.7), _p("123.37", "73.000", "45.275")),
    SeedRow("Standard_DS3_v2", (2, 4), (5.7, 11.7), _p("167.170", "108.165", "70.781")),
    SeedRow("Standard_E4s_v3", (2, 4), (11.7, 16), _p("194.180", "114.165", "73.000")),
)

# (name, vCPUs, memory GiB), smallest first; all on the managed online endpoints SKU list.
GENERAL_PURPOSE: tuple[tuple[str, int, int], ...] = (
    ("Standard_D8as_v4", 8, 32),
    ("Standard_D16as_v4", 16, 64),
    ("Standard_D32as_v4", 32, 128),
    ("Standard_D48as_v4", 48, 192),
    ("Standard_D64as_v4", 64, 256),
    ("Standard_D96as_v4", 96, 384),
)

# (name, GPUs, vCPUs, memory GiB), smallest first.
GPU_SIZES: tuple[tuple[str, int, int, int], ...] = (
    ("Standard_NC4as_T4_v3", 1, 4, 28),
    ("Standard_NC8as_T4_v3", 1, 8, 56),
    ("Standard_NC16as_T4_v3", 1, 16, 110),
    ("Standard_NC12s_v3", 2, 12, 224),
    ("Standard_NC64as_T4_v3", 4, 64, 440),
    ("Standard_NC24s_v3", 4, 24, 448),
)


class NoSize(ValueError):
    """No known size covers the request."""


def choose_sku(cpu: float, memory_gb: float, gpu: float = 0) -> SkuChoice:
    """The VM size for a request of `cpu` cores, `memory_gb` GB and `gpu` GPUs (all > 0 but gpu)."""
    request = f"{_num(cpu)} CPU / {_num(memory_gb)} GB"
    if gpu > 0:
        for name, gpus, vcpus, mem in GPU_SIZES:
            if gpus >= gpu and vcpus >= cpu and mem >= memory_gb:
                return SkuChoice(
                    name,
                    "gpu",
                    f"{request} / {_num(gpu)} GPU: smallest GPU size covering the request "
                    f"({gpus} GPU, {vcpus} vCPU, {mem} GiB)",
                    vcpus,
                    mem,
                    None,
                )
        raise NoSize(f"no GPU size covers {request} / {_num(gpu)} GPU")
    for row in SEED_TABLE:
        if cpu <= row.cpu[1] and memory_gb <= row.memory_gb[1]:
            in_row = row.cpu[0] < cpu and row.memory_gb[0] < memory_gb
            if in_row:
                reason = (
                    f"{request}: seed table row CPU ({_num(row.cpu[0])}, {_num(row.cpu[1])}] x "
                    f"memory ({_num(row.memory_gb[0])}, {_num(row.memory_gb[1])}] GB"
                )
            else:
                reason = (
                    f"{request} falls in a gap of the seed table: cheapest row covering it "
                    f"(up to {_num(row.cpu[1])} CPU, {_num(row.memory_gb[1])} GB)"
                )
            return SkuChoice(
                row.instance_type,
                "seed-table" if in_row else "seed-table-gap",
                reason,
                row.cpu[1],
                row.memory_gb[1],
                row.prices,
            )
    for name, vcpus, mem in GENERAL_PURPOSE:
        if vcpus >= cpu and mem >= memory_gb:
            return SkuChoice(
                name,
                "general-purpose",
                f"{request} is beyond the seed table (4 CPU, 16 GB): smallest general-purpose "
                f"size covering it ({vcpus} vCPU, {mem} GiB)",
                vcpus,
                mem,
                None,
            )
    raise NoSize(f"no size covers {request}")


def seed_prices(instance_type: str) -> Prices | None:
    for row in SEED_TABLE:
        if row.instance_type.lower() == instance_type.lower():
            return row.prices
    return None


def _num(value: float) -> str:
    return f"{value:g}"


# The managed online endpoints SKU list (Azure ML docs, "Managed online endpoints SKU list",
# learn.microsoft.com/azure/machine-learning/reference-managed-online-endpoints-vm-sku-list):
# (name, quota family, GPUs, vCPUs). Names compare case-insensitively, as ARM does.
MANAGED_SIZES: tuple[tuple[str, str, float, int], ...] = (
    *((f"Standard_D{n}as_v4", "DASv4", 0, n) for n in (2, 4, 8, 16, 32, 48, 64, 96)),
    *((f"Standard_D{n}a_v4", "DAv4", 0, n) for n in (2, 4, 8, 16, 32, 48, 64, 96)),
    *((f"Standard_DS{i}_v2", "DSv2", 0, n) for i, n in ((1, 1), (2, 2), (3, 4), (4, 8), (5, 16))),
    *((f"Standard_E{n}s_v3", "ESv3", 0, n) for n in (2, 4, 8, 16, 32, 48, 64)),
    *((f"Standard_F{n}s_v2", "FSv2", 0, n) for n in (2, 4, 8, 16, 32, 48, 64, 72)),
    *((f"Standard_FX{n}mds", "FXMDVS", 0, n) for n in (4, 12, 24, 36, 48)),
    *((f"Standard_L{n}as_v3", "LASv3", 0, n) for n in (8, 16, 32, 48, 64, 80)),
    *((f"Standard_L{n}s_v2", "LSv2", 0, n) for n in (8, 16, 32, 48, 64, 80)),
    *((f"Standard_L{n}s_v3", "LSv3", 0, n) for n in (8, 16, 32, 48, 64, 80)),
    *((f"Standard_NC{n}ads_A100_v4", "NCADSA100v4", g, n) for g, n in ((1, 24), (2, 48), (4, 96))),
    *((f"Standard_NC{n}as_T4_v3", "NCASv3_T4", g, n) for g, n in ((1, 4), (1, 8), (1, 16), (4, 64))),
    *((f"Standard_NC{n}s_v2", "NCSv2", g, n) for g, n in ((1, 6), (2, 12), (4, 24))),
    *((f"Standard_NC{n}s_v3", "NCSv3", g, n) for g, n in ((1, 6), (2, 12), (4, 24))),
    ("Standard_NC40ads_H100_v5", "NCADSH100v5", 1, 40),
    ("Standard_NC80adis_H100_v5", "NCADSH100v5", 2, 80),
    ("Standard_ND96amsr_A100_v4", "NDAMSv4_A100", 8, 96),
    ("Standard_ND96asr_v4", "NDASv4_A100", 8, 96),
    ("Standard_ND40rs_v2", "NDSv2", 8, 40),
    ("Standard_ND96is_H100_v5", "NDv5H100", 8, 96),
    ("Standard_ND96isr_H100_v5", "NDv5H100", 8, 96),
    *(
        (f"Standard_NV{n}ads_A10_v5", "NVADSA10v5", g, n)
        for g, n in ((1 / 6, 6), (1 / 3, 12), (1 / 2, 18), (1, 36), (2, 72))
    ),
    ("Standard_NV36adms_A10_v5", "NVADSA10v5", 1, 36),
)

_BY_NAME = {name.lower(): (name, family, cores) for name, family, _, cores in MANAGED_SIZES}
# Standard_<series><vCPUs><features>[_<accelerator>]_v<n>: the series, features, accelerator
# and version name a family; the number is the size within it.
_SIZE_NAME = re.compile(r"standard_([a-z]+?)(\d+)([a-z]*)((?:_[a-z]+\d+)?)(_v\d+)?", re.IGNORECASE)


def is_managed_size(name: str) -> bool:
    """Whether `name` is on the managed online endpoints SKU list (any case)."""
    return name.lower() in _BY_NAME


def nearest_sizes(name: str, limit: int = 3) -> tuple[str, ...]:
    """Known managed-endpoint sizes closest to an unknown `name`, best first: sizes of the same
    family (the size number nearest to the one asked for), then sizes of the same series and
    number in other families (`Standard_D4s_v3` -> `Standard_D4a_v4`), then names spelled
    alike (difflib ratio). Empty when nothing is close."""
    found: list[str] = []
    parsed = _SIZE_NAME.fullmatch(name.strip())
    if parsed:
        series, number, features, accel, version = parsed.groups()
        key = _family_key(series, features, accel, version)
        family: list[tuple[int, str]] = []
        sibling: list[str] = []
        for lowered, (size, _, _) in sorted(_BY_NAME.items()):
            m = _SIZE_NAME.fullmatch(lowered)
            if m and _family_key(m[1], m[3], m[4], m[5]) == key:
                family.append((abs(int(m[2]) - int(number)), size))
            elif m and (m[1], m[2]) == (series.lower(), number):
                sibling.append(size)
        found += [size for _, size in sorted(family, key=lambda f: f[0])] + sibling
    for lowered in difflib.get_close_matches(name.strip().lower(), list(_BY_NAME), limit, 0.6):
        found.append(_BY_NAME[lowered][0])
    return tuple(dict.fromkeys(found))[:limit]


def unknown_size_message(name: str) -> str:
    """The warning for an override naming a size the SKU list does not have."""
    near = nearest_sizes(name)
    hint = f"nearest known: {', '.join(near)}" if near else "no known size is close"
    return (
        f"{name!r} is not a known managed online endpoint VM size ({hint}); it is used as "
        "given, and Azure refuses a size it does not offer: check the SKU list"
    )


def _family_key(series: str, features: str, accel: str, version: str | None) -> tuple[str, ...]:
    return (series.lower(), features.lower(), accel.lower(), (version or "").lower())
