from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator.plan.naming import is_valid_name, scoring_uri, valid_name


@pytest.mark.parametrize("name", ["abc", "churn-aci", "A1b", "x" * 32, "a-b-c"])
def test_valid_names_are_kept(name: str) -> None:
    assert is_valid_name(name)
    assert valid_name(name) == name


@pytest.mark.parametrize(
    "name", ["ab", "x" * 33, "1abc", "-abc", "abc-", "a--b", "a_b", "ünï", "a b", "", "abc\n"]
)
def test_invalid_names_are_detected(name: str) -> None:
    assert not is_valid_name(name)


@given(st.text(max_size=60))
def test_replacements_are_valid_and_deterministic(name: str) -> None:
    replaced = valid_name(name)
    assert is_valid_name(replaced)
    assert valid_name(name) == replaced


def test_different_invalid_names_do_not_meet() -> None:
    assert valid_name("my_svc") != valid_name("my.svc")


def test_scoring_uri() -> None:
    assert (
        scoring_uri("churn", "westeurope")
        == "https://churn.westeurope.inference.ml.azure.com/score"
    )
