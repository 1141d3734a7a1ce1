"""Reading a person's `.tfvars` file with a real HCL parser, to change it by splicing text.

`rollout.auto.tfvars` and `inputs.auto.tfvars` belong to a person after the first run, so a
re-run must keep every byte they wrote and still add or drop entries. The file is parsed by
python-hcl2 (lark's LALR parser: linear time, positions on every node); the top-level
attributes and the elements of their object values are located by those positions, and the
callers splice text there. A file the parser refuses stops the run (`UnreadableFile`, exit 2,
`file:line:column: what`): merging into text that is not HCL could only guess.

Also `InputsMerge`: the merge of inputs.auto.tfvars (a commented placeholder per new entry).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from generator.files import UnreadableFile
from generator.render import hcl

BOM = "\ufeff"
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_LINE_REST = re.compile(r"[ \t\r]*(?:(?:#|//)[^\n]*)?(?:\n|\Z)")


@dataclass(frozen=True)
class Element:
    """One `key = value` of an object, by position in the text."""

    key: str  # decoded
    start: int  # the element: key start
    end: int  # value end
    key_end: int
    eq: int  # position of the `=` or `:`
    after: int  # end of a comma that follows on the same line, else `end`
    names: frozenset[str] | None  # keys of the value when it is an object literal


@dataclass(frozen=True)
class ObjectValue:
    """An object literal: its braces and elements."""

    open: int  # position of `{`
    close: int  # position of `}`
    elements: tuple[Element, ...]


@dataclass(frozen=True)
class Attribute:
    name: str
    start: int  # the attribute's name
    line: int  # 1-based
    value: ObjectValue | None  # None: not an object literal (kept as written)


class Document:
    """A decoded, parsed tfvars file: its text, newline style, BOM and attributes."""

    def __init__(self, disk: bytes) -> None:
        try:
            text = disk.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = disk[: exc.start].decode("utf-8", errors="replace")
            line = before.count("\n") + 1
            raise UnreadableFile(line, len(before) - before.rfind("\n"), "not UTF-8 text") from None
        self.bom = text.startswith(BOM)
        self.text = text[1:] if self.bom else text
        self.newline = "\r\n" if "\r\n" in self.text else "\n"
        self._lines = [m.start() for m in re.finditer("\n", self.text)]
        tree = _parse(self.text, self.position)
        self.attributes: list[Attribute] = []
        body = tree.children[0]
        for child in body.children:
            if getattr(child, "data", None) == "attribute":
                self.attributes.append(self._attribute(child))

    def position(self, offset: int) -> tuple[int, int]:
        """(line, column), both from 1, of a character offset."""
        line = bisect.bisect_left(self._lines, offset)
        start = self._lines[line - 1] + 1 if line else 0
        return line + 1, offset - start + 1

    def line_of(self, offset: int) -> int:
        return self.position(offset)[0]

    def line_start(self, offset: int) -> int:
        return self.text.rfind("\n", 0, offset) + 1

    def line_end(self, offset: int) -> int:
        """Offset of the `\\n` ending the line of `offset` (or the text's end)."""
        found = self.text.find("\n", offset)
        return len(self.text) if found < 0 else found

    def starts_line(self, offset: int) -> bool:
        """Only blanks precede on the line (looked at back to the first other character, so
        many entries on one long line stay linear)."""
        text = self.text
        while offset > 0 and text[offset - 1] in " \t\r":
            offset -= 1
        return offset == 0 or text[offset - 1] == "\n"

    def ends_line(self, offset: int) -> bool:
        """Only blanks or a `#`/`//` comment follow on the line."""
        return _LINE_REST.match(self.text, offset) is not None

    def indent(self, offset: int) -> str:
        start = self.line_start(offset)
        line = self.text[start:offset]
        return line[: len(line) - len(line.lstrip(" \t"))]

    def fail(self, offset: int, what: str) -> UnreadableFile:
        line, column = self.position(offset)
        return UnreadableFile(line, column, what)

    def attribute(self, name: str) -> Attribute | None:
        """The attribute `name`; set twice is an error Terraform makes too."""
        found = [a for a in self.attributes if a.name == name]
        if len(found) > 1:
            raise self.fail(
                found[1].start,
                f"{name} is set twice (also on line {found[0].line}); Terraform refuses that",
            )
        return found[0] if found else None

    def encode(self, text: str) -> bytes:
        return ((BOM if self.bom else "") + text).encode("utf-8")

    def _attribute(self, node: Any) -> Attribute:
        name_node = node.children[0]
        name = str(name_node.children[0])
        start = name_node.meta.start_pos
        return Attribute(name, start, self.line_of(start), self._object(node.children[-1]))

    def _object(self, expression: Any) -> ObjectValue | None:
        node = _unwrap(expression)
        if getattr(node, "data", None) != "object":
            return None
        children = node.children
        elements: list[Element] = []
        seen: dict[str, int] = {}
        for index, child in enumerate(children):
            if getattr(child, "data", None) != "object_elem":
                continue
            key_node, separator, value = child.children
            key = self._key(key_node)
            if key in seen:
                raise self.fail(
                    key_node.meta.start_pos,
                    f"{key!r} appears twice in this map (also on line {seen[key]})",
                )
            seen[key] = self.line_of(key_node.meta.start_pos)
            after = child.meta.end_pos
            for follower in children[index + 1 :]:
                if _is_token(follower, "COMMA"):
                    if self.line_of(follower.start_pos) == self.line_of(after):
                        after = follower.end_pos
                    break
                if getattr(follower, "data", None) != "new_line_or_comment":
                    break
            inner = self._object(value)
            elements.append(
                Element(
                    key,
                    key_node.meta.start_pos,
                    child.meta.end_pos,
                    key_node.meta.end_pos,
                    separator.end_pos - 1,
                    after,
                    frozenset(e.key for e in inner.elements) if inner else None,
                )
            )
        return ObjectValue(children[0].start_pos, children[-1].start_pos, tuple(elements))

    def _key(self, node: Any) -> str:
        inner = _unwrap(node.children[0]) if node.children else node
        if getattr(inner, "data", None) in ("identifier", "keyword"):
            return str(inner.children[0])
        if getattr(inner, "data", None) == "string":
            raw = self.text[inner.meta.start_pos + 1 : inner.meta.end_pos - 1]
            decoded = _decode_string(raw)
            if decoded is not None:
                return decoded
        raise self.fail(
            node.meta.start_pos, "a key here is not a plain name or string; write the name as is"
        )


def _parse(text: str, position: Any) -> Any:
    from hcl2 import parses_to_tree
    from lark.exceptions import LarkError, UnexpectedInput

    try:
        return parses_to_tree(text)
    except UnexpectedInput as exc:
        line, column = exc.line, exc.column
        if not isinstance(line, int) or line < 1:  # at the end of the text
            line, column = position(len(text))
        found = getattr(exc, "token", None) or getattr(exc, "char", None)
        what = f"not valid HCL: unexpected {str(found)[:40]!r}" if found else "not valid HCL"
        raise UnreadableFile(line, column, what) from None
    except (LarkError, RecursionError) as exc:
        line, column = position(len(text))
        raise UnreadableFile(line, column, f"not valid HCL ({str(exc)[:80]})") from None


def _unwrap(node: Any) -> Any:
    """The node an `expr_term` (or a key) holds when it holds exactly one."""
    while (
        getattr(node, "data", None) in ("expr_term", "object_elem_key") and len(node.children) == 1
    ):
        node = node.children[0]
    return node


def _is_token(node: Any, kind: str) -> bool:
    return getattr(node, "type", None) == kind


def _decode_string(inner: str) -> str | None:
    """The value of a quoted HCL string's inside; None when it is a template."""
    if "${" in inner.replace("$${", "") or "%{" in inner.replace("%%{", ""):
        return None
    out: list[str] = []
    i = 0
    while i < len(inner):
        c = inner[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = inner[i + 1 : i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        width = {"u": 4, "U": 8}.get(nxt, 0)
        digits = inner[i + 2 : i + 2 + width]
        if not width or len(digits) != width or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
            return None
        code = int(digits, 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        out.append(chr(code))
        i += 2 + width
    return "".join(out).replace("$${", "${").replace("%%{", "%{")


@dataclass(frozen=True)
class InputsMerge:
    """RenderedFile.merge for inputs.auto.tfvars: the person's file as it is, plus a
    commented placeholder for every entry it does not have yet (in its map, or as a
    commented placeholder line). The file is parsed first: one that is not HCL stops the
    run rather than being appended to."""

    placeholders: Mapping[tuple[str, str], str]  # (input, key) -> `"key" = "placeholder"`

    def missing(self, disk: bytes) -> tuple[tuple[str, str], ...]:
        doc = Document(disk)
        have: dict[str, set[str]] = {}
        for name in {name for name, _ in self.placeholders}:
            found = doc.attribute(name)
            have[name] = {e.key for e in found.value.elements} if found and found.value else set()
        comments = _comments(doc.text)
        return tuple(
            sorted(
                (name, key)
                for (name, key) in self.placeholders
                if key not in have[name] and hcl.string(key) not in comments
            )
        )

    def report(self, path: str, disk: bytes) -> list[str]:
        """What merging into the file on disk does, one line each (empty: nothing)."""
        return [
            f"{path}: added a placeholder for {name} of {key}: fill it in before the next plan"
            for name, key in self.missing(disk)
        ]

    def __call__(self, disk: bytes) -> bytes:
        missing = self.missing(disk)
        if not missing:
            return disk
        newline = b"\r\n" if b"\r\n" in disk else b"\n"
        lines = [
            "",
            "# Added by a re-run of gen-iac: new deployments need these values. Move each",
            "# line into its map above, uncomment it and put the value there.",
        ]
        lines += [f"# {name}: {self.placeholders[(name, key)]}" for name, key in missing]
        added = newline.join(line.encode("utf-8") for line in lines) + newline
        return disk + (b"" if not disk or disk.endswith(b"\n") else newline) + added


def _comments(text: str) -> str:
    """The text of the lines that are comments (where commented placeholders sit)."""
    return "\n".join(line for line in text.splitlines() if line.lstrip().startswith(("#", "//")))
