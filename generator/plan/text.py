"""Unicode normal form of plan text: Terraform (cty) holds every string in NFC, so both
targets send the NFC form of text that is in another one (it looks the same)."""

from __future__ import annotations

import unicodedata

from generator.plan.model import Value


def all_nfc(value: Value) -> bool:
    if isinstance(value, str):
        return unicodedata.is_normalized("NFC", value)
    if isinstance(value, dict):
        return all(all_nfc(k) and all_nfc(v) for k, v in value.items())
    if isinstance(value, list):
        return all(all_nfc(v) for v in value)
    return True


def to_nfc(value: Value) -> Value:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {to_nfc(k): to_nfc(v) for k, v in value.items()}  # type: ignore[misc]
    if isinstance(value, list):
        return [to_nfc(v) for v in value]
    return value
