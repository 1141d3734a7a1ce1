"""The migration report: MIGRATION.md for people (reviewed in the PR), migration.json for tools."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from generator import __version__
from generator.diagnostics import Diagnostic, Level
from generator.files import RenderedFile
from generator.plan.kubernetes import PREREQUISITES
from generator.plan.model import MigrationPlan, Prices, ServiceOutcome
from generator.render.templating import environment as _jinja

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def md(text: object) -> str:
    """Text safe inside Markdown (tables included): one line, markup characters escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def code(text: object) -> str:
    """A Markdown code span (names, sizes, URLs): literal text, one line."""
    value = " ".join(str(text).split())
    if not value:
        return ""
    fence = "``" if "`" in value else "`"
    pad = " " if "`" in value or value.startswith(" ") else ""
    return f"{fence}{pad}{value}{pad}{fence}".replace("|", "\\|")


def money(value: Decimal | None) -> str:
    return "n/a" if value is None else f"${value.quantize(Decimal('0.01')):,}"


def totals(plan: MigrationPlan) -> dict[str, Any]:
    outcomes = plan.outcomes
    migrated = [o for o in outcomes if o.status == "migrated"]
    priced = [o for o in migrated if o.cost and o.cost.v2]
    aci = [o for o in migrated if o.cost and o.cost.v1_monthly is not None]

    def total(field: str) -> Decimal:
        return sum((getattr(o.cost.v2, field) for o in priced if o.cost and o.cost.v2), Decimal(0))

    every = [d for o in outcomes for d in o.diagnostics] + list(plan.diagnostics)
    return {
        "services": len(outcomes),
        "migrated": len(migrated),
        "notMigrated": sum(o.status == "not-migrated" for o in outcomes),
        "skipped": sum(o.status == "skipped" for o in outcomes),
        "warnings": sum(d.level is Level.WARNING for d in every),
        "errors": sum(d.level is Level.ERROR for d in every),
        "v1AciMonthly": sum(
            (o.cost.v1_monthly for o in aci if o.cost and o.cost.v1_monthly), Decimal(0)
        ),
        "v2Monthly": Prices(total("pay_as_you_go"), total("reserved_1y"), total("reserved_3y")),
        "priced": len(priced),
        "unpriced": len(migrated) - len(priced),
    }


def render_report(
    plan: MigrationPlan, targets: tuple[str, ...], input_name: str, keys_file: str | None
) -> list[RenderedFile]:
    env = _jinja("report")
    env.filters["md"] = md
    env.filters["code"] = code
    env.filters["money"] = money
    t = totals(plan)
    context = {
        "plan": plan,
        "ws": plan.workspace,
        "totals": t,
        "targets": targets,
        "input_name": input_name,
        "version": __version__,
        "keys_file": keys_file,
        "migrated": [o for o in plan.outcomes if o.status == "migrated"],
        "not_migrated": [o for o in plan.outcomes if o.status == "not-migrated"],
        "skipped": [o for o in plan.outcomes if o.status == "skipped"],
        "input_keys": {
            name: [i.key for i in plan.workspace.inputs if i.name == name]
            for name in sorted({i.name for i in plan.workspace.inputs})
        },
        "kubernetes": sorted({e.name for e in plan.workspace.endpoints if e.kind == "Kubernetes"}),
        "kubernetes_prerequisites": PREREQUISITES,
        "attention": lambda o: [d for d in o.diagnostics if d.level is not Level.INFO],
        "notes": lambda o: [d for d in o.diagnostics if d.level is Level.INFO],
    }
    markdown = env.get_template("MIGRATION.md.j2").render(context)
    return [
        RenderedFile("MIGRATION.md", markdown),
        RenderedFile("migration.json", _dump(_json(plan, t, input_name))),
    ]


def _json(plan: MigrationPlan, t: dict[str, Any], input_name: str) -> dict[str, Any]:
    ws = plan.workspace
    return {
        "generator": {"name": "gen-iac", "version": __version__},
        "input": input_name,
        "workspace": {
            "subscriptionId": ws.subscription_id,
            "resourceGroup": ws.resource_group,
            "name": ws.name,
            "location": ws.location,
            "id": ws.resource_id,
        },
        "totals": {
            **{
                k: t[k]
                for k in (
                    "services",
                    "migrated",
                    "notMigrated",
                    "skipped",
                    "warnings",
                    "errors",
                    "priced",
                    "unpriced",
                )
            },
            "v1AciMonthlyUsd": _num(t["v1AciMonthly"]),
            "v2MonthlyUsd": _prices(t["v2Monthly"]),
        },
        "inputs": [{"name": i.name, "key": i.key, "description": i.description} for i in ws.inputs],
        "diagnostics": [_diag(d) for d in plan.diagnostics],
        "services": [_service(o) for o in plan.outcomes],
    }


def _dump(report: dict[str, Any]) -> str:
    """Indented JSON, but one line per service: fast, and a PR diff shows the services
    that changed."""
    services = report.pop("services")
    head = json.dumps(report, indent=2, ensure_ascii=False)
    lines = ",\n".join("    " + json.dumps(s, ensure_ascii=False) for s in services)
    return head[:-2] + ',\n  "services": [\n' + lines + "\n  ]\n}\n"


def _service(o: ServiceOutcome) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "service": o.service,
        "computeType": o.compute_type,
        "status": o.status,
        "reason": o.reason or None,
        "endpoint": o.endpoint,
        "endpointKind": o.endpoint_kind if o.endpoint else None,
        "deployments": [
            {
                "name": r.deployment,
                "v1Version": r.version,
                "role": r.role,
                "isDefault": r.is_default,
                "v1TrafficPercent": r.v1_percent,
                "traffic": r.traffic,
                "mirrorTraffic": r.mirror,
                "instanceType": r.instance_type,
                "bundle": r.bundle,
                "scoringScript": r.scoring_script,
                "entryScriptRule": r.entry_rule,
                "v1Code": [
                    {"path": f.path, "line": f.line, "code": f.code, "message": f.message}
                    for f in r.lint
                ],
            }
            for r in o.rollout
        ],
        "oldScoringUri": o.old_scoring_uri,
        "newScoringUri": o.new_scoring_uri,
        "sku": None,
        "cost": None,
        "diagnostics": [_diag(d) for d in o.diagnostics],
    }
    if o.sku:
        entry["sku"] = {
            "instanceType": o.sku.instance_type,
            "rule": o.sku.rule,
            "reason": o.sku.reason,
        }
    if o.cost:
        entry["cost"] = {
            "v1MonthlyUsd": _num(o.cost.v1_monthly),
            "v1Basis": o.cost.v1_basis,
            "instances": o.cost.instances,
            "v2MonthlyUsd": _prices(o.cost.v2),
        }
    return entry


def _diag(d: Diagnostic) -> dict[str, Any]:
    return {"level": d.level.value, "code": d.code, "field": d.field or None, "message": d.message}


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _prices(p: Prices | None) -> dict[str, float | None] | None:
    if p is None:
        return None
    return {
        "payAsYouGo": _num(p.pay_as_you_go),
        "reserved1y": _num(p.reserved_1y),
        "reserved3y": _num(p.reserved_3y),
    }
