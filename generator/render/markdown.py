"""The one way a value reaches MIGRATION.md or SUMMARY.md: as literal text that no Markdown
reader (GitHub, markdown-it) turns into HTML, a link, a heading, a list, a fence or a table cell.

- `code(value)`: a code span whose backtick fence is longer than any run of backticks in the
  value (names, paths, URLs, sizes). Literal, and it reads well in a diff.
- `text(value)`: prose (diagnostic messages): plain words stay plain; a word holding a
  character that Markdown would act on (`*`, `_`, `<`, `[`, `` ` ``, `\\`, `&`, `~`, `|`) becomes
  a code span, so the raw Markdown needs no backslash escapes.
- `cell(...)`: either of them inside a table row, where `|` must also be escaped.
- `fenced(lines, info)`: a fenced block with a fence longer than any backtick run inside.

Every value is made one line first: a newline could start a heading, list or fence. Templates
get these as filters, and `finalize` passes any value printed without one through `text`, so
no snapshot string reaches a report raw. What these return is `Md`, already safe.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Characters that start inline markup (emphasis, code, HTML, links, entities, strikethrough,
# escapes) or end a table cell.
_ACTIVE = re.compile(r"[\\`*_<\[\]&~|]")
# A first word that could open a block (heading, list, quote, break) if it began a line.
_BLOCK_START = re.compile(r"^(?:#+|[-+*=_]+|\d+[.)]|>.*)$")
_TICKED = re.compile(r"`([^`]+)`")
_BACKTICKS = re.compile(r"`+")


class Md(str):
    """Markdown that is safe to paste as is (built by this module from escaped values)."""

    __slots__ = ()


def one_line(value: object) -> str:
    return " ".join(str(value).split())


def _span(value: str, table: bool) -> str:
    longest = max((len(m) for m in _BACKTICKS.findall(value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    span = f"{fence}{pad}{value}{pad}{fence}"
    return span.replace("|", "\\|") if table else span


def code(value: object, table: bool = False) -> Md:
    """`value` as a code span (one line); empty stays empty."""
    if isinstance(value, Md):
        return value
    return _code(str(value), table)


@lru_cache(maxsize=65536)
def _code(value: str, table: bool) -> Md:
    line = one_line(value)
    return Md(_span(line, table) if line else "")


def _word(word: str, table: bool) -> str:
    if not _ACTIVE.search(word):
        return word
    head = 0
    while head < len(word) and word[head] == "(" and word.count("(") > word.count(")"):
        head += 1
    end = len(word)
    while end > head and (
        word[end - 1] in ".,;:" or (word[end - 1] == ")" and word.count(")") > word.count("("))
    ):
        end -= 1
    core = word[head:end]
    if not core:
        return _span(word, table)
    return word[:head] + _span(core, table) + word[end:]


def _words(segment: str, table: bool) -> str:
    """Plain words stay; a word Markdown would act on becomes a code span (`<a b>` is one)."""
    tokens = segment.split(" ")
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if "<" in token and ">" not in token:
            for j in range(i + 1, min(i + 5, len(tokens))):
                if "<" in tokens[j]:
                    break
                if ">" in tokens[j]:
                    token = " ".join(tokens[i : j + 1])
                    i = j
                    break
        out.append(_word(token, table) if token else token)
        i += 1
    return " ".join(out)


def text(value: object, table: bool = False) -> Md:
    """Prose as one line. What the prose already marks as code (`...`) and each word Markdown
    would act on become code spans with a fitting fence; the rest stays as written."""
    if isinstance(value, Md):
        return value
    return _text(str(value), table)


@lru_cache(maxsize=65536)
def _text(value: str, table: bool) -> Md:
    line = one_line(value)
    parts: list[str] = []
    pos = 0
    for m in _TICKED.finditer(line):
        parts.append(_words(line[pos : m.start()], table))
        parts.append(_span(m.group(1), table))
        pos = m.end()
    parts.append(_words(line[pos:], table))
    result = "".join(parts)
    first, sep, rest = result.partition(" ")
    if _BLOCK_START.match(first):
        result = _span(first, table) + sep + rest
    return Md(result)


def cell(value: object) -> Md:
    """Prose inside a table cell."""
    return text(value, table=True)


def code_cell(value: object) -> Md:
    """A name inside a table cell."""
    return code(value, table=True)


def fenced(lines: list[str], info: str = "") -> Md:
    """A fenced code block; each line is made one line, the fence outlasts any backtick run."""
    body = [one_line(line) for line in lines]
    longest = max((len(m) for line in body for m in _BACKTICKS.findall(line)), default=0)
    fence = "`" * max(3, longest + 1)
    return Md("\n".join([fence + info, *body, fence]))


def finalize(value: object) -> object:
    """Jinja `finalize`: a value printed without a filter is prose, escaped as in a table cell
    (a `|` is escaped too), so it is safe wherever the template put it."""
    if value is None:
        return ""
    if isinstance(value, Md | int):
        return value
    return text(value, table=True)
