"""A file to write: what `render` produces and `output` writes (shared by both stages)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

GEN_IAC = "gen-iac"  # rewritten on every run; a person's edit is kept and reported
PERSON = "person"  # written once; a person owns it after the first run (day 2)


@dataclass(frozen=True)
class RenderedFile:
    path: str  # relative to the output directory, '/'-separated, built from validated names
    text: str
    secret: bool = False  # written with mode 0600 and git-ignored
    data: bytes | None = None  # bundle files are bytes as the snapshot holds them; else text
    owner: str = GEN_IAC  # GEN_IAC | PERSON
    # For a PERSON file that must absorb structural changes (e.g. a new endpoint's traffic
    # line): given the bytes on disk, the bytes to write, keeping what the person chose.
    merge: Callable[[bytes], bytes] | None = None

    @property
    def content(self) -> bytes:
        return self.data if self.data is not None else self.text.encode("utf-8")
