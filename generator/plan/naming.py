"""Endpoint and deployment names: v2 rules (3-32 chars, a letter first, letters, digits,
single hyphens, a letter or digit last) and deterministic valid replacements."""

from __future__ import annotations

import hashlib
import re

MIN_LEN, MAX_LEN = 3, 32
_VALID = re.compile(r"^[a-zA-Z](?:[a-zA-Z0-9]|-(?!-))*[a-zA-Z0-9]$")


def is_valid_name(name: str) -> bool:
    return MIN_LEN <= len(name) <= MAX_LEN and bool(_VALID.fullmatch(name))


def valid_name(name: str, prefix: str = "ep") -> str:
    """`name` when valid; otherwise a valid name derived from it with a short hash of the
    original, so two different originals never meet and the same original always maps alike."""
    if is_valid_name(name):
        return name
    suffix = hashlib.sha256(name.encode("utf-8")).hexdigest()[:6]
    core = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not core or not core[0].isalpha():
        core = f"{prefix}-{core}".strip("-")
    core = core[: MAX_LEN - len(suffix) - 1].rstrip("-")
    return f"{core}-{suffix}"


def scoring_uri(endpoint: str, location: str) -> str:
    return f"https://{endpoint}.{location}.inference.ml.azure.com/score"
