"""The migration report: MIGRATION.md for people (reviewed in the PR), SUMMARY.md for a PR
description or a job summary, migration.json for tools.

Findings are grouped: a finding (level, code, message) that applies to several services is
written once, with the services it applies to; a service's section keeps only what is its
own. migration.json carries each distinct finding once and references it by id.
Every value reaches the Markdown through `generator.render.markdown`.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from generator import __version__
from generator.diagnostics import FORMER_CODES, Diagnostic, Level
from generator.files import RenderedFile
from generator.plan.kubernetes import PREREQUISITES
from generator.plan.model import MigrationPlan, Prices, Rollout, ServiceOutcome
from generator.plan.quota import QuotaCheck, check_quota, usage_command, vm_size
from generator.render import markdown
from generator.sources.verified import Verified

if TYPE_CHECKING:
    import jinja2

TARGET_NAMES = {"terraform": "Terraform", "bicep": "Bicep"}
RULES = {
    "seed-table": "the migration guide's table",
    "seed-table-gap": "the cheapest row of the migration guide's table that covers it",
    "general-purpose": "beyond the migration guide's table: the smallest general-purpose size "
    "that covers it",
    "gpu": "the smallest GPU size that covers it",
    "override": "chosen with --sku or an overrides file",
}
AKS_TYPES = ("AKS", "AKSENDPOINT")
_RANK = {Level.ERROR: 0, Level.WARNING: 1, Level.INFO: 2}
# SUMMARY.md stays short whatever the workspace size.
SUMMARY_KINDS = 12
SUMMARY_NAMES = 3
SUMMARY_NOT_MIGRATED = 6
SUMMARY_FAMILIES = 6
SUMMARY_ADOPTED = 6


def money(value: Decimal | None) -> str:
    return "n/a" if value is None else f"${value.quantize(Decimal('0.01')):,}"


@dataclass(frozen=True)
class Group:
    """One distinct finding and where it applies."""

    id: str
    level: Level
    code: str
    message: str
    services: tuple[str, ...]  # in report order, each once
    fields: tuple[str, ...]  # the distinct fields it names, sorted

    @property
    def shared(self) -> bool:
        """Listed under Findings: more than one service, or the workspace (no service section
        shows those)."""
        return len(self.services) != 1 or self.services == ("",)


def finding_id(d: Diagnostic) -> str:
    """A stable id for a distinct finding: its code and a hash of its level and message."""
    return _finding_id(d.level, d.code, d.message)


@cache
def _finding_id(level: Level, code: str, message: str) -> str:
    digest = hashlib.sha256(f"{level.value}\0{code}\0{message}".encode()).hexdigest()
    return f"{code}:{digest[:8]}"


class FindingIds:
    """The finding id of every diagnostic of a plan, computed once (in diagnostic order)."""

    def __init__(self, plan: MigrationPlan) -> None:
        memo: dict[str, dict[tuple[str, Level], str]] = {}

        def one(d: Diagnostic) -> str:
            by_message = memo.setdefault(d.message, {})
            key = (d.code, d.level)
            found = by_message.get(key)
            if found is None:
                found = by_message[key] = finding_id(d)
            return found

        self.general = [one(d) for d in plan.diagnostics]
        self._per: dict[int, list[str]] = {
            id(o): [one(d) for d in o.diagnostics] for o in plan.outcomes
        }

    def of(self, o: ServiceOutcome) -> list[str]:
        return self._per[id(o)]


def group_findings(plan: MigrationPlan, ids: FindingIds | None = None) -> list[Group]:
    """Every distinct finding of the plan (workspace-wide ones under the service "")."""
    ids = ids or FindingIds(plan)
    seen: dict[str, tuple[Diagnostic, dict[str, None], set[str]]] = {}

    def add(d: Diagnostic, key: str, service: str) -> None:
        entry = seen.get(key)
        if entry is None:
            entry = seen[key] = (d, {}, set())
        entry[1][service] = None
        if d.field:
            entry[2].add(d.field)

    for d, key in zip(plan.diagnostics, ids.general, strict=True):
        add(d, key, "")
    for o in plan.outcomes:
        for d, key in zip(o.diagnostics, ids.of(o), strict=True):
            add(d, key, o.service)
    groups = [
        Group(key, d.level, d.code, d.message, tuple(services), tuple(sorted(fields)))
        for key, (d, services, fields) in seen.items()
    ]
    return sorted(groups, key=lambda g: (_RANK[g.level], -len(g.services), g.code, g.message))


def totals(plan: MigrationPlan) -> dict[str, Any]:
    outcomes = plan.outcomes
    migrated = [o for o in outcomes if o.status == "migrated"]
    priced = [o for o in migrated if o.cost and o.cost.v2]
    aci = [o for o in priced if o.compute_type == "ACI" and o.cost and o.cost.v1_monthly]
    aks = [o for o in priced if o.compute_type in AKS_TYPES]
    every = [d for o in outcomes for d in o.diagnostics] + list(plan.diagnostics)

    def v2(services: list[ServiceOutcome]) -> Prices:
        prices = [o.cost.v2 for o in services if o.cost and o.cost.v2]
        return Prices(
            sum((p.pay_as_you_go for p in prices), Decimal(0)),
            sum((p.reserved_1y for p in prices), Decimal(0)),
            sum((p.reserved_3y for p in prices), Decimal(0)),
        )

    return {
        "services": len(outcomes),
        "migrated": len(migrated),
        "notMigrated": sum(o.status == "not-migrated" for o in outcomes),
        "skipped": sum(o.status == "skipped" for o in outcomes),
        "warnings": sum(d.level is Level.WARNING for d in every),
        "errors": sum(d.level is Level.ERROR for d in every),
        "aciServices": len(aci),
        "v1AciMonthly": sum(
            (o.cost.v1_monthly for o in aci if o.cost and o.cost.v1_monthly), Decimal(0)
        ),
        "v2AciMonthly": v2(aci),
        "aksServices": len(aks),
        "v2AksMonthly": v2(aks),
        "v2Monthly": v2(priced),
        "priced": len(priced),
        "unpriced": [
            o.service
            for o in migrated
            if o.endpoint_kind == "Managed" and not (o.cost and o.cost.v2)
        ],
        "kubernetes": [o.service for o in migrated if o.endpoint_kind == "Kubernetes"],
    }


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    from generator.render.templating import (
        OPTIONS,
        bytecode_cache,
        environment_class,
        templates_dir,
    )

    env = environment_class()(
        loader=jinja2.FileSystemLoader(str(templates_dir() / "report")),
        undefined=jinja2.StrictUndefined,
        # Markdown is escaped by generator.render.markdown: autoescape off, see finalize.
        finalize=markdown.finalize,
        auto_reload=False,
        bytecode_cache=bytecode_cache("markdown.finalize"),
        **OPTIONS,
    )
    env.filters.update(
        code=markdown.code,
        text=markdown.text,
        cell=markdown.cell,
        code_cell=markdown.code_cell,
        money=lambda v: markdown.Md(money(v)),
        # A macro's output: built from the template's text and filtered values, so safe.
        md=markdown.Md,
        codes=lambda values: markdown.Md(", ".join(markdown.code(v) for v in values)),
        code_cells=lambda values: markdown.Md(", ".join(markdown.code_cell(v) for v in values)),
    )
    return env


@dataclass(frozen=True)
class Adopted:
    """One resource the first apply imports, for SUMMARY.md."""

    kind: str  # endpoint | deployment
    name: str
    changes: tuple[str, ...]  # ARM paths the apply changes on it


def adopted_resources(plan: MigrationPlan) -> tuple[Adopted, ...]:
    found: list[Adopted] = []
    for e in plan.adoption.endpoints:
        found.append(Adopted("endpoint", e.name, tuple(c.field for c in e.changes)))
        found += [
            Adopted("deployment", f"{e.name}/{d.name}", tuple(c.field for c in d.changes))
            for d in e.deployments
        ]
    return tuple(found)


def render_report(
    plan: MigrationPlan,
    targets: tuple[str, ...],
    input_name: str,
    keys_file: str | None,
    verified: Mapping[str, Verified] | None = None,
) -> list[RenderedFile]:
    """MIGRATION.md, SUMMARY.md, migration.json and CUTOVER.md (with the statuses of the
    last `gen-iac verify`, `verified`)."""
    from generator.render.cutover import render_cutover

    view = report_view(plan, targets, input_name, keys_file)
    env = _environment()
    data = _json(plan, view)
    cutover = render_cutover(data, verified or {})  # before _dump, which takes the services
    return [
        RenderedFile("MIGRATION.md", env.get_template("MIGRATION.md.j2").render(view)),
        RenderedFile("SUMMARY.md", env.get_template("SUMMARY.md.j2").render(view)),
        RenderedFile("migration.json", _dump(data)),
        cutover,
    ]


def report_view(
    plan: MigrationPlan, targets: tuple[str, ...], input_name: str, keys_file: str | None
) -> dict[str, Any]:
    ws = plan.workspace
    ids = FindingIds(plan)
    groups = group_findings(plan, ids)
    by_id = {g.id: g for g in groups}
    migrated = [o for o in plan.outcomes if o.status == "migrated"]
    migrated_names = {o.service for o in migrated}
    facts = _bundle_facts(plan)
    quota = check_quota(ws)

    scopes: dict[str, str] = {}
    for g in groups:
        names = set(g.services)
        if "" in names:
            scopes[g.id] = "the workspace"
        elif len(migrated_names) > 1 and names == migrated_names:
            scopes[g.id] = "every migrated service"
        else:
            scopes[g.id] = ""

    def scope(g: Group) -> str:
        return scopes[g.id]

    def own(o: ServiceOutcome) -> list[dict[str, Any]]:
        mine: dict[str, list[str]] = {}
        for d, key in zip(o.diagnostics, ids.of(o), strict=True):
            fields = mine.setdefault(key, [])
            if d.field and d.field not in fields:
                fields.append(d.field)
        rows = [
            {"group": by_id[k], "fields": fields}
            for k, fields in mine.items()
            if not by_id[k].shared
        ]
        return sorted(rows, key=lambda r: (_RANK[r["group"].level], r["group"].code))

    def shared(o: ServiceOutcome) -> list[str]:
        groups_ = (by_id[key] for key in ids.of(o))
        return sorted({g.code for g in groups_ if g.shared and not scopes[g.id]})

    sections = []
    to_fill: list[dict[str, Any]] = []
    smoke: dict[str, list[str]] = {}  # command -> the deployments whose code it tests
    for o in migrated:
        deployments = []
        for r in o.rollout:
            has_code, sample = facts.get((o.endpoint or "", r.deployment), (False, None))
            paths = bundle_paths(r, sample)
            entry = {
                "rollout": r,
                "has_code": has_code,
                "script": paths.script,
                "code_dir": paths.code_dir,
            }
            deployments.append(entry)
            if not has_code:
                to_fill.append(
                    {
                        "dir": entry["code_dir"],
                        "service": o.service,
                        "deployment": r.deployment,
                        "key": f"{o.endpoint}/{r.deployment}",
                    }
                )
            else:
                smoke.setdefault(paths.smoke, []).append(f"{o.endpoint}/{r.deployment}")
        sections.append(
            {
                "outcome": o,
                "size": _size(o),
                "deployments": deployments,
                "show_rollout": len(o.rollout) > 1 or (o.rollout and o.rollout[0].traffic == 0),
                "own": own(o),
                "shared": shared(o),
            }
        )
    t = totals(plan)
    tf_dir = f"terraform/{ws.folder}"
    warnings = [g for g in groups if g.level is Level.WARNING]
    adopted = adopted_resources(plan)
    return {
        "plan": plan,
        "ws": ws,
        # What this run kept or retired of earlier runs' output: at the top of both reports.
        "day2": plan.day2.lines(),
        "totals": t,
        "targets": targets,
        "target_names": ", ".join(TARGET_NAMES.get(t_, t_) for t_ in targets),
        "input_name": input_name,
        "version": __version__,
        "keys_file": keys_file,
        "groups": groups,
        # Errors of the workspace, not of one service (a list's later pages missing): what
        # the run could not read, said at the top of both reports.
        "input_errors": [g for g in groups if g.level is Level.ERROR and g.services == ("",)],
        "former_codes": FORMER_CODES,
        "ids": ids,
        "scope": scope,
        "warning_kinds": warnings,
        "sections": sections,
        "to_fill": to_fill,
        "smoke": sorted(smoke.items()),
        "shared_assets": [a for a in ws.assets if a.shared],
        "not_migrated": [
            {"outcome": o, "own": own(o), "shared": shared(o)}
            for o in plan.outcomes
            if o.status == "not-migrated"
        ],
        "skipped": [o for o in plan.outcomes if o.status == "skipped"],
        "inputs": _inputs(plan),
        "kubernetes": sorted({e.name for e in ws.endpoints if e.kind == "Kubernetes"}),
        "kubernetes_prerequisites": PREREQUISITES,
        "quota": quota,
        "usage_command": markdown.fenced([shlex.join(usage_command(ws))], "sh"),
        # Every block runs from the report's folder and leaves the shell there: Terraform
        # with -chdir, Bicep in a subshell; `&&` stops at the first failure without shell
        # options (`set -e` in a pasted block closes an interactive terminal).
        "terraform_plan": markdown.fenced(
            [
                f"terraform -chdir={shlex.quote(tf_dir)} init &&",
                f"terraform -chdir={shlex.quote(tf_dir)} plan -out {TERRAFORM_PLAN_FILE}",
            ],
            "sh",
        ),
        "terraform_apply": markdown.fenced(
            [f"terraform -chdir={shlex.quote(tf_dir)} apply {TERRAFORM_PLAN_FILE}"], "sh"
        ),
        "bicep_preview": _bicep_block(plan, "--dry-run", "what-if"),
        "bicep_apply": _bicep_block(plan, "", "create"),
        "adopted": adopted,
        "limits": {
            "summary_kinds": SUMMARY_KINDS,
            "summary_names": SUMMARY_NAMES,
            "summary_not_migrated": SUMMARY_NOT_MIGRATED,
            "summary_families": SUMMARY_FAMILIES,
            "summary_adopted": SUMMARY_ADOPTED,
        },
    }


TERRAFORM_PLAN_FILE = "migration.tfplan"


def _bicep_block(plan: MigrationPlan, upload_flag: str, verb: str) -> markdown.Md:
    """Upload (or its dry run) and one deployment verb, in a subshell of the bicep folder, so
    the variables it exports end with it."""
    ws = plan.workspace
    deploy = [
        "az",
        "deployment",
        "group",
        verb,
        "--subscription",
        ws.subscription_id,
        "--resource-group",
        ws.resource_group,
        "--name",
        f"gen-iac-{ws.name}",
        "--template-file",
        "main.bicep",
        "--parameters",
        "main.bicepparam",
    ]
    # `bash`: a file written into --out carries no executable bit (as the pipelines call it).
    upload = " ".join(["bash upload-bundles.sh", upload_flag]).strip()
    return markdown.fenced(
        [
            "(",
            f"cd {shlex.quote(f'bicep/{ws.folder}')} &&",
            f'GEN_IAC_UPLOAD="$({upload})" && export GEN_IAC_UPLOAD &&',
            shlex.join(deploy),
            ")",
        ],
        "sh",
    )


def _bundle_facts(plan: MigrationPlan) -> dict[tuple[str, str], tuple[bool, str | None]]:
    """(endpoint, deployment) -> (whether its code folder has scoring code, its sample
    request relative to that folder)."""
    ws = plan.workspace
    codes = {a.key: a for a in ws.assets if a.kind == "code"}
    facts: dict[tuple[str, str], tuple[bool, str | None]] = {}
    for e in ws.endpoints:
        for d in e.deployments:
            code = codes.get(d.code)
            has_code = bool(code and code.files and not code.missing)
            sample = "sample-request.json" if code and "sample-request.json" in code.files else None
            facts[(e.name, d.name)] = (has_code, sample)
    return facts


@dataclass(frozen=True)
class BundlePaths:
    code_dir: str  # relative to the output folder, ends with "/"
    script: str
    smoke: str  # the gen-iac smoke command line


def bundle_paths(r: Rollout, sample: str | None) -> BundlePaths:
    """Where a deployment's scoring code is and how to smoke-test it: the one place that
    knows the bundle layout (`Rollout.bundle` is the code folder, bundles/<ws>/code/<key>)."""
    request = f"{r.bundle}/{sample}" if sample else "REQUEST.json"
    command = ["gen-iac", "smoke", r.bundle, "--model-dir", "MODEL_DIR", "--request", request]
    return BundlePaths(f"{r.bundle}/", f"{r.bundle}/{r.scoring_script}", shlex.join(command))


def _num(value: float) -> str:
    return f"{value:g}"


def _size(o: ServiceOutcome) -> str:
    """What v1 asked for and what the VM has, in plain words."""
    if not o.sku:
        return ""
    parts = []
    if o.sku.requested:
        cpu, memory, gpu = o.sku.requested
        asked = f"{_num(cpu)} CPU / {_num(memory)} GB" + (f" / {_num(gpu)} GPU" if gpu else "")
        parts.append(f"v1 asked for {asked}")
    size = vm_size(o.sku.instance_type)
    if size:
        has = f"{size.vcpus} vCPU / {_num(size.memory_gib)} GiB" + (
            f" / {size.gpus} GPU" if size.gpus else ""
        )
        parts.append(f"the VM has {has}")
    else:
        parts.append("gen-iac does not know this size's figures")
    return "; ".join(parts) + f" ({RULES.get(o.sku.rule, o.sku.rule)})"


def _inputs(plan: MigrationPlan) -> list[dict[str, Any]]:
    from generator.render.bicep_encoder import camel

    by_name: dict[str, list[str]] = {}
    described: dict[str, str] = {}
    for i in plan.workspace.inputs:
        by_name.setdefault(i.name, []).append(i.key)
        described.setdefault(i.name, i.description)
    return [
        {
            "name": name,
            "bicep": camel(name),
            "description": described[name],
            "keys": keys,
        }
        for name, keys in sorted(by_name.items())
    ]


def _json(plan: MigrationPlan, view: dict[str, Any]) -> dict[str, Any]:
    ws = plan.workspace
    ids: FindingIds = view["ids"]
    t = view["totals"]
    q: QuotaCheck = view["quota"]
    groups: list[Group] = view["groups"]
    return {
        "generator": {"name": "gen-iac", "version": __version__},
        "input": view["input_name"],
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
                )
            },
            "unpriced": len(t["unpriced"]),
            "cost": {
                "aci": {
                    "services": t["aciServices"],
                    "v1MonthlyUsd": _num_or_none(t["v1AciMonthly"]),
                    "v2MonthlyUsd": _prices(t["v2AciMonthly"]),
                },
                "aks": {"services": t["aksServices"], "v2MonthlyUsd": _prices(t["v2AksMonthly"])},
            },
            "v1AciMonthlyUsd": _num_or_none(t["v1AciMonthly"]),
            "v2MonthlyUsd": _prices(t["v2Monthly"]),
        },
        "quota": {
            "location": q.location,
            "endpoints": {"needed": q.endpoints.needed, "limit": q.endpoints.limit},
            "deployments": {"needed": q.deployments.needed, "limit": q.deployments.limit},
            "over": [{"what": c.what, "needed": c.needed, "limit": c.limit} for c in q.over],
            "families": [
                {
                    "family": f.family,
                    "sizes": list(f.sizes),
                    "deployments": f.deployments,
                    "instances": f.instances,
                    "vcpus": f.vcpus,
                    "vcpusAtAutoscaleMaximum": f.max_vcpus,
                    "upgradeReserve": f.reserve,
                }
                for f in q.families
            ],
            "unknownSizes": list(q.unknown_sizes),
        },
        "inputs": [{"name": i.name, "key": i.key, "description": i.description} for i in ws.inputs],
        "findings": [
            {
                "id": g.id,
                "level": g.level.value,
                "code": g.code,
                **({"formerCode": FORMER_CODES[g.code]} if g.code in FORMER_CODES else {}),
                "message": g.message,
                "services": len([s for s in g.services if s]),
            }
            for g in groups
        ],
        "diagnostics": [_ref(d, k) for d, k in zip(plan.diagnostics, ids.general, strict=True)],
        "services": [_service(o, ids.of(o)) for o in plan.outcomes],
    }


def _dump(report: dict[str, Any]) -> str:
    """Indented JSON, but one line per service: fast, and a PR diff shows the services
    that changed."""
    services = report.pop("services")
    head = json.dumps(report, indent=2, ensure_ascii=False)
    if not services:
        return head[:-2] + ',\n  "services": []\n}\n'
    lines = ",\n".join("    " + json.dumps(s, ensure_ascii=False) for s in services)
    return head[:-2] + ',\n  "services": [\n' + lines + "\n  ]\n}\n"


def _service(o: ServiceOutcome, ids: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "service": o.service,
        "computeType": o.compute_type,
        "status": o.status,
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
        "auth": {"v1": o.auth.v1, "v2": o.auth.v2, "keysKept": o.auth.keys_kept}
        if o.auth
        else None,
        "sku": None,
        "cost": None,
        "diagnostics": [_ref(d, k) for d, k in zip(o.diagnostics, ids, strict=True)],
    }
    if o.status == "skipped":
        entry["reason"] = o.reason
    if o.sku:
        size = vm_size(o.sku.instance_type)
        requested = o.sku.requested
        entry["sku"] = {
            "instanceType": o.sku.instance_type,
            "rule": o.sku.rule,
            "requested": {"cpu": requested[0], "memoryGb": requested[1], "gpu": requested[2]}
            if requested
            else None,
            "vm": {"vcpus": size.vcpus, "memoryGib": size.memory_gib, "gpus": size.gpus}
            if size
            else None,
        }
    if o.cost:
        entry["cost"] = {
            "v1MonthlyUsd": _num_or_none(o.cost.v1_monthly),
            "instances": o.cost.instances,
            "v2MonthlyUsd": _prices(o.cost.v2),
        }
    return entry


def _ref(d: Diagnostic, finding: str) -> dict[str, Any]:
    return {"finding": finding, "field": d.field or None}


def _num_or_none(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _prices(p: Prices | None) -> dict[str, float | None] | None:
    if p is None:
        return None
    return {
        "payAsYouGo": _num_or_none(p.pay_as_you_go),
        "reserved1y": _num_or_none(p.reserved_1y),
        "reserved3y": _num_or_none(p.reserved_3y),
    }
