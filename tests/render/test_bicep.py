"""Generated Bicep: layout, pycep parse, style rules B1-B13, keys, traffic, determinism."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from generator.pipeline import Options, generate, plan_from
from generator.plan.model import ML_API_VERSION, MigrationPlan
from generator.render.bicep import render_bicep
from tests.conftest import EXAMPLE, WORKSPACE, SnapshotFactory
from tests.render.test_cross_target import CASES, generate_case
from tests.support.bicep import Evaluator, bodies, parse, parse_text

WS = "mlw-contoso-prod"
LOWER_CAMEL = re.compile(r"^[a-z][A-Za-z0-9]*$")


@pytest.fixture(scope="module")
def example_plan() -> MigrationPlan:
    return plan_from(Options(input=EXAMPLE))[0]


@pytest.fixture(scope="module")
def example_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    generate(Options(input=EXAMPLE, out=out, targets=("bicep",)))
    return out


@pytest.fixture(scope="module")
def module_dir(example_out: Path) -> Path:
    return example_out / "bicep" / WS


@pytest.fixture(scope="module")
def main(module_dir: Path) -> dict[str, Any]:
    return parse(module_dir / "main.bicep")


def _bicep_files(root: Path) -> list[Path]:
    return sorted([*root.rglob("*.bicep"), *root.rglob("*.bicepparam")])


def _description(spec: dict[str, Any]) -> str | None:
    for d in spec.get("decorators", []):
        if d.get("type") == "description":
            return str(Evaluator({})(d["argument"]))
    return None


def test_layout(example_out: Path, module_dir: Path) -> None:
    files = sorted(str(p.relative_to(module_dir)) for p in module_dir.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "bicepconfig.json",
        "main.bicep",
        "main.bicepparam",
        "modules/endpoint-traffic.bicep",
        "upload-bundles.sh",
    ]
    assert not (example_out / "terraform").exists()  # --target bicep alone


def test_every_file_parses_with_pycep(
    module_dir: Path, make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    roots = [module_dir]
    for name, case in sorted(CASES.items()):
        out = generate_case(make_snapshot, tmp_path / name, case)
        roots.append(out / "bicep" / (case.get("workspace") or WORKSPACE)["name"])
    for root in roots:
        files = _bicep_files(root)
        assert len(files) == 3
        for path in files:
            parsed = parse(path)
            assert parsed, path


def test_deterministic(example_plan: MigrationPlan, tmp_path: Path) -> None:
    first = render_bicep(example_plan)
    assert first == render_bicep(example_plan)
    generate(Options(input=EXAMPLE, out=tmp_path / "a", targets=("bicep",)))
    generate(Options(input=EXAMPLE, out=tmp_path / "b", targets=("bicep",)))
    a, b = tmp_path / "a" / "bicep", tmp_path / "b" / "bicep"
    for path in sorted(a.rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (b / path.relative_to(a)).read_bytes()
    assert {f.path for f in first} == {
        f"bicep/{WS}/{n}"
        for n in (
            "main.bicep",
            "main.bicepparam",
            "modules/endpoint-traffic.bicep",
            "bicepconfig.json",
            "README.md",
            "upload-bundles.sh",
        )
    }


def test_formatting_like_bicep_format(module_dir: Path) -> None:
    for path in _bicep_files(module_dir):
        text = path.read_text(encoding="utf-8")
        assert text.endswith("\n") and not text.endswith("\n\n"), path
        assert "\r" not in text and "\t" not in text, path
        depth = 0
        for line in text.splitlines():
            assert line == line.rstrip(), (path, line)
            assert not line.rstrip().endswith(","), (path, line)
            if not line:
                continue
            indent = len(line) - len(line.lstrip(" "))
            stripped = line.strip()
            if stripped[0] in "}]":
                depth -= 1
            assert indent == 2 * depth, (path, line)
            if stripped[-1] in "{[" and not stripped.startswith("//"):
                depth += 1
        assert depth == 0, path
        assert '"' not in re.sub(r"'(?:[^'\\]|\\.)*'", "", re.sub(r"//.*", "", text)), path


def test_params_described_and_camel_case(module_dir: Path, main: dict[str, Any]) -> None:
    module = parse(module_dir / "modules" / "endpoint-traffic.bicep")
    for parsed in (main, module):
        for name, spec in parsed["parameters"].items():
            assert LOWER_CAMEL.match(name), name
            description = _description(spec)
            assert description and description.split(". ")[0] in {"Required", "Optional"}, name
            assert description.startswith("Optional.") == (spec["default"] is not None), name
        for name, spec in parsed.get("outputs", {}).items():
            assert LOWER_CAMEL.match(name), name
            assert _description(spec), name
        for section in ("resources", "modules", "variables", "types"):
            for name in parsed.get(section, {}):
                assert LOWER_CAMEL.match(name), (section, name)


def test_resources_follow_the_rules(module_dir: Path, main: dict[str, Any]) -> None:
    text = (module_dir / "main.bicep").read_text(encoding="utf-8")
    assert "resourceId(" not in text and "reference(" not in text
    resources = main["resources"]
    workspace = resources["workspace"]
    assert workspace["existing"] and workspace["config"]["name"] == "workspaceName"
    assert str(main["parameters"]["location"]["default"]["operator"]["operands"]["operand_2"]) == (
        "location"
    )
    kinds: dict[str, int] = {}
    for name, spec in resources.items():
        kind = spec["type"].rsplit("/", 1)[1]
        kinds[kind] = kinds.get(kind, 0) + 1
        if spec["existing"] or kind == "versions":  # asset versions have no location
            continue
        assert spec["config"]["location"] == "location", name  # the param, never a literal
        if kind in {"onlineEndpoints", "deployments"}:
            assert spec["api_version"] == ML_API_VERSION
            parent = str(spec["config"]["parent"])
            assert parent == ("workspace" if kind == "onlineEndpoints" else parent)
            assert parent in resources
            assert "/" not in str(Evaluator({})(spec["config"]["name"]))
        else:
            assert spec["type"] == "Microsoft.Insights/autoscalesettings"
            assert spec["api_version"] == "2022-10-01"
    assert kinds == {
        "workspaces": 1,
        "onlineEndpoints": 6,
        "deployments": 7,  # ab-endpoint has two versions
        "autoscalesettings": 1,
        "datastores": 1,  # existing: the default datastore
        "codes": 7,  # existing containers of the code versions: one per distinct code
        "environments": 4,  # ab-endpoint's versions and recs-aks-token register none
        "versions": 11,
    }


def test_traffic_modules(main: dict[str, Any], module_dir: Path) -> None:
    modules = main["modules"]
    assert len(modules) == 6
    for name, spec in modules.items():
        assert spec["detail"]["path"] == "modules/endpoint-traffic.bicep"
        config = spec["config"]
        endpoint = str(config["params"]["endpointName"]["operator"]["operands"]["operand_1"])
        assert config["name"] == "${uniqueString(" + endpoint + ".id, location)}-traffic"
        deployments = [str(d) for d in config["dependsOn"]]
        assert deployments and all(
            main["resources"][d]["type"].endswith("/deployments") for d in deployments
        )
        assert all(str(main["resources"][d]["config"]["parent"]) == endpoint for d in deployments)
        assert "traffic" in config["params"]["properties"], name
    found = bodies(module_dir)
    expected = {"ab-endpoint": {"versiona": 60, "versionb": 40}}
    for key, body in found.items():
        if key.startswith("traffic:"):
            name = key.split(":", 1)[1]
            created = found["endpoint:" + name]
            extra = {"mirrorTraffic": {"versiona": 0, "versionb": 0}} if name in expected else {}
            assert body == {
                **created,
                "properties": {
                    **created["properties"],
                    "traffic": expected.get(name, {"blue": 100}),
                    **extra,
                },
            }


def test_mirror_traffic_and_zero_weights_are_sent(example_plan: MigrationPlan) -> None:
    ws = example_plan.workspace
    endpoint = ws.endpoints[0]
    assert endpoint.name == "ab-endpoint"
    changed = replace(
        endpoint, traffic={"versiona": 100, "versionb": 0}, mirror_traffic={"versionb": 10}
    )
    plan = replace(example_plan, workspace=replace(ws, endpoints=(changed, *ws.endpoints[1:])))
    text = next(f.text for f in render_bicep(plan) if f.path.endswith("/main.bicepparam"))
    assert "'ab-endpoint': { versiona: 100, versionb: 0 }" in text
    assert "'ab-endpoint': { versiona: 0, versionb: 10 }" in text


def test_bicepparam(module_dir: Path) -> None:
    text = (module_dir / "main.bicepparam").read_text(encoding="utf-8")
    statements = [ln for ln in text.splitlines() if ln and not ln.startswith("//")]
    assert statements[0] == "using './main.bicep'"
    values = parse_text(text, bicepparam=True)["variables"]
    assert values["location"]["value"] == "westeurope"
    assert values["workspaceName"]["value"] == WS
    assert set(values) == {
        "location",
        "workspaceName",
        "datastoreName",
        "assetVersions",  # both from what upload-bundles.sh prints
        "traffic",
        "mirrorTraffic",
        "environmentIds",  # ab-endpoint's versions record no environment
    }
    assert set(values["environmentIds"]["value"].values()) == {""}
    assert text.count("// TODO(gen-iac):") == 1
    main = parse(module_dir / "main.bicep")
    assert main["types"]["resourceIdType"]["decorators"][-1] == {
        "type": "min_length",
        "argument": 1,
    }
    assert main["parameters"]["environmentIds"]["type"] == "environmentIdsType"
    declared = {k.strip("'") for k in main["types"]["environmentIdsType"]["value"]}
    assert declared == {k.strip("'") for k in values["environmentIds"]["value"]}


def test_bicepconfig_and_readme(module_dir: Path) -> None:
    config = json.loads((module_dir / "bicepconfig.json").read_text(encoding="utf-8"))
    rules = config["analyzers"]["core"]["rules"]
    for rule in ("no-hardcoded-location", "use-parameter-descriptions"):
        assert rules[rule]["level"] in {"warning", "error"}
    readme = (module_dir / "README.md").read_text(encoding="utf-8")
    for verb in ("what-if", "create"):
        assert f"az deployment group {verb} \\" in readme
    assert "--resource-group rg-ml-prod" in readme
    assert "--subscription 8f2d3c1e-5b7a-4e9c-9d21-6a0b4c3e2f10" in readme
    assert "--parameters main.bicepparam" in readme
    assert "GEN_IAC_ENDPOINT_KEYS" not in readme  # no endpoint keeps keys in the example


def test_no_keys_param_without_kept_keys(main: dict[str, Any]) -> None:
    assert "endpointKeys" not in main["parameters"]


KEYS = {
    "svc-a": {
        "primaryKey": "Pk-Alpha-0123456789abcdef",
        "secondaryKey": "Sk-Alpha-fedcba9876543210",
    },
    "svc-b": {"primaryKey": "Pk-Beta-0123456789abcdef", "secondaryKey": "Sk-Beta-fedcba9876543210"},
}


@pytest.fixture
def keyed_out(make_snapshot: SnapshotFactory, tmp_path: Path) -> Path:
    from tests.conftest import aci

    snapshot = make_snapshot([aci("svc-a"), aci("svc-b"), aci("svc-c")], KEYS)
    out = tmp_path / "out"
    generate(Options(input=snapshot, out=out, targets=("terraform", "bicep")))
    return out


def test_keys_never_written(keyed_out: Path) -> None:
    secrets = [v for pair in KEYS.values() for v in pair.values()]
    files = [p for p in keyed_out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".bicep" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, path


def test_keys_param_is_secure_and_never_output(keyed_out: Path) -> None:
    module_dir = keyed_out / "bicep" / WORKSPACE["name"]
    main = parse(module_dir / "main.bicep")
    spec = main["parameters"]["endpointKeys"]
    assert {"type": "secure"} in spec["decorators"]
    assert spec["default"] is None
    assert spec["type"] == "object"
    assert "endpointKeys" not in json.dumps(main.get("outputs", {}), default=str)
    assert "endpointKeys" not in json.dumps(main.get("modules", {}), default=str)
    assert "endpointKeys" not in (module_dir / "modules" / "endpoint-traffic.bicep").read_text()
    text = (module_dir / "main.bicep").read_text(encoding="utf-8")
    assert text.count("endpointKeys[") == 4  # primary + secondary, two endpoints
    param = (module_dir / "main.bicepparam").read_text(encoding="utf-8")
    assert "param endpointKeys = json(readEnvironmentVariable('GEN_IAC_ENDPOINT_KEYS'))" in param
    assert "GEN_IAC_ENDPOINT_KEYS" in (module_dir / "README.md").read_text(encoding="utf-8")
    found = bodies(module_dir)
    assert set(k for k in found if k.startswith("endpoint-secrets:")) == {
        "endpoint-secrets:svc-a",
        "endpoint-secrets:svc-b",
    }
    for key, body in found.items():
        if not key.startswith("endpoint-secrets:"):
            assert "test-primary" not in json.dumps(body), key  # keys only at creation
