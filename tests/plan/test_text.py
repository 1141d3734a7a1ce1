"""Unicode normal form of plan text."""

from __future__ import annotations

from generator.plan.model import Value
from generator.plan.text import all_nfc, to_nfc

DECOMPOSED = "Cafe\u0301"  # 'e' + combining acute: NFD
COMPOSED = "Caf\u00e9"


def test_nfc_is_checked_and_applied_through_keys_values_and_lists() -> None:
    body: Value = {"description": DECOMPOSED, "tags": {DECOMPOSED: [DECOMPOSED, 1, None]}}
    assert not all_nfc(body)
    assert to_nfc(body) == {"description": COMPOSED, "tags": {COMPOSED: [COMPOSED, 1, None]}}
    assert all_nfc(to_nfc(body))
    assert all_nfc({"a": COMPOSED, "n": 2.5, "b": True})
