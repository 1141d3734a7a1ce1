"""Traffic rules: v1 percentiles -> whole v2 percentages, the mirror choice and the v2 checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator.diagnostics import Level
from generator.plan.traffic import (
    MAX_MIRROR,
    Share,
    TrafficError,
    check,
    largest_remainder,
    mirror_target,
    split,
    with_mirror,
)


def shares(*specs: tuple[str, float | None]) -> list[Share]:
    return [Share(name, percent) for name, percent in specs]


# --- largest remainder -----------------------------------------------------------------------


def test_thirds_round_to_a_split_of_100() -> None:
    live, findings = split(shares(("a", 33.3), ("b", 33.3), ("c", 33.4)))
    assert live == {"a": 33, "b": 33, "c": 34}
    assert findings == []


def test_exact_floats_stay_as_they_are() -> None:
    live, findings = split(shares(("control", 60.0), ("treatment", 40.0)))
    assert live == {"control": 60, "treatment": 40}
    assert all(isinstance(v, int) for v in live.values())
    assert findings == []


@pytest.mark.parametrize(
    ("default", "expected"),
    [
        ("small", {"big": 99, "small": 1}),
        ("big", {"big": 100, "small": 0}),
        (None, {"big": 100, "small": 0}),  # no default, no Control: first by name
    ],
)
def test_a_half_point_tie_goes_to_the_default_version(
    default: str | None, expected: dict[str, int]
) -> None:
    live, _ = split(
        [Share("small", 0.5, is_default=default == "small"), Share("big", 99.5, default == "big")]
    )
    assert live == expected


def test_equal_thirds_give_the_spare_point_to_the_default() -> None:
    third = 100 / 3
    assert split(shares(("a", third), ("b", third), ("c", third)))[0] == {"a": 34, "b": 33, "c": 33}
    live, _ = split([Share("a", third), Share("b", third), Share("c", third, is_default=True)])
    assert live == {"a": 33, "b": 33, "c": 34}


def test_a_decimal_tie_is_a_tie_despite_binary_floating_point() -> None:
    # 10.4 - 10 is 0.40000000000000036 in binary, 0.4 - 0 is 0.4: both are .4, so the tie
    # rule (the default version first) decides, not the rounding noise.
    live, _ = split([Share("a", 10.4), Share("b", 0.4, is_default=True), Share("c", 89.2)])
    assert live == {"a": 10, "b": 1, "c": 89}


def test_largest_remainder_ties_fall_back_to_names() -> None:
    assert largest_remainder({"x": 50.5, "y": 49.5}) == {"x": 51, "y": 49}
    assert largest_remainder({"x": 50.5, "y": 49.5}, tie_first="y") == {"x": 50, "y": 50}


def test_a_sum_a_hair_over_100_is_rounding_not_an_error() -> None:
    live, findings = split(shares(("a", 100 / 3), ("b", 100 / 3), ("c", 100 / 3 + 1e-12)))
    assert sum(live.values()) == 100
    assert findings == []


# --- what v1 left unclaimed goes to the default version ----------------------------------------


def test_a_sum_under_100_tops_up_the_default_version() -> None:
    live, findings = split([Share("a", 30, is_default=True), Share("b", 50)])
    assert live == {"a": 50, "b": 50}
    (finding,) = findings
    assert (finding.level, finding.code) == (Level.INFO, "traffic-remainder")
    assert "sum to 80" in finding.message and "20" in finding.message and "'a'" in finding.message


def test_without_a_default_the_control_version_gets_the_rest() -> None:
    live, findings = split(
        [Share("a", 10, role="Treatment"), Share("b", 20, role="control"), Share("c", 30)]
    )
    assert live == {"a": 10, "b": 60, "c": 30}
    assert "'b'" in findings[0].message


def test_without_default_or_control_the_first_by_name_gets_the_rest() -> None:
    live, _ = split([Share("zeta", 10), Share("alpha", 20, role="Treatment"), Share("mid", 30)])
    assert live == {"alpha": 60, "mid": 30, "zeta": 10}


def test_several_defaults_settle_on_the_first_by_name() -> None:
    live, _ = split([Share("b", 0, is_default=True), Share("a", 0, is_default=True)])
    assert live == {"a": 100, "b": 0}


def test_missing_percentages_count_as_zero_with_a_warning() -> None:
    live, findings = split([Share("a", None), Share("b", None, is_default=True), Share("c", 25)])
    assert live == {"a": 0, "b": 75, "c": 25}
    assert [(f.level, f.code) for f in findings] == [
        (Level.WARNING, "traffic-missing"),
        (Level.INFO, "traffic-remainder"),
    ]
    assert "a, b" in findings[0].message
    assert findings[0].field == "versions.trafficPercentile"


def test_all_missing_sends_everything_to_the_default() -> None:
    live, findings = split([Share("a", None), Share("b", None, is_default=True)])
    assert live == {"a": 0, "b": 100}
    assert {f.code for f in findings} == {"traffic-missing", "traffic-remainder"}


def test_a_remainder_with_a_fraction_is_rounded_with_the_rest() -> None:
    live, _ = split([Share("a", 20.25, is_default=True), Share("b", 20.5), Share("c", 20.5)])
    # a: 20.25 + 38.75 = 59.0; b and c keep 20.5 each and tie: b then c by name.
    assert live == {"a": 59, "b": 21, "c": 20}


# --- refused -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_shares", "message"),
    [
        ([Share("a", -1), Share("b", 101)], "'a': trafficPercentile -1 is outside 0-100"),
        ([Share("a", 100.5)], "'a': trafficPercentile 100.5 is outside 0-100"),
        ([Share("a", 60), Share("b", 50)], "sum to 110, over 100"),
        ([Share("a", 100), Share("b", 0.001)], "sum to 100.001, over 100"),
        ([], "no versions"),
    ],
)
def test_impossible_percentages_are_refused(given_shares: list[Share], message: str) -> None:
    with pytest.raises(TrafficError) as caught:
        split(given_shares)
    assert message in str(caught.value)


# --- mirroring -----------------------------------------------------------------------------


def test_the_treatment_version_is_mirrored() -> None:
    s = [
        Share("control", 50, is_default=True, role="Control"),
        Share("loud", 10),
        Share("treatment", 40, role="Treatment"),
    ]
    assert mirror_target(s, {"control": 50, "loud": 10, "treatment": 40}) == "treatment"


def test_without_a_treatment_the_least_used_non_default_is_mirrored() -> None:
    s = [Share("a", 20), Share("b", 10), Share("c", 70, is_default=True), Share("d", 0)]
    assert mirror_target(s, {"a": 20, "b": 10, "c": 70, "d": 0}) == "d"
    s = [Share("a", 50), Share("b", 50, is_default=True), Share("c", 0), Share("d", 0)]
    assert mirror_target(s, {"a": 50, "b": 50, "c": 0, "d": 0}) == "c"  # tie: by name


def test_the_default_is_never_mirrored_even_as_treatment() -> None:
    s = [Share("a", 90, is_default=True, role="Treatment"), Share("b", 10, role="Control")]
    assert mirror_target(s, {"a": 90, "b": 10}) == "b"


def test_one_version_has_nothing_to_mirror_to() -> None:
    s = [Share("only", 100)]
    assert mirror_target(s, {"only": 100}) is None
    with pytest.raises(TrafficError, match="second deployment"):
        with_mirror(s, {"only": 100}, 10)


def test_mirroring_moves_the_targets_live_share_to_the_default() -> None:
    s = [Share("control", 70, True, "Control"), Share("treatment", 30, role="Treatment")]
    traffic = {"control": 70, "treatment": 30}
    live, mirror = with_mirror(s, traffic, 20)
    assert live == {"control": 100, "treatment": 0}
    assert mirror == {"treatment": 20}
    assert traffic == {"control": 70, "treatment": 30}  # the input is left alone
    assert check(live, mirror, ["control", "treatment"]) == []


def test_mirroring_the_version_with_all_live_traffic_keeps_the_endpoint_serving() -> None:
    # v1: the default version had 0 % and the treatment 100 %. Mirroring the treatment must
    # not leave the endpoint without live traffic.
    s = [Share("control", 0, True, "Control"), Share("treatment", 100, role="Treatment")]
    live, mirror = with_mirror(s, {"control": 0, "treatment": 100}, 10)
    assert live == {"control": 100, "treatment": 0}
    assert mirror == {"treatment": 10}


def test_mirroring_a_dark_endpoint_keeps_it_dark() -> None:
    s = [Share("control", 0, True), Share("treatment", 0)]
    live, mirror = with_mirror(s, {"control": 0, "treatment": 0}, 10)
    assert live == {"control": 0, "treatment": 0}
    assert mirror == {"treatment": 10}


# --- check ---------------------------------------------------------------------------------


def test_check_accepts_valid_splits() -> None:
    names = ["a", "b"]
    assert check({"a": 60, "b": 40}, {}, names) == []
    # The generated mirror maps list every deployment, zeros included.
    assert check({"a": 0, "b": 0}, {"a": 0, "b": 0}, names) == []
    assert check({"a": 100, "b": 0}, {"a": 0, "b": MAX_MIRROR}, names) == []
    assert check({"a": 100, "b": 0}, {"a": 0}, names) == []  # a zero mirror is no mirror


@pytest.mark.parametrize(
    ("traffic", "mirror", "problem"),
    [
        ({"a": 60, "b": 30}, {}, "traffic sums to 90, expected 0 or 100"),
        ({"a": 101, "b": -1}, {}, "every traffic percentage must be 0-100"),
        ({"a": 100, "ghost": 0}, {}, "not a deployment of this endpoint: ghost"),
        ({"a": 100}, {"ghost": 10}, "not a deployment of this endpoint: ghost"),
        ({"a": 100, "b": 0, "c": 0}, {"b": 10, "c": 10}, "at most one deployment"),
        ({"a": 100, "b": 0}, {"b": 51}, f"mirrored traffic must be 0-{MAX_MIRROR} %"),
        ({"a": 100, "b": 0}, {"b": -1}, f"mirrored traffic must be 0-{MAX_MIRROR} %"),
        ({"a": 70, "b": 30}, {"b": 10}, "b cannot take live and mirrored traffic at once"),
    ],
)
def test_check_names_each_broken_rule(
    traffic: dict[str, int], mirror: dict[str, int], problem: str
) -> None:
    problems = check(traffic, mirror, ["a", "b", "c"])
    assert len(problems) == 1
    assert problem in problems[0]


def test_check_reports_every_problem_at_once() -> None:
    problems = check({"a": 70, "ghost": 20}, {"a": 60, "b": 5}, ["a", "b"])
    assert len(problems) == 5


# --- properties ----------------------------------------------------------------------------

NAMES = st.lists(st.text("abcdefghij", min_size=1, max_size=4), min_size=1, max_size=7, unique=True)
PERCENT = st.one_of(
    st.none(),
    st.integers(0, 100_000).map(lambda n: n / 1000),  # v1 values with up to 3 decimals
    st.floats(0, 100, allow_nan=False),
)


@st.composite
def valid_shares(draw: st.DrawFn) -> list[Share]:
    names = draw(NAMES)
    percents = [draw(PERCENT) for _ in names]
    total = sum(p or 0.0 for p in percents)
    if total > 100:  # scaled to a sum of 100 (give or take rounding)
        percents = [None if p is None else p * 100 / total for p in percents]
    defaults = draw(st.lists(st.booleans(), min_size=len(names), max_size=len(names)))
    roles = draw(
        st.lists(
            st.sampled_from([None, "Control", "Treatment"]),
            min_size=len(names),
            max_size=len(names),
        )
    )
    return [Share(*spec) for spec in zip(names, percents, defaults, roles, strict=True)]


def _receiver(given_shares: list[Share]) -> str:
    """The spec: the default version, else the Control version, else the first by name."""
    for chosen in (
        [s.name for s in given_shares if s.is_default],
        [s.name for s in given_shares if s.role == "Control"],
        [s.name for s in given_shares],
    ):
        if chosen:
            return sorted(chosen)[0]
    raise AssertionError("no shares")


@given(valid_shares())
def test_any_valid_input_becomes_whole_percentages_summing_to_100(
    given_shares: list[Share],
) -> None:
    live, _ = split(given_shares)
    assert sorted(live) == sorted(s.name for s in given_shares)
    assert all(isinstance(v, int) and v >= 0 for v in live.values())
    assert sum(live.values()) == 100
    wanted = {s.name: s.percent or 0.0 for s in given_shares}
    wanted[_receiver(given_shares)] += 100 - sum(wanted.values())
    for name, share in wanted.items():
        assert abs(live[name] - share) < 1, (name, share, live)
    assert check(live, {}, list(live)) == []


@given(valid_shares(), st.integers(1, MAX_MIRROR))
def test_any_mirrored_split_passes_the_v2_checks(given_shares: list[Share], percent: int) -> None:
    live, _ = split(given_shares)
    if len(given_shares) < 2:
        assert mirror_target(given_shares, live) is None
        return
    mirrored_live, mirror = with_mirror(given_shares, live, percent)
    assert check(mirrored_live, mirror, list(live)) == []
    assert sum(mirrored_live.values()) == 100
    (target,) = mirror
    assert target != _receiver(given_shares)
    assert mirrored_live[target] == 0
