"""README.md as a newcomer reads it on GitHub: the two commands first, a table of contents
whose links all land, user sections before the internals, nothing that closes a terminal."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def test_the_two_commands_come_first() -> None:
    lines = README.splitlines()
    assert lines[:3] == ["# gen-iac", "", "```sh"]
    assert lines[3].startswith("make run ") and lines[4].startswith("make test ")


def test_contents_link_every_section_in_order_and_internals_come_last() -> None:
    tokens = MarkdownIt("commonmark").parse(README)
    headings = [
        tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2"
    ]
    contents = README.split("## Contents", 1)[1].split("\n## ", 1)[0]
    links = re.findall(r"\]\(#([^)]+)\)", contents)
    assert links == [_slug(h) for h in headings if h != "Contents"]
    assert headings[-1] == "Development"


def test_make_test_states_its_time_and_needs_and_no_block_closes_a_terminal() -> None:
    intro = README.split("## Contents", 1)[0]
    assert "`make test` needs" in intro and re.search(r"\d+ min", intro)
    assert "set -e" not in README
