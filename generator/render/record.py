"""Plan -> `record/`: what this run generated, so that the next run keeps it (see
generator.plan.memory): one file per endpoint and `record/run.json`."""

from __future__ import annotations

import json
from typing import Any

from generator.files import RenderedFile
from generator.plan.memory import RUN_FILE, encode_record, encode_run, record_path
from generator.plan.model import MigrationPlan, Retirement


def _text(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


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
    files = [
        RenderedFile(record_path(ws.name, e.name), _text(encode_record(plan, e)))
        for e in ws.endpoints
    ]
    files.append(RenderedFile(RUN_FILE, _text(encode_run(targets, pipelines, layout, retired))))
    return files
