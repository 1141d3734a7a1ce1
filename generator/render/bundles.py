"""Plan -> `bundles/<workspace>/<endpoint>/<deployment>/`: the scoring code, environment files
and bundle.json of every deployment, byte for byte (both targets upload from here)."""

from __future__ import annotations

from generator.files import RenderedFile
from generator.plan.model import MigrationPlan


def render_bundles(plan: MigrationPlan) -> list[RenderedFile]:
    ws = plan.workspace
    return [
        RenderedFile(f"bundles/{ws.name}/{e.name}/{d.name}/{path}", "", data=data)
        for e in ws.endpoints
        for d in e.deployments
        for path, data in sorted(d.bundle.items())
    ]
