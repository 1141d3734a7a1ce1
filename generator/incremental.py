"""An up-to-date `--check` that is not done twice.

A check's answer is a function of what would be written (decided by the input, the options
and gen-iac itself) and of the output folder's contents. When a check finds `--out` up to
date, this module records both sides in the per-user cache (never in `--out`, which a pull
request can commit): a hash of every input byte and of gen-iac's code, and a hash of the
listing of every entry under `--out` with its lstat (device, inode, size, mode, mtime and
ctime in ns). The next check with the same input and the very same entries answers "up to
date" without planning or rendering. The record holds paths and hashes, never content.

Why a changed file cannot hide behind the record: its ctime changes on every write, rename
or chmod and user space cannot set it back; an added or removed entry changes the listing.
An entry is trusted only when its ctime was older than the recording by more than the file
system's timestamp step (a write in the same step could otherwise keep the ctime), and a
record is kept only when the input and the listing were the same before and after the check
(nothing changed while it ran). Anything else is a miss: the check runs in full.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.cache import code_fingerprint, user_cache_dir
from generator.output import CheckResult

RECORD_VERSION = 1
# Newer than this (ns) at recording, an entry is not trusted: a write in the same timestamp
# step could keep its ctime. Coarse file systems (whole-second stamps) get a wider margin.
FINE_MARGIN_NS = 100_000_000
COARSE_MARGIN_NS = 2_100_000_000

Listing = list[list[Any]]  # [relative path, kind, dev, ino, size, mode, mtime_ns, ctime_ns]


@dataclass(frozen=True)
class CheckMemo:
    """Where a check into one `--out` is recorded, and the key of this run's inputs."""

    record: Path
    key: str


def check_memo(inputs: list[Path], settings: str, out: Path) -> CheckMemo | None:
    """The memo for a check of `out` from `inputs` (files or folders, read whole) and
    `settings` (every option that changes the output, as text); None without a cache."""
    folder = user_cache_dir("check")
    if folder is None:
        return None
    where = os.path.abspath(out)
    name = hashlib.sha256(where.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    try:
        key = input_key(inputs, settings)
    except OSError:
        return None
    return CheckMemo(folder / f"{name}.json", key)


def input_key(inputs: list[Path], settings: str) -> str:
    """A hash of gen-iac's code, the settings, the working folder (relative paths resolve
    against it) and every byte under `inputs`."""
    digest = hashlib.sha256()
    for part in (code_fingerprint(), settings, os.getcwd()):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    for path in inputs:
        digest.update(os.fsencode(path) + b"\0")
        for relative, kind, data in _walk_content(path):
            digest.update(f"{relative}\0{kind}\0".encode("utf-8", "surrogateescape"))
            digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def _walk_content(root: Path) -> Iterator[tuple[str, str, bytes]]:
    """(path relative to root, kind, content) of root (its real path) and everything below
    it, one at a time. A link below is not walked into, but its target's name and, when it
    is a file, its bytes count: whatever a reader might follow is part of the key."""
    stack = [(os.path.realpath(root), ".")]
    while stack:
        path, relative = stack.pop()
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            yield relative, "link", os.fsencode(os.readlink(path))
            if os.path.isfile(path):
                with open(path, "rb") as handle:
                    yield relative, "link-file", handle.read()
        elif stat.S_ISDIR(info.st_mode):
            yield relative, "dir", b""
            names = sorted(os.listdir(path), reverse=True)
            stack.extend((os.path.join(path, n), f"{relative}/{n}") for n in names)
        elif stat.S_ISREG(info.st_mode):
            with open(path, "rb") as handle:
                yield relative, "file", handle.read()
        else:
            yield relative, "other", b""


def listing(out: Path) -> Listing:
    """Every entry under `out` (links not followed) with its lstat, sorted."""
    found: Listing = []

    def visit(folder: str, prefix: str) -> None:
        with os.scandir(folder) as entries:
            for entry in entries:
                info = entry.stat(follow_symlinks=False)
                relative = f"{prefix}{entry.name}"
                kind = (
                    "dir"
                    if stat.S_ISDIR(info.st_mode)
                    else "file"
                    if stat.S_ISREG(info.st_mode)
                    else "other"
                )
                found.append(
                    [
                        relative,
                        kind,
                        info.st_dev,
                        info.st_ino,
                        info.st_size,
                        info.st_mode,
                        info.st_mtime_ns,
                        info.st_ctime_ns,
                    ]
                )
                if kind == "dir":
                    visit(entry.path, relative + "/")

    visit(str(out), "")
    found.sort(key=lambda e: str(e[0]))
    return found


def recall(memo: CheckMemo, out: Path) -> CheckResult | None:
    """The recorded up-to-date result when the input and every entry under `out` are as
    they were recorded; else None (the check runs in full)."""
    try:
        with open(memo.record, encoding="utf-8") as handle:
            data = json.load(handle)
        if not (
            isinstance(data, dict)
            and data.get("version") == RECORD_VERSION
            and data.get("key") == memo.key
        ):
            return None
        result = data["result"]
        if data["listing"] != _digest(listing(out)):
            return None
        return CheckResult(
            unchanged=[str(p) for p in result["unchanged"]],
            person=[str(p) for p in result["person"]],
            warnings=[str(w) for w in result["warnings"]],
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def listing_before(out: Path) -> Listing | None:
    """The listing of `out` before a check, None when there is no folder to list."""
    try:
        return listing(out) if out.is_dir() else None
    except OSError:
        return None


def remember(
    memo: CheckMemo,
    out: Path,
    before: Listing | None,
    started_ns: int,
    result: CheckResult,
    inputs: list[Path],
    settings: str,
) -> None:
    """Record an up-to-date result, when it can be trusted later (see the module's text)."""
    if before is None or not result.up_to_date or not _settled(before, started_ns):
        return
    try:
        if listing(out) != before or input_key(inputs, settings) != memo.key:
            return  # something changed while the check ran
        data = {
            "version": RECORD_VERSION,
            "key": memo.key,
            "listing": _digest(before),
            "result": {
                "unchanged": result.unchanged,
                "person": result.person,
                "warnings": result.warnings,
            },
        }
        temp = memo.record.with_name(f"{memo.record.name}.{os.getpid()}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(temp, flags, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, separators=(",", ":"))
        os.replace(temp, memo.record)
    except OSError:
        return


def _digest(entries: Listing) -> str:
    text = json.dumps(entries, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _settled(entries: Listing, started_ns: int) -> bool:
    """Every entry's last change is older than the recording by more than one timestamp
    step, so a later change cannot keep the recorded stamps."""
    coarse = any(e[7] % 1_000_000_000 == 0 and e[6] % 1_000_000_000 == 0 for e in entries)
    margin = COARSE_MARGIN_NS if coarse else FINE_MARGIN_NS
    return all(max(e[6], e[7]) + margin < started_ns for e in entries)


def now_ns() -> int:
    return time.time_ns()
