"""Each golden case regenerates to exactly its committed tree (`make golden` rewrites them)."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from tests.golden import CASES, Case, render_case


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_golden_tree(case: Case, tmp_path: Path) -> None:
    render_case(case, tmp_path)
    got, want = files(tmp_path), files(case.expected)
    assert sorted(got) == sorted(want), "file set differs: run `make golden` and review the diff"
    for path in sorted(want):
        if got[path] != want[path]:
            diff = "\n".join(
                difflib.unified_diff(
                    want[path].decode().splitlines(),
                    got[path].decode().splitlines(),
                    f"expected/{path}",
                    f"generated/{path}",
                    lineterm="",
                    n=2,
                )
            )
            pytest.fail(f"{path} differs (run `make golden` if intended):\n{diff[:4000]}")
