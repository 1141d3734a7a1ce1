"""A snapshot is untrusted input: checks made once, where it is read, so that what reaches the
plan and the renderers is valid text, finite numbers, a bounded depth, and asset paths that
stay inside the snapshot's `assets/` folder.

- Values: a lone surrogate (e.g. from a `"\\ud800"` escape), NaN, +-Infinity (`1e999` too) and
  integers beyond 2**53 make the service that holds them a per-service error; nesting deeper
  than MAX_DEPTH makes the whole file unusable (one line, exit 2).
- Asset paths: `assets/<service>/<asset id>` (or `assets/<endpoint>/<version>/<asset id>`) is
  read only when every part is one plain path component and every step is a real folder or
  regular file (lstat, no symbolic link followed); anything else is a per-service error.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from generator.diagnostics import Diagnostic, InputError, Level
from generator.jsonread import HugeNumber

MAX_DEPTH = 64  # JSON nesting; real payloads stay under 10
MAX_INT = 2**53  # beyond this JSON numbers stop being exact in most readers
MAX_COMPONENT_BYTES = 255


def valid_text(text: str) -> bool:
    """Encodable as UTF-8 (no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(text: str) -> str:
    """A string as it may appear in a message: invalid text escaped (`\\ud800`)."""
    return text if valid_text(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def check_depth(data: Any, file: str) -> None:
    """Raise InputError when the document nests deeper than MAX_DEPTH (walked without
    recursion, so the check itself cannot overflow the stack)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            where = _deep_path(data)
            shown_where = where if len(where) <= 80 else where[:77] + "..."
            raise InputError(
                f"{file}: field {shown_where or '(top)'!r}: nested deeper than {MAX_DEPTH} "
                "levels; a snapshot is never that deep"
            )
        items = value.values() if type(value) is dict else value
        stack.extend((item, depth + 1) for item in items if type(item) in (dict, list))


def _deep_path(data: Any) -> str:
    """The path of the first value nested deeper than MAX_DEPTH (for the message only)."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, where = stack.pop()
        if depth > MAX_DEPTH:
            return where
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(item, (dict, list)):
                part = (
                    f"[{key}]"
                    if isinstance(key, int)
                    else f".{shown(key)}"
                    if where
                    else shown(key)
                )
                stack.append((item, depth + 1, f"{where}{part}"))
    return ""


def _clean(raw: Any) -> bool:
    """The quick pass of bad_values: True when nothing is wrong (most payloads)."""
    stack = [raw]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str:
            if not value.isascii() and not valid_text(value):
                return False
        elif kind is dict:
            for key, item in value.items():
                if type(key) is not str or not (key.isascii() or valid_text(key)):
                    return False
                stack.append(item)
        elif kind is list:
            stack.extend(value)
        elif kind is float:
            if not math.isfinite(value):
                return False
        elif kind is HugeNumber or (kind is int and not -MAX_INT <= value <= MAX_INT):
            return False
    return True


def bad_values(raw: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(field path, what is wrong) for every value no generated file can hold."""
    if _clean(raw):
        return
    stack: list[tuple[Any, str]] = [(raw, prefix)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            if not valid_text(value):
                yield where, f"invalid text (a lone surrogate) in {value[:60]!r}"
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, HugeNumber):
            yield where, f"a number with {value.digits} digits is out of range"
        elif isinstance(value, float):
            if not math.isfinite(value):
                yield where, f"{value} is not a finite number"
        elif isinstance(value, int):
            if abs(value) > MAX_INT:
                yield where, f"a number with {digits(value)} digits is out of range"
        elif isinstance(value, dict):
            for key, item in value.items():
                key = str(key)
                path = f"{where}.{shown(key)}" if where else shown(key)
                if not valid_text(key):
                    yield path, "invalid text (a lone surrogate) in a key"
                stack.append((item, path))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value))


def digits(value: int) -> int:
    """How many decimal digits an integer has, without str() (refused past 4300 digits)."""
    count = max(1, int(abs(value).bit_length() * 0.30102999566398))
    return count + int(abs(value) >= 10**count)


def safe_component(name: str) -> bool:
    """One plain path component: not empty, '.', '..' or hidden, no separator or NUL, valid
    text, at most 255 bytes."""
    return (
        bool(name)
        and valid_text(name)
        and not name.startswith(".")
        and not any(c in name for c in "/\\\x00")
        and len(name.encode("utf-8")) <= MAX_COMPONENT_BYTES
    )


def confine_assets(
    root: Path,
    folder: tuple[str, ...],
    asset_ids: list[str],
    service: str,
    field: str,
    file: str,
) -> tuple[Path | None, list[Diagnostic]]:
    """The asset folder `root/<folder...>` when it is safe to read `asset_ids` from it.

    Returns (None, []) when the folder does not exist (the code is missing: a warning
    downstream), (None, [error]) when a name or a file is unsafe, else (folder, [])."""

    def refuse(message: str, where: str = field) -> tuple[Path | None, list[Diagnostic]]:
        return None, [Diagnostic(service, Level.ERROR, "unsafe-asset", message, where, file)]

    for part in folder:
        if not safe_component(part):
            return refuse(
                f"{shown(part)[:80]!r} cannot name a folder under the snapshot's assets/ "
                "(absolute, '..', a separator, NUL, hidden or over 255 bytes); its assets are "
                "not read"
            )
    ids = [i for i in asset_ids if i]
    for number, asset_id in enumerate(asset_ids):
        if asset_id and not safe_component(asset_id):
            return refuse(
                f"asset id {shown(asset_id)[:80]!r} is not a plain file name (absolute, '..', "
                "a separator, NUL, hidden or over 255 bytes); its assets are not read",
                f"{_prefix(field)}environmentImageRequest.assets[{number}].id",
            )
    directory = root
    for part in folder:
        directory = directory / part
        try:
            mode = os.lstat(directory).st_mode
        except FileNotFoundError:
            return None, []
        except OSError as exc:
            return refuse(f"assets folder {_rel(root, directory)} cannot be read: {exc.strerror}")
        if stat.S_ISLNK(mode):
            return refuse(
                f"assets folder {_rel(root, directory)} is a symbolic link; a snapshot's assets "
                "are plain files and folders, so none is read"
            )
        if not stat.S_ISDIR(mode):
            return refuse(f"{_rel(root, directory)} is not a folder")
    base = os.path.realpath(root)
    for asset_id in ids:
        path = directory / asset_id
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue  # missing code: a warning downstream
        except OSError as exc:
            return refuse(f"asset {_rel(root, path)} cannot be read: {exc.strerror}")
        mode = info.st_mode
        if stat.S_ISREG(mode) and info.st_nlink > 1:
            return refuse(
                f"asset {_rel(root, path)} is a hard link (a file that may live outside the "
                "snapshot too); only plain copies are read"
            )
        if stat.S_ISLNK(mode) or not stat.S_ISREG(mode):
            kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
            return refuse(
                f"asset {_rel(root, path)} is {kind}; only regular files inside the snapshot's "
                "assets/ are read"
            )
        if os.path.commonpath([base, os.path.realpath(path)]) != base:
            return refuse(f"asset {_rel(root, path)} resolves outside the snapshot's assets/")
    return directory, []


def _prefix(field: str) -> str:
    return f"{field.rsplit('.', 1)[0]}." if field.startswith("versions.") else ""


def _rel(root: Path, path: Path) -> str:
    return "assets/" + path.relative_to(root).as_posix()
