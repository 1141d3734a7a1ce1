"""Unpack an asset archive (tar, tar.gz, zip) in memory, refusing anything unsafe.

Assets come from a workspace, so an archive is untrusted input: it is read into a
`{relative posix path: bytes}` map of its regular files and nothing is ever written to disk.
Every member is checked as it is read: a path must stay inside the archive (no `..`
component, no absolute, drive or backslash path), only files, folders and links are allowed,
and the member count, each file's size and the total size are capped by `Limits`. Sizes are
checked twice: the declared size before a member is read, and the bytes actually read, so a
header that lies or a compression bomb is stopped at the limit instead of filling memory.

Links: the v1 SDK packed a source folder with `tarfile.add`, which stores a symbolic link as
a link and a second name of a hard-linked file as a hard link. A link whose target is a
regular file inside the archive therefore becomes a copy of that file's bytes (the copy
counts towards the total size). A link that leaves the archive root, or that points at a
folder, at nothing, or round in a loop, is refused. Empty folders and file modes are dropped.
"""

from __future__ import annotations

import gzip
import io
import re
import stat
import struct
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields
from typing import IO, NoReturn

from generator.files import path_component

MiB = 1024 * 1024
MAX_FILES = 10_000  # members of any kind: files, folders and links
MAX_TOTAL_BYTES = 256 * MiB  # all files together, link copies included
MAX_MEMBER_BYTES = 128 * MiB  # one file; more is a model or data, not scoring code

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")

# Across the whole snapshot (every archive of every service together). Scoring code is
# small (the SDK's examples are kilobytes; models are registered apart), so a workspace of
# several hundred services with a few megabytes of code each fits with room; a snapshot that
# unpacks past these is a bomb, and the service whose archive crosses the line fails.
SNAPSHOT_MAX_BYTES = 512 * MiB
SNAPSHOT_MAX_FILES = 50_000
MAX_PATH_DEPTH = 32  # folders a member may sit in (site-packages trees stay under 15)
MAX_PATH_BYTES = 1024  # a member's path; Windows' long paths and git keep well within 4096

# Version-control and tool metadata: never unpacked into a bundle (a `.git/config` there runs
# `core.fsmonitor` on the next `git status`); reported instead.
METADATA_FOLDERS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".bzr",
        "_darcs",
        "cvs",
        ".jj",
        ".pijul",
        ".fslckout",
        "_fossil_",
        ".sl",
    }
)

# Bytes an archive may carry beyond its file contents: tar headers, pax records and padding.
_MEMBER_OVERHEAD = 4096
_ARCHIVE_OVERHEAD = 64 * 1024
_CHUNK = 64 * 1024
_MAX_LINK_HOPS = 32
_MAX_LINK_TARGET = 4096  # a zip stores a symbolic link's target as the member's content
_ZIP_DIRECTORY_BYTES_PER_ENTRY = 1024  # generous: 46 bytes plus the name and extras

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or an empty zip
_ZIP_END = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END = b"PK\x06\x06"
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_DRIVE = re.compile(r"^[A-Za-z]:")
_SPECIAL_KINDS = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}
_TAR_KINDS = {
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
}
# What a broken tar, gzip or zip stream raises from the stdlib readers.
_READ_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    OSError,
    EOFError,
    zlib.error,
    ValueError,
    NotImplementedError,
)


class ArchiveError(Exception):
    """An archive that is refused; the message is one sentence naming the archive and member."""


@dataclass(frozen=True)
class Limits:
    """Caps on what one archive may hold."""

    max_files: int = MAX_FILES
    max_total_bytes: int = MAX_TOTAL_BYTES
    max_member_bytes: int = MAX_MEMBER_BYTES

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Limits.{spec.name} must be a positive whole number")

    @property
    def max_archive_bytes(self) -> int:
        """The most bytes an archive may have, before or after decompression."""
        return self.max_total_bytes + self.max_files * _MEMBER_OVERHEAD + _ARCHIVE_OVERHEAD


DEFAULT_LIMITS = Limits()


class SnapshotBudget:
    """What all archives of one snapshot may unpack together (bytes and files); each archive
    charges it as its members arrive, so the service whose archive crosses a limit fails and
    the run's memory stays bounded."""

    def __init__(self, max_bytes: int = SNAPSHOT_MAX_BYTES, max_files: int = SNAPSHOT_MAX_FILES):
        self.max_bytes, self.max_files = max_bytes, max_files
        self.bytes = 0
        self.files = 0

    def check(self, archive: str, size: int) -> None:
        if self.bytes + size > self.max_bytes:
            self._refuse(archive, f"{self.max_bytes:,} bytes")

    def charge(self, archive: str, size: int) -> None:
        self.check(archive, size)
        self.bytes += size
        self.files += 1
        if self.files > self.max_files:
            self._refuse(archive, f"{self.max_files:,} files")

    def _refuse(self, archive: str, limit: str) -> NoReturn:
        raise ArchiveError(
            f"archive {archive!r} brings the snapshot's unpacked code past {limit} (all "
            "services together); this service's code is not unpacked"
        )


_BUDGET: ContextVar[SnapshotBudget | None] = ContextVar("snapshot_budget", default=None)


@contextmanager
def snapshot_budget(budget: SnapshotBudget | None = None) -> Iterator[SnapshotBudget]:
    """Every archive unpacked inside the block charges one budget (one per snapshot read)."""
    budget = budget or SnapshotBudget()
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def is_archive_name(name: str) -> bool:
    """Whether a file name says archive (.tar.gz, .tgz, .tar, .zip)."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def unpack(data: bytes, name: str, limits: Limits = DEFAULT_LIMITS) -> dict[str, bytes]:
    """The regular files of an archive as {relative posix path: bytes}, sorted by path."""
    return unpack_with_notes(data, name, limits)[0]


def unpack_with_notes(
    data: bytes, name: str, limits: Limits = DEFAULT_LIMITS
) -> tuple[dict[str, bytes], list[str]]:
    """The regular files of an archive as {relative posix path: bytes}, sorted by path, and
    one note per member left out or renamed (metadata folders, twin names, Windows-reserved
    names).

    The format is read from the bytes (gzip, zip, else plain tar), not from `name`, which
    only names the archive in messages. Raises ArchiveError for anything unsafe or broken.
    """
    if not data:
        raise ArchiveError(f"archive {name!r} is empty (0 bytes), not an archive")
    if len(data) > limits.max_archive_bytes:
        raise ArchiveError(
            f"archive {name!r} is {len(data):,} bytes, over the {limits.max_archive_bytes:,}-byte limit"
        )
    budget = _BUDGET.get()
    spent = (budget.bytes, budget.files) if budget else (0, 0)
    try:
        if data.startswith(_ZIP_MAGICS):
            found = _unpack_zip(data, name, limits)
        elif data.startswith(_GZIP_MAGIC):
            found = _unpack_tar(_Gunzip(data, name, limits), name, limits, "tar.gz")
        else:
            found = _unpack_tar(io.BytesIO(data), name, limits, "tar")
        return found.result(), found.notes
    except ArchiveError:
        if budget:  # a refused archive keeps nothing, so it spends nothing of the snapshot's
            budget.bytes, budget.files = spent
        raise


class _Gunzip:
    """A gzip stream read as it is decompressed (never whole in memory), refused past the
    limit: a gzip bomb stops there."""

    def __init__(self, data: bytes, name: str, limits: Limits) -> None:
        self.stream = gzip.GzipFile(fileobj=io.BytesIO(data))
        self.name, self.budget, self.size = name, limits.max_archive_bytes, 0

    def read(self, size: int = -1) -> bytes:
        try:
            chunk = self.stream.read(size if size >= 0 else self.budget + 1 - self.size)
        except _READ_ERRORS as exc:
            raise ArchiveError(
                f"archive {self.name!r} is a corrupt or truncated gzip stream ({exc})"
            ) from None
        self.size += len(chunk)
        if self.size > self.budget:
            raise ArchiveError(
                f"archive {self.name!r} expands to more than {self.budget:,} bytes when "
                "decompressed"
            )
        return chunk


def _unpack_tar(fileobj: IO[bytes] | _Gunzip, name: str, limits: Limits, kind: str) -> _Collector:
    """Members in order from a stream (tar's stream mode: nothing is read twice or kept)."""
    found = _Collector(name, limits)
    opened = False
    try:
        with tarfile.open(fileobj=fileobj, mode="r|") as tar:  # type: ignore[call-overload]
            opened = True
            for info in tar:
                _tar_member(tar, info, found)
            end = tar.offset
            # tarfile stops quietly at a header it cannot read; only zero padding may follow.
            trailing = False
            while chunk := tar.fileobj.read(_CHUNK):
                trailing = trailing or chunk.count(b"\0") != len(chunk)
    except _READ_ERRORS as exc:
        if opened:
            raise ArchiveError(f"archive {name!r} is corrupt or truncated ({exc})") from None
        what = (
            "does not hold a tar archive"
            if kind == "tar.gz"
            else "is not a tar, tar.gz or zip archive"
        )
        raise ArchiveError(f"archive {name!r} {what} ({exc})") from None
    if trailing:
        raise ArchiveError(
            f"archive {name!r} is corrupt: unreadable data after its member at offset {end:,}"
        )
    return found


def _tar_member(tar: tarfile.TarFile, info: tarfile.TarInfo, found: _Collector) -> None:
    raw = info.name
    found.count(raw)
    path = member_path(raw, found.archive)
    if info.isdir():
        found.add_dir(raw, path)
    elif info.issym():
        found.add_link(raw, path, _link_target(found.archive, raw, path, info.linkname, True))
    elif info.islnk():
        found.add_link(raw, path, _link_target(found.archive, raw, path, info.linkname, False))
    elif info.isreg():
        cap = found.declare(raw, info.size)
        stream = tar.extractfile(info)
        if stream is None:  # isreg() members always have data; keep mypy and a bad header honest
            raise found.refuse(raw, "has no readable data")
        found.add_file(raw, path, info.size, _read_capped(stream, cap, found, raw))
    else:
        kind = _TAR_KINDS.get(info.type, f"of unsupported type {info.type!r}")
        raise found.refuse(raw, f"is {kind}; only files, folders and links are allowed")


def _unpack_zip(data: bytes, name: str, limits: Limits) -> _Collector:
    _check_zip_directory(data, name, limits)
    found = _Collector(name, limits)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                _zip_member(archive, info, found)
    except _READ_ERRORS as exc:
        raise ArchiveError(f"archive {name!r} is not a valid zip archive ({exc})") from None
    return found


def _zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, found: _Collector) -> None:
    raw = info.filename
    found.count(raw)
    path = member_path(raw, found.archive)
    kind = stat.S_IFMT(info.external_attr >> 16)
    if info.is_dir() or kind == stat.S_IFDIR:
        found.add_dir(raw, path)
        return
    if kind in _SPECIAL_KINDS:
        raise found.refuse(
            raw, f"is {_SPECIAL_KINDS[kind]}; only files, folders and links are allowed"
        )
    if kind not in (0, stat.S_IFREG, stat.S_IFLNK):
        raise found.refuse(raw, f"has unsupported file type {kind:#o}")
    if info.flag_bits & 0x1:
        raise found.refuse(raw, "is encrypted")
    if info.compress_type not in _ZIP_METHODS:
        raise found.refuse(
            raw, f"uses compression method {info.compress_type}; only stored and deflated are read"
        )
    if kind == stat.S_IFLNK:
        if info.file_size > _MAX_LINK_TARGET:
            raise found.refuse(
                raw, f"is a symbolic link with a target over {_MAX_LINK_TARGET} bytes"
            )
        with archive.open(info) as stream:
            text = _read_capped(stream, _MAX_LINK_TARGET, found, raw)
        try:
            target = text.decode("utf-8")
        except UnicodeDecodeError:
            raise found.refuse(raw, "is a symbolic link whose target is not UTF-8") from None
        found.add_link(raw, path, _link_target(found.archive, raw, path, target, True))
        return
    cap = found.declare(raw, info.file_size)
    with archive.open(info) as stream:
        found.add_file(raw, path, info.file_size, _read_capped(stream, cap, found, raw))


def _check_zip_directory(data: bytes, name: str, limits: Limits) -> None:
    """Refuse a zip whose central directory is too big before zipfile parses all of it.

    zipfile builds one object per directory entry up front; a directory of millions of tiny
    entries would exhaust memory before any member could be counted.
    """
    end = data.rfind(_ZIP_END, max(0, len(data) - 22 - 0xFFFF))
    if end < 0 or end + 22 > len(data):
        return  # zipfile itself refuses a zip without an end record
    entries, size = struct.unpack_from("<HI", data, end + 10)
    locator = end - 20
    if locator >= 56 and data[locator : locator + 4] == _ZIP64_LOCATOR:
        record = locator - 56  # where zipfile looks for the ZIP64 end record
        if data[record : record + 4] == _ZIP64_END:
            on_disk, total, size64 = struct.unpack_from("<QQQ", data, record + 24)
            entries, size = max(entries, on_disk, total), max(size, size64)
    if entries > limits.max_files:
        raise ArchiveError(
            f"archive {name!r} declares {entries:,} members, over the {limits.max_files:,}-member limit"
        )
    if size > limits.max_files * _ZIP_DIRECTORY_BYTES_PER_ENTRY:
        raise ArchiveError(
            f"archive {name!r} has a {size:,}-byte central directory, too large for a {limits.max_files:,}-member limit"
        )


def _read_capped(stream: IO[bytes], cap: int, found: _Collector, raw: str) -> bytes:
    """Read at most `cap` bytes, counting what really arrives whatever the header said (one
    read, one copy in memory)."""
    data = stream.read(cap + 1)
    if len(data) > cap:
        raise found.too_big(raw, len(data), cap)
    return data


MAX_NAME_BYTES = 255  # a file name's limit on the usual file systems


def member_path(raw: str, archive: str) -> str | None:
    """A member name as a clean relative posix path; None for the archive root itself ("./")."""
    member = f"member {raw!r}"
    if "\x00" in raw:
        raise ArchiveError(f"archive {archive!r}: {member} has a NUL character in its name")
    if "\\" in raw:
        raise ArchiveError(
            f"archive {archive!r}: {member} has a backslash (a Windows path) in its name"
        )
    if raw.startswith("/"):
        raise ArchiveError(f"archive {archive!r}: {member} is an absolute path")
    if _DRIVE.match(raw):
        raise ArchiveError(f"archive {archive!r}: {member} starts with a Windows drive")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(
            f"archive {archive!r}: {member} has a '..' component that could leave the archive"
        )
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise ArchiveError(f"archive {archive!r}: {member} has a name that is not UTF-8") from None
    # What the output refuses as a file name must fail this one service, not the whole run.
    if any(ord(c) < 0x20 or c == "\x7f" for c in raw):
        raise ArchiveError(f"archive {archive!r}: {member} has a control character in its name")
    if any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in parts):
        raise ArchiveError(
            f"archive {archive!r}: {member} has a name part longer than {MAX_NAME_BYTES} bytes"
        )
    if len(parts) > MAX_PATH_DEPTH:
        raise ArchiveError(
            f"archive {archive!r}: {member} sits {len(parts)} folders deep, over the "
            f"{MAX_PATH_DEPTH}-level limit"
        )
    if len("/".join(parts).encode("utf-8")) > MAX_PATH_BYTES:
        raise ArchiveError(
            f"archive {archive!r}: {member} has a path longer than {MAX_PATH_BYTES} bytes"
        )
    return "/".join(parts) or None


def _link_target(archive: str, raw: str, path: str | None, target: str, symbolic: bool) -> str:
    """Where a link points, as a path from the archive root; refused when that is outside.

    A symbolic link is relative to its own folder; a tar hard link names another member.
    """
    kind = "a symbolic link" if symbolic else "a hard link"
    outside = ArchiveError(
        f"archive {archive!r}: member {raw!r} is {kind} to {target!r}, outside the archive"
    )
    if (
        not target
        or "\x00" in target
        or "\\" in target
        or target.startswith("/")
        or _DRIVE.match(target)
    ):
        raise outside
    parts = path.split("/")[:-1] if symbolic and path else []
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part != "..":
            parts.append(part)
        elif parts:
            parts.pop()
        else:
            raise outside
    if not parts:
        raise ArchiveError(
            f"archive {archive!r}: member {raw!r} is {kind} to the archive root, not a file"
        )
    return "/".join(parts)


class _Collector:
    """Counts, sizes and paths of the members read so far; every check runs as a member arrives."""

    def __init__(self, archive: str, limits: Limits) -> None:
        self.archive = archive
        self.limits = limits
        self.members = 0
        self.total = 0
        self.files: dict[str, bytes] = {}
        self.links: dict[str, str] = {}  # link path -> target path
        self.dirs: set[str] = set()
        self.notes: list[str] = []
        self.folded: dict[str, str] = {}  # NFC + casefold of a kept path -> that path
        self.budget = _BUDGET.get()

    def skipped(self, raw: str, path: str | None) -> bool:
        """A member inside a metadata folder: left out (one note per folder)."""
        parts = (path or "").split("/")
        for depth, part in enumerate(parts):
            if part.casefold() in METADATA_FOLDERS:
                folder = "/".join(parts[: depth + 1])
                note = f"left out {folder}/ (version-control or tool metadata is never unpacked)"
                if note not in self.notes:
                    self.notes.append(note)
                return True
        return False

    def renamed(self, raw: str, path: str | None) -> str | None:
        """The path with Windows-reserved components made safe (noted)."""
        if path is None:
            return None
        safe = "/".join(path_component(part) for part in path.split("/"))
        if safe != path:
            self.notes.append(
                f"renamed {path!r} to {safe!r}: Windows reserves that name (imports of it "
                "need the new name)"
            )
        return safe

    def twin(self, raw: str, path: str) -> bool:
        """A second name for one file on macOS and Windows (NFC/NFD, case): left out."""
        key = unicodedata.normalize("NFC", path).casefold()
        first = self.folded.get(key)
        if first is None:
            self.folded[key] = path
            return False
        self.notes.append(
            f"left out {path!r}: the same name as {first!r} on macOS and Windows "
            "(Unicode normalisation or case); only the first is kept"
        )
        return True

    def refuse(self, raw: str, why: str) -> ArchiveError:
        return ArchiveError(f"archive {self.archive!r}: member {raw!r} {why}")

    def count(self, raw: str) -> None:
        self.members += 1
        if self.members > self.limits.max_files:
            raise self.refuse(raw, f"is past the {self.limits.max_files:,}-member limit")

    def declare(self, raw: str, size: int) -> int:
        """Check a declared size before reading; returns how many bytes may really be read."""
        if size < 0:
            raise self.refuse(raw, "has a negative size in its header")
        self._check_size(raw, size)
        if self.budget is not None:  # refused before its bytes are read
            self.budget.check(self.archive, size)
        return min(self.limits.max_member_bytes, self.limits.max_total_bytes - self.total)

    def too_big(self, raw: str, size: int, cap: int) -> ArchiveError:
        """The error for a member that kept sending bytes past what it may hold."""
        try:
            self._check_size(raw, size)
        except ArchiveError as exc:
            return exc
        return self.refuse(raw, f"holds more than {cap:,} bytes")

    def _check_size(self, raw: str, size: int) -> None:
        limits = self.limits
        if size > limits.max_member_bytes:
            raise self.refuse(
                raw,
                f"is {size:,} bytes, over the {limits.max_member_bytes:,}-byte limit for one file",
            )
        if self.total + size > limits.max_total_bytes:
            raise self.refuse(
                raw, f"brings the total past the {limits.max_total_bytes:,}-byte limit"
            )

    def _claim(self, raw: str, path: str | None, what: str) -> str:
        if path is None:
            raise self.refuse(raw, f"is {what} with no name (the archive root)")
        if path in self.files or path in self.links:
            raise self.refuse(raw, f"appears twice (as {path!r})")
        if path in self.dirs:
            raise self.refuse(raw, f"is {what} but {path!r} is also a folder")
        return path

    def add_file(self, raw: str, path: str | None, declared: int, data: bytes) -> None:
        if len(data) != declared:
            raise self.refuse(raw, f"holds {len(data):,} bytes but its header says {declared:,}")
        if self.skipped(raw, path):
            return
        path = self.renamed(raw, path)
        claimed = self._claim(raw, path, "a file")
        if self.twin(raw, claimed):
            return
        if self.budget is not None:
            self.budget.charge(self.archive, len(data))
        self.files[claimed] = data
        self.total += len(data)

    def add_link(self, raw: str, path: str | None, target: str) -> None:
        if self.skipped(raw, path):
            return
        path = self.renamed(raw, path)
        claimed = self._claim(raw, path, "a link")
        if self.twin(raw, claimed):
            return
        self.links[claimed] = "/".join(path_component(part) for part in target.split("/"))

    def add_dir(self, raw: str, path: str | None) -> None:
        if self.skipped(raw, path):
            return
        path = self.renamed(raw, path) if path is not None else None
        if path is not None and (path in self.files or path in self.links):
            raise self.refuse(raw, f"is a folder but {path!r} is also a file")
        if path is not None:
            self.dirs.add(path)

    def result(self) -> dict[str, bytes]:
        found = dict(self.files)
        for path in sorted(self.links):
            data = self._resolve(path)
            self._check_size(path, len(data))
            if self.budget is not None:
                self.budget.charge(self.archive, len(data))
            self.total += len(data)
            found[path] = data
        self._check_nesting(found)
        return {path: found[path] for path in sorted(found)}

    def _resolve(self, path: str) -> bytes:
        current = path
        for _ in range(_MAX_LINK_HOPS):
            if current in self.files:
                return self.files[current]
            if current not in self.links:
                raise self.refuse(
                    path, f"is a link to {current!r}, which is not a file in the archive"
                )
            current = self.links[current]
        raise self.refuse(
            path, f"is a link in a loop or in a chain of more than {_MAX_LINK_HOPS} links"
        )

    def _check_nesting(self, found: dict[str, bytes]) -> None:
        """A path cannot be a file and, in another member's path, a folder."""
        for path in found:
            parts = path.split("/")
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                if parent in found:
                    raise self.refuse(path, f"is inside {parent!r}, which is a file, not a folder")
