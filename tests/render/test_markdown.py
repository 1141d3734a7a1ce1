"""Snapshot strings stay text in MIGRATION.md and SUMMARY.md, as GitHub renders them
(markdown-it with HTML enabled and tables): no HTML, link, heading, list, quote, fence or
table cell comes from input, and names round-trip as code spans."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from generator.pipeline import Options, generate
from generator.render.markdown import code, fenced, text
from tests.conftest import EXAMPLE

HOSTILE = [
    "<script>alert(1)</script>",
    "a|b|c",
    "x\n# injected heading",
    "`tick` ```",
    "[x](javascript:alert(1))",
    "<img src=x onerror=alert(1)>",
    "*b* _e_ ~~s~~ __init__",
    "- item",
    "1. item",
    "> quote",
    "---",
    "&lt;b&gt; &#60;",
    "~~~",
    "\\",
    "<!-- c -->",
    "| --- |",
    "===",
    "#",
    "```\nfenced\n```",
    "line\n\n| a | b |\n|---|---|\n| c | d |",
]
# Values the generator must keep as they are for the snapshot to mean anything.
KEEP = {"computeType", "deploymentType", "versionType", "subscriptionId", "resourceGroup", "state"}
# Headings the templates write (a service heading is one code span).
HEADINGS = re.compile(
    r"^(Migration report: workspace .*|gen-iac: workspace .*|Totals|Cost per month.*|"
    r"Quota check.*|Before you apply|Both targets|Terraform: .*|Bicep: .*|Roles|Findings|"
    r"Errors \(the service is not migrated\)|Warnings \(a person must act or check\)|Notes|"
    r"Services|Not migrated.*|Skipped|Needs a person|Adopted.*)$"
)


def _mutate(value: Any, cycle: itertools.cycle[str], key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _mutate(v, cycle, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mutate(v, cycle) for v in value]
    if isinstance(value, str) and key not in KEEP:
        return f"{next(cycle)} {value[:8]}"
    return value


def _every_string_hostile(tmp: Path, keep: set[str]) -> Path:
    doc = json.loads((EXAMPLE / "snapshot.json").read_text(encoding="utf-8"))
    cycle = itertools.cycle(HOSTILE)
    snapshot = tmp / "snapshot"
    shutil.copytree(EXAMPLE, snapshot)
    services = [_mutate(s, cycle) if s["name"] not in keep else s for s in doc["services"]]
    doc["services"] = services
    # The workspace's own fields are checked whole (a hostile one stops the run, exit 2:
    # tests/sources/test_untrusted.py), so only the services carry hostile strings here.
    (snapshot / "snapshot.json").write_text(json.dumps(doc), encoding="utf-8")
    return snapshot


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable("table")


def _walk(tokens: list[Token]) -> list[Token]:
    out: list[Token] = []
    for t in tokens:
        out.append(t)
        if t.children:
            out.extend(_walk(t.children))
    return out


def assert_inert(markdown: str) -> list[Token]:
    """Checks that hold for any report, whatever the snapshot held."""
    tokens = _parser().parse(markdown)
    every = _walk(tokens)
    kinds = {t.type for t in every}
    assert not kinds & {"html_block", "html_inline", "link_open", "image"}, kinds
    assert not kinds & {"blockquote_open", "ordered_list_open", "hr", "lheading"}, kinds
    lines = markdown.split("\n")
    for i, t in enumerate(tokens):
        if t.type == "heading_open":
            assert t.map and lines[t.map[0]].startswith("#")
            inline = tokens[i + 1]
            children = inline.children or []
            assert HEADINGS.match(inline.content) or (
                len(children) == 1 and children[0].type == "code_inline"
            ), inline.content
        if t.type == "fence":
            # Only the templates' shell blocks.
            assert t.info == "sh" and t.map, t.content
        if t.type == "list_item_open":
            assert t.map
            start = lines[t.map[0]].lstrip()
            assert re.match(r"- (?![-+*] |\d+[.)] |#|>)", start), start
    # Tables: every row has the header's cells, in the parsed tokens and in the raw text.
    for i, t in enumerate(tokens):
        if t.type == "table_open":
            assert t.map
            rows = lines[t.map[0] : t.map[1]]
            width = len(re.findall(r"(?<!\\)\|", rows[0]))
            for row in rows:
                assert len(re.findall(r"(?<!\\)\|", row)) == width, row
            end = next(j for j in range(i, len(tokens)) if tokens[j].type == "table_close")
            head = sum(tokens[j].type == "th_open" for j in range(i, end))
            cells = [
                tokens[j].type for j in range(i, end) if tokens[j].type in ("tr_open", "td_open")
            ]
            per_row = [
                len(list(g))
                for k, g in itertools.groupby(cells, key=lambda c: c == "tr_open")
                if not k
            ]
            assert all(n == head for n in per_row), (head, per_row)
    return every


@pytest.mark.parametrize("keep", [set(), {"churn-aci", "fraud-aks", "ab-endpoint"}])
def test_hostile_snapshot_renders_inert(tmp_path: Path, keep: set[str]) -> None:
    snapshot = _every_string_hostile(tmp_path, keep)
    result = generate(Options(input=snapshot, out=tmp_path / "out", targets=("terraform", "bicep")))
    for name in ("MIGRATION.md", "SUMMARY.md"):
        markdown = (tmp_path / "out" / name).read_text(encoding="utf-8")
        every = assert_inert(markdown)
        assert "<script>" not in "".join(t.content for t in every if t.type == "text")
    # Names round-trip: every service name is the content of a code span, whole.
    spans = {
        t.content
        for t in _walk(_parser().parse((tmp_path / "out/MIGRATION.md").read_text(encoding="utf-8")))
        if t.type == "code_inline"
    }
    hostile_names = [o.service for o in result.plan.outcomes if o.service not in keep]
    assert hostile_names
    for name in hostile_names:
        assert " ".join(name.split()) in spans, name


def test_example_report_is_inert_and_has_no_backslash_escapes(tmp_path: Path) -> None:
    generate(Options(out=tmp_path, targets=("terraform", "bicep")))
    markdown = (tmp_path / "MIGRATION.md").read_text(encoding="utf-8")
    assert_inert(markdown)
    # Raw Markdown reads well in a diff: code spans, not `AZUREML\_ENTRY\_SCRIPT`.
    assert "\\_" not in markdown and "\\*" not in markdown and "\\[" not in markdown
    assert "`AZUREML_ENTRY_SCRIPT`" in markdown
    assert "`azureml/__init__.py`" in markdown


def test_code_span_fence_outlasts_the_value() -> None:
    assert code("x_y") == "`x_y`"
    assert code("a`b") == "``a`b``"
    assert code("``x") == "``` ``x ```"
    assert code("a\n# b") == "`a # b`"
    assert code("a|b", table=True) == "`a\\|b`"
    assert code("") == ""
    for value in ("`", "``", "a```b`", "` x `"):
        (span,) = [
            t for t in _walk(_parser().parse(f"p {code(value)} q")) if t.type == "code_inline"
        ]
        assert span.content == value.strip() or span.content == value


def test_prose_keeps_plain_words_and_spans_the_rest() -> None:
    assert text("set endpoint_name in an overrides file") == (
        "set `endpoint_name` in an overrides file"
    )
    assert text("plain words, no markup.") == "plain words, no markup."
    assert text("use `from x import y` here") == "use `from x import y` here"
    assert text("a <b> c") == "a `<b>` c"
    assert text("send 'Authorization: Bearer <key here>'") == (
        "send 'Authorization: Bearer `<key here>'`"
    )
    # A value that would open a block at the start of a line is a span.
    for value, first in (("# x", "`#`"), ("- a", "`-`"), ("1. b", "`1.`"), ("> q", "`>`")):
        assert text(value).split(" ")[0] == first
    assert text("0.1.0") == "0.1.0"


def test_fenced_block_outlasts_backticks() -> None:
    block = fenced(["echo ```", "two\nlines"], "sh")
    assert block.split("\n")[0] == "````sh" and block.split("\n")[-1] == "````"
    (fence,) = [t for t in _parser().parse(block) if t.type == "fence"]
    assert fence.content == "echo ```\ntwo lines\n"
