"""The one HCL encoder: every value reaches a Terraform file through here.

Output is what `terraform fmt` would write (two-space indents, `=` aligned across runs of
single-line attributes, multi-line values breaking a run), so files need no formatter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = {"true", "false", "null", "for", "in", "if", "endfor", "endif", "else"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")
# A lone surrogate is not text: no UTF-8 file can hold it, and Terraform refuses a \uD800
# escape. The plan turns such input into a per-service diagnostic; reaching here is a bug.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class InvalidText(ValueError):
    """A string that no HCL file can hold (a lone surrogate)."""


@dataclass(frozen=True)
class Raw:
    """An HCL expression written as is (a reference such as `local.workspace_id`)."""

    text: str


@lru_cache(maxsize=1 << 16)  # bodies repeat the same few strings many times
def escape(text: str) -> str:
    """The inside of an HCL quoted template that evaluates to exactly `text`."""
    if _SURROGATE.search(text):
        raise InvalidText(
            f"not valid Unicode text (a lone surrogate): {text.encode('unicode_escape')[:80]!r}"
        )
    out = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("${", "$${")
        .replace("%{", "%%{")
    )
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04X}", out)


def string(text: str) -> str:
    return f'"{escape(text)}"'


@lru_cache(maxsize=1 << 16)
def key(name: str) -> str:
    """An object key: bare when it is a plain identifier, quoted otherwise.

    hclwrite aligns `=` by counting grapheme clusters, with the Unicode tables of its own
    release. So that every key has an unambiguous width, characters that can join a
    cluster (marks, joiners, emoji, Hangul jamo, anything outside the BMP) are written as
    \\u escapes; the key's value is the same, and its width is then its length."""
    if _IDENT.fullmatch(name) and name not in _RESERVED:
        return name
    return '"' + "".join(c if _single_cluster(c) else _u_escape(c) for c in escape(name)) + '"'


def _single_cluster(char: str) -> bool:
    if char.isascii():
        return True
    code = ord(char)
    if (
        code > 0xFFFF
        or 0x1100 <= code <= 0x11FF
        or 0xA960 <= code <= 0xA97F
        or 0xD7B0 <= code <= 0xD7FF
    ):
        return False
    # U+0D4E is a prepend; Thai and Lao SARA AM are letters that extend the cluster before them.
    return unicodedata.category(char)[0] in "LNPS" and code not in (0x0D4E, 0x0E33, 0x0EB3)


def _u_escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


def encode(value: Any, level: int = 0, expr: Callable[[Any], str] | None = None) -> str:
    """`value` as HCL, its first line at indent `level` (continuation lines indented to match).

    `expr` renders values that are not JSON (plan expressions); Raw passes through.
    """
    if isinstance(value, str):
        return string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        if not value:
            return "{}"
        # Sorted keys: the same body always reads the same, whatever order built it.
        rows = [(key(str(k)), encode(value[k], level + 1, expr)) for k in sorted(value)]
        return "{\n" + attributes(rows, level + 1) + "\n" + "  " * level + "}"
    if isinstance(value, list):
        items = [encode(v, level + 1, expr) for v in value]
        if not any("\n" in i for i in items):
            return "[" + ", ".join(items) + "]"
        pad = "  " * (level + 1)
        return "[\n" + "".join(f"{pad}{i},\n" for i in items) + "  " * level + "]"
    if expr is not None:
        return expr(value)
    raise TypeError(f"cannot encode {type(value).__name__} as HCL")


def inline(value: dict[str, Any], expr: Callable[[Any], str] | None = None) -> str:
    """A flat object on one line, `{ a = 1, b = 2 }` (sorted keys): a change to one value is
    a one-line diff. Values must encode on one line."""
    if not value:
        return "{}"
    return (
        "{ "
        + ", ".join(f"{key(str(k))} = {encode(value[k], 0, expr)}" for k in sorted(value))
        + " }"
    )


def attributes(rows: list[tuple[str, str]], level: int) -> str:
    """`name = value` lines at `level` (no final newline), aligned like hclwrite: runs of
    single-line values share one column for `=`; a multi-line value ends the run."""
    pad = "  " * level
    out: list[str] = []
    run: list[tuple[str, str]] = []

    def flush() -> None:
        if run:
            width = max(len(k) for k, _ in run)
            out.extend(f"{pad}{k.ljust(width)} = {v}" for k, v in run)
            run.clear()

    for name, text in rows:
        if "\n" in text:
            flush()
            out.append(f"{pad}{name} = {text}")
        else:
            run.append((name, text))
    flush()
    return "\n".join(out)


def comment(text: str) -> str:
    """Text safe inside a `#` comment: one line, no control characters."""
    return " ".join(_SURROGATE.sub(" ", _CONTROL.sub(" ", text)).split())
