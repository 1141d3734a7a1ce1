"""Plan -> `bundles/<workspace>/`: one folder per distinct code and environment content, and the
index that says who uses what (both targets upload and register from here).

```
bundles/<ws>/code/<code-key>/          scoring code (a person's after the first run)
bundles/<ws>/environments/<env-key>/   conda.yaml or a Docker build context (a person's too)
bundles/<ws>/bundles.json              gen-iac's index: per code key its scoringScript, the
                                       deployments that use it and missingCode; per environment
                                       key its kind, image, python and users; per deployment
                                       its code and environment keys
```
A file repeated by many deployments is written once; editing it changes all of them.
"""

from __future__ import annotations

import json
from typing import Any

from generator.files import PERSON, RenderedFile
from generator.plan.model import Asset, Endpoint, MigrationPlan

INDEX = "bundles.json"


def render_bundles(plan: MigrationPlan) -> list[RenderedFile]:
    ws = plan.workspace
    base = f"bundles/{ws.folder}"
    files = [
        RenderedFile(f"{base}/{a.folder}/{path}", "", data=data, owner=PERSON)
        for a in ws.assets
        for path, data in sorted(a.files.items())
    ]
    if ws.assets:
        index = bundle_index(ws.assets, ws.endpoints)
        files.append(
            RenderedFile(f"{base}/{INDEX}", json.dumps(index, indent=2, sort_keys=True) + "\n")
        )
    return files


def bundle_index(assets: tuple[Asset, ...], endpoints: tuple[Endpoint, ...]) -> dict[str, Any]:
    """bundles.json as data: see the module docstring (the contract every target and
    `gen-iac smoke` read)."""
    code: dict[str, Any] = {}
    environments: dict[str, Any] = {}
    for a in assets:
        if a.kind == "code":
            entry: dict[str, Any] = {
                "deployments": list(a.deployments),
                "scoringScript": a.scoring_script,
            }
            if a.missing:
                entry["missingCode"] = True
            code[a.key] = entry
        else:
            described = {
                "deployments": list(a.deployments),
                "image": a.image,
                "kind": a.environment_kind,
                "python": a.python,
            }
            environments[a.key] = {k: v for k, v in described.items() if v}
    deployments = {
        f"{e.name}/{d.name}": {"code": d.code, "environment": d.environment}
        for e in endpoints
        for d in e.deployments
    }
    return {"code": code, "deployments": deployments, "environments": environments}
