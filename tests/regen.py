"""Rewrite every golden expected tree: `python -m tests.regen` (or `make golden`)."""

from __future__ import annotations

import shutil

from tests.golden import CASES, render_case


def main() -> None:
    for case in CASES:
        shutil.rmtree(case.expected, ignore_errors=True)
        render_case(case, case.expected)
        print(f"regenerated {case.expected}")


if __name__ == "__main__":
    main()
