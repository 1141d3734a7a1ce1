"""The comparison rules of verify, one by one (pure functions)."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from generator.verify.compare import (
    Answer,
    Tolerance,
    compare,
    compare_json,
    numbers_agree,
    percentile,
)

T = Tolerance()


def answer(body: Any, status: int = 200, content_type: str = "application/json") -> Answer:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Answer(status, content_type, data, 0.01)


def paths(v1: Any, v2: Any, tolerance: Tolerance = T) -> list[str]:
    return [d.path for d in compare_json(v1, v2, tolerance, limit=10)]


def test_numbers_within_the_tolerance_agree() -> None:
    assert paths({"p": [0.5, 1e-3]}, {"p": [0.5 + 4e-6, 1e-3 + 1e-8]}) == []
    assert paths({"p": [0.5]}, {"p": [0.5001]}) == ["$.p[0]"]
    assert paths({"p": [0.5]}, {"p": [0.5001]}, Tolerance(rtol=1e-3)) == []
    assert paths([0.0], [5e-9]) == []  # atol carries values near zero
    assert paths([0.0], [2e-8]) == ["$[0]"]
    assert paths([1], [1.0]) == []  # JSON does not tell them apart
    assert paths([True], [1]) == ["$[0]"]  # a boolean is no number
    assert numbers_agree(math.nan, math.nan, T)
    assert not numbers_agree(math.nan, 1.0, T)
    assert not numbers_agree(math.inf, 1e308, T)
    assert not numbers_agree(10**400, 10**400 + 1, T)  # beyond a float: equal or not
    assert numbers_agree(10**400, 10**400, T)


def test_the_reference_is_v1() -> None:
    # |v2 - v1| <= atol + rtol * |v1|: the bound scales with v1's value.
    assert numbers_agree(100.0, 100.0009, Tolerance(rtol=1e-5, atol=0))
    assert not numbers_agree(100.0, 100.0011, Tolerance(rtol=1e-5, atol=0))


def test_lists_are_ordered_by_default_and_multisets_on_request() -> None:
    assert paths({"labels": ["a", "b"]}, {"labels": ["b", "a"]}) == ["$.labels[0]", "$.labels[1]"]
    unordered = Tolerance(ordered=False)
    assert paths({"labels": ["a", "b"]}, {"labels": ["b", "a"]}, unordered) == []
    assert paths([0.25, 0.5], [0.5 + 1e-9, 0.25], unordered) == []
    assert paths(["a", "a", "b"], ["a", "b", "b"], unordered) == ["$[1]"]
    assert paths([1, 2, 3], [1, 2], T) == ["$.length"]


def test_objects_need_the_same_keys() -> None:
    assert paths({"a": 1, "b": 2}, {"a": 1, "c": 2}) == ["$.b", "$.c"]
    diffs = compare_json({"a b": 1}, {}, T)
    assert diffs[0].path == '$["a b"]' and diffs[0].why == "missing in v2"


def test_json_inside_a_string_is_compared_as_json() -> None:
    # v1 scripts often return json.dumps(result): the server encodes that string again.
    v1 = json.dumps({"p": [0.1234567]})
    v2 = json.dumps({"p": [0.1234568]})
    assert paths(v1, v2) == []
    assert paths(json.dumps({"p": [1]}), json.dumps({"p": [2]})) == ["$<json>.p[0]"]
    assert paths("plain", "other") == ["$"]


def test_status_media_type_and_bodies() -> None:
    (d,) = compare(answer({}, 200), answer({}, 500), T)
    assert (d.path, d.v1, d.v2) == ("status", "200", "500")
    # Two error answers of the same status agree: their texts carry request ids.
    assert compare(answer(b"bad request: id 1", 400), answer(b"bad request: id 2", 400), T) == []
    assert compare(answer({"a": 1}), answer({"a": 1}, content_type="application/json; charset=utf-8"), T) == []
    (d,) = compare(answer({"a": 1}), answer({"a": 1}, content_type="text/plain"), T)
    assert d.path == "content type"
    (d,) = compare(answer(b"ok\n", content_type="text/plain"), answer(b"OK\n", content_type="text/plain"), T)
    assert d.path == "body" and "'ok'" in d.v1


def test_differences_are_bounded_and_values_cut() -> None:
    v1 = {"p": list(range(100))}
    v2 = {"p": [x + 1 for x in range(100)]}
    assert len(compare(answer(v1), answer(v2), T, limit=5)) == 5
    (d,) = compare_json({"s": "x" * 500}, {"s": "y" * 500}, T)
    assert len(d.v1) <= 80 and d.v1.endswith("...")


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
))
def test_a_value_always_agrees_with_itself(value: Any) -> None:
    assert compare_json(value, value, T) == []
    assert compare_json(value, json.loads(json.dumps(value)), T) == []


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    values = [float(x) for x in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile([1.0, 2.0, 10.0], 95) == 10.0
