"""WRITE: a migration plan to files (Terraform, Bicep, the report), in memory."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenderedFile:
    path: str  # relative to the output directory, '/'-separated
    text: str
    secret: bool = False  # written with mode 0600 and git-ignored
    data: bytes | None = None  # bundle files are bytes as the snapshot holds them; else text

    @property
    def content(self) -> bytes:
        return self.data if self.data is not None else self.text.encode("utf-8")
