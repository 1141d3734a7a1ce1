"""The seed SKU table (migration guide): every row, every corner, the gaps and beyond."""

from __future__ import annotations

from decimal import Decimal

import pytest

from generator.diagnostics import Level
from generator.plan.build import build_plan
from generator.plan.sku import (
    GENERAL_PURPOSE,
    GPU_SIZES,
    MANAGED_SIZES,
    SEED_TABLE,
    NoSize,
    choose_sku,
    is_managed_size,
    nearest_sizes,
)
from generator.sources.overrides import Override
from generator.sources.snapshot import read_snapshot
from tests.conftest import SnapshotFactory, aci, aks

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


# The managed online endpoints SKU list, a few rows copied from the docs page by hand.
@pytest.mark.parametrize(
    ("name", "family", "gpus", "cores"),
    [
        ("Standard_D2as_v4", "DASv4", 0, 2),
        ("Standard_DS3_v2", "DSv2", 0, 4),
        ("Standard_F72s_v2", "FSv2", 0, 72),
        ("Standard_NC4as_T4_v3", "NCASv3_T4", 1, 4),
        ("Standard_NC80adis_H100_v5", "NCADSH100v5", 2, 80),
        ("Standard_NV72ads_A10_v5", "NVADSA10v5", 2, 72),
    ],
)
def test_the_sku_list_has_the_docs_rows(name: str, family: str, gpus: float, cores: int) -> None:
    assert (name, family, gpus, cores) in MANAGED_SIZES
    assert is_managed_size(name) and is_managed_size(name.upper()) and is_managed_size(name.lower())


def test_every_size_gen_iac_chooses_is_on_the_sku_list() -> None:
    chosen = [r.instance_type for r in SEED_TABLE] + [g[0] for g in GENERAL_PURPOSE]
    chosen += [g[0] for g in GPU_SIZES]
    assert [name for name in chosen if not is_managed_size(name)] == []
    assert len(MANAGED_SIZES) == 85 == len({n.lower() for n, *_ in MANAGED_SIZES})


@pytest.mark.parametrize(
    ("name", "nearest"),
    [
        # same family: the nearest sizes around the number asked for
        ("Standard_D3as_v4", ("Standard_D2as_v4", "Standard_D4as_v4", "Standard_D8as_v4")),
        ("Standard_E20s_v3", ("Standard_E16s_v3", "Standard_E32s_v3", "Standard_E8s_v3")),
        # a family not on the list (Dsv3): same series and size elsewhere, then spelled alike
        ("Standard_D4s_v3", ("Standard_D4a_v4", "Standard_D4as_v4", "Standard_E4s_v3")),
        # a missing version suffix
        ("Standard_F2s", ("Standard_F2s_v2", "Standard_FX24mds", "Standard_FX12mds")),
        ("Standard_NC6s_v4", ("Standard_NC6s_v2", "Standard_NC6s_v3", "Standard_ND96asr_v4")),
        # not a size name at all: spelled alike only
        ("Standard_Foo", ("Standard_FX4mds", "Standard_F8s_v2", "Standard_F4s_v2")),
        ("xyz", ()),
    ],
)
def test_nearest_sizes(name: str, nearest: tuple[str, ...]) -> None:
    assert nearest_sizes(name) == nearest


def test_an_unknown_size_override_is_a_warning_naming_the_nearest(
    make_snapshot: SnapshotFactory,
) -> None:
    snapshot = read_snapshot(make_snapshot([aci("foo"), aci("known"), aks("cluster")]))
    plan = build_plan(
        snapshot,
        {
            "foo": Override(instance_type="Standard_Foo"),
            "known": Override(instance_type="standard_ds3_v2"),  # ARM ignores case
            # on a Kubernetes endpoint the instance type is the name of a cluster resource
            "cluster": Override(instance_type="gpu-large", endpoint_kind="kubernetes", compute="k8s"),
        },
    )
    found = {
        o.service: [(d.level, d.field, d.message) for d in o.diagnostics if d.code == "unknown-sku"]
        for o in plan.outcomes
    }
    assert found == {
        "foo": [
            (
                Level.WARNING,
                "instance_type",
                "'Standard_Foo' is not a known managed online endpoint VM size (nearest known: "
                "Standard_FX4mds, Standard_F8s_v2, Standard_F4s_v2); it is used as given, and "
                "Azure refuses a size it does not offer: check the SKU list",
            )
        ],
        "known": [],
        "cluster": [],
    }
    assert {o.service: o.status for o in plan.outcomes}["foo"] == "migrated"
