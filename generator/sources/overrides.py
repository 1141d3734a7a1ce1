"""Per-service choices from flags and an optional YAML file."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from generator.diagnostics import InputError
from generator.jsonread import MAX_DIGITS
from generator.sources.untrusted import check_depth, valid_text

ENDPOINT_KINDS = ("managed", "kubernetes")


@dataclass(frozen=True)
class Override:
    """Every field is optional; None keeps gen-iac's own choice."""

    instance_type: str | None = None  # VM size (managed) or instance type name (Kubernetes)
    instance_count: int | None = None
    endpoint_name: str | None = None
    request_timeout_ms: int | None = None
    endpoint_kind: str | None = None  # managed | kubernetes
    compute: str | None = None  # the v2 Kubernetes compute's name in the workspace
    deployment_name: str | None = None  # instead of "blue" for single services
    initial_traffic: int | None = None  # 0 (dark launch) or 100
    mirror: int | None = None  # percent of live traffic copied to the shadow deployment
    # Deployments (e.g. a canary) that get code and environment folders of their own, even
    # when their content equals another's: editing them rolls that deployment only.
    own_bundles: tuple[str, ...] | None = None

    def merged(self, other: Override) -> Override:
        """`other`'s set fields win."""
        changes = {f.name: getattr(other, f.name) for f in fields(other)}
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _text(value: Any) -> str | None:
    """Printable, valid text (no lone surrogate from a non-UTF-8 argument, no control
    character): it reaches every generated language."""
    if not (isinstance(value, str) and value and valid_text(value) and value.isprintable()):
        return None
    return value


# VM sizes (Standard_DS3_v2), Kubernetes instance types and compute names.
_RESOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _resource_name(value: Any) -> str | None:
    text = _text(value)
    return text if text is not None and _RESOURCE_NAME.fullmatch(text) else None


def _whole(low: int, high: int | None = None) -> Callable[[Any], int | None]:
    def check(value: Any) -> int | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        return value if ok and (high is None or value <= high) else None

    return check


def _names(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not value:
        return None
    names = [_resource_name(v) for v in value]
    return None if None in names else tuple(sorted(set(names)))  # type: ignore[arg-type]


def _choice(*allowed: Any) -> Callable[[Any], Any]:
    return lambda value: value if value in allowed and not isinstance(value, bool) else None


# field -> (parser returning None for a bad value, what was expected)
FIELDS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "instance_type": (_resource_name, "a size name (letters, digits, '_', '-', '.')"),
    "instance_count": (_whole(1), "a whole number >= 1"),
    "endpoint_name": (_text, "printable text"),
    "request_timeout_ms": (_whole(1), "a whole number >= 1"),
    "endpoint_kind": (_choice(*ENDPOINT_KINDS), "managed or kubernetes"),
    "compute": (_resource_name, "a compute name (letters, digits, '_', '-', '.')"),
    "deployment_name": (_text, "printable text"),
    "initial_traffic": (_choice(0, 100), "0 or 100"),
    "mirror": (_whole(1, 50), "a whole number from 1 to 50"),
    "own_bundles": (_names, "a list of the service's deployment names"),
}


def parse_field(name: str, value: Any) -> Any:
    """The checked value, or ValueError naming what was expected."""
    parse, expected = FIELDS[name]
    parsed = parse(value)
    if parsed is None:
        raise ValueError(f"expected {expected}")
    return parsed


def read_overrides(path: Path | None) -> dict[str, Override]:
    """`services: {NAME: {FIELD: VALUE, ...}}` with the fields of `Override`."""
    if path is None:
        return {}
    import yaml  # only when a file is given

    try:
        data: Any = yaml.load(path.read_text(encoding="utf-8-sig"), Loader=_strict_loader())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None)
        raise InputError(
            f"{path}{where}: invalid YAML{f': {problem}' if problem else ''}"
        ) from None
    except RecursionError:
        raise InputError(f"{path}: nested too deeply to be an overrides file") from None
    check_depth(data, str(path))
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise InputError(f"{path}: expected a mapping with 'services: {{NAME: {{...}}}}'")
    result: dict[str, Override] = {}
    for name, entry in data["services"].items():
        if not isinstance(entry, dict):
            raise InputError(f"{path}: service {name!r}: expected a mapping of choices")
        values: dict[str, Any] = {}
        for key, value in entry.items():
            if str(key) not in FIELDS:
                raise InputError(
                    f"{path}: service {name!r}: field {key!r}: unknown; expected one of "
                    f"{', '.join(sorted(FIELDS))}"
                )
            try:
                values[str(key)] = parse_field(str(key), value)
            except ValueError as exc:
                raise InputError(f"{path}: service {name!r}: field {key!r}: {exc}") from None
        result[str(name)] = Override(**values)
    return result


@lru_cache(maxsize=1)
def _strict_loader() -> Any:
    """PyYAML's safe loader, strict where YAML readers disagree or Python cannot convert: a
    key given twice and an integer of more than MAX_DIGITS digits are errors with a line."""
    import yaml

    class Strict(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"{key!r} is given twice", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep)

        def construct_yaml_int(self, node: Any) -> Any:
            if len(str(node.value)) > MAX_DIGITS:
                raise yaml.constructor.ConstructorError(
                    None, None, f"a number of {len(node.value)} digits", node.start_mark
                )
            return super().construct_yaml_int(node)

    Strict.add_constructor("tag:yaml.org,2002:int", Strict.construct_yaml_int)
    return Strict


def merge_flags(overrides: dict[str, Override], flags: dict[str, Override]) -> dict[str, Override]:
    """Flags win over the file, field by field."""
    merged = dict(overrides)
    for name, chosen in flags.items():
        merged[name] = merged.get(name, Override()).merged(chosen)
    return merged
