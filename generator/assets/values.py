"""Small typed readers for untrusted snapshot values."""

from __future__ import annotations

from typing import Any


def text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
