"""Problems are values: each diagnostic names its level, a stable code, the service and field."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Level(enum.Enum):
    INFO = "info"  # a changed default or a decision worth knowing
    WARNING = "warning"  # migrated, but behaviour differs or a person must act
    ERROR = "error"  # this service was not migrated


@dataclass(frozen=True)
class Diagnostic:
    service: str
    level: Level
    code: str
    message: str
    field: str = ""
    file: str = ""

    @property
    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.service, _RANK[self.level], self.code, self.field)

    def line(self) -> str:
        """One line for a terminal: file, service, field, what happened."""
        parts = [p for p in (self.file, f"service {self.service!r}" if self.service else "") if p]
        if self.field:
            parts.append(f"field {self.field!r}")
        where = ": ".join(parts)
        return (
            f"{self.level.value}: {where}: {self.message}"
            if where
            else f"{self.level.value}: {self.message}"
        )


@dataclass(frozen=True)
class Finding:
    """A diagnostic before it is tied to a service (mapping rules and asset readers)."""

    level: Level
    code: str
    message: str
    field: str = ""


# Finding codes renamed into plain words -> the code they had, which migration.json keeps
# (`formerCode`) for one release so that scripts matching the old code keep working.
FORMER_CODES = {"size-beyond-guide-table": "sku-outside-seed"}


class InputError(Exception):
    """Input that cannot be read at all (exit status 2, nothing written)."""


_RANK = {Level.ERROR: 0, Level.WARNING: 1, Level.INFO: 2}
