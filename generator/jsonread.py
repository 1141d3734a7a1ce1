"""The one strict JSON reader for what gen-iac reads from a snapshot, keys.json, a person's
files and bundles.json: every such read goes through `loads`.

Strict where JSON readers disagree, so that what gen-iac reads is what Azure, Terraform or a
reviewer reads:
- a duplicate key is an error naming the key and `line:column` (last-one-wins would let
  `"publicNetworkAccess": "Disabled"` then `"Enabled"` pass a review as private);
- a UTF-8 byte order mark is accepted (editors on Windows write one); other bytes that are
  not UTF-8 are an error with their position;
- nesting deeper than `max_depth` is an error (no reader recursion reaches Python's limit);
- integers of more digits than Python converts (4300) become `HugeNumber`, a value that is
  flagged where it is used (per service), never a traceback;
- NaN and Infinity pass as floats: like 1e999, they are flagged where they are used.
Errors are `JsonError`, an InputError (exit 2) whose message is `file:line:column: what`.
The common case runs on the C decoder; positions are only searched for when a check failed.
"""

from __future__ import annotations

import contextlib
import json
import json.decoder
import json.scanner
from pathlib import Path
from typing import Any

from generator.diagnostics import InputError

MAX_DEPTH = 64  # real payloads stay under 10
MAX_DIGITS = 4000  # below Python's int <-> str conversion limit (4300)
BOM = "\ufeff"


class JsonError(InputError):
    """JSON gen-iac refuses: one line, `file:line:column: what`."""

    def __init__(self, file: str, line: int, column: int, what: str) -> None:
        super().__init__(f"{file}:{line}:{column}: {what}")
        self.file, self.line, self.column, self.what = file, line, column, what


class HugeNumber(float):
    """An integer literal too long to convert: its value is unusable, its size is known."""

    digits: int

    def __new__(cls, text: str) -> HugeNumber:
        value = super().__new__(cls, float("-inf" if text.startswith("-") else "inf"))
        value.digits = len(text.lstrip("-"))
        return value

    def __repr__(self) -> str:
        return f"<a number of {self.digits} digits>"


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return result


def _int(text: str) -> int | HugeNumber:
    return HugeNumber(text) if len(text) > MAX_DIGITS else int(text)


def load(path: Path, file: str | None = None, *, max_depth: int = MAX_DEPTH) -> Any:
    """Read and parse a file; OSError propagates (the caller says what the file is for)."""
    return loads(path.read_bytes(), file or str(path), max_depth=max_depth)


def loads(data: bytes | str, file: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The value of a JSON document, strictly (see the module); JsonError otherwise."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = data[: exc.start].decode("utf-8", errors="replace")
            line, column = _position(before, len(before))
            raise JsonError(file, line, column, "not UTF-8 text") from None
    else:
        text = data
    if text.startswith(BOM):
        text = text[1:]
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_int=_int)
    except json.JSONDecodeError as exc:
        raise JsonError(file, exc.lineno, exc.colno, f"invalid JSON: {exc.msg}") from None
    except _Duplicate:
        line, column, key = _find_duplicate(text)
        raise JsonError(
            file,
            line,
            column,
            f"duplicate key {key[:80]!r}: JSON readers disagree on which value counts, so "
            "gen-iac takes neither",
        ) from None
    except RecursionError:
        value = None  # found below, with its position
        _check_depth_text(text, file, max_depth)
    if _too_deep(value, max_depth):
        _check_depth_text(text, file, max_depth)
    return value


def _too_deep(value: Any, max_depth: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return True
        children = item.values() if type(item) is dict else item
        stack.extend((c, depth + 1) for c in children if type(c) in (dict, list))
    return False


def _check_depth_text(text: str, file: str, max_depth: int) -> None:
    """JsonError at the first bracket nested deeper than `max_depth` (strings skipped)."""
    depth = 0
    in_string = escaped = False
    for offset, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                line, column = _position(text, offset)
                raise JsonError(file, line, column, f"nested deeper than {max_depth} levels")
        elif char in "]}":
            depth -= 1
    line, column = _position(text, len(text))
    raise JsonError(file, line, column, f"nested deeper than {max_depth} levels")


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _find_duplicate(text: str) -> tuple[int, int, str]:
    """(line, column, key) of the first repeated key, by the pure-Python scanner with an
    object reader that records where each key starts (run only after a duplicate was seen)."""
    ws = json.decoder.WHITESPACE.match  # type: ignore[attr-defined]
    found: list[tuple[int, str]] = []

    def parse_object(state: tuple[str, int], strict: bool, scan: Any, *_: Any) -> Any:
        s, end = state
        keys: set[str] = set()
        end = ws(s, end).end()
        if s[end : end + 1] == "}":
            return {}, end + 1
        while True:
            start = end
            key, end = json.decoder.scanstring(s, end + 1, strict)  # type: ignore[attr-defined]
            if key in keys and not found:
                found.append((start, key))
            keys.add(key)
            end = ws(s, ws(s, end).end() + 1).end()  # past the ':'
            _, end = scan(s, end)
            end = ws(s, end).end()
            if s[end] == "}":
                return {}, end + 1
            end = ws(s, end + 1).end()  # past the ','

    decoder = json.JSONDecoder(parse_int=_int)
    decoder.parse_object = parse_object  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    with contextlib.suppress(ValueError, RecursionError, IndexError):
        decoder.decode(text)
    offset, key = found[0] if found else (0, "?")
    line, column = _position(text, offset)
    return line, column, key
