"""What verify tells: a console table, verify.json for tools, VERIFY.md for a pull request or
a job summary, and CUTOVER.md completed with each service's status.

No key or token reaches any of them: results carry URLs (without query strings), statuses,
latencies, and differences between answers (values cut to 80 characters). Every value in
VERIFY.md goes through `render.markdown`, as in the migration report.
"""

from __future__ import annotations

import json
from typing import Any

from generator import __version__
from generator.console import fit, safe
from generator.export.redact import strip_queries
from generator.files import RenderedFile
from generator.sources.verified import VERIFY_JSON, parse_verified
from generator.verify.runner import PASSING, UNSENT, ServiceResult, Settings

VERIFY_MD = "VERIFY.md"
SHOWN_EXCHANGES = 5  # per service in VERIFY.md (all are in verify.json)


def passed(results: list[ServiceResult]) -> bool:
    """Every service agrees (or answers, v2 only), apart from those without a request."""
    return all(r.status in PASSING or r.status == UNSENT for r in results)


def verdict(results: list[ServiceResult]) -> str:
    unsent = sum(r.status == UNSENT for r in results)
    head = "every service agrees" if passed(results) else "differences or failures found"
    return head + (f"; {unsent} service(s) not verified: no request to send" if unsent else "")


def ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def verify_json(results: list[ServiceResult], settings: Settings, finished: str) -> dict[str, Any]:
    return {
        "generator": {"name": "gen-iac", "version": __version__},
        "finished": finished,
        "mode": "v2-only" if settings.v2_only else "compare",
        "settings": {
            "rtol": settings.tolerance.rtol,
            "atol": settings.tolerance.atol,
            "orderedLists": settings.tolerance.ordered,
            "timeoutSeconds": settings.timeout,
            "concurrency": settings.concurrency,
            "maxSlowdown": settings.max_slowdown,
        },
        "passed": passed(results),
        "services": [_service(r, settings.v2_only) for r in results],
    }


def _service(r: ServiceResult, v2_only: bool) -> dict[str, Any]:
    t = r.target
    return {
        "service": t.service,
        "endpoint": t.endpoint,
        "deployment": t.deployment,
        "status": r.status,
        "problem": r.problem or None,
        "requests": {
            "sent": len(r.exchanges),
            "agreed": r.count("agrees"),
            "differed": r.count("differs"),
            "failed": r.count("failed"),
        },
        "v1": None if v2_only else {
            "url": _url(t.v1_url),
            "auth": t.v1_auth,
            "latencyMs": {"p50": ms(r.p("v1", 50)), "p95": ms(r.p("v1", 95))},
        },
        "v2": {
            "url": _url(r.v2_url),
            "plannedUrl": _url(t.planned_url),
            "auth": r.v2_auth,
            "latencyMs": {"p50": ms(r.p("v2", 50)), "p95": ms(r.p("v2", 95))},
        },
        "exchanges": [
            {
                "request": e.request,
                "outcome": e.outcome,
                "v1Status": e.v1.answer.status if e.v1 and e.v1.answer else None,
                "v2Status": e.v2.answer.status if e.v2.answer else None,
                "error": e.problem() if e.outcome == "failed" else None,
                "differences": [
                    {"path": d.path, "v1": d.v1, "v2": d.v2, "why": d.why} for d in e.differences
                ],
            }
            for e in r.exchanges
        ],
    }


def _url(url: str | None) -> str | None:
    return None if url is None else strip_queries(url)


def dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def files(
    results: list[ServiceResult], settings: Settings, finished: str, migration: dict[str, Any]
) -> list[RenderedFile]:
    """verify.json, VERIFY.md and CUTOVER.md (rendered as a generate renders it, with these
    statuses)."""
    from generator.render.cutover import render_cutover
    from generator.render.report import _environment

    data = verify_json(results, settings, finished)
    view = {
        "finished": finished,
        "mode": data["mode"],
        "settings": settings,
        "verdict": verdict(results),
        "rows": [_row(r) for r in results],
        "details": [_detail(r) for r in results if r.status not in PASSING],
    }
    text = _environment().get_template("VERIFY.md.j2").render(view)
    return [
        RenderedFile(VERIFY_JSON, dump(data)),
        RenderedFile(VERIFY_MD, text),
        render_cutover(migration, parse_verified(data)),
    ]


def _latency(r: ServiceResult, side: str) -> str:
    p50, p95 = ms(r.p(side, 50)), ms(r.p(side, 95))
    return "-" if p50 is None else f"{p50} / {p95} ms"


def _row(r: ServiceResult) -> dict[str, Any]:
    sent = len(r.exchanges)
    return {
        "service": r.target.service,
        "endpoint": r.target.endpoint,
        "status": r.status,
        "requests": f"{r.count('agrees')}/{sent}" if sent else "0",
        "v1": _latency(r, "v1"),
        "v2": _latency(r, "v2"),
        "problem": r.problem or next((e.problem() for e in r.exchanges if e.problem()), ""),
    }


def _detail(r: ServiceResult) -> dict[str, Any]:
    shown = [e for e in r.exchanges if e.outcome != "agrees"][:SHOWN_EXCHANGES]
    return {
        "service": r.target.service,
        "status": r.status,
        "problem": r.problem,
        "exchanges": [
            {
                "request": e.request,
                "lines": [e.problem()] if e.outcome == "failed"
                else [d.line() for d in e.differences],
            }
            for e in shown
        ],
        "more": max(0, sum(e.outcome != "agrees" for e in r.exchanges) - SHOWN_EXCHANGES),
    }


def console_lines(results: list[ServiceResult]) -> list[str]:
    """A table: service, status, requests that agreed, latency p50 / p95 per side, the
    first problem. Every line fits a terminal and forms no CI logging command."""
    rows = [_row(r) for r in results]
    width = min(32, max([len("service"), *(len(r["service"]) for r in rows)]))
    head = f"{'service':<{width}}  {'status':<10}  {'agreed':>6}  {'v1 p50/p95':>16}  {'v2 p50/p95':>16}"
    lines = [head]
    for row in rows:
        name = row["service"] if len(row["service"]) <= width else row["service"][: width - 1] + "…"
        line = (
            f"{name:<{width}}  {row['status']:<10}  {row['requests']:>6}  {row['v1']:>16}  "
            f"{row['v2']:>16}"
        )
        lines.append(fit(safe(line)))
        if row["problem"]:
            lines.append(fit(safe("  " + " ".join(row["problem"].split()))))
    return lines
