"""Bicep for a large workspace stays under ARM's template limits, template by template (a
module is its own deployment): 800 resources (module calls included), 256 parameters, 64
outputs, 4 MB compiled. No Bicep CLI runs here, so templates are counted structurally (the
counter is checked against pycep on real output) and the compiled size is estimated from the
source with a conservative factor (Bicep inlines a module's template at every call)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from generator.files import RenderedFile
from generator.pipeline import Options, generate, plan_from
from generator.render.bicep import render_bicep
from tests.conftest import EXAMPLE, SnapshotFactory, aci, aks
from tests.support.bicep import parse_text

MAX_RESOURCES = 800
MAX_PARAMETERS = 256
MAX_OUTPUTS = 64
MAX_BYTES = 4 * 1024 * 1024
# Compiled JSON per byte of Bicep source. Measured: Azure/bicep-registry-modules
# avm/res/machine-learning-services/workspace/datastore main.bicep (2,219 chars) compiles to
# main.json (3,154 chars), 1.4x; gen-iac's bodies nest deeper (longer indents, resourceId()
# dependsOn), so 3x is the conservative bound used here.
COMPILED_PER_SOURCE_BYTE = 3
SERVICES = 1_200

_RESOURCE = re.compile(r"^resource \w+ '[^']*'( existing)? = ", re.MULTILINE)
_MODULE = re.compile(r"^module \w+ '([^']*)' = ", re.MULTILINE)
_PARAM = re.compile(r"^param \w+ ", re.MULTILINE)
_OUTPUT = re.compile(r"^output \w+ ", re.MULTILINE)


@dataclass(frozen=True)
class Counts:
    resources: int  # deployed: resources that are not `existing`, plus module calls
    parameters: int
    outputs: int
    modules: tuple[str, ...]  # paths of the modules called, relative to the file


def count(text: str) -> Counts:
    """Top-level declarations start at column 0 in gen-iac's (bicep-format) output."""
    deployed = [m for m in _RESOURCE.finditer(text) if not m.group(1)]
    modules = tuple(m.group(1) for m in _MODULE.finditer(text))
    return Counts(
        resources=len(deployed) + len(modules),
        parameters=len(_PARAM.findall(text)),
        outputs=len(_OUTPUT.findall(text)),
        modules=modules,
    )


def compiled_estimate(path: str, texts: dict[str, str]) -> int:
    """Bytes of the compiled template of `path`: its own source at the conservative factor,
    plus the compiled template of every module it calls (inlined at each call)."""
    text = texts[path]
    folder = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
    own = COMPILED_PER_SOURCE_BYTE * len(text.encode("utf-8"))
    return own + sum(compiled_estimate(folder + m, texts) for m in count(text).modules)


def _services(count: int) -> list[dict[str, Any]]:
    """A workspace of every shape the renderer packs: ACI, AKS with an autoscaler (a
    Microsoft.Insights setting each), AKS without, some keeping their v1 keys."""
    services = []
    for i in range(count):
        name = f"svc-{i:05d}"
        if i % 3 == 0:
            services.append(aci(name, description=f"ACI service {i}: ${{x}} 'q'"))
        elif i % 3 == 1:
            autoscaler = {
                "autoscaleEnabled": True,
                "minReplicas": 1,
                "maxReplicas": 4,
                "targetUtilization": 70,
                "refreshPeriodInSeconds": 10,
            }
            services.append(aks(name, autoScaler=autoscaler, kvTags={"team": f"t{i % 7}"}))
        else:
            services.append(aks(name))
    return services


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The Bicep files of a synthetic workspace of SERVICES services, by path."""
    import json

    from tests.conftest import WORKSPACE

    root = tmp_path_factory.mktemp("large")
    services = _services(SERVICES)
    keys = {
        s["name"]: {"primaryKey": f"p{i}", "secondaryKey": f"s{i}"}
        for i, s in enumerate(services)
        if i % 10 == 0
    }
    (root / "snapshot.json").write_text(
        json.dumps({"workspace": WORKSPACE, "services": services}), encoding="utf-8"
    )
    (root / "keys.json").write_text(json.dumps(keys), encoding="utf-8")
    (root / "keys.json").chmod(0o600)
    plan = plan_from(Options(input=root))[0]
    files: list[RenderedFile] = render_bicep(plan)
    prefix = f"bicep/{plan.workspace.name}/"
    return {f.path.removeprefix(prefix): f.text for f in files}


def test_the_counter_agrees_with_pycep(tmp_path: Path, make_snapshot: SnapshotFactory) -> None:
    """count() is what the limit test trusts: it must read generated files as pycep does."""
    generate(Options(input=EXAMPLE, out=tmp_path / "a", targets=("bicep",)))
    snapshot = make_snapshot(
        [aci("svc-a"), aks("svc-b", autoScaler={"autoscaleEnabled": True, "maxReplicas": 3})],
        {"svc-a": {"primaryKey": "p", "secondaryKey": "s"}},
    )
    generate(Options(input=snapshot, out=tmp_path / "b", targets=("bicep",)))
    checked = 0
    for path in sorted((tmp_path).rglob("*.bicep")):
        text = path.read_text(encoding="utf-8")
        parsed = parse_text(text)
        resources = parsed.get("resources", {})
        deployed = [r for r in resources.values() if not r["existing"]]
        modules = parsed.get("modules", {})
        assert count(text) == Counts(
            resources=len(deployed) + len(modules),
            parameters=len(parsed.get("parameters", {})),
            outputs=len(parsed.get("outputs", {})),
            modules=tuple(m["detail"]["path"] for m in modules.values()),
        ), path
        checked += 1
    assert checked >= 6  # main, a batch and the traffic module of each output


def test_a_large_workspace_is_split_into_batches(large: dict[str, str]) -> None:
    batches = sorted(p for p in large if re.fullmatch(r"modules/endpoints-\d{3}\.bicep", p))
    assets = sorted(p for p in large if re.fullmatch(r"modules/assets-\d{3}\.bicep", p))
    assert len(batches) > 1 and len(assets) > 1
    main = count(large["main.bicep"])
    assert list(main.modules) == assets + batches  # one call per batch, assets first
    endpoints = sum(count(large[b]).modules.count("endpoint-traffic.bicep") for b in batches)
    assert endpoints == SERVICES  # every endpoint in exactly one batch (one traffic step each)
    names = [re.findall(r"^  name: '(svc-\d{5})'$", large[b], re.MULTILINE) for b in batches]
    flat = [n for group in names for n in group]
    assert len(flat) == len(set(flat)) == SERVICES


def test_every_template_stays_under_arm_limits(large: dict[str, str]) -> None:
    templates = sorted(p for p in large if p.endswith(".bicep"))
    assert "main.bicep" in templates and "modules/endpoint-traffic.bicep" in templates
    for path in templates:
        counts = count(large[path])
        assert counts.resources <= MAX_RESOURCES, (path, counts)
        assert counts.parameters <= MAX_PARAMETERS, (path, counts)
        assert counts.outputs <= MAX_OUTPUTS, (path, counts)
        if path != "main.bicep":  # main.bicep inlines every batch: see the next test
            assert compiled_estimate(path, large) <= MAX_BYTES, (path, compiled_estimate)
    # Headroom, not just a pass: each batch stays at half the resource limit.
    for path in templates:
        if path.startswith(("modules/endpoints-", "modules/assets-")):
            assert count(large[path]).resources <= MAX_RESOURCES // 2, path


def test_each_batch_can_be_deployed_on_its_own(large: dict[str, str]) -> None:
    """main.bicep's compiled template holds every batch (Bicep inlines modules), so it grows
    with the workspace; each batch is its own template, deployable alone with its
    .bicepparam, which sets exactly the parameters the batch declares."""
    inlined = compiled_estimate("main.bicep", large)
    batches = sorted(p for p in large if re.fullmatch(r"modules/endpoints-\d{3}\.bicep", p))
    largest = max(compiled_estimate(b, large) for b in batches)
    assert inlined > largest * (len(batches) - 1)  # main.bicep carries them all
    for path in batches + sorted(
        p for p in large if re.fullmatch(r"modules/assets-\d{3}\.bicep", p)
    ):
        declared = set(re.findall(r"^param (\w+) ", large[path], re.MULTILINE))
        values = large[path + "param"]
        assert values.splitlines()[3] == f"using './{path.removeprefix('modules/')}'"
        assigned = set(re.findall(r"^param (\w+) = ", values, re.MULTILINE))
        assert assigned == declared, path
    # The batch parameter files parse (pycep, as a .bicepparam).
    first = parse_text(large[batches[0] + "param"], bicepparam=True)
    assert "endpointKeys" in first["variables"]  # svc-00000 keeps its keys


def test_asset_batches_keep_to_count_and_bytes() -> None:
    """Asset versions are packed by count (400 deployed resources) and by the bytes their
    conda files add once loadTextContent() inlines them into the compiled template."""
    from generator.plan.model import Asset
    from generator.render.bicep import _asset_batches

    def resource(kind: str, key: str, size: int = 0) -> dict[str, Any]:
        files = {"conda.yaml": b"x" * size} if size else {}
        return {"asset": Asset(kind=kind, key=key, properties={}, deployments=(), files=files)}

    small = [resource("code", f"c{i:04d}") for i in range(900)]
    found = _asset_batches({"resources": small})
    assert [len(b["resources"]) for b in found] == [400, 400, 100]
    assert [r for b in found for r in b["resources"]] == small  # all of them, in order
    assert [b["path"] for b in found] == [
        "modules/assets-001.bicep",
        "modules/assets-002.bicep",
        "modules/assets-003.bicep",
    ]
    big = [resource("environment", f"e{i}", 300_000) for i in range(7)]
    found = _asset_batches({"resources": big})
    assert [len(b["resources"]) for b in found] == [3, 3, 1]  # 3 x 300 KB fit in 1 MB, 4 not
    inlined = [sum(300_000 for _ in b["resources"]) for b in found]
    assert max(inlined) * COMPILED_PER_SOURCE_BYTE <= MAX_BYTES


def test_the_readme_says_when_a_workspace_is_large(large: dict[str, str]) -> None:
    """About 5 MB of Bicep for 1,200 services: far past what one deployment of main.bicep
    carries (1 MB compressed per job), so the README leads with the batch-by-batch path."""
    total = sum(len(t.encode("utf-8")) for p, t in large.items() if p.endswith(".bicep"))
    assert total > 3_000_000
    readme = large["README.md"]
    assert "**This workspace is large**" in readme
    assert "for values in modules/assets-*.bicepparam modules/endpoints-*.bicepparam" in readme
