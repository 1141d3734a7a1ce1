"""A file to write: what `render` produces and `output` writes (shared by both stages)."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

GEN_IAC = "gen-iac"  # rewritten on every run; a person's edit is kept and reported
PERSON = "person"  # written once; a person owns it after the first run (day 2)

# Names Windows reserves whatever the extension or case (a checkout there fails on them).
_WINDOWS_RESERVED = re.compile(
    r"(?i)(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3])(\..*)?"
)


def path_component(name: str) -> str:
    """A name (workspace, endpoint, archive member) as one component of an output path: a
    Windows-reserved name (`con`, `nul.txt`, `LPT1`...) gets `_` after its base name (`con_`,
    `nul_.txt`); any other name is returned as is. Every renderer and the archive reader use
    this one rule, so references between generated files agree."""
    if not _WINDOWS_RESERVED.fullmatch(name.rstrip(" .")):
        return name
    base, dot, rest = name.partition(".")
    return f"{base}_{dot}{rest}"


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


class NotPlainFile(ValueError):
    """A path read below a root is a link, a file where a folder belongs, not a regular file,
    or larger than allowed (the message names it)."""


def read_below(root: Path, parts: Sequence[str], limit: int) -> bytes | None:
    """The bytes of the regular file root/parts, reached through real folders only (no link on
    the way or at the end), at most `limit` bytes; None when it is absent."""
    current = root
    for number, part in enumerate(parts):
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        last = number == len(parts) - 1
        if stat.S_ISLNK(mode) or (not last and not stat.S_ISDIR(mode)):
            raise NotPlainFile(f"{current}: a link or file where a folder was expected; not read")
        if last and not stat.S_ISREG(mode):
            raise NotPlainFile(f"{current}: not a regular file; not read")
    fd = os.open(current, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise NotPlainFile(f"{current}: larger than {limit} bytes; not read")
    return data
