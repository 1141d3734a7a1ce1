"""Typed reads of raw JSON objects: every key optional, a wrong type is a diagnostic."""

from __future__ import annotations

from typing import Any

from generator.diagnostics import Diagnostic, Level

WHOLE_LIMIT = 2**53  # whole numbers past this are not exact in JSON readers (nor in Azure)


class Fields:
    """Reads one JSON object; records an error diagnostic for each mistyped key it is asked for."""

    def __init__(
        self,
        raw: dict[str, Any],
        service: str,
        file: str,
        errors: list[Diagnostic],
        prefix: str = "",
    ) -> None:
        self.raw = raw
        self.service = service
        self.file = file
        self.errors = errors
        self.prefix = prefix

    def path(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def fail(self, key: str, expected: str, value: Any) -> None:
        self.errors.append(
            Diagnostic(
                service=self.service,
                level=Level.ERROR,
                code="invalid-field",
                message=f"expected {expected}, got {_describe(value)}",
                field=self.path(key),
                file=self.file,
            )
        )

    def get(self, key: str) -> Any:
        return self.raw.get(key)

    def text(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        self.fail(key, "a string", value)
        return None

    def number(self, key: str) -> float | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, "a number", value)
            return None
        return float(value)

    def whole(self, key: str) -> int | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not -WHOLE_LIMIT <= value <= WHOLE_LIMIT  # 1e308 too: no count is that large
            or value != int(value)
        ):
            self.fail(key, f"a whole number up to {WHOLE_LIMIT:,}", value)
            return None
        return int(value)

    def flag(self, key: str) -> bool | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        self.fail(key, "true or false", value)
        return None

    def obj(self, key: str) -> Fields | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(key, "an object", value)
            return None
        return Fields(value, self.service, self.file, self.errors, f"{self.path(key)}.")

    def str_map(self, key: str) -> dict[str, str]:
        value = self.raw.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            self.fail(key, "an object of strings", value)
            return {}
        return dict(value)

    def str_list(self, key: str) -> list[str]:
        value = self.raw.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, "a list of strings", value)
            return []
        return list(value)

    def obj_list(self, key: str) -> list[Fields]:
        value = self.raw.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.fail(key, "a list of objects", value)
            return []
        return [
            Fields(v, self.service, self.file, self.errors, f"{self.path(key)}[{i}].")
            for i, v in enumerate(value)
        ]


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    return "a list" if isinstance(value, list) else type(value).__name__
