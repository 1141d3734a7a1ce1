"""Write the snapshot directory atomically.

Everything goes into a hidden temporary sibling of --out (same filesystem, so the final
rename is atomic); only `commit()` moves it into place. An interrupted export therefore
leaves no half snapshot, and a snapshot already at --out stays intact until the new one is
complete. A hard kill (SIGKILL) can leave the `.NAME.partial-*` sibling behind; it is
never read and the next export to the same --out removes it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

PARTIAL_MARK = ".partial-"
OLD_MARK = ".old-"


class UnsafeName(ValueError):
    """A service, version or asset name that cannot be a single path component."""


def safe_component(name: str, what: str) -> str:
    """Names come from the service; never let one escape the snapshot directory."""
    if (not name or name in {".", ".."} or "/" in name or "\\" in name or "\x00" in name
            or name.startswith(".")):
        raise UnsafeName(f"{what} {name!r} cannot be used as a file name")
    return name


class SnapshotWriter:
    """`with SnapshotWriter(out) as w: ...; w.commit()` - no commit, no snapshot."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.tmp: Path | None = None
        self.committed = False
        self.closed = False
        self._lock = threading.Lock()  # download threads create folders; exit removes them

    def __enter__(self) -> SnapshotWriter:
        parent = self.out.parent
        parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale(parent)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}{PARTIAL_MARK}", dir=parent))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with self._lock:
            self.closed = True
            if self.tmp is not None and self.tmp.exists():
                shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def root(self) -> Path:
        if self.tmp is None:
            raise RuntimeError("SnapshotWriter used outside its with-block")
        return self.tmp

    def asset_path(self, *parts: str) -> Path:
        """assets/<service>/<asset id> or assets/<endpoint>/<version>/<asset id>."""
        path = self.root.joinpath("assets", *parts)
        with self._lock:
            if self.closed:  # a late thread must not re-create a removed temporary folder
                raise FileNotFoundError(f"{self.root} was removed")
            path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write_json(self, name: str, data: Any, mode: int = 0o644) -> None:
        path = self.root / name
        # Create with the final mode so a secret is never readable by others, not even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(path, mode)  # the umask may have narrowed it; be exact

    def commit(self) -> None:
        """Replace --out by the finished snapshot."""
        root = self.root
        root.chmod(0o755)  # mkdtemp makes it 0700
        if self.out.exists() or self.out.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{self.out.name}{OLD_MARK}", dir=self.out.parent))
            old.rmdir()
            os.replace(self.out, old)
            os.replace(root, self.out)
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
        else:
            os.replace(root, self.out)
        self.committed = True

    def _remove_stale(self, parent: Path) -> None:
        for prefix in (PARTIAL_MARK, OLD_MARK):
            for stale in parent.glob(f".{self.out.name}{prefix}*"):
                if stale.is_dir() and not stale.is_symlink():
                    shutil.rmtree(stale, ignore_errors=True)
