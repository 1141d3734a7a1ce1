"""Compare one answer of the v1 service with the v2 endpoint's answer to the same request.

Rules (pure functions, no I/O):
- The status must be the same. Two non-2xx answers of the same status agree without their
  bodies being compared (error texts carry request ids and server wording); a 2xx answer's
  media type (`application/json`, parameters such as `charset` ignored) and body must agree.
- Bodies that both parse as JSON are compared as values: a number agrees when
  |v2 - v1| <= atol + rtol * |v1| (numpy's `isclose`, v1 the reference; JSON does not tell
  1 from 1.0; a boolean is not a number; NaN agrees with NaN). Strings, booleans and null
  must be equal, objects must have the same keys. A string that holds JSON on both sides (v1
  scoring scripts often return `json.dumps(...)`, which the server encodes once more) is
  compared by the JSON it holds.
- Lists are compared in order by default: a model answers one prediction per input row, so
  the same values in another order would give clients the wrong row's answer. `ordered=False`
  compares them as multisets (for answers that are sets: tags, recommended items).
- Other bodies must be byte for byte equal.
Differences are collected up to a limit, each with a JSON path, both values (cut short) and
why they differ.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

VALUE_CHARS = 80  # of a value shown in a difference
MAX_UNORDERED_PAIRS = 250_000  # beyond this an unordered list is compared sorted, exactly


@dataclass(frozen=True)
class Tolerance:
    rtol: float = 1e-5
    atol: float = 1e-8
    ordered: bool = True


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str  # as sent, e.g. "application/json; charset=utf-8"
    body: bytes
    seconds: float  # from sending the request to the end of the answer

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def media_type(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Difference:
    path: str  # "status", "content type", "body" or a JSON path such as $.probabilities[1]
    v1: str
    v2: str
    why: str

    def line(self) -> str:
        return f"{self.path}: v1 {self.v1}, v2 {self.v2} ({self.why})"


def compare(v1: Answer, v2: Answer, tolerance: Tolerance, limit: int = 5) -> list[Difference]:
    """The first `limit` differences between two answers ([] when they agree)."""
    if v1.status != v2.status:
        return [Difference("status", str(v1.status), str(v2.status), "the status differs")]
    if not v1.ok:
        return []
    found: list[Difference] = []
    if v1.media_type != v2.media_type:
        found.append(
            Difference(
                "content type",
                v1.media_type or "(none)",
                v2.media_type or "(none)",
                "the media type differs",
            )
        )
    found.extend(compare_bodies(v1.body, v2.body, tolerance, limit - len(found)))
    return found[:limit]


def compare_bodies(
    v1: bytes, v2: bytes, tolerance: Tolerance, limit: int = 5
) -> list[Difference]:
    if limit <= 0 or v1 == v2:
        return []
    left, right = parse_json(v1), parse_json(v2)
    if left is not _NOT_JSON and right is not _NOT_JSON:
        return compare_json(left, right, tolerance, limit)
    return [Difference("body", _bytes(v1), _bytes(v2), "the bodies differ")]


class _NotJson:
    pass


_NOT_JSON: Any = _NotJson()


def parse_json(data: bytes) -> Any:
    """The JSON value of `data`, or _NOT_JSON."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return _NOT_JSON


def compare_json(v1: Any, v2: Any, tolerance: Tolerance, limit: int = 5) -> list[Difference]:
    found: list[Difference] = []
    _walk(v1, v2, "$", tolerance, found, limit)
    return found


def _walk(a: Any, b: Any, path: str, t: Tolerance, found: list[Difference], limit: int) -> None:
    if len(found) >= limit:
        return
    if _is_number(a) and _is_number(b):
        if not numbers_agree(a, b, t):
            found.append(Difference(path, _show(a), _show(b), _beyond(a, b, t)))
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            if key not in b:
                found.append(Difference(_key(path, key), _show(a[key]), "(absent)", "missing in v2"))
            else:
                _walk(a[key], b[key], _key(path, key), t, found, limit)
            if len(found) >= limit:
                return
        for key in b:
            if key not in a and len(found) < limit:
                found.append(Difference(_key(path, key), "(absent)", _show(b[key]), "only in v2"))
        return
    if isinstance(a, list) and isinstance(b, list):
        (_ordered if t.ordered else _unordered)(a, b, path, t, found, limit)
        return
    if isinstance(a, str) and isinstance(b, str) and a != b:
        inner_a, inner_b = _json_in(a), _json_in(b)
        if inner_a is not _NOT_JSON and inner_b is not _NOT_JSON:
            _walk(inner_a, inner_b, f"{path}<json>", t, found, limit)
            return
    if type(a) is not type(b) and not (_is_number(a) and _is_number(b)):
        found.append(Difference(path, _show(a), _show(b), "the type differs"))
    elif a != b:
        found.append(Difference(path, _show(a), _show(b), "the value differs"))


def _ordered(a: list[Any], b: list[Any], path: str, t: Tolerance,
             found: list[Difference], limit: int) -> None:
    if len(a) != len(b):
        found.append(Difference(f"{path}.length", str(len(a)), str(len(b)), "the length differs"))
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        _walk(x, y, f"{path}[{i}]", t, found, limit)
        if len(found) >= limit:
            return


def _unordered(a: list[Any], b: list[Any], path: str, t: Tolerance,
               found: list[Difference], limit: int) -> None:
    if len(a) != len(b):
        found.append(Difference(f"{path}.length", str(len(a)), str(len(b)), "the length differs"))
    if len(a) * len(b) > MAX_UNORDERED_PAIRS:
        _ordered(sorted(a, key=_canonical), sorted(b, key=_canonical), f"{path}(sorted)",
                 Tolerance(t.rtol, t.atol, True), found, limit)
        return
    unmatched = list(range(len(b)))
    for i, x in enumerate(a):
        match = next((j for j in unmatched if not compare_json(x, b[j], t, 1)), None)
        if match is None:
            found.append(Difference(f"{path}[{i}]", _show(x), "(no equal item)",
                                    "no item of v2's list agrees with it"))
            if len(found) >= limit:
                return
        else:
            unmatched.remove(match)


def numbers_agree(a: float, b: float, t: Tolerance) -> bool:
    if a == b:
        return True
    try:
        fa, fb = float(a), float(b)
    except OverflowError:  # integers beyond a float: only equal ones agree
        return False
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    if math.isinf(fa) or math.isinf(fb):
        return False
    return abs(fb - fa) <= t.atol + t.rtol * abs(fa)


def _beyond(a: float, b: float, t: Tolerance) -> str:
    try:
        delta = abs(float(b) - float(a))
    except OverflowError:
        return "beyond the tolerance"
    return f"differs by {delta:.3g}, more than atol {t.atol:g} + rtol {t.rtol:g} x |v1|"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_in(text: str) -> Any:
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return _NOT_JSON
    value = parse_json(stripped.encode("utf-8", "surrogatepass"))
    return value if isinstance(value, dict | list) else _NOT_JSON


def _key(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 3] + "..."


def _bytes(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    shown = " ".join(text.split())
    shown = shown if len(shown) <= VALUE_CHARS else shown[: VALUE_CHARS - 3] + "..."
    return f"{shown!r} ({len(data)} bytes)"


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..100) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
