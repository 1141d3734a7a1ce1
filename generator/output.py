"""Write rendered files into the output directory: deterministic, atomic per file, and aware
of which files it owns (a manifest of their hashes), so a person's edits are never lost."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from generator.diagnostics import InputError
from generator.files import RenderedFile

MANIFEST = ".gen-iac-manifest.json"


class OutputConflict(InputError):
    """Files a person edited or owns stand where gen-iac would write."""


@dataclass
class WriteResult:
    written: list[str] = field(default_factory=list)  # new or changed
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept_edited: list[str] = field(default_factory=list)  # obsolete, but edited: left in place


def write_tree(out: Path, files: list[RenderedFile], force: bool = False) -> WriteResult:
    """Write `files` under `out`. Every file is staged first, then moved into place, so an
    interrupted run never leaves a truncated file and a failing render writes nothing."""
    old = _read_manifest(out)
    new = {f.path: f for f in files}
    conflicts: list[str] = []
    for path in sorted(new):
        target = out / path
        if not target.exists():
            continue
        current = _hash(target.read_bytes())
        if path in old and current != old[path] and not force:
            conflicts.append(f"{path} (edited since gen-iac wrote it)")
        elif path not in old and current != _hash(new[path].content) and not force:
            conflicts.append(f"{path} (not written by gen-iac)")
    if conflicts:
        listing = "; ".join(conflicts[:5]) + ("; ..." if len(conflicts) > 5 else "")
        raise OutputConflict(
            f"{out}: {len(conflicts)} file(s) would be overwritten: {listing}. Nothing was "
            "written; rerun with --force to replace them"
        )

    result = WriteResult()
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".gen-iac-staging-", dir=out))
    try:
        staged: list[tuple[Path, Path, str]] = []
        for path in sorted(new):
            f = new[path]
            data = f.content
            target = out / path
            if target.exists() and not f.secret and target.read_bytes() == data:
                result.unchanged.append(path)
                continue
            temp = staging / f"{len(staged)}"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if f.secret else 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            staged.append((temp, target, path))
        # Commit point: everything rendered and staged; only renames follow.
        made: set[Path] = set()
        for temp, target, path in staged:
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            os.replace(temp, target)
            result.written.append(path)
        for path in sorted(set(old) - set(new)):
            target = out / path
            if not target.exists():
                continue
            if _hash(target.read_bytes()) == old[path]:
                target.unlink()
                _prune(target.parent, out)
                result.removed.append(path)
            else:
                result.kept_edited.append(path)
        _write_manifest(out, {p: _hash(new[p].content) for p in new})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(out: Path) -> dict[str, str]:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        files = data["files"]
        return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _write_manifest(out: Path, files: dict[str, str]) -> None:
    text = json.dumps({"files": dict(sorted(files.items())), "version": 1}, indent=2) + "\n"
    temp = out / f"{MANIFEST}.tmp"
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, out / MANIFEST)


def _prune(directory: Path, root: Path) -> None:
    """Remove directories left empty by a removed file, up to (not including) root."""
    while directory != root and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent
