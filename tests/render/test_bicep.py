"""Generated Bicep: layout, pycep parse, style rules B1-B13, keys, traffic, determinism."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from generator.files import GEN_IAC, PERSON, UnreadableFile
from generator.pipeline import Options, generate, plan_from
from generator.plan.model import ML_API_VERSION, MigrationPlan
from generator.render.bicep import render_bicep
from tests.conftest import EXAMPLE, WORKSPACE, SnapshotFactory
from tests.render.test_cross_target import CASES, generate_case
from tests.support.az import LiveDeployment, LiveEndpoint, Workspace
from tests.support.bicep import Evaluator, bodies, deployed, input_values, parse, parse_text
from tests.support.upload import empty_workspace, run_upload

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


@pytest.fixture(scope="module")
def batch(module_dir: Path) -> dict[str, Any]:
    """The example's one batch module (six endpoints fit in one)."""
    return parse(module_dir / "modules" / "endpoints-001.bicep")


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
        "inputs.json",
        "main.bicep",
        "main.bicepparam",
        "modules/assets-001.bicep",
        "modules/assets-001.bicepparam",
        "modules/endpoint-traffic.bicep",
        "modules/endpoints-001.bicep",
        "modules/endpoints-001.bicepparam",
        "traffic.json",
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
        names = {str(p.relative_to(root)) for p in files}
        assert {"main.bicep", "main.bicepparam", "modules/endpoint-traffic.bicep"} <= names
        assert any(n.startswith("modules/endpoints-") for n in names), root
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
            "traffic.json",
            "inputs.json",
            "modules/assets-001.bicep",
            "modules/assets-001.bicepparam",
            "modules/endpoints-001.bicep",
            "modules/endpoints-001.bicepparam",
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


def test_params_described_and_camel_case(
    module_dir: Path, main: dict[str, Any], batch: dict[str, Any]
) -> None:
    module = parse(module_dir / "modules" / "endpoint-traffic.bicep")
    for parsed in (main, module, batch):
        for name, spec in parsed["parameters"].items():
            assert LOWER_CAMEL.match(name), name
            description = _description(spec)
            assert description and description.split(". ")[0] in {"Required", "Optional"}, name
            assert description.startswith("Optional.") == (spec["default"] is not None), name
        for name, spec in parsed.get("outputs", {}).items():
            assert LOWER_CAMEL.match(name), name
            assert _description(spec), name
        for section in ("resources", "modules", "variables", "types", "functions"):
            for name in parsed.get(section, {}):
                assert LOWER_CAMEL.match(name), (section, name)


def test_resources_follow_the_rules(
    module_dir: Path, main: dict[str, Any], batch: dict[str, Any]
) -> None:
    for name in ("main.bicep", "modules/endpoints-001.bicep"):
        text = (module_dir / name).read_text(encoding="utf-8")
        assert "resourceId(" not in text and "reference(" not in text
    assert set(main["resources"]) == {"workspace"}  # main.bicep: parameters and batches only
    resources = batch["resources"]
    for parsed in (main, batch):
        workspace = parsed["resources"]["workspace"]
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
        "autoscalesettings": 3,  # fraud-aks; ab-endpoint's versions keep v1's default autoscale
        "codes": 7,  # existing containers of the code versions: one per distinct code
        "environments": 4,  # ab-endpoint's versions and recs-aks-token register none
        "versions": 11,  # existing here: the assets module creates them
    }
    assert all(s["existing"] for s in resources.values() if s["type"].endswith("/versions"))
    # The versions themselves: in the assets module, deployed before the endpoints.
    assets = parse(module_dir / "modules" / "assets-001.bicep")["resources"]
    created = [s for s in assets.values() if not s["existing"]]
    assert len(created) == 11 and all(s["type"].endswith("/versions") for s in created)
    assert assets["datastore"]["existing"]  # the default datastore the code is uploaded to


def test_main_calls_one_module_per_batch(main: dict[str, Any]) -> None:
    modules = main["modules"]
    assert list(modules) == ["assets001", "endpoints001"]
    assets = modules["assets001"]
    assert assets["detail"]["path"] == "modules/assets-001.bicep"
    assert set(assets["config"]["params"]) == {"assetVersions", "datastoreName", "workspaceName"}
    spec = modules["endpoints001"]
    assert spec["detail"]["path"] == "modules/endpoints-001.bicep"
    assert spec["config"]["name"] == "${uniqueString(workspace.id, location)}-endpoints-001"
    assert [str(d) for d in spec["config"]["dependsOn"]] == ["assets001"]
    assert set(spec["config"]["params"]) == {
        "assetVersions",
        "environmentIds",
        "location",
        "mirrorTraffic",
        "live",
        "traffic",
        "workspaceName",
    }
    assert all(str(v) == k for k, v in spec["config"]["params"].items())  # passed as they are


def test_traffic_modules(batch: dict[str, Any], module_dir: Path) -> None:
    modules = batch["modules"]
    assert len(modules) == 6
    for name, spec in modules.items():
        assert spec["detail"]["path"] == "endpoint-traffic.bicep"  # beside the batch
        config = spec["config"]
        endpoint = str(config["params"]["endpointName"]["operator"]["operands"]["operand_1"])
        assert config["name"] == "${uniqueString(" + endpoint + ".id, location)}-traffic"
        deployments = [str(d) for d in config["dependsOn"]]
        assert deployments and all(
            batch["resources"][d]["type"].endswith("/deployments") for d in deployments
        )
        assert all(str(batch["resources"][d]["config"]["parent"]) == endpoint for d in deployments)
        assert "traffic" in config["params"]["properties"], name
    found = bodies(module_dir)
    expected = {"ab-endpoint": {"versiona": 60, "versionb": 40}}
    traffic_steps = [k for k in found if k.startswith("traffic:")]
    assert len(traffic_steps) == 6
    for key in traffic_steps:
        name = key.split(":", 1)[1]
        created = found["endpoint:" + name]
        extra = {"mirrorTraffic": {"versiona": 0, "versionb": 0}} if name in expected else {}
        assert found[key] == {
            **created,
            "properties": {
                **created["properties"],
                "traffic": expected.get(name, {"blue": 100}),
                **extra,
            },
        }


def test_first_deployment_puts_endpoints_without_traffic(module_dir: Path) -> None:
    """An empty workspace (the first deployment, found so by upload-bundles.sh): no deployment
    exists yet, so the endpoints' own PUT carries no traffic; the traffic step sets it
    afterwards."""
    found = bodies(module_dir)
    endpoints = [k for k in found if k.startswith("endpoint:")]
    assert len(endpoints) == 6
    for key in endpoints:
        assert "traffic" not in found[key]["properties"], key
        assert "mirrorTraffic" not in found[key]["properties"], key


def test_redeploy_puts_endpoints_with_the_traffic_they_have(
    module_dir: Path, tmp_path: Path
) -> None:
    """A redeploy, with no setting to remember: upload-bundles.sh finds the endpoints in ARM,
    and every endpoint's own PUT carries the traffic it has, so no moment has 0 %. A changed
    split in traffic.json goes out only in the traffic step, after the deployments it names
    are updated; the endpoint's first PUT keeps the live one."""
    live = deployed(module_dir)
    found = bodies(module_dir, workspace=live)
    assert found["endpoint:ab-endpoint"]["properties"]["traffic"] == {
        "versiona": 60,
        "versionb": 40,
    }
    assert found["endpoint:ab-endpoint"]["properties"]["mirrorTraffic"] == {
        "versiona": 0,
        "versionb": 0,
    }
    for name in ("churn-aci", "fraud-aks", "ocr-aci-private", "recs-aks-token", "sentiment-aci"):
        assert found[f"endpoint:{name}"]["properties"]["traffic"] == {"blue": 100}, name
        assert "mirrorTraffic" not in found[f"endpoint:{name}"]["properties"], name
    # The same bodies as the first deployment otherwise.
    first = bodies(module_dir)
    for key, body in first.items():
        if key.startswith("endpoint:"):
            redeployed = found[key]["properties"]
            assert {k: v for k, v in redeployed.items() if "raffic" not in k} == body["properties"]
        else:
            assert found[key] == body, key
    # A changed split and a mirror: the endpoint's own PUT keeps what is live, the traffic
    # step (which depends on every deployment of the endpoint) sends the new split.
    copy = tmp_path / "out"
    shutil.copytree(module_dir.parent.parent, copy)
    changed = copy / "bicep" / WS
    path = changed / "traffic.json"
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        '"ab-endpoint": {"versiona": 60, "versionb": 40}',
        '"ab-endpoint": {"versiona": 100, "versionb": 0}',
    ).replace(
        '"ab-endpoint": {"versiona": 0, "versionb": 0}',
        '"ab-endpoint": {"versiona": 0, "versionb": 20}',
    )
    path.write_text(text, encoding="utf-8")
    again = bodies(changed, workspace=live)
    assert again["endpoint:ab-endpoint"]["properties"]["traffic"] == {
        "versiona": 60,
        "versionb": 40,
    }
    assert again["endpoint:ab-endpoint"]["properties"]["mirrorTraffic"] == {
        "versiona": 0,
        "versionb": 0,
    }
    assert again["traffic:ab-endpoint"]["properties"]["traffic"] == {"versiona": 100, "versionb": 0}
    assert again["traffic:ab-endpoint"]["properties"]["mirrorTraffic"] == {
        "versiona": 0,
        "versionb": 20,
    }
    step = parse(changed / "modules" / "endpoints-001.bicep")["modules"]["trafficAbEndpoint"]
    assert {str(d) for d in step["config"]["dependsOn"]} == {
        "deploymentAbEndpointVersiona",
        "deploymentAbEndpointVersionb",
    }
    # Endpoints that do not exist yet (a re-run added them) are PUT without traffic.
    some = replace(live, endpoints=[e for e in live.endpoints if e.name == "sentiment-aci"])
    partly = bodies(module_dir, workspace=some)
    assert "traffic" not in partly["endpoint:churn-aci"]["properties"]
    assert "traffic" not in partly["endpoint:fraud-aks"]["properties"]
    assert partly["endpoint:sentiment-aci"]["properties"]["traffic"] == {"blue": 100}


def test_autoscaled_capacity_is_kept(module_dir: Path) -> None:
    """autoscale owns sku.capacity: a deployment that exists is PUT with the instance count it
    has (read from ARM by upload-bundles.sh), not the generated one; a new one starts at the
    generated count; a deployment without autoscale keeps the generated count."""
    first = bodies(module_dir)
    assert first["deployment:fraud-aks/blue"]["sku"]["capacity"] == 2
    live = deployed(module_dir, capacity={"fraud-aks/blue": 7, "churn-aci/blue": 5})
    found = bodies(module_dir, workspace=live)
    assert found["deployment:fraud-aks/blue"]["sku"] == {
        **first["deployment:fraud-aks/blue"]["sku"],
        "capacity": 7,
    }
    # churn-aci has no autoscale setting: its count is the person's, from the template.
    assert found["deployment:churn-aci/blue"]["sku"] == first["deployment:churn-aci/blue"]["sku"]


def test_sibling_deployments_form_a_chain(batch: dict[str, Any], module_dir: Path) -> None:
    resources = batch["resources"]
    deployments = {
        n: s for n, s in resources.items() if s["type"].endswith("/onlineEndpoints/deployments")
    }
    by_endpoint: dict[str, list[str]] = {}
    for name, spec in deployments.items():  # pycep keeps file order
        by_endpoint.setdefault(str(spec["config"]["parent"]), []).append(name)
    assert by_endpoint["endpointAbEndpoint"] == [
        "deploymentAbEndpointVersiona",
        "deploymentAbEndpointVersionb",
    ]
    for names in by_endpoint.values():
        first, rest = names[0], names[1:]
        # The first deployment of each endpoint waits for nothing but its own references:
        # endpoints stay parallel.
        assert "dependsOn" not in deployments[first]["config"], first
        for previous, name in zip(names, rest, strict=False):
            assert [str(d) for d in deployments[name]["config"]["dependsOn"]] == [previous]
    assert len(by_endpoint) == 6


def test_mirror_traffic_and_zero_weights_are_sent(example_plan: MigrationPlan) -> None:
    ws = example_plan.workspace
    endpoint = ws.endpoints[0]
    assert endpoint.name == "ab-endpoint"
    changed = replace(
        endpoint, traffic={"versiona": 100, "versionb": 0}, mirror_traffic={"versionb": 10}
    )
    plan = replace(example_plan, workspace=replace(ws, endpoints=(changed, *ws.endpoints[1:])))
    text = next(f.text for f in render_bicep(plan) if f.path.endswith("/traffic.json"))
    assert '"ab-endpoint": {"versiona": 100, "versionb": 0},' in text
    assert '"ab-endpoint": {"versiona": 0, "versionb": 10}' in text
    assert json.loads(text) == {
        "mirrorTraffic": {"ab-endpoint": {"versiona": 0, "versionb": 10}},
        "traffic": {
            "ab-endpoint": {"versiona": 100, "versionb": 0},
            "churn-aci": {"blue": 100},
            "fraud-aks": {"blue": 100},
            "ocr-aci-private": {"blue": 100},
            "recs-aks-token": {"blue": 100},
            "sentiment-aci": {"blue": 100},
        },
    }


def test_traffic_and_inputs_json_are_the_persons_files(example_plan: MigrationPlan) -> None:
    files = {f.path.rsplit("/", 1)[1]: f for f in render_bicep(example_plan)}
    mine = {"traffic.json", "inputs.json"}
    for name in mine:
        assert files[name].owner == PERSON and files[name].merge is not None
        # Unchanged on disk: the same bytes back.
        merge = files[name].merge
        assert merge is not None and merge(files[name].content) == files[name].content
    assert all(f.owner == GEN_IAC for name, f in files.items() if name not in mine)


def test_inputs_merge_keeps_what_a_person_filled_in(example_plan: MigrationPlan) -> None:
    files = {f.path.rsplit("/", 1)[1]: f for f in render_bicep(example_plan)}
    inputs = files["inputs.json"]
    generated = json.loads(inputs.text)
    assert generated == {
        "//environmentIds": "Required: the environment version ARM id of every deployment "
        "listed; an empty value fails validation before anything is deployed.",
        "environmentIds": {"ab-endpoint/versiona": "", "ab-endpoint/versionb": ""},
    }
    filled = {
        "//environmentIds": "an old help text",
        "environmentIds": {
            "ab-endpoint/versiona": "/subscriptions/s/environments/e/versions/1",
            "gone/blue": "/subscriptions/s/environments/g/versions/1",
        },
    }
    assert inputs.merge is not None
    merged = json.loads(inputs.merge(json.dumps(filled).encode("utf-8")))
    assert merged == {
        "//environmentIds": generated["//environmentIds"],
        "environmentIds": {
            "ab-endpoint/versiona": "/subscriptions/s/environments/e/versions/1",  # kept
            "ab-endpoint/versionb": "",  # still to fill in
        },  # gone/blue dropped
    }
    # Not JSON, or not an object: the run stops with the position, never a silent non-merge.
    with pytest.raises(UnreadableFile, match="1:1: invalid JSON"):
        inputs.merge(b"not json")
    with pytest.raises(UnreadableFile, match="field 'environmentIds': expected an object"):
        inputs.merge(b'{"environmentIds": []}')
    # A byte order mark is read; keys the person added stay.
    bom = b"\xef\xbb\xbf" + json.dumps({**filled, "note": "ours"}).encode()
    assert json.loads(inputs.merge(bom))["note"] == "ours"


def test_a_batch_deploys_on_its_own_with_the_same_bodies(module_dir: Path) -> None:
    """modules/endpoints-NNN.bicepparam deploys one batch alone (workspaces too large for one
    deployment of main.bicep) from the same values: the same bodies as through main.bicep."""
    for live in (None, deployed(module_dir, capacity={"fraud-aks/blue": 5})):
        through_main = bodies(module_dir, workspace=live)
        alone = {}
        for template in ("modules/assets-001.bicep", "modules/endpoints-001.bicep"):
            alone.update(bodies(module_dir, workspace=live, template=template))
        assert alone == through_main


def _traffic(text: bytes) -> Any:
    return json.loads(text.decode("utf-8"))


def test_traffic_merge_keeps_the_persons_split(example_plan: MigrationPlan) -> None:
    ws = example_plan.workspace
    disk = {
        "mirrorTraffic": {"ab-endpoint": {"versiona": 0, "versionb": 30}},
        "traffic": {
            "ab-endpoint": {"versiona": 100, "versionb": 0},
            "churn-aci": {"blue": 100},
            "gone-endpoint": {"blue": 100},  # removed from the snapshot since
            "sentiment-aci": {"blue": 0},  # a person turned it off
        },
    }
    # The re-run's plan: fraud-aks gains a deployment `green`.
    fraud = next(e for e in ws.endpoints if e.name == "fraud-aks")
    green = replace(fraud.deployments[0], name="green")
    grown = replace(
        fraud, deployments=(*fraud.deployments, green), traffic={"blue": 100, "green": 0}
    )
    plan = replace(
        example_plan,
        workspace=replace(
            ws, endpoints=tuple(grown if e.name == "fraud-aks" else e for e in ws.endpoints)
        ),
    )
    traffic = next(f for f in render_bicep(plan) if f.path.endswith("/traffic.json"))
    assert traffic.merge is not None
    merged = traffic.merge(json.dumps(disk).encode("utf-8"))
    assert _traffic(merged) == {
        "mirrorTraffic": {
            "ab-endpoint": {"versiona": 0, "versionb": 30},  # kept
            "fraud-aks": {"blue": 0, "green": 0},  # two deployments now: it can mirror
        },
        "traffic": {
            "ab-endpoint": {"versiona": 100, "versionb": 0},  # kept
            "churn-aci": {"blue": 100},
            "fraud-aks": {"blue": 100, "green": 0},  # new endpoint line: initial split
            "ocr-aci-private": {"blue": 100},
            "recs-aks-token": {"blue": 100},
            "sentiment-aci": {"blue": 0},  # kept
        },  # gone-endpoint dropped
    }
    lines = merged.decode("utf-8").splitlines()
    assert '    "ab-endpoint": {"versiona": 100, "versionb": 0},' in lines  # one line each
    # A person's split on an endpoint that gains a deployment: theirs, the new one at 0.
    disk["traffic"]["fraud-aks"] = {"blue": 100}
    again = _traffic(traffic.merge(json.dumps(disk).encode("utf-8")))
    assert again["traffic"]["fraud-aks"] == {"blue": 100, "green": 0}
    # A removed deployment that still had traffic: the split is no longer valid, so the
    # endpoint gets gen-iac's split rather than one the deployment would refuse.
    disk["traffic"]["ab-endpoint"] = {"versiona": 50, "versionb": 25, "versionc": 25}
    again = _traffic(traffic.merge(json.dumps(disk).encode("utf-8")))
    assert again["traffic"]["ab-endpoint"] == {"versiona": 60, "versionb": 40}
    # Not JSON (a person's half-done edit) or not the expected shape: the run stops.
    with pytest.raises(UnreadableFile, match="1:3: invalid JSON"):
        traffic.merge(b"{ not json")
    with pytest.raises(UnreadableFile, match="expected a JSON object"):
        traffic.merge(b"[]")
    with pytest.raises(UnreadableFile, match=r"field 'traffic\.ab-endpoint': expected an object"):
        traffic.merge(json.dumps({**disk, "traffic": {"ab-endpoint": 5}}).encode())
    with pytest.raises(UnreadableFile, match="2:3: duplicate key 'traffic'"):
        traffic.merge(b'{"traffic": {},\n  "traffic": {}, "mirrorTraffic": {}}')
    # A dark launch written as 0.0 stays dark; a BOM is read; the person's own keys stay.
    disk["traffic"]["sentiment-aci"] = {"blue": 0.0}  # type: ignore[dict-item]
    bom = b"\xef\xbb\xbf" + json.dumps({**disk, "$comment": {"why": "ours"}}).encode()
    merged = traffic.merge(bom)
    assert _traffic(merged)["traffic"]["sentiment-aci"] == {"blue": 0}
    assert json.loads(merged)["$comment"] == {"why": "ours"}


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
        "live",  # and this
        "traffic",
        "mirrorTraffic",
        "environmentIds",  # ab-endpoint's versions record no environment
    }
    assert "TODO" not in text
    for name, file in (
        ("traffic", "traffic.json"),
        ("mirrorTraffic", "traffic.json"),
        ("environmentIds", "inputs.json"),
    ):
        call = values[name]["value"]["function"]
        assert call["type"] == "load_json_content"
        assert list(call["parameters"].values())[:2] == [file, f"$.{name}"]
    placeholders = json.loads((module_dir / "inputs.json").read_text(encoding="utf-8"))
    assert set(placeholders["environmentIds"].values()) == {""}
    main = parse(module_dir / "main.bicep")
    assert main["types"]["resourceIdType"]["decorators"][-1] == {
        "type": "min_length",
        "argument": 1,
    }
    assert main["parameters"]["environmentIds"]["type"] == "environmentIdsType"
    declared = {k.strip("'") for k in main["types"]["environmentIdsType"]["value"]}
    assert declared == set(placeholders["environmentIds"])


def test_no_todo_in_generated_bicep(module_dir: Path, keyed_out: Path) -> None:
    for root in (module_dir, keyed_out / "bicep" / WORKSPACE["name"]):
        for path in _bicep_files(root):
            assert "TODO" not in path.read_text(encoding="utf-8"), path


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
    assert "This workspace is large" not in readme  # one deployment of main.bicep carries it


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
    batch = parse(module_dir / "modules" / "endpoints-001.bicep")
    for parsed in (main, batch):
        spec = parsed["parameters"]["endpointKeys"]
        assert {"type": "secure"} in spec["decorators"]
        assert spec["default"] is None
        assert spec["type"] == "object"
        assert "endpointKeys" not in json.dumps(parsed.get("outputs", {}), default=str)
    # main.bicep passes the secure object to the batch module (secure there too), no further.
    assert str(main["modules"]["endpoints001"]["config"]["params"]["endpointKeys"]) == (
        "endpointKeys"
    )
    assert "endpointKeys" not in json.dumps(batch.get("modules", {}), default=str)
    assert "endpointKeys" not in (module_dir / "modules" / "endpoint-traffic.bicep").read_text()
    text = (module_dir / "modules" / "endpoints-001.bicep").read_text(encoding="utf-8")
    assert text.count("endpointKeys[") == 4  # primary + secondary, two endpoints
    assert text.count("contains(endpointKeys, ") == 2
    param = (module_dir / "main.bicepparam").read_text(encoding="utf-8")
    assert (
        "param endpointKeys = json(readEnvironmentVariable('GEN_IAC_ENDPOINT_KEYS', '{}'))" in param
    )
    assert "GEN_IAC_ENDPOINT_KEYS" in (module_dir / "README.md").read_text(encoding="utf-8")
    found = bodies(module_dir)
    assert set(k for k in found if k.startswith("endpoint-secrets:")) == {
        "endpoint-secrets:svc-a",
        "endpoint-secrets:svc-b",
    }
    assert found["endpoint-secrets:svc-a"]["properties"]["keys"] == {
        "primaryKey": "test-primary-svc-a",
        "secondaryKey": "test-secondary-svc-a",
    }
    for key, body in found.items():
        if not key.startswith("endpoint-secrets:"):
            assert "test-primary" not in json.dumps(body), key  # keys only at creation


def test_keys_only_at_creation(keyed_out: Path) -> None:
    """Keys go to an endpoint that does not exist yet, never again: with the keys still set
    (a pipeline secret), a redeploy sends none, so a rotation made since is never reverted;
    an endpoint added later gets its keys when it is created. Unset, nothing needs a secret."""
    module_dir = keyed_out / "bicep" / WORKSPACE["name"]
    values = input_values(module_dir)
    live = deployed(module_dir, values)
    later = bodies(module_dir, values, workspace=live)
    assert not [k for k in later if k.startswith("endpoint-secrets:")]
    assert later["endpoint:svc-a"]["properties"]["traffic"] == {"blue": 100}
    unset = {k: v for k, v in values.items() if k != "endpointKeys"}
    assert not [k for k in bodies(module_dir, unset) if k.startswith("endpoint-secrets:")]
    # svc-b is new in this deployment (a re-run added it): it alone is sent its keys.
    some = replace(live, endpoints=[e for e in live.endpoints if e.name != "svc-b"])
    alone = bodies(module_dir, values, workspace=some, template="modules/endpoints-001.bicep")
    added = bodies(module_dir, values, workspace=some)
    # The batch deployed on its own sends the same, keys included (assets aside: their module).
    assert alone == {k: v for k, v in added.items() if not k.startswith(("code:", "environment:"))}
    assert [k for k in added if k.startswith("endpoint-secrets:")] == ["endpoint-secrets:svc-b"]
    assert added["endpoint-secrets:svc-b"]["properties"]["keys"] == {
        "primaryKey": "test-primary-svc-b",
        "secondaryKey": "test-secondary-svc-b",
    }
    assert "traffic" not in added["endpoint:svc-b"]["properties"]


# ---- upload-bundles.sh: what exists in the workspace, read from ARM (az stood in for) ----


def _live(module_dir: Path, *endpoints: LiveEndpoint, page_size: int = 100) -> Workspace:
    return replace(empty_workspace(module_dir), endpoints=list(endpoints), page_size=page_size)


def test_the_script_reads_every_page_and_reports_undeclared_endpoints(module_dir: Path) -> None:
    """Endpoints come from every page of ARM's list (az rest does not follow nextLink); the
    declared ones that exist are handed over with their traffic, autoscaled deployments with
    their instance count; an endpoint the templates do not declare is named on stderr and
    left out (nothing deletes it)."""
    live = _live(
        module_dir,
        LiveEndpoint("churn-aci", {"blue": 100}, deployments=[LiveDeployment("blue", 3)]),
        LiveEndpoint("hand-made", {"default": 100}, deployments=[LiveDeployment("default")]),
        LiveEndpoint(
            "ab-endpoint",
            {"versiona": 70, "versionb": 30},
            {"versionb": 10},
            [LiveDeployment("versiona"), LiveDeployment("versionb")],
        ),
        LiveEndpoint("fraud-aks", {"blue": 100}, deployments=[LiveDeployment("blue", 6)]),
        page_size=2,
    )
    run = run_upload(module_dir, "--dry-run", workspace=live)
    assert run.returncode == 0, run.stderr
    assert run.answer["live"] == {
        "endpoints": {
            "churn-aci": {"traffic": {"blue": 100}},
            "ab-endpoint": {
                "traffic": {"versiona": 70, "versionb": 30},
                "mirrorTraffic": {"versionb": 10},
            },
            "fraud-aks": {"traffic": {"blue": 100}},
        },
        # fraud-aks/blue and ab-endpoint's versions (no replica count: v1 autoscaled them)
        # have autoscale settings; churn-aci's count is the template's.
        "capacity": {"ab-endpoint/versiona": 1, "ab-endpoint/versionb": 1, "fraud-aks/blue": 6},
    }
    listed = [u for u in run.urls if "/onlineEndpoints?" in u]
    assert any(u.endswith("&$skipToken=1") for u in listed)  # the second page was read
    assert len(listed) == 2  # one GET a page
    assert sorted(u for u in run.urls if "/deployments?" in u) == [
        f"{live.id}/onlineEndpoints/{name}/deployments?api-version={ML_API_VERSION}"
        for name in ("ab-endpoint", "fraud-aks")
    ]
    lines = run.stderr.splitlines()
    assert [ln for ln in lines if "hand-made" in ln] == [
        "upload-bundles: endpoint hand-made is in the workspace but not in these templates: "
        "left as it is"
    ]
    assert "1 endpoint(s) not in these templates; nothing deletes them" in run.stderr
    assert not [c for c in run.calls if c[0] != "rest" or c[2] != "get"]  # reads only


@pytest.mark.parametrize(
    ("traffic", "mirror", "says"),
    [
        ({"versiona": 50, "versionb": 0, "canary": 50}, {}, "has 50 % of its traffic"),
        ({"versiona": 100, "canary": 0}, {"canary": 20}, "has 20 % of its mirror-traffic"),
    ],
)
def test_the_script_refuses_to_drain_an_undeclared_deployment_unasked(
    module_dir: Path, traffic: dict[str, int], mirror: dict[str, int], says: str
) -> None:
    """Deletes drain first: a deployment the templates do not declare (made by hand, or
    retired from them) that still has traffic would lose it in the traffic step without
    anyone choosing so. The script stops before anything is deployed, in one line."""
    deployments = [LiveDeployment(n) for n in ("versiona", "versionb", "canary")]
    live = _live(module_dir, LiveEndpoint("ab-endpoint", traffic, mirror, deployments))
    run = run_upload(module_dir, "--dry-run", workspace=live)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.splitlines()[-1] == (
        f"upload-bundles: endpoint ab-endpoint: deployment canary is not in these templates but "
        f"{says}: move it first (az ml online-endpoint update --name ab-endpoint "
        f"--{says.rsplit(' ', 1)[1]} ...), then deploy"
    )
    # Drained (0 %), it is left alone and out of what the deployment is handed.
    drained = _live(
        module_dir,
        LiveEndpoint("ab-endpoint", {"versiona": 100, "versionb": 0, "canary": 0}, {}, deployments),
    )
    ok = run_upload(module_dir, "--dry-run", workspace=drained)
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr.splitlines() == [
        "upload-bundles: endpoint ab-endpoint: deployment canary is not in these templates and "
        "has no traffic: left as it is (az ml online-deployment delete --endpoint-name "
        "ab-endpoint --name canary deletes it)"
    ]
    assert ok.answer["live"] == {
        "capacity": {"ab-endpoint/versiona": 1, "ab-endpoint/versionb": 1},
        "endpoints": {"ab-endpoint": {"traffic": {"versiona": 100, "versionb": 0}}},
    }


def test_the_script_stops_on_a_failed_or_strange_answer(module_dir: Path) -> None:
    """A listing cut short would make live endpoints look new (PUT without traffic): any
    failed GET stops the script with nothing on stdout. Names and numbers from ARM are checked
    before they reach the JSON or a message."""
    endpoints = [LiveEndpoint(f"e{n}", {"blue": 100}) for n in range(3)]
    second_page = f"{empty_workspace(module_dir).id}/onlineEndpoints?api-version={ML_API_VERSION}"
    throttled = replace(_live(module_dir, *endpoints, page_size=2), failing={second_page})
    run = run_upload(module_dir, "--dry-run", workspace=throttled)
    assert run.returncode != 0 and run.stdout == ""
    assert "throttled" in run.stderr
    hostile = _live(module_dir, LiveEndpoint("x$(touch pwned)", {"blue": 100}))
    run = run_upload(module_dir, "--dry-run", workspace=hostile)
    assert run.returncode == 1 and run.stdout == "" and not (module_dir / "pwned").exists()
    assert run.stderr == "upload-bundles: unexpected endpoint name in ARM's answer\n"
    strange = _live(module_dir, LiveEndpoint("churn-aci", {'blue","x': 100}))
    run = run_upload(module_dir, "--dry-run", workspace=strange)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == "upload-bundles: endpoint churn-aci: unexpected traffic in ARM's answer\n"
    zero_padded = _live(
        module_dir,
        LiveEndpoint("fraud-aks", {"blue": 100}, deployments=[LiveDeployment("blue", -1)]),
    )
    run = run_upload(module_dir, "--dry-run", workspace=zero_padded)
    assert run.returncode == 1 and "unexpected instance count of blue" in run.stderr


def test_a_new_deployment_beside_the_old_gets_traffic_through_traffic_json(
    module_dir: Path, tmp_path: Path
) -> None:
    """What Azure refuses in place becomes a deployment beside the old one: the endpoint keeps
    its live split while the new deployment is created, and traffic moves to it only through
    traffic.json (at 0 % until a person moves it), in the traffic step after it exists."""
    copy = tmp_path / "out"
    shutil.copytree(module_dir.parent.parent, copy)
    changed = copy / "bicep" / WS
    path = changed / "traffic.json"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            '"ab-endpoint": {"versiona": 60, "versionb": 40}',
            '"ab-endpoint": {"versiona": 100, "versionb": 0}',
        ),
        encoding="utf-8",
    )
    # versiona is live with all the traffic; versionb is new in the templates.
    old = _live(
        changed, LiveEndpoint("ab-endpoint", {"versiona": 100}, {}, [LiveDeployment("versiona")])
    )
    found = bodies(changed, workspace=old)
    assert found["endpoint:ab-endpoint"]["properties"]["traffic"] == {"versiona": 100}
    assert "deployment:ab-endpoint/versionb" in found
    assert found["traffic:ab-endpoint"]["properties"]["traffic"] == {"versiona": 100, "versionb": 0}
    # Once it runs, the person moves the traffic in traffic.json; the endpoint's own PUT
    # still carries the live split, the traffic step the new one.
    path.write_text(
        text.replace(
            '"ab-endpoint": {"versiona": 60, "versionb": 40}',
            '"ab-endpoint": {"versiona": 0, "versionb": 100}',
        ),
        encoding="utf-8",
    )
    both = _live(
        changed,
        LiveEndpoint(
            "ab-endpoint",
            {"versiona": 100, "versionb": 0},
            {},
            [LiveDeployment("versiona"), LiveDeployment("versionb")],
        ),
    )
    moved = bodies(changed, workspace=both)
    assert moved["endpoint:ab-endpoint"]["properties"]["traffic"] == {
        "versiona": 100,
        "versionb": 0,
    }
    assert moved["traffic:ab-endpoint"]["properties"]["traffic"] == {"versiona": 0, "versionb": 100}


def test_retired_with_delete_drains_first_and_says_how_to_delete(tmp_path: Path) -> None:
    """--retire ENDPOINT/DEPLOYMENT=delete on Bicep: the endpoint's own PUT keeps the live
    split (the deployment still exists), the traffic step names it at 0, and upload-bundles.sh
    says to delete it afterwards (a Bicep deployment deletes nothing). An endpoint retired with
    delete is named with its delete command; nothing else about it changes."""
    snapshot = tmp_path / "snapshot"
    shutil.copytree(EXAMPLE, snapshot)
    out = tmp_path / "out"
    generate(Options(input=snapshot, out=out, targets=("bicep",)))
    path = snapshot / "snapshot.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    ab = next(s for s in doc["services"] if s["name"] == "ab-endpoint")
    del ab["versions"]["versionb"]
    ab["versions"]["versiona"]["trafficPercentile"] = 100.0
    doc["services"] = [s for s in doc["services"] if s["name"] != "churn-aci"]
    path.write_text(json.dumps(doc), encoding="utf-8")
    generate(Options(input=snapshot, out=out, targets=("bicep",)))  # both kept
    retire = {"ab-endpoint/versionb": "delete", "churn-aci": "delete"}
    generate(Options(input=snapshot, out=out, targets=("bicep",), retire=retire))
    module_dir = out / "bicep" / WS
    live = replace(
        empty_workspace(module_dir),
        endpoints=[
            LiveEndpoint(
                "ab-endpoint",
                {"versiona": 60, "versionb": 40},
                {},
                [LiveDeployment("versiona"), LiveDeployment("versionb")],
            ),
            LiveEndpoint("churn-aci", {"blue": 100}, {}, [LiveDeployment("blue")]),
        ],
    )
    run = run_upload(module_dir, "--dry-run", workspace=live)
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == [
        "upload-bundles: endpoint ab-endpoint: deployment versionb is retired: this deployment "
        "moves its 40 % away; then delete it (az ml online-deployment delete --endpoint-name "
        "ab-endpoint --name versionb)",
        "upload-bundles: endpoint churn-aci is retired: a Bicep deployment deletes nothing; "
        "delete it (az ml online-endpoint delete --name churn-aci)",
    ]
    found = bodies(module_dir, workspace=live)
    assert "deployment:ab-endpoint/versionb" not in found
    assert found["endpoint:ab-endpoint"]["properties"]["traffic"] == {
        "versiona": 60,
        "versionb": 40,
    }
    assert found["traffic:ab-endpoint"]["properties"]["traffic"] == {
        "versiona": 100,
        "versionb": 0,
    }
    assert "endpoint:churn-aci" not in found
