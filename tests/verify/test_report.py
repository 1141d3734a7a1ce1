"""What verify writes and prints, from results built here: answers are untrusted (a server
can send any text), so VERIFY.md stays inert and the console table stays one line a row."""

from __future__ import annotations

import json
from pathlib import Path

from generator.pipeline import Options, generate
from generator.verify.compare import Answer, Difference
from generator.verify.report import console_lines, files
from generator.verify.runner import Call, Exchange, ServiceResult, Settings
from generator.verify.targets import Request, Target
from tests.render.test_cutover import _tokens

HOSTILE = "<script>x</script> | `a` [l](javascript:1) \n# h"


def _target(name: str) -> Target:
    return Target(name, name, "blue", "http://v1/score", "key",
                  "https://ep-1.westeurope.inference.ml.azure.com/score",
                  (Request("r.json", b"{}"),))


def _answer(seconds: float) -> Answer:
    return Answer(200, "application/json", b"{}", seconds)


def test_verify_md_is_inert_whatever_the_answers_held(tmp_path: Path) -> None:
    generate(Options(out=tmp_path, targets=("terraform",)))
    migration = json.loads((tmp_path / "migration.json").read_text(encoding="utf-8"))
    differs = Exchange(HOSTILE, Call(_answer(0.01)), Call(_answer(0.02)),
                       (Difference(f"$[{HOSTILE!r}]", HOSTILE, HOSTILE + "|", "the value differs"),))
    failed = Exchange("r.json", Call(_answer(0.01)), Call(None, f"v2: {HOSTILE}"))
    results = [
        ServiceResult(_target("churn-aci"), "differs", (differs,), "", "https://ep/score", "Key"),
        ServiceResult(_target(HOSTILE), "failed", (failed,), "", None, None),
        ServiceResult(_target("fraud-aks"), "failed", (), f"no endpoint {HOSTILE}"),
    ]

    verify_json, verify_md, cutover = files(results, Settings(), "2026-12-07T09:00:00Z", migration)

    tokens = _tokens(verify_md.text)
    kinds = {t.type for t in tokens}
    assert not kinds & {"html_block", "html_inline", "link_open", "image", "fence"}, kinds
    rows = [t for t in tokens if t.type == "tr_open"]
    assert len(rows) == 1 + len(results)  # the header and one row per service, no more
    assert verify_json.path == "verify.json" and cutover.path == "CUTOVER.md"
    data = json.loads(verify_json.text)
    assert data["passed"] is False
    assert [s["status"] for s in data["services"]] == ["differs", "failed", "failed"]
    assert "- `churn-aci`: **differs** (verify of 2026-12-07)" in cutover.text
    assert "- `fraud-aks`: **failed** (verify of 2026-12-07)" in cutover.text


def test_console_rows_fit_and_show_latency() -> None:
    ok = Exchange("r.json", Call(_answer(0.012)), Call(_answer(0.034)))
    lines = console_lines([
        ServiceResult(_target("churn-aci"), "agrees", (ok,)),
        ServiceResult(_target(HOSTILE * 3), "failed", (), "no key\nsecond line"),
    ])
    assert lines[1].split() == ["churn-aci", "agrees", "1/1", "12", "/", "12", "ms", "34", "/",
                                "34", "ms"]
    assert all(len(line) <= 100 and "\n" not in line for line in lines)
    logging = console_lines([ServiceResult(_target("##vso[task.setvariable variable=A]1"), "failed",
                                           (), "::error::x")])
    assert not any("##vso[" in line or line.lstrip().startswith("::") for line in logging)
    assert any("no key second line" in line for line in lines)
