"""Per-module lookups of the Terraform renderer (`--layout endpoint`: one root module per
endpoint) find what a scan of the whole workspace finds, without the scan."""

from __future__ import annotations

from pathlib import Path

from generator.pipeline import Options, plan_from
from generator.render.imports import IMPORTS_FILE, import_blocks, render_imports
from generator.render.terraform import AssetIndex, module_endpoints
from tests.golden import EXAMPLE
from tests.plan.test_adoption import planned


def test_each_module_gets_the_assets_its_deployments_use_in_plan_order() -> None:
    plan, _ = plan_from(Options(input=EXAMPLE))
    ws = plan.workspace
    index = AssetIndex(ws)
    assert len(ws.endpoints) > 2 and ws.assets
    for endpoints in [ws.endpoints, *((e,) for e in ws.endpoints)]:
        used: set[tuple[str, str | None]] = {
            ("code", d.code) for e in endpoints for d in e.deployments
        }
        used |= {("environment", d.environment) for e in endpoints for d in e.deployments}
        expected = tuple(a for a in ws.assets if (a.kind, a.key) in used)
        assert expected and index.used_by(endpoints) == expected


def test_imports_per_endpoint_module_are_those_of_its_endpoint(tmp_path: Path) -> None:
    plan = planned(tmp_path)
    files = {f.path: f.text for f in render_imports(plan, "endpoint")}
    modules = module_endpoints(plan, "endpoint")
    expected = {
        f"{folder}/{IMPORTS_FILE}": import_blocks(plan, [e.name for e in endpoints])
        for folder, endpoints in modules.items()
    }
    expected = {path: text for path, text in expected.items() if text}
    assert len(expected) >= 2
    assert files == expected
    # One module, the whole workspace: the same blocks as imports.tf of the default layout.
    [whole] = render_imports(plan, "workspace")
    assert whole.text == import_blocks(plan)
