"""Where a command may write a whole folder: the one check `gen-iac export` (a snapshot) and
generate (an output tree) share, run before any work.

A folder is refused when it is a protected place (the file-system root, the home folder, and
what the caller adds: the current folder for export, gen-iac's own checkout for generate),
lies inside a folder the command reads (the snapshot), is not a folder, or holds files but not
the marker the command leaves in what it wrote (`snapshot.json`, the output manifest): a
folder the command never wrote is someone else's.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from generator.diagnostics import InputError


def checkout_root() -> Path:
    """The folder holding gen-iac's own source tree (its repository root when it runs from
    a checkout, site-packages when installed): never an output folder."""
    return Path(__file__).resolve().parent.parent


def example_snapshot() -> Path:
    package = Path(__file__).resolve().parent
    for candidate in (package / "examples" / "snapshot", package.parent / "examples" / "snapshot"):
        if candidate.is_dir():
            return candidate
    raise InputError("the example snapshot is missing from this installation; pass --input")


def unsafe_place(
    out: Path,
    *,
    marker: str,
    protected: dict[Path, str] | None = None,
    inside: Iterable[Path] = (),
    what: str = "--out",
    example: str = "out",
) -> str | None:
    """Why `out` must not be written, as one line, or None when it may. `protected`: more
    folders `out` must not be, each with what it is ("gen-iac's own checkout")."""
    try:
        resolved = out.resolve()
        guarded = {Path(resolved.anchor): "the file-system root"}
        guarded.setdefault(Path.home().resolve(), "the home folder")
        for folder, label in (protected or {}).items():
            guarded.setdefault(folder.resolve(), label)
        readers = [p.resolve() for p in inside]
    except (OSError, RuntimeError, ValueError) as exc:
        return f"{what} {out}: cannot resolve the path ({exc})"
    if resolved in guarded:
        return (
            f"{what} {out} is {guarded[resolved]}, which gen-iac must not fill; name a new "
            f"folder, e.g. {what} {example}"
        )
    for folder in readers:
        if resolved == folder or folder in resolved.parents:
            return f"{what} {out} is inside {folder}, which this command reads; name another folder"
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            return f"{what} {out} exists and is not a folder; choose another path"
        try:
            filled = any(out.iterdir())
        except OSError as exc:
            return f"{what} {out}: cannot read the folder ({exc.strerror or exc})"
        if filled and not (out / marker).is_file():
            return (
                f"{what} {out} is a non-empty folder without {marker}, so gen-iac never wrote "
                "it; choose an empty or new folder"
            )
    return None
