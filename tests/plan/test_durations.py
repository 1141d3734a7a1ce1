from __future__ import annotations

from datetime import timedelta

import isodate  # azure-ai-ml's own converter: the oracle
import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator.plan.durations import iso_duration_ms, iso_duration_s


@pytest.mark.parametrize(
    ("ms", "iso"),
    [(5000, "PT5S"), (90000, "PT1M30S"), (500, "PT0.5S"), (180000, "PT3M"), (3600000, "PT1H")],
)
def test_reference_examples(ms: int, iso: str) -> None:
    assert iso_duration_ms(ms) == iso


def test_seconds() -> None:
    assert iso_duration_s(310) == "PT5M10S"
    assert iso_duration_s(600) == "PT10M"


@given(st.integers(min_value=1, max_value=10 * 86_400_000))
def test_agrees_with_isodate(ms: int) -> None:
    assert iso_duration_ms(ms) == isodate.duration_isoformat(timedelta(milliseconds=ms))
