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


class UnreadableFile(Exception):
    """A person's file a merge must read but cannot (not UTF-8, not HCL or JSON of the
    expected shape): the run stops (exit 2) naming `file:line:column: what`, since merging
    into a file gen-iac cannot read could only guess and a silent skip would hide it."""

    def __init__(self, line: int, column: int, what: str) -> None:
        super().__init__(f"{line}:{column}: {what}")
        self.line = line
        self.column = column
        self.what = what

    def at(self, path: str) -> str:
        """The one line for the console: `path:line:column: what`."""
        return f"{path}:{self.line}:{self.column}: {self.what}; fix the file (or delete it to start again) and run gen-iac again"
