"""Plan -> `record/`: what this run generated, so that the next run keeps it (see
generator.plan.memory): one file per endpoint and `record/run.json`."""

from __future__ import annotations

import json
from typing import Any

from generator.files import RenderedFile
from generator.plan.memory import RUN_FILE, encode_record, encode_run, record_path
from generator.plan.model import MigrationPlan, Retirement


def _text(data: Any) -> str:
    return _layout(data, 0) + "\n"


def _layout(value: Any, depth: int) -> str:
    """JSON with the outer levels one entry a line (an asset, a field of the endpoint, a
    deployment) and each entry compact: a change shows as the lines it touches, and large
    workspaces write their records with the C encoder."""
    if depth > 2 or not isinstance(value, (dict, list)) or not value:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    pad = "  " * (depth + 1)
    if isinstance(value, dict):
        items = [
            f"{pad}{json.dumps(k, ensure_ascii=False)}: {_layout(v, depth + 1)}"
            for k, v in sorted(value.items())
        ]
        return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}"
    items = [pad + _layout(v, 3) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + "  " * depth + "]"


def render_record(
    plan: MigrationPlan,
    targets: tuple[str, ...],
    pipelines: tuple[str, ...],
    layout: str,
    retired: tuple[Retirement, ...],
) -> list[RenderedFile]:
    """`retired`: every retirement to remember, with its Terraform module and addresses when
    the run renders Terraform (`terraform.stamped_retirements`)."""
    ws = plan.workspace
    assets = {(a.kind, a.key): a for a in ws.assets}
    files = [
        RenderedFile(record_path(ws.name, e.name), _text(encode_record(ws.name, e, assets)))
        for e in ws.endpoints
    ]
    files.append(RenderedFile(RUN_FILE, _text(encode_run(targets, pipelines, layout, retired))))
    return files
