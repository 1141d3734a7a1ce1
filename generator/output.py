"""Write rendered files into the output directory: confined, deterministic, all or nothing,
one run at a time, and aware of who owns each file.

Everything gen-iac keeps in `--out` (the manifest, the journal, staging folders) is untrusted:
a pull request can commit any of it. So:
- Confined: every path written, read or removed is a safe relative path under `--out` (no
  `..`, no absolute path, no NUL, no version-control folder such as `.git`, no symbolic link
  on the way); manifest entries that are not are ignored with a warning. A file is removed as
  obsolete only inside the folders gen-iac generates (`GENERATED_ROOTS` and the top-level
  folders of this run), never one on the allow-list of files people and tools add there.
- All or nothing: files are staged in `out/.gen-iac-staging-<random>` as they are rendered
  (memory stays flat), then a journal naming every rename and removal, with the hash of each
  staged file, is written (the commit point) and rolled forward. A run killed before the
  journal leaves the old tree; one killed after it is completed by the next run (or
  `recover`), which also removes stale staging folders.
- Recovery replays only what this machine staged: the journal is a hard link of a file in its
  staging folder (git cannot check out two names for one file, so a committed journal never
  has one), the staging folder is a real folder, and each staged file still has the hash the
  journal recorded when it is moved in. Anything else is ignored with a warning and removed.
  (On a file system without hard links a journal cannot be proven; the next run then ignores
  it, and `--force` rewrites gen-iac's files.)
- Exclusive: a run holds an exclusive `flock` on the output folder itself (nothing is written
  for it), taken before any planning (`claim`); a second run into the same folder stops at
  once with one line (exit 2).
- Ownership (day 2): GEN_IAC files are rewritten; a person's edit of one is kept and reported
  (`--force` discards it). PERSON files are written when absent and never replaced once they
  exist: a change of gen-iac's content for one is merged in (keeping what the person chose)
  or the file is kept and reported. The manifest's word alone never destroys a person's file
  (it can be forged by changing a hash), and PERSON files are never removed.
- `--check` is complete: in the generated folders, any file gen-iac would not write is drift
  (an added `.tf`, an override file, a link, an unexpected file in a bundle), except the
  allow-list `ALLOWED`: `.terraform/` and `.terraform.lock.hcl` in a Terraform root module
  (terraform init makes them, pipelines commit the lock file) and `bundles/<ws>/.venv/` (the
  interpreter `gen-iac smoke` uses). Diffs of files holding keys are never printed.
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
from generator.files import GEN_IAC, PERSON, RenderedFile, UnreadableFile
from generator.places import checkout_root, unsafe_place

MANIFEST = ".gen-iac-manifest.json"
JOURNAL = ".gen-iac-journal.json"
STAGING_PREFIX = ".gen-iac-staging-"
RESERVED_PREFIX = ".gen-iac"  # names gen-iac keeps for itself at the top of --out
MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 4000
DIFF_LINES = 20  # per drifted file in --check
DIFF_FILES = 50  # files shown with a diff; the rest are listed
JOURNAL_VERSION = 2
# Where gen-iac writes (with the top-level folders of the run itself): removals stay inside.
GENERATED_ROOTS = frozenset(
    {"terraform", "bicep", "bundles", "pipelines", "MIGRATION.md", "migration.json", "SUMMARY.md",
     "CUTOVER.md"}
)
# Folders of version-control and tool metadata: never a component of a path gen-iac touches.
METADATA_NAMES = frozenset({".git", ".hg", ".svn", ".bzr", "_darcs", ".jj", ".pijul"})
# What people and tools legitimately add in the generated folders ("folder" or "file" by name,
# in a Terraform root module, or in a bundles/<ws>/ folder): not drift, never removed.
ALLOWED = {
    "terraform-module": {".terraform": "folder", ".terraform.lock.hcl": "file"},
    "bundles-workspace": {".venv": "folder"},
}
SECRET_DIFF = ("(holds keys: contents not shown)",)

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
    kept_edited: list[str] = field(default_factory=list)  # obsolete, edited or a person's: left
    edited: list[str] = field(default_factory=list)  # gen-iac's files a person edited: kept
    kept: list[str] = field(default_factory=list)  # a person's files kept though ours changed
    warnings: list[str] = field(default_factory=list)  # e.g. unsafe manifest entries ignored
    # What merging gen-iac's changes into a person's file did (an endpoint added, ...).
    merges: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Drift:
    path: str
    # "missing", "changed", "edited" (a person changed gen-iac's file), "obsolete", "added"
    # (a file gen-iac does not write), "link" (a symbolic link: gen-iac writes none), "unused"
    # (no longer generated; edited or a person's, so a run keeps it)
    change: str
    diff: tuple[str, ...] = ()  # a short unified diff (bounded); none for keys or added files


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
    "added": "not written by gen-iac (remove it; only a few tool files may be added here)",
    "link": "a symbolic link (gen-iac writes none; remove it)",
    "unused": "no longer generated, kept by gen-iac as edited or a person's (remove it)",
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
    control character or invalid text, no version-control folder (`.git`, ...), each
    component at most 255 bytes, not reserved."""
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
        and part.casefold() not in METADATA_NAMES
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


@contextmanager
def claim(out: Path, *, write: bool, snapshot: Path | None = None) -> Iterator[None]:
    """The first thing a run does, before any planning: refuse an unsafe `--out` (the
    file-system root, the home folder, gen-iac's own checkout, inside the snapshot folder,
    a non-empty folder gen-iac never wrote), create it when writing, and hold the lock (a
    shared one for --check) until the run ends. `write_tree`/`check_tree` are then called
    with `locked=True`."""
    if "\x00" in str(out):
        raise OutputError(f"{str(out)!r}: not a usable folder name")
    inside = [snapshot] if snapshot is not None and snapshot.is_dir() else []
    problem = unsafe_place(
        out, marker=MANIFEST, protected={checkout_root(): "gen-iac's own checkout"}, inside=inside
    )
    if problem:
        raise OutputError(problem)
    made = [p for p in (out, *out.parents) if not os.path.lexists(p)] if write else []
    if write:
        _prepare_out(out)
    try:
        with _locked(out, exclusive=write):
            yield
    except BaseException:  # nothing written: the folders this run made go again
        for folder in made:
            try:
                os.rmdir(folder)
            except OSError:
                break
        raise


def recover(out: Path) -> list[str]:
    """Complete a run that was interrupted after its commit point and remove stale staging
    folders. Returns warnings. Needs the exclusive lock (write_tree takes it)."""
    warnings: list[str] = []
    journal = out / JOURNAL
    if os.path.lexists(journal):
        try:
            staging, ops = _trusted_journal(out)
        except (OSError, ValueError, RecursionError) as exc:
            warnings.append(f"{journal}: journal of an interrupted run ignored and removed ({exc})")
        else:
            _roll_forward(out, staging, ops, warnings)
    with os.scandir(out) as entries:  # gen-iac's names: whatever stands there goes
        stale = [e for e in entries if e.name.startswith(STAGING_PREFIX) or e.name == JOURNAL]
    for entry in stale:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
    return warnings


def _trusted_journal(out: Path) -> tuple[str, list[list[str]]]:
    """The journal's staging folder and operations, when this machine wrote it: a regular
    file that is a hard link of `journal` in a real staging folder. Else ValueError."""
    journal = out / JOURNAL
    own = os.lstat(journal)
    if not stat.S_ISREG(own.st_mode):
        raise ValueError("not a regular file")
    staging, ops = _journal_fields(json.loads(_read_regular(journal).decode("utf-8")))
    try:
        proven = stat.S_ISDIR(os.lstat(out / staging).st_mode)
        twin = os.lstat(out / staging / "journal")
        proven = proven and (twin.st_dev, twin.st_ino) == (own.st_dev, own.st_ino)
    except OSError:
        proven = False
    if not proven:
        raise ValueError(
            "not written by a run on this machine: a journal from a repository is never "
            "followed; if a run was interrupted here, gen-iac --force rewrites gen-iac's files"
        )
    return staging, ops


def _read_regular(path: Path) -> bytes:
    """A regular file's bytes, never through a symbolic link."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError("not a regular file")
        return handle.read()


def _journal_fields(data: Any) -> tuple[str, list[list[str]]]:
    if not isinstance(data, dict) or data.get("version") != JOURNAL_VERSION:
        raise ValueError("not a journal of this gen-iac version")
    staging, ops = data.get("staging"), data.get("ops")
    if not (isinstance(staging, str) and staging.startswith(STAGING_PREFIX) and "/" not in staging):
        raise ValueError("bad staging folder")
    if not isinstance(ops, list) or not all(
        isinstance(op, list)
        and len(op) == (4 if op[:1] == ["put"] else 3)
        and all(isinstance(x, str) for x in op)
        for op in ops
    ):
        raise ValueError("bad operations")
    for kind, a, b, *_ in ops:
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
    In recovery (`warnings` given) each staged file is checked first (a regular file with
    the hash recorded when it was staged), and a rename that something outside gen-iac now
    blocks is skipped with a warning, so one stray folder cannot block every later run."""
    tree = _Tree(out)
    for kind, path, sha, *_ in ops:
        if kind != "del" or tree.parent_state(path):
            continue
        state, data = tree.read(path)
        if state == "file" and data is not None and _hash(data) == sha:
            os.unlink(out / path)
            tree.prune(path)
    for kind, name, path, *recorded in ops:
        if kind != "put":
            continue
        source = out / staging / name
        if not os.path.lexists(source):
            continue  # already moved in
        try:
            if warnings is not None and _staged_hash(source) != recorded[0]:
                warnings.append(f"{out / path}: not restored: its staged file was changed")
                continue
            if path != MANIFEST:
                tree.make_parents(path)
            os.replace(source, out / path)
        except (OutputError, ValueError, IsADirectoryError, NotADirectoryError) as exc:
            if warnings is None:
                raise
            warnings.append(f"{out / path}: not restored from the interrupted run ({exc})")
    # Durable before the journal goes: the renames are recorded in the folder itself.
    _fsync_dir(out)


def _staged_hash(path: Path) -> str | None:
    try:
        return _hash(_read_regular(path))
    except (OSError, ValueError):  # a link, a folder, unreadable: never moved in
        return None


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
    out: Path,
    files: Iterable[RenderedFile],
    force: bool = False,
    *,
    locked: bool = False,
    keep: tuple[str, ...] = (),
) -> WriteResult:
    """Write `files` (consumed as they come: each is staged at once) under `out`. `locked`:
    the caller holds `claim(out, write=True)`; else the folder is prepared and locked here.
    Files under a `keep` prefix that the run does not render (what it keeps from its record)
    stay as they are, manifest entries included.

    Raises OutputError (exit 2) when `out` cannot be used, another run holds it, or a file's
    path is not a safe relative path; the old tree is then intact."""
    if not locked:
        _prepare_out(out)
        with _locked(out, exclusive=True):
            return write_tree(out, files, force, locked=True, keep=keep)
    try:
        warnings = recover(out)
    except OSError as exc:
        raise OutputError(f"{out}: cannot complete an interrupted run: {_why(exc)}") from None
    staging = out / f"{STAGING_PREFIX}{secrets.token_hex(8)}"
    committed = False
    try:
        os.mkdir(staging, 0o700)
        result, ops = _stage(out, staging, files, force, keep)
        result.warnings[:0] = warnings
        if ops:
            _commit(out, staging, ops)
        committed = True
    except OSError as exc:
        raise OutputError(f"{out}: cannot write: {_why(exc)}; nothing was changed") from None
    finally:  # also on Ctrl-C; once the journal exists, the staged files are the next run's
        if not committed and not os.path.lexists(out / JOURNAL):
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
    """The commit point: the journal, complete and synced, appears by one link (a second
    name of `staging/journal`: the proof that this machine wrote it, see `recover`)."""
    temp = staging / "journal"
    text = json.dumps({"ops": ops, "staging": staging.name, "version": JOURNAL_VERSION}) + "\n"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temp, out / JOURNAL)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # No hard links here: committed all the same, but a crash is not recovered (see top).
        shutil.copyfile(temp, staging / "journal.copy")
        os.replace(staging / "journal.copy", out / JOURNAL)
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
        puts.append(["put", name, path, _hash(data)])
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
            try:
                entry = _person(f, path, rendered, r_hash, state, disk, before, result, stage)
            except UnreadableFile as exc:  # a person's file a merge cannot read: stop (exit 2)
                raise OutputError(exc.at(str(out / path))) from None
        else:
            entry = _generated(f, path, rendered, r_hash, state, disk, before, force, result, stage)
        entries[path] = entry

    dels: list[list[str]] = []
    allowed = _Allowed(entries)
    for path in sorted(set(old) - set(entries)):
        if path.startswith(keep):
            entries[path] = old[path]
            continue
        if not allowed.generated(path):  # not even read: gen-iac removes nothing there
            if os.path.lexists(out / path):
                result.kept_edited.append(path)
            continue
        if tree.parent_state(path):
            result.warnings.append(f"{MANIFEST}: entry {path!r} is under a link or a file; ignored")
            continue
        state, disk = tree.read(path)
        if state == "absent":
            continue
        # Only a file of gen-iac's (by the manifest), where gen-iac writes, and as written.
        if (
            old[path].owner == GEN_IAC
            and not allowed.allowed(path)
            and state == "file"
            and disk is not None
            and _hash(disk) == old[path].sha256
        ):
            dels.append(["del", path, old[path].sha256])
            result.removed.append(path)
        else:
            result.kept_edited.append(path)

    # Folders the new files need: a file of ours that goes away may stand there; else refuse.
    removed = {p for _, p, _ in dels}
    for _, _, path, _ in puts:
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
        puts.append(["put", "manifest", MANIFEST, _hash(manifest)])
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
    """A person's file: written when absent, else theirs. Whether they edited it is never
    decided from the manifest (a committed hash could say "unedited" of any file): a change
    of gen-iac's content is merged in when the file can merge, else the file is kept. Its
    entry records only what gen-iac rendered (to see that content change next time)."""
    entry = _Entry(r_hash, r_hash, PERSON)
    if state == "absent":
        stage(path, rendered, f.secret)
    elif disk == rendered or (disk is not None and before is not None and before.rendered == r_hash):
        result.unchanged.append(path)
    elif disk is None or f.merge is None:
        result.kept.append(path)
    else:
        try:
            merged = f.merge(disk)
        except UnreadableFile:
            raise
        except Exception as exc:  # a person's file we cannot read: keep it, say so
            result.warnings.append(f"{path}: kept as it is; cannot merge gen-iac's changes ({exc})")
            result.kept.append(path)
            return entry
        if merged == disk:
            result.unchanged.append(path)
        else:
            stage(path, merged, f.secret)
            report = getattr(f.merge, "report", None)  # the renderer says what it changed
            if callable(report):
                result.merges.extend(report(path, disk))
    return entry


class _Allowed:
    """The generated folders of a run and the allow-list of files people add in them."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.roots = set(GENERATED_ROOTS)
        self.modules: set[str] = set()  # Terraform root modules: folders with a .tf file
        self.workspaces: set[str] = set()  # bundles/<ws>
        for path in paths:
            parts = path.split("/")
            if len(parts) > 1:
                self.roots.add(parts[0])
            if parts[0] == "terraform" and path.endswith(".tf"):
                self.modules.add(path.rpartition("/")[0])
            if parts[0] == "bundles" and len(parts) > 2:
                self.workspaces.add("/".join(parts[:2]))

    def generated(self, path: str) -> bool:
        return path.split("/")[0] in self.roots

    def kind(self, path: str) -> str | None:
        """"folder" or "file" when `path` is on the allow-list, else None."""
        parent, _, name = path.rpartition("/")
        if parent in self.modules:
            return ALLOWED["terraform-module"].get(name)
        if parent in self.workspaces:
            return ALLOWED["bundles-workspace"].get(name)
        return None

    def allowed(self, path: str) -> bool:
        """`path` or a folder above it is on the allow-list."""
        parts = path.split("/")
        return any(self.kind("/".join(parts[:n])) for n in range(2, len(parts) + 1))


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
    except (OSError, ValueError, KeyError, RecursionError):
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


def check_tree(
    out: Path, files: Iterable[RenderedFile], *, locked: bool = False, keep: tuple[str, ...] = ()
) -> CheckResult:
    """Compare what a run would write with `out`; write nothing (a shared lock on the folder
    is the only thing taken; `locked`: the caller holds `claim(out, write=False)`). Drift: a
    file gen-iac owns that would be written, changed or removed, and anything else in the
    generated folders that gen-iac does not write (see `ALLOWED`); a person's files never are.
    """
    if "\x00" in str(out):
        raise OutputError(f"{str(out)!r}: not a usable folder name")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: not a folder (--out must be a folder)")
    if out.is_dir() and os.path.lexists(out / JOURNAL):
        raise OutputError(
            f"{out}: an interrupted run is not complete yet; run gen-iac without --check first"
        )
    if not locked:
        with _locked(out, exclusive=False):
            return check_tree(out, files, locked=True, keep=keep)
    result = CheckResult()
    exists = out.is_dir()
    old = _read_manifest(out, result.warnings) if exists else {}
    tree = _Tree(out)
    seen: dict[str, str] = {}
    paths: set[str] = set()
    for f in files:
        path = _checked_path(out, f, seen)
        paths.add(path)
        if f.owner == PERSON:
            if exists and _is_link(out / path):
                result.drift.append(Drift(path, "link"))
            else:
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
            change = "link" if _is_link(out / path) else "edited"
        diff = SECRET_DIFF if f.secret else _diff(path, disk, rendered)
        result.drift.append(Drift(path, change, diff))
    if exists:
        result.drift.extend(_unexpected(out, tree, paths, old, keep))
    result.drift.sort(key=lambda d: d.path)
    return result


def _is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


def _unexpected(
    out: Path, tree: _Tree, paths: set[str], old: dict[str, _Entry], keep: tuple[str, ...] = ()
) -> list[Drift]:
    """Everything in the generated folders that a run would not write, without following a
    link: obsolete files of gen-iac's, links, and files nobody declared; the allow-list
    aside. Listed without a diff (an obsolete file may hold keys)."""
    allowed = _Allowed(paths)
    found: list[Drift] = []
    pending = [name for name in sorted(allowed.roots) if os.path.lexists(out / name)]
    while pending:
        path = pending.pop()
        kind = allowed.kind(path)
        try:
            mode = os.lstat(out / path).st_mode
        except OSError:
            continue
        if path in paths or path.startswith(keep) or (kind == "file" and stat.S_ISREG(mode)):
            continue  # judged above, kept from the record, or a tool's file
        if stat.S_ISLNK(mode):
            found.append(Drift(path, "link"))
        elif stat.S_ISDIR(mode):
            if kind == "folder":
                continue
            try:
                with os.scandir(out / path) as entries:
                    pending.extend(f"{path}/{e.name}" for e in entries)
            except OSError:
                found.append(Drift(path, "added"))
        elif path not in old:
            found.append(Drift(path, "added"))
        elif old[path].owner == GEN_IAC and _hash(tree.read(path)[1] or b"") == old[path].sha256:
            found.append(Drift(path, "obsolete"))
        else:
            found.append(Drift(path, "unused"))
    return found


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


# ---------------------------------------------------------------------------------------------
# Beside a generate: `gen-iac verify`


def write_beside(out: Path, files: Iterable[RenderedFile], completes: str) -> list[str]:
    """Write `files` into the folder of a generate, under the same lock, all or nothing (the
    same journal), confined the same way. Returns warnings.

    `completes` names the one file of the generate these files include (CUTOVER.md): it is
    written only when the manifest lists it and nobody edited it, and its new hash is
    recorded, so the next generate neither takes it for a person's edit nor rewrites it (it
    renders the same bytes). The other files are not the generate's (verify.json, VERIFY.md):
    they stay out of the manifest, and a generate leaves them alone."""
    if not out.is_dir():
        raise OutputError(f"{out}: not a folder")
    warnings: list[str] = []
    with _locked(out, exclusive=True):
        try:
            warnings += recover(out)
        except OSError as exc:
            raise OutputError(f"{out}: cannot complete an interrupted run: {_why(exc)}") from None
        old = _read_manifest(out, warnings)
        tree = _Tree(out)
        staging = out / f"{STAGING_PREFIX}{secrets.token_hex(6)}"
        keep = False
        try:
            os.mkdir(staging, 0o700)
            ops: list[list[str]] = []
            seen: dict[str, str] = {}
            for number, f in enumerate(files):
                path = _checked_path(out, f, seen)
                if tree.parent_state(path):
                    raise OutputError(f"{out / path}: under a link or a file; not written")
                state, disk = tree.read(path)
                if state not in ("absent", "file"):
                    raise OutputError(f"{out / path}: not a regular file; not written")
                if path == completes:
                    before = old.get(path)
                    if before is None or before.owner != GEN_IAC:
                        warnings.append(f"{path}: not written (no generate wrote it here)")
                        continue
                    if disk is not None and _hash(disk) != before.sha256:
                        warnings.append(f"{path}: edited by a person; kept as it is")
                        continue
                    digest = _hash(f.content)
                    old[path] = _Entry(digest, digest)
                if disk == f.content:
                    continue
                fd = os.open(staging / str(number), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(f.content)
                ops.append(["put", str(number), path, _hash(f.content)])
            if completes in {op[2] for op in ops}:
                manifest = _manifest_bytes(old)
                with open(staging / "manifest", "xb") as handle:
                    handle.write(manifest)
                ops.append(["put", "manifest", MANIFEST, _hash(manifest)])
            if ops:
                _commit(out, staging, ops)
                keep = True  # committed: if moving in fails, the next run completes it
                _roll_forward(out, staging.name, ops)
                os.unlink(out / JOURNAL)
                keep = False
        except OSError as exc:
            raise OutputError(f"{out}: cannot write: {_why(exc)}") from None
        finally:
            if not keep:
                shutil.rmtree(staging, ignore_errors=True)
    return warnings
