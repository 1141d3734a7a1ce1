"""The one Bicep encoder: every value reaches a Bicep file through here.

Output is what `bicep format` would write: two-space indents, one property or item per line
in multi-line objects and arrays, no commas, single-quoted strings, so files need no
formatter.

Strings: `\\` -> `\\\\`, `'` -> `\\'`, `${` -> `\\u{24}{` (a literal `$` before `{` never starts
an interpolation; Bicep also reads `\\${`, but pycep-parser's string pattern takes `${` for an
interpolation and, with a quote after it, runs on into the next string), newline, CR and tab ->
`\\n`, `\\r`, `\\t`, other control characters (C0, DEL, C1, U+2028/U+2029) -> `\\u{XX}`. A
backslash that ends a string is written `\\u{5C}`: Bicep reads `\\\\'` correctly, but pycep-parser
lexes it as an escaped quote and runs on into the next string.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Literal keywords cannot be bare property names; everything else identifier-shaped can.
_RESERVED = {"true", "false", "null"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_QUOTE_RUN = re.compile(r"'{3,}")


@dataclass(frozen=True)
class Raw:
    """A Bicep expression written as is (a reference such as `workspace.id`)."""

    text: str


@lru_cache(maxsize=1 << 16)  # bodies repeat the same few strings many times
def escape(text: str) -> str:
    """The inside of a Bicep single-quoted string that evaluates to exactly `text`.

    (Without the final-backslash rule; `string` and `template` apply it.)
    """
    out = (
        text.replace("\\", "\\\\")
        .replace("'", "\\'")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
        .replace("${", "\\u{24}{")
    )
    return _CONTROL.sub(lambda m: f"\\u{{{ord(m.group()):X}}}", out)


def _close(inner: str) -> str:
    # An escaped backslash right before the closing quote: use the code point form instead.
    if inner.endswith("\\\\"):
        return inner[:-2] + "\\u{5C}"
    return inner


def string(text: str) -> str:
    return "'" + _close(escape(text)) + "'"


def template(parts: Sequence[str | Raw]) -> str:
    """An interpolated string: literal parts escaped, Raw parts as `${...}`."""
    merged: list[str | Raw] = []
    for p in parts:  # adjacent literals escape as one: `a$` + `{b}` must not become `${`
        if isinstance(p, str) and merged and isinstance(merged[-1], str):
            merged[-1] += p
        else:
            merged.append(p)
    parts = merged
    inner = "".join(escape(p) if isinstance(p, str) else "${" + p.text + "}" for p in parts)
    if parts and isinstance(parts[-1], str):
        inner = _close(inner)
    return "'" + inner + "'"


@lru_cache(maxsize=1 << 16)
def key(name: str) -> str:
    """An object key: bare when it is a plain identifier, quoted otherwise."""
    return name if _IDENT.fullmatch(name) and name not in _RESERVED else string(name)


def identifier(name: str) -> bool:
    return bool(_IDENT.fullmatch(name)) and name not in _RESERVED


def access(base: str, name: str) -> str:
    """`base.name`, or `base['name']` when the name is not an identifier."""
    return f"{base}.{name}" if identifier(name) else f"{base}[{string(name)}]"


def inline(value: dict[str, Any], expr: Callable[[Any], str] | None = None) -> str:
    """A flat object on one line, `{ a: 1, b: 2 }` (sorted keys): a change to one value is a
    one-line diff. Values must encode on one line."""
    if not value:
        return "{}"
    return (
        "{ "
        + ", ".join(f"{key(str(k))}: {encode(value[k], 0, expr)}" for k in sorted(value))
        + " }"
    )


def encode(value: Any, level: int = 0, expr: Callable[[Any], str] | None = None) -> str:
    """`value` as Bicep, its first line at indent `level` (continuation lines indented to match).

    `expr` renders values that are not JSON (plan expressions); Raw passes through.
    """
    if isinstance(value, str):
        return string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot encode {value!r} as Bicep")
        # Bicep has no number literal with a fraction; json() reads one.
        return f"json({string(repr(value))})"
    if value is None:
        return "null"
    if isinstance(value, Raw):
        return value.text
    pad = "  " * (level + 1)
    end = "  " * level
    if isinstance(value, dict):
        if not value:
            return "{}"
        # Sorted keys: the same body always reads the same, whatever order built it.
        rows = [f"{pad}{key(str(k))}: {encode(value[k], level + 1, expr)}" for k in sorted(value)]
        return "{\n" + "\n".join(rows) + "\n" + end + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items = [f"{pad}{encode(v, level + 1, expr)}" for v in value]
        return "[\n" + "\n".join(items) + "\n" + end + "]"
    if expr is not None:
        return expr(value)
    raise TypeError(f"cannot encode {type(value).__name__} as Bicep")


def comment(text: str) -> str:
    """Text safe inside a `//` comment: one line, no control characters, no `'''`
    (pycep-parser counts those anywhere in a file as multi-line string delimiters)."""
    return _QUOTE_RUN.sub("''", " ".join(_CONTROL.sub(" ", text).split()))


def camel(*names: str) -> str:
    """lowerCamelCase from names split on anything that is not a letter or digit."""
    words = [w for n in names for w in re.split(r"[^A-Za-z0-9]+", n) if w]
    if not words:
        return "x"
    first, rest = words[0], words[1:]
    out = first[:1].lower() + first[1:] + "".join(w[:1].upper() + w[1:] for w in rest)
    return out if out[:1].isalpha() else "x" + out[:1].upper() + out[1:]
