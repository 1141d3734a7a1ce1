"""Write rendered files into the output directory: confined, deterministic, all or nothing,
one run at a time, and aware of who owns each file.

- Confined: every path written, read or removed is a safe relative path under `--out`
  (no `..`, no absolute path, no NUL, no symbolic link on the way); manifest entries that are
  not are ignored with a warning.
- All or nothing: files are staged in `out/.gen-iac-staging-*` as they are rendered (memory
  stays flat), then a journal naming every rename and removal is written (the commit point) and
  rolled forward. A run killed before the journal leaves the old tree; one killed after it is
  completed by the next run (or `recover`), which also removes stale staging folders.
- Exclusive: a run holds an exclusive `flock` on the output folder itself (nothing is written
  for it); a second run into the same folder stops at once with one line (exit 2).
- Ownership (day 2): GEN_IAC files are rewritten; a person's edit of one is kept and reported
  (`--force` discards it). PERSON files are written when absent, updated only when gen-iac's
  own content for them changed and nobody edited them, and otherwise kept (or merged).
"""

from __future__ import annotations

import difflib
import errno
import hashlib
import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.diagnostics import InputError
from generator.files import GEN_IAC, PERSON, RenderedFile

MANIFEST = ".gen-iac-manifest.json"
JOURNAL = ".gen-iac-journal.json"
STAGING_PREFIX = ".gen-iac-staging-"
RESERVED_PREFIX = ".gen-iac"  # names gen-iac keeps for itself at the top of --out
MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 4000
DIFF_LINES = 20  # per drifted file in --check
DIFF_FILES = 50  # files shown with a diff; the rest are listed

try:  # POSIX; elsewhere a run is not protected against a concurrent one
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


class OutputError(InputError):
    """The output folder cannot be used (exit status 2); the old tree is intact."""


class OutputBusy(OutputError):
    """Another gen-iac run is writing into the same output folder."""


@dataclass
class WriteResult:
    written: list[str] = field(default_factory=list)  # new or changed (merged included)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # obsolete, unedited: removed
    kept_edited: list[str] = field(default_factory=list)  # obsolete, but edited: left in place
    edited: list[str] = field(default_factory=list)  # gen-iac's files a person edited: kept
    kept: list[str] = field(default_factory=list)  # a person's files kept though ours changed
    warnings: list[str] = field(default_factory=list)  # e.g. unsafe manifest entries ignored
    # What merging gen-iac's changes into a person's file did (an endpoint added, ...).
    merges: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Drift:
    path: str
    change: str  # "missing", "changed", "edited" (a person changed gen-iac's file), "obsolete"
    diff: tuple[str, ...] = ()  # a short unified diff (bounded), empty for binary files


@dataclass
class CheckResult:
    drift: list[Drift] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    person: list[str] = field(default_factory=list)  # a person's files: never drift
    warnings: list[str] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return not self.drift

    def lines(self, out: Path) -> list[str]:
        """What --check prints: one line per drifted file, a short diff under the first ones."""
        found = [f"warning: {w}" for w in self.warnings]
        for number, d in enumerate(self.drift):
            found.append(f"drift: {out / d.path}: {_CHANGE[d.change]}")
            if number < DIFF_FILES:
                found.extend(f"    {line}" for line in d.diff)
        return found


_CHANGE = {
    "missing": "missing (gen-iac would write it)",
    "changed": "would change",
    "edited": "edited by a person (gen-iac would write another content)",
    "obsolete": "obsolete (gen-iac would remove it)",
}


@dataclass(frozen=True)
class _Entry:
    """A manifest entry: what gen-iac wrote (or counts as pristine) and what it rendered."""

    sha256: str
    rendered: str
    owner: str = GEN_IAC

    def dump(self) -> str | dict[str, str]:
        """A plain hash for a file gen-iac wrote as rendered (most entries); else an object."""
        if self.rendered == self.sha256 and self.owner == GEN_IAC:
            return self.sha256
        data = {"sha256": self.sha256}
        if self.rendered != self.sha256:
            data["rendered"] = self.rendered
        if self.owner != GEN_IAC:
            data["owner"] = self.owner
        return data


# ---------------------------------------------------------------------------------------------
# Paths


def safe_relative_path(path: str) -> bool:
    """A '/'-separated relative path of plain components: no '', '.', '..', backslash, NUL,
    control character or invalid text, each component at most 255 bytes, not reserved."""
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    if not path or size > MAX_PATH_BYTES or path.startswith("/"):
        return False
    parts = path.split("/")
    if parts[0].startswith(RESERVED_PREFIX):
        return False
    return all(
        part not in ("", ".", "..")
        and len(part.encode("utf-8")) <= MAX_COMPONENT_BYTES
        and not any(c in part for c in "\\\x00")
        and all(ord(c) >= 0x20 and c != "\x7f" for c in part)
        for part in parts
    )


class _Tree:
    """Confined access below `root`: no component on the way may be a symbolic link."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dirs_ok: set[str] = {""}

    def parent_state(self, path: str) -> str | None:
        """None when every existing folder above `path` is a real folder; else the first
        component that is not ('symlink:<p>' or 'file:<p>')."""
        parts = path.split("/")[:-1]
        current = ""
        for part in parts:
            current = f"{current}/{part}" if current else part
            if current in self.dirs_ok:
                continue
            try:
                mode = os.lstat(self.root / current).st_mode
            except FileNotFoundError:
                return None  # nothing further down exists either
            if stat.S_ISLNK(mode):
                return f"symlink:{current}"
            if not stat.S_ISDIR(mode):
                return f"file:{current}"
            self.dirs_ok.add(current)
        return None

    def read(self, path: str) -> tuple[str, bytes | None]:
        """('absent'|'file'|'dir'|'other', bytes of a regular file) without following links."""
        target = self.root / path
        try:
            mode = os.lstat(target).st_mode
        except FileNotFoundError:
            return "absent", None
        except NotADirectoryError:
            return "absent", None
        if stat.S_ISDIR(mode):
            return "dir", None
        if not stat.S_ISREG(mode):
            return "other", None
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            return "file", handle.read()

    def make_parents(self, path: str) -> None:
        parts = path.split("/")[:-1]
        current = ""
        for part in parts:
            current = f"{current}/{part}" if current else part
            if current in self.dirs_ok:
                continue
            target = self.root / current
            try:
                os.mkdir(target, 0o755)
            except FileExistsError:
                mode = os.lstat(target).st_mode
                if stat.S_ISLNK(mode) or not stat.S_ISDIR(mode):
                    raise OutputError(
                        f"{target}: not a folder (gen-iac writes only into real folders "
                        "inside --out)"
                    ) from None
            self.dirs_ok.add(current)

    def prune(self, path: str) -> None:
        """Remove folders left empty above a removed file, up to (not including) the root."""
        parts = path.split("/")[:-1]
        while parts:
            target = self.root / "/".join(parts)
            try:
                os.rmdir(target)
            except OSError:
                return
            self.dirs_ok.discard("/".join(parts))
            parts.pop()


# ---------------------------------------------------------------------------------------------
# Lock, recovery


@contextmanager
def _locked(out: Path, exclusive: bool) -> Iterator[None]:
    """Hold a lock on the output folder itself (flock on its descriptor: nothing is written)."""
    if fcntl is None or not out.is_dir():  # pragma: no cover - non-POSIX / checked by callers
        yield
        return
    fd = os.open(out, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputBusy(
                    f"{out}: another gen-iac run is writing into this folder; run again when "
                    "it has finished"
                ) from None
            raise
        yield
    finally:
        os.close(fd)


def recover(out: Path) -> list[str]:
    """Complete a run that was interrupted after its commit point and remove stale staging
    folders. Returns warnings. Needs the exclusive lock (write_tree takes it)."""
    warnings: list[str] = []
    journal = out / JOURNAL
    if os.path.lexists(journal):
        try:
            if os.path.islink(journal):
                raise ValueError("a symbolic link")
            data = json.loads(journal.read_text(encoding="utf-8"))
            staging, ops = _journal_fields(data)
        except (OSError, ValueError) as exc:
            warnings.append(f"{journal}: unreadable journal of an interrupted run ignored ({exc})")
        else:
            _roll_forward(out, staging, ops, warnings)
        os.unlink(journal)
    with os.scandir(out) as entries:
        stale = [e for e in entries if e.name.startswith(STAGING_PREFIX)]
    for entry in stale:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
    return warnings


def _journal_fields(data: Any) -> tuple[str, list[list[str]]]:
    if not isinstance(data, dict):
        raise ValueError("not an object")
    staging, ops = data.get("staging"), data.get("ops")
    if not (isinstance(staging, str) and staging.startswith(STAGING_PREFIX) and "/" not in staging):
        raise ValueError("bad staging folder")
    if not isinstance(ops, list) or not all(
        isinstance(op, list) and len(op) == 3 and all(isinstance(x, str) for x in op) for op in ops
    ):
        raise ValueError("bad operations")
    for kind, a, b in ops:
        target = b if kind == "put" else a
        if kind not in ("put", "del") or not (target == MANIFEST or safe_relative_path(target)):
            raise ValueError(f"bad operation on {target!r}")
        # A staged file is named by a counter (or "manifest"): nothing else is ever moved in.
        if kind == "put" and not ((a.isdigit() and a.isascii()) or a == "manifest"):
            raise ValueError(f"bad staged file {a!r}")
    return staging, ops


def _roll_forward(
    out: Path, staging: str, ops: list[list[str]], warnings: list[str] | None = None
) -> None:
    """Apply a committed journal; idempotent, so a run killed while doing it is finished by
    the next. Removals first (a new folder may stand where an old file was), then renames.
    In recovery (`warnings` given) a rename that something outside gen-iac now blocks is
    skipped with a warning, so one stray folder cannot block every later run."""
    tree = _Tree(out)
    for kind, path, sha in ops:
        if kind != "del" or tree.parent_state(path):
            continue
        state, data = tree.read(path)
        if state == "file" and data is not None and _hash(data) == sha:
            os.unlink(out / path)
            tree.prune(path)
    for kind, name, path in ops:
        if kind != "put":
            continue
        source = out / staging / name
        if not os.path.lexists(source):
            continue  # already moved in
        try:
            if path != MANIFEST:
                tree.make_parents(path)
            os.replace(source, out / path)
        except (OutputError, IsADirectoryError, NotADirectoryError) as exc:
            if warnings is None:
                raise
            warnings.append(f"{out / path}: not restored from the interrupted run ({exc})")
    # Durable before the journal goes: the renames are recorded in the folder itself.
    _fsync_dir(out)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Writing


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: not a folder (--out must be a folder or not exist yet)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create the output folder: {_why(exc)}") from None
    except ValueError as exc:  # e.g. a NUL in the path
        raise OutputError(f"{str(out)!r}: cannot create the output folder: {exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: the output folder is not writable")


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def write_tree(
    out: Path, files: Iterable[RenderedFile], force: bool = False, keep: tuple[str, ...] = ()
) -> WriteResult:
    """Write `files` (consumed as they come: each is staged at once) under `out`. Files under
    a `keep` prefix that the run does not render stay as they are, manifest entry included.

    Raises OutputError (exit 2) when `out` cannot be used, another run holds it, or a file's
    path is not a safe relative path; the old tree is then intact."""
    _prepare_out(out)
    with _locked(out, exclusive=True):
        try:
            warnings = recover(out)
        except OSError as exc:
            raise OutputError(f"{out}: cannot complete an interrupted run: {_why(exc)}") from None
        staging = out / f"{STAGING_PREFIX}{secrets.token_hex(6)}"
        try:
            os.mkdir(staging, 0o700)
        except OSError as exc:
            raise OutputError(f"{out}: cannot write: {_why(exc)}") from None
        committed = False
        try:
            result, ops = _stage(out, staging, files, force, keep)
            result.warnings[:0] = warnings
            if ops:
                _commit(out, staging, ops)
            committed = True
        except OSError as exc:
            raise OutputError(f"{out}: cannot write: {_why(exc)}; nothing was changed") from None
        finally:
            if not committed:
                shutil.rmtree(staging, ignore_errors=True)
        try:
            if ops:
                _roll_forward(out, staging.name, ops)
                os.unlink(out / JOURNAL)
            shutil.rmtree(staging, ignore_errors=True)
        except OSError as exc:
            raise OutputError(
                f"{out}: interrupted while moving files in ({_why(exc)}); the next run completes it"
            ) from None
    for name in ("written", "unchanged", "removed", "kept_edited", "edited", "kept"):
        getattr(result, name).sort()
    return result


def _commit(out: Path, staging: Path, ops: list[list[str]]) -> None:
    """The commit point: the journal, complete and synced, appears by one rename."""
    temp = staging / "journal"
    text = json.dumps({"ops": ops, "staging": staging.name, "version": 1}) + "\n"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, out / JOURNAL)
    _fsync_dir(out)


def _stage(
    out: Path, staging: Path, files: Iterable[RenderedFile], force: bool, keep: tuple[str, ...]
) -> tuple[WriteResult, list[list[str]]]:
    result = WriteResult()
    old = _read_manifest(out, result.warnings)
    tree = _Tree(out)
    entries: dict[str, _Entry] = {}
    seen_folded: dict[str, str] = {}
    puts: list[list[str]] = []
    counter = 0

    def stage(path: str, data: bytes, secret: bool) -> None:
        nonlocal counter
        name = str(counter)
        counter += 1
        fd = os.open(
            staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o644
        )
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        puts.append(["put", name, path])
        result.written.append(path)

    new_dirs: set[str] = set()
    for f in files:
        path = _checked_path(out, f, seen_folded)
        parents = _parents(path)
        if path in new_dirs or any(p in entries for p in parents):
            raise OutputError(
                f"{out}: {path!r} would be both a file and a folder; nothing was written"
            )
        new_dirs.update(parents)
        blocked = tree.parent_state(path)
        if blocked and blocked.startswith("symlink:"):
            raise OutputError(
                f"{out / blocked[8:]}: a symbolic link where gen-iac writes a folder; "
                "gen-iac writes only inside --out"
            )
        state, disk = ("absent", None) if blocked else tree.read(path)
        if state == "dir":
            raise OutputError(f"{out / path}: a folder stands where gen-iac writes a file")
        rendered = f.content
        r_hash = _hash(rendered)
        before = old.get(path)
        if f.owner == PERSON:
            entry = _person(f, path, rendered, r_hash, state, disk, before, result, stage)
        else:
            entry = _generated(f, path, rendered, r_hash, state, disk, before, force, result, stage)
        entries[path] = entry

    dels: list[list[str]] = []
    for path in sorted(set(old) - set(entries)):
        if path.startswith(keep):
            entries[path] = old[path]
            continue
        if tree.parent_state(path):
            result.warnings.append(f"{MANIFEST}: entry {path!r} is under a link or a file; ignored")
            continue
        state, disk = tree.read(path)
        if state == "absent":
            continue
        if state == "file" and disk is not None and _hash(disk) == old[path].sha256:
            dels.append(["del", path, old[path].sha256])
            result.removed.append(path)
        else:
            result.kept_edited.append(path)

    # Folders the new files need: a file of ours that goes away may stand there; else refuse.
    removed = {p for _, p, _ in dels}
    for _, _, path in puts:
        blocked = tree.parent_state(path)
        if blocked and blocked[5:] not in removed:
            raise OutputError(
                f"{out / blocked.split(':', 1)[1]}: a file stands where gen-iac writes a folder"
            )

    manifest = _manifest_bytes(entries)
    state, disk = tree.read(MANIFEST)
    if disk != manifest:
        fd = os.open(staging / "manifest", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(manifest)
        puts.append(["put", "manifest", MANIFEST])
    return result, dels + puts


def _generated(
    f: RenderedFile,
    path: str,
    rendered: bytes,
    r_hash: str,
    state: str,
    disk: bytes | None,
    before: _Entry | None,
    force: bool,
    result: WriteResult,
    stage: Any,
) -> _Entry:
    fresh = _Entry(r_hash, r_hash)
    if state == "absent":
        stage(path, rendered, f.secret)
        return fresh
    if disk is not None and disk == rendered and not f.secret:
        result.unchanged.append(path)
        return fresh
    edited = disk is None or before is None or _hash(disk) != before.sha256
    if edited and not force:
        result.edited.append(path)
        return _Entry(before.sha256 if before else r_hash, r_hash)
    stage(path, rendered, f.secret)
    return fresh


def _person(
    f: RenderedFile,
    path: str,
    rendered: bytes,
    r_hash: str,
    state: str,
    disk: bytes | None,
    before: _Entry | None,
    result: WriteResult,
    stage: Any,
) -> _Entry:
    fresh = _Entry(r_hash, r_hash, PERSON)
    if state == "absent":
        stage(path, rendered, f.secret)
        return fresh
    source_changed = before is None or before.rendered != r_hash
    edited = disk is None or before is None or _hash(disk) != before.sha256
    if not edited:
        if not source_changed or disk == rendered:
            result.unchanged.append(path)
        else:
            stage(path, rendered, f.secret)
        return fresh
    pristine = before.sha256 if before else r_hash  # stays unequal to the edited bytes
    kept = _Entry(pristine, r_hash, PERSON)
    if not source_changed or disk is None:
        (result.unchanged if disk is not None else result.kept).append(path)
        return kept
    if f.merge is not None:
        try:
            merged = f.merge(disk)
        except Exception as exc:  # a person's file we cannot read: keep it, say so
            result.warnings.append(f"{path}: kept as it is; cannot merge gen-iac's changes ({exc})")
            result.kept.append(path)
            return kept
        if merged == disk:
            result.unchanged.append(path)
        else:
            stage(path, merged, f.secret)
            report = getattr(f.merge, "report", None)  # the renderer says what it changed
            if callable(report):
                result.merges.extend(report(path, disk))
        return kept
    if disk == rendered:
        result.unchanged.append(path)
        return fresh
    result.kept.append(path)
    return kept


def _checked_path(out: Path, f: RenderedFile, seen: dict[str, str]) -> str:
    path = f.path
    if not safe_relative_path(path):
        raise OutputError(f"{out}: refusing to write {path!r}: not a safe relative path")
    folded = path.casefold()
    if folded in seen:
        raise OutputError(
            f"{out}: two files would be {seen[folded]!r} and {path!r} (same name apart from "
            "case): nothing was written"
        )
    seen[folded] = path
    return path


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:n]) for n in range(1, len(parts))]


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(out: Path, warnings: list[str]) -> dict[str, _Entry]:
    """The manifest's entries; any that is not a safe relative path is ignored with a warning."""
    path = out / MANIFEST
    try:
        if os.path.islink(path) or not path.exists():
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"] if isinstance(data, dict) else None
    except (OSError, ValueError, KeyError):
        warnings.append(f"{path}: unreadable; every existing file is treated as a person's")
        return {}
    if not isinstance(files, dict):
        return {}
    found: dict[str, _Entry] = {}
    for name, value in files.items():
        if not safe_relative_path(name):
            warnings.append(f"{MANIFEST}: entry {name!r} is outside the output folder; ignored")
            continue
        if isinstance(value, str):  # version 1: path -> sha256
            found[name] = _Entry(value, value)
        elif isinstance(value, dict) and isinstance(value.get("sha256"), str):
            sha = value["sha256"]
            rendered = value.get("rendered", sha)
            owner = value.get("owner", GEN_IAC)
            found[name] = _Entry(
                sha,
                rendered if isinstance(rendered, str) else sha,
                PERSON if owner == PERSON else GEN_IAC,
            )
    return found


def _manifest_bytes(entries: dict[str, _Entry]) -> bytes:
    files = {p: entries[p].dump() for p in sorted(entries)}
    return (json.dumps({"files": files, "version": 2}, indent=2) + "\n").encode("utf-8")


# ---------------------------------------------------------------------------------------------
# --check


def check_tree(out: Path, files: Iterable[RenderedFile], keep: tuple[str, ...] = ()) -> CheckResult:
    """Compare what a run would write with `out`; write nothing (a shared lock on the folder
    is the only thing taken). A file gen-iac owns that would be written, changed or removed is
    drift; a person's files never are."""
    if "\x00" in str(out):
        raise OutputError(f"{str(out)!r}: not a usable folder name")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: not a folder (--out must be a folder)")
    result = CheckResult()
    if out.is_dir() and os.path.lexists(out / JOURNAL):
        raise OutputError(
            f"{out}: an interrupted run is not complete yet; run gen-iac without --check first"
        )
    exists = out.is_dir()
    with _locked(out, exclusive=False):
        old = _read_manifest(out, result.warnings) if exists else {}
        tree = _Tree(out)
        seen: dict[str, str] = {}
        paths: set[str] = set()
        for f in files:
            path = _checked_path(out, f, seen)
            paths.add(path)
            if f.owner == PERSON:
                result.person.append(path)
                continue
            blocked = tree.parent_state(path) if exists else "absent"
            state, disk = ("absent", None) if blocked else tree.read(path)
            rendered = f.content
            if state == "file" and disk == rendered:
                result.unchanged.append(path)
                continue
            before = old.get(path)
            if state == "absent":
                change = "missing"
            elif disk is not None and before is not None and _hash(disk) == before.sha256:
                change = "changed"
            else:
                change = "edited"
            result.drift.append(Drift(path, change, _diff(path, disk, rendered)))
        for path in sorted(set(old) - paths):
            if old[path].owner == PERSON or path.startswith(keep) or tree.parent_state(path):
                continue
            state, disk = tree.read(path)
            if state == "file" and disk is not None and _hash(disk) == old[path].sha256:
                result.drift.append(Drift(path, "obsolete", _diff(path, disk, b"")))
    result.drift.sort(key=lambda d: d.path)
    return result


def _diff(path: str, before: bytes | None, after: bytes) -> tuple[str, ...]:
    try:
        old = (before or b"").decode("utf-8").splitlines()
        new = after.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return ("(binary file differs)",)
    lines = list(difflib.unified_diff(old, new, f"a/{path}", f"b/{path}", lineterm="", n=1))
    shown = [line if len(line) <= 160 else line[:157] + "..." for line in lines[:DIFF_LINES]]
    if len(lines) > DIFF_LINES:
        shown.append(f"... {len(lines) - DIFF_LINES} more diff line(s)")
    return tuple(shown)
