"""CUTOVER.md as GitHub renders it (markdown-it, HTML on): every migrated service named, no
HTML, link or structure from snapshot strings, examples that parse as shell and Python, and
the statuses of the last verify (read back from verify.json, untrusted)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from generator.pipeline import Options, generate
from generator.render.cutover import cutover_view, render_cutover
from generator.sources.verified import Verified, parse_verified, read_verified
from tests.render.test_markdown import _every_string_hostile

HEADINGS = re.compile(r"^(Cut-over: workspace `[^`]+`|Order)$")


def _tokens(markdown: str) -> list[Token]:
    def walk(tokens: list[Token]) -> list[Token]:
        out: list[Token] = []
        for t in tokens:
            out.append(t)
            out.extend(walk(t.children or []))
        return out

    return walk(MarkdownIt("commonmark", {"html": True}).enable("table").parse(markdown))


def assert_cutover_inert(markdown: str, migrated: list[str]) -> list[Token]:
    tokens = _tokens(markdown)
    kinds = {t.type for t in tokens}
    assert not kinds & {"html_block", "html_inline", "link_open", "image", "blockquote_open",
                        "hr", "lheading"}, kinds
    # The one ordered list is the template's Order (four steps, in two lists around a fence).
    assert sum(t.type == "ordered_list_open" for t in tokens) == 2
    headings = [
        tokens[i + 1] for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2"
    ]
    services = [h for h in headings if h.content != "Order"]
    # Each service heading is one code span holding the service name, whole.
    assert [h.children[0].content for h in services if h.children] == [
        " ".join(n.split()) for n in migrated
    ]
    assert all(len(h.children or []) == 1 and h.children[0].type == "code_inline"  # type: ignore[index]
               for h in services)
    # One before/after table per service, each of three rows of three cells.
    tables = [i for i, t in enumerate(tokens) if t.type == "table_open"]
    assert len(tables) == len(migrated)
    for start in tables:
        end = next(j for j in range(start, len(tokens)) if tokens[j].type == "table_close")
        assert sum(t.type == "tr_open" for t in tokens[start:end]) == 4
        assert sum(t.type in ("td_open", "th_open") for t in tokens[start:end]) == 12
    fences = [t for t in tokens if t.type == "fence"]
    assert [f.info for f in fences] == ["sh", "sh"] + ["sh", "python"] * len(migrated)
    for fence in fences:
        if fence.info == "python":
            compile(fence.content, "<cutover example>", "exec")
        else:
            check = subprocess.run(["bash", "-n"], input=fence.content, text=True,
                                   capture_output=True)
            assert check.returncode == 0, (fence.content, check.stderr)
    return tokens


def test_example_cutover_names_every_migrated_service(tmp_path: Path) -> None:
    result = generate(Options(out=tmp_path, targets=("terraform", "bicep")))
    markdown = (tmp_path / "CUTOVER.md").read_text(encoding="utf-8")
    migrated = [o.service for o in result.plan.outcomes if o.status == "migrated"]
    assert len(migrated) == 6

    assert_cutover_inert(markdown, migrated)
    # Reads well raw: no backslash escapes; the facts a client team needs.
    assert "\\_" not in markdown and "\\*" not in markdown
    churn = _section(markdown, "churn-aci")
    assert (
        "| URL | `http://f1d3a9c2-7b4e-4d1a-9c3e-2b5a6d7e8f90.westeurope.azurecontainer.io/score`"
        " | `https://churn-aci.westeurope.inference.ml.azure.com/score` |"
    ) in churn
    assert "| auth header | `Authorization: Bearer <v1 key>` | `Authorization: Bearer $ENDPOINT_KEY` |" in churn
    assert "az ml online-endpoint get-credentials --name churn-aci --query primaryKey" in churn
    # Token auth before and after; a service without auth gets a header now.
    recs = _section(markdown, "recs-aks-token")
    assert "| auth header | `Authorization: Bearer <v1 token>` | `Authorization: Bearer $ENDPOINT_TOKEN` |" in recs
    assert "--query accessToken" in recs and "refreshAfterTimeUtc" in recs
    assert "| auth header | none | `Authorization: Bearer $ENDPOINT_KEY` |" in _section(
        markdown, "sentiment-aci"
    )
    # Mirroring first where the endpoint can mirror (several managed deployments).
    assert "mirror before moving live traffic" in _section(markdown, "ab-endpoint")
    assert "mirror before" not in recs
    assert markdown.count("not verified yet") == 2 * len(migrated)


def _section(markdown: str, service: str) -> str:
    return markdown.split(f"## `{service}`")[1].split("\n## ")[0]


def test_hostile_snapshot_strings_stay_text(tmp_path: Path) -> None:
    snapshot = _every_string_hostile(tmp_path, set())
    result = generate(Options(input=snapshot, out=tmp_path / "out", targets=("terraform",)))
    migrated = [o.service for o in result.plan.outcomes if o.status == "migrated"]
    assert migrated
    markdown = (tmp_path / "out/CUTOVER.md").read_text(encoding="utf-8")
    tokens = assert_cutover_inert(markdown, migrated)
    assert "<script>" not in "".join(t.content for t in tokens if t.type == "text")


def _migration(tmp_path: Path) -> dict[str, Any]:
    generate(Options(out=tmp_path, targets=("terraform",)))
    data: dict[str, Any] = json.loads((tmp_path / "migration.json").read_text(encoding="utf-8"))
    return data


def test_statuses_order_the_switch(tmp_path: Path) -> None:
    migration = _migration(tmp_path)
    verified = {
        "fraud-aks": Verified("agrees", "fraud-aks", "2026-12-07", 3, "compare"),
        "churn-aci": Verified("failed", "churn-aci", "2026-12-07", 1, "compare"),
        # Verified on another endpoint (renamed since): not this migration's status.
        "sentiment-aci": Verified("agrees", "old-name", "2026-12-01", 1, "compare"),
    }
    view = cutover_view(migration, verified)
    order = [s["name"] for s in view["order"]]
    assert order[0] == "fraud-aks" and order[-1] == "churn-aci"
    assert view["verified"] == 1
    markdown = render_cutover(migration, verified).text
    assert "- `fraud-aks`: agrees (3 request(s), verify of 2026-12-07)" in markdown
    assert "- `churn-aci`: **failed** (verify of 2026-12-07): do not switch yet" in markdown
    assert "Verify: not verified yet." in _section(markdown, "sentiment-aci")


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"services": "x"},
        {"services": [{"service": "a", "endpoint": "a", "status": "<b>", "requests": {"sent": 1}}]},
        {"services": [{"service": "a", "endpoint": "../x", "status": "agrees", "requests": {"sent": 1}}]},
        {"services": [{"service": "a", "endpoint": "a", "status": "agrees", "requests": {"sent": True}}]},
        {"services": [{"service": "a", "endpoint": "a", "status": "agrees", "requests": {"sent": 10**12}}]},
    ],
)
def test_a_bad_verify_json_is_not_verified(data: Any) -> None:
    assert parse_verified(data) == {}


def test_verify_json_is_read_as_untrusted(tmp_path: Path) -> None:
    good = {"finished": "2026-12-07T09:00:00Z<b>", "mode": "evil",
            "services": [{"service": "a", "endpoint": "a", "status": "agrees",
                          "requests": {"sent": 2}}]}
    (tmp_path / "verify.json").write_text(json.dumps(good), encoding="utf-8")
    assert read_verified(tmp_path) == {"a": Verified("agrees", "a", "2026-12-07", 2, "compare")}
    (tmp_path / "verify.json").unlink()
    (tmp_path / "elsewhere.json").write_text(json.dumps(good), encoding="utf-8")
    (tmp_path / "verify.json").symlink_to(tmp_path / "elsewhere.json")
    assert read_verified(tmp_path) == {}
    (tmp_path / "verify.json").unlink()
    (tmp_path / "verify.json").write_text("[" * 100_000, encoding="utf-8")
    assert read_verified(tmp_path) == {}
