"""The migration report: totals from the seed tables, every diagnostic, safe Markdown."""

from __future__ import annotations

import json
from pathlib import Path

from generator.pipeline import Options, generate
from generator.render.report import code, md
from tests.conftest import EXAMPLE, SnapshotFactory, aci


def test_example_totals_follow_the_seed(tmp_path: Path) -> None:
    result = generate(Options(input=EXAMPLE, out=tmp_path))
    report = json.loads((tmp_path / "migration.json").read_text())
    totals = report["totals"]
    assert (totals["services"], totals["migrated"], totals["notMigrated"], totals["skipped"]) == (
        8,
        6,
        1,
        1,
    )
    # ACI: churn 1 CPU/1 GB, ocr 4/16, sentiment 0.5/2.0 with the guide's formula.
    aci_total = (29.565 + 3.2485 * 1) + (29.565 * 4 + 3.2485 * 16) + (29.565 + 3.2485 * 2)
    assert abs(totals["v1AciMonthlyUsd"] - aci_total) < 1e-9
    # v2: DS1 + 2 x DS2 + E4s + 3 x DS3 + DS2 + 2 x DS2 (ab-endpoint's two versions) at
    # the guide's pay-as-you-go prices.
    payg = 41.610 + 2 * 83.220 + 194.180 + 3 * 167.170 + 83.220 + 2 * 83.220
    assert abs(totals["v2MonthlyUsd"]["payAsYouGo"] - payg) < 1e-9
    by_name = {s["service"]: s for s in report["services"]}
    assert (
        by_name["churn-aci"]["newScoringUri"]
        == "https://churn-aci.westeurope.inference.ml.azure.com/score"
    )
    assert by_name["credit-v2-blue"]["status"] == "skipped"
    # Every diagnostic of the plan is in both reports.
    markdown = (tmp_path / "MIGRATION.md").read_text()
    for outcome in result.plan.outcomes:
        listed = {(d["code"], d["message"]) for d in by_name[outcome.service]["diagnostics"]}
        assert listed == {(d.code, d.message) for d in outcome.diagnostics}
        for d in outcome.diagnostics:
            assert md(d.message) in markdown


def test_hostile_names_cannot_break_the_markdown(
    make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    name = "evil|name`<script>\n# heading"
    generate(Options(input=make_snapshot([aci(name)]), out=tmp_path))
    markdown = (tmp_path / "MIGRATION.md").read_text()
    assert "<script>" not in markdown.replace("`<script>", "")
    assert "\n# heading" not in markdown
    table_rows = [line for line in markdown.splitlines() if line.startswith("| ``")]
    assert table_rows and all(row.count(" | ") == 7 for row in table_rows)


def test_markdown_helpers() -> None:
    assert md("a|b\nc*d") == "a\\|b c\\*d"
    assert code("x_y") == "`x_y`"
    assert code("a`b") == "`` a`b ``"
