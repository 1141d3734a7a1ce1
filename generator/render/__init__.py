"""WRITE: a migration plan to files (Terraform, Bicep, the report), in memory."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenderedFile:
    path: str  # relative to the output directory, '/'-separated
    text: str
    secret: bool = False  # written with mode 0600 and git-ignored
