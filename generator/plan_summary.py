"""`gen-iac plan-summary PLAN_JSON`: a saved Terraform plan in words a reviewer reads (Markdown).

The pipelines run `terraform show -json tfplan > plan.json` and put this in the job summary
next to the approval gate. It reads Terraform's JSON plan representation
(https://developer.hashicorp.com/terraform/internals/json-format, "Plan Representation":
`resource_changes[]` with `address`, `type`, `name`, `change.actions`, `change.before`,
`change.after`) and says, in this order:
- what is deleted (a delete or a replacement of a live endpoint or deployment), first and loud;
- traffic and mirrored traffic of each endpoint, old -> new;
- deployments added, replaced, removed, and size changes (instance type, instance count);
- a count of everything else.
The summary is capped (`--max-lines`); the full plan is the pipeline's artifact. Every value
from the plan is data: it reaches the Markdown only through `render/markdown.py`.

Exit status: 0 written, 2 the file is not a Terraform JSON plan.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.render.markdown import code, text

EXIT_OK, EXIT_USAGE = 0, 2
MAX_LINES = 200
_DEPLOYMENT = "/onlineEndpoints/deployments@"
_ENDPOINT = "/onlineEndpoints@"


class PlanFileError(Exception):
    """The input is not a Terraform JSON plan (one line for the console)."""


@dataclass
class Summary:
    deleted: list[str] = field(default_factory=list)
    traffic: list[str] = field(default_factory=list)
    deployments: list[str] = field(default_factory=list)
    others: Counter[str] = field(default_factory=Counter)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _verb(actions: list[str]) -> str:
    if actions in (["delete", "create"], ["create", "delete"]):
        return "replace"
    if actions == ["no-op"] or actions == ["read"]:
        return ""
    return actions[0] if len(actions) == 1 else "/".join(actions)


def _arm_type(values: dict[str, Any]) -> str:
    kind = values.get("type")
    return kind if isinstance(kind, str) else ""


def _label(change: dict[str, Any], values: dict[str, Any]) -> str:
    """`endpoint/deployment` for deployments (from parent_id), the name otherwise."""
    name = values.get("name") if isinstance(values.get("name"), str) else ""
    parent = values.get("parent_id") or values.get("resource_id") or ""
    if isinstance(parent, str) and "/onlineEndpoints/" in parent:
        endpoint = parent.split("/onlineEndpoints/", 1)[1].split("/", 1)[0]
        return f"{endpoint}/{name}" if name and name != endpoint else endpoint
    return name or str(change.get("address", "?"))


def _split(before: object, after: object) -> str:
    old, new = _dict(before), _dict(after)
    parts = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name, 0), new.get(name, 0)
        parts.append(f"{name} {a} -> {b}" if a != b else f"{name} {b}")
    return ", ".join(parts)


def _size(body: dict[str, Any]) -> tuple[object, object]:
    props, sku = _dict(body.get("properties")), _dict(body.get("sku"))
    count = sku.get("capacity", _dict(props.get("scaleSettings")).get("instanceCount"))
    return props.get("instanceType"), count


def summarize(plan: dict[str, Any]) -> Summary:
    if not isinstance(plan.get("format_version"), str):
        raise PlanFileError(
            "not a Terraform JSON plan (no format_version): use terraform show -json"
        )
    changes = plan.get("resource_changes")
    summary = Summary()
    for rc in changes if isinstance(changes, list) else []:
        rc = _dict(rc)
        change = _dict(rc.get("change"))
        actions = [a for a in change.get("actions") or [] if isinstance(a, str)]
        verb = _verb(actions)
        if not verb:
            continue
        before, after = _dict(change.get("before")), _dict(change.get("after"))
        values = after or before
        arm = _arm_type(values)
        label = _label(rc, values)
        what = code(label)
        if verb in ("delete", "replace"):
            kind = "deployment" if _DEPLOYMENT in arm else "endpoint" if _ENDPOINT in arm else ""
            thing = f"{kind} {what}" if kind else f"{code(rc.get('address', '?'))}"
            reason = rc.get("action_reason")
            why = f" ({text(reason)})" if isinstance(reason, str) and reason else ""
            summary.deleted.append(f"- **{verb}d** {thing}{why}")
        body_b, body_a = _dict(before.get("body")), _dict(after.get("body"))
        props_b, props_a = _dict(body_b.get("properties")), _dict(body_a.get("properties"))
        told = False
        for key, title in (("traffic", "traffic"), ("mirrorTraffic", "mirrored traffic")):
            if key in props_a and props_b.get(key) != props_a.get(key):
                split = _split(props_b.get(key) if verb != "create" else {}, props_a.get(key))
                summary.traffic.append(f"- {what} {title}: {text(split)}")
                told = True
        if _DEPLOYMENT in arm:
            if verb == "create":
                instance, count = _size(body_a)
                summary.deployments.append(f"- added {what}: {code(instance)} x {code(count)}")
            elif verb == "update" and _size(body_b) != _size(body_a):
                (k0, c0), (k1, c1) = _size(body_b), _size(body_a)
                summary.deployments.append(
                    f"- resized {what}: {code(k0)} x {code(c0)} -> {code(k1)} x {code(c1)}"
                )
            elif verb in ("delete", "replace"):
                summary.deployments.append(f"- {verb}d {what}")
        elif verb not in ("delete", "replace") and not told:
            summary.others[f"{verb} {rc.get('type', 'resource')}"] += 1
    return summary


def render(summary: Summary, max_lines: int = MAX_LINES) -> str:
    lines: list[str] = []

    def section(title: str, items: Iterable[str]) -> None:
        items = list(items)
        if items:
            lines.extend(["", title, "", *items])

    if summary.deleted:
        section(
            f"**:warning: {len(summary.deleted)} resource(s) deleted or replaced: check each "
            "before approving.**",
            summary.deleted,
        )
    section("**Traffic** (old -> new)", summary.traffic)
    section("**Deployments**", summary.deployments)
    section(
        "**Other changes**",
        (f"- {code(k)}: {n}" for k, n in sorted(summary.others.items())),
    )
    if not lines:
        lines = ["", "No changes."]
    if len(lines) > max_lines:
        left = len(lines) - max_lines
        lines = [*lines[:max_lines], "", f"... {left} more line(s): see the full plan artifact."]
    return "\n".join(lines[1:]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gen-iac plan-summary",
        description="Summarize `terraform show -json PLAN` output as Markdown for a reviewer.",
    )
    parser.add_argument("plan", type=Path, metavar="PLAN_JSON")
    parser.add_argument("--max-lines", type=int, default=MAX_LINES, metavar="N")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        with args.plan.open(encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict):
            raise PlanFileError("expected a JSON object")
        sys.stdout.write(render(summarize(data), max(args.max_lines, 10)))
    except (OSError, ValueError, PlanFileError) as exc:
        print(f"gen-iac plan-summary: {args.plan}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
