"""Per-service choices from flags and an optional YAML file."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from generator.diagnostics import InputError

FIELDS = {
    "instance_type": str,
    "instance_count": int,
    "endpoint_name": str,
    "request_timeout_ms": int,
}


@dataclass(frozen=True)
class Override:
    instance_type: str | None = None
    instance_count: int | None = None
    endpoint_name: str | None = None
    request_timeout_ms: int | None = None


def read_overrides(path: Path | None) -> dict[str, Override]:
    """`services: {NAME: {instance_type, instance_count, endpoint_name, request_timeout_ms}}`."""
    if path is None:
        return {}
    import yaml  # only when a file is given

    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{path}: invalid YAML{where}") from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise InputError(f"{path}: expected a mapping with 'services: {{NAME: {{...}}}}'")
    result: dict[str, Override] = {}
    for name, entry in data["services"].items():
        if not isinstance(entry, dict):
            raise InputError(f"{path}: service {name!r}: expected a mapping of choices")
        values: dict[str, Any] = {}
        for key, value in entry.items():
            kind = FIELDS.get(str(key))
            if kind is None:
                raise InputError(
                    f"{path}: service {name!r}: field {key!r}: unknown; expected one of "
                    f"{', '.join(sorted(FIELDS))}"
                )
            if (
                isinstance(value, bool)
                or not isinstance(value, kind)
                or (isinstance(value, int) and value < 1)
            ):
                expected = "a whole number >= 1" if kind is int else "a string"
                raise InputError(f"{path}: service {name!r}: field {key!r}: expected {expected}")
            values[str(key)] = value
        result[str(name)] = Override(**values)
    return result


def merge_flags(
    overrides: dict[str, Override], skus: dict[str, str], counts: dict[str, int]
) -> dict[str, Override]:
    """Flags win over the file."""
    merged = dict(overrides)
    for name, size in skus.items():
        merged[name] = replace(merged.get(name, Override()), instance_type=size)
    for name, count in counts.items():
        merged[name] = replace(merged.get(name, Override()), instance_count=count)
    return merged
