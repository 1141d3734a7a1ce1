"""gen-iac's per-user cache folder: `$XDG_CACHE_HOME/gen-iac/<version>/` (else
`~/.cache/gen-iac/<version>/`), outside any tree a pull request can commit.

What is kept there only ever saves work: a folder that cannot be made safe (not ours, open
to others, a link, unwritable) is not used, and a run then does everything itself. Set
GEN_IAC_NO_CACHE=1 to use none. A new gen-iac version starts a new folder.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

from generator import __version__

NO_CACHE = "GEN_IAC_NO_CACHE"


def user_cache_dir(*parts: str) -> Path | None:
    """The cache folder `parts` below gen-iac's per-user cache, made if missing; None when
    caching is off or the folder is not safe to trust (see `_private`)."""
    if os.environ.get(NO_CACHE) or not hasattr(os, "getuid"):
        return None
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    try:
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (OSError, RuntimeError):  # RuntimeError: no home folder
        return None
    folder = base
    for part in ("gen-iac", __version__, *parts):
        folder = folder / part
        if not _private(folder):
            return None
    return folder


def _private(folder: Path) -> bool:
    """`folder` exists (made 0700 if missing), is a real folder, belongs to this user and
    nobody else may write into it: only then may what is read from it be trusted."""
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        and os.access(folder, os.W_OK | os.X_OK)
    )


def code_fingerprint() -> str:
    """A hash of what decides the output besides the input: gen-iac's own code and templates
    (so an edited checkout is a new gen-iac too), and the Python and library versions."""
    import jinja2
    import yaml

    package = Path(__file__).resolve().parent
    from generator.render.templating import templates_dir

    digest = hashlib.sha256(
        f"{__version__}\n{sys.version}\n{jinja2.__version__}\n{yaml.__version__}\n".encode()
    )
    for root in (package, templates_dir()):
        for path in _files(root):
            if path.suffix == ".pyc":
                continue
            digest.update(f"{path.relative_to(root).as_posix()}\n".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _files(root: Path) -> Iterable[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
