"""pip requirement lines and version specifiers, as far as the serving-stack checks need them."""

from __future__ import annotations

import re
from typing import Any

Clause = tuple[str, tuple[int, ...]]  # (operator, release) of one version specifier


def pip_requirement(entry: Any) -> tuple[str | None, str]:
    """(normalized name, specifier) of a pip line; options, URLs and paths have no name."""
    if not isinstance(entry, str):
        return None, ""
    text = entry.strip()
    if not text or text.startswith(("-", ".", "/")) or "://" in text.split("@")[0]:
        return None, ""
    match = re.match(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*(.*)", text)
    if match is None:
        return None, ""
    spec = match.group(2).split(";")[0].strip()
    if spec.startswith("@"):
        spec = ""
    return re.sub(r"[-_.]+", "-", match.group(1)).lower(), spec.replace(" ", "")


def _release(text: str) -> tuple[int, ...] | None:
    match = re.match(r"v?(\d+(?:\.\d+)*)", text.strip())
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def parse_clauses(spec: str) -> list[Clause] | None:
    """A pip specifier as (operator, release) clauses; None if any part is not understood."""
    clauses: list[Clause] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        match = re.match(r"(===|==|~=|!=|>=|<=|>|<)\s*(.+)", part)
        if match is None:
            return None
        op, version = match.groups()
        release = _release(version)
        if release is None:
            return None
        if op == "!=":
            continue  # excludes one version: never decides compatibility here
        if op in ("==", "===") and version.endswith(".*"):
            clauses += [(">=", release), ("<", (*release[:-1], release[-1] + 1))]
        elif op == "~=":
            upper = release[:-1] if len(release) > 1 else release
            clauses += [(">=", release), ("<", (*upper[:-1], upper[-1] + 1))]
        else:
            clauses.append(("==" if op == "===" else op, release))
    return clauses


def _cmp(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    width = max(len(a), len(b))
    pa, pb = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return (pa > pb) - (pa < pb)


def admits(clauses: list[Clause], version: tuple[int, ...]) -> bool:
    checks = {
        "==": lambda c: c == 0,
        ">=": lambda c: c >= 0,
        "<=": lambda c: c <= 0,
        ">": lambda c: c > 0,
        "<": lambda c: c < 0,
    }
    return all(checks[op](_cmp(version, bound)) for op, bound in clauses)


def caps_below(spec: str, floor: tuple[int, ...]) -> bool:
    """True when the specifier excludes every version from `floor` on (an old pin)."""
    clauses = parse_clauses(spec)
    if not clauses:
        return False
    for op, bound in clauses:
        if op == "==" and _cmp(bound, floor) < 0:
            return True
        if op == "<" and _cmp(bound, floor) <= 0:
            return True
        if op == "<=" and _cmp(bound, floor) < 0:
            return True
    return False


def exact_version(spec: str) -> tuple[int, ...] | None:
    clauses = parse_clauses(spec)
    if clauses and len(clauses) == 1 and clauses[0][0] == "==":
        return clauses[0][1]
    return None
