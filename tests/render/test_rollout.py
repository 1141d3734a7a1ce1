"""Rollout controls in the generated code (issue 5), read back as Terraform and ARM would:

- Terraform: the traffic step lists every deployment, its values come from
  rollout.auto.tfvars, and the variable validations and traffic preconditions, evaluated by
  tfparse, really refuse bad splits;
- Bicep: the traffic module's parameter decorators refuse bad splits; valid ones reach the
  module's full PUT;
- a traffic change is a one-line diff in either target;
- Kubernetes bodies agree with azure-ai-ml's KubernetesOnlineEndpoint/-Deployment REST forms.
"""

from __future__ import annotations

import difflib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator.pipeline import GenerateResult, Options, generate
from generator.sources.overrides import Override
from tests.conftest import WORKSPACE, aci, aks
from tests.support import bicep as bicep_support
from tests.support import terraform as terraform_support

WS = {**WORKSPACE, "publicNetworkAccess": "Disabled"}  # private: managed-only fields appear
WORKSPACE_ID = (
    f"/subscriptions/{WS['subscriptionId']}/resourceGroups/{WS['resourceGroup']}"
    f"/providers/Microsoft.MachineLearningServices/workspaces/{WS['name']}"
)
# The resource group a Bicep deployment runs in: the plan's workspace's.
SCOPE = {"subscriptionId": WS["subscriptionId"], "resourceGroup": WS["resourceGroup"]}
K8S = Override(endpoint_kind="kubernetes", compute="k8s")
OVERRIDES = {"k8s-ab": K8S, "k8s-svc": K8S}


def version(name: str, percent: float, default: bool = False, **fields: Any) -> dict[str, Any]:
    payload = aks(name, appInsightsEnabled=False, **fields)
    payload.update({"trafficPercentile": percent, "isDefault": default})
    return payload


def aks_endpoint(name: str, *versions: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "computeType": "AKSENDPOINT",
        "authEnabled": True,
        "description": f"{name} versions",
        "kvTags": {"team": "risk"},
        "versions": {v["name"]: v for v in versions},
    }


def services(ab_split: tuple[float, float] = (70.0, 30.0)) -> list[dict[str, Any]]:
    return [
        aks_endpoint(
            "ab-test",
            version("control", ab_split[0], True, type="Control"),
            version("treatment", ab_split[1], type="Treatment"),
        ),
        aks_endpoint(
            "trio", version("alpha", 33.3, True), version("beta", 33.3), version("gamma", 33.4)
        ),
        aci("single-aci"),
        aks_endpoint(
            "k8s-ab",
            version("blue-v1", 50.0, True),
            version(
                "green-v2",
                50.0,
                containerResourceRequirements={"cpu": 1, "memoryInGB": 4, "gpu": 1},
            ),
        ),
        aks(
            "k8s-svc",
            appInsightsEnabled=True,
            description="scored on the cluster",
            kvTags={"owner": "ml"},
            autoScaler={
                "autoscaleEnabled": True,
                "minReplicas": 2,
                "maxReplicas": 5,
                "targetUtilization": 60,
                "refreshPeriodInSeconds": 3,
            },
            containerResourceRequirements={
                "cpu": 0.5,
                "memoryInGB": 1.5,
                "cpuLimit": 1,
                "memoryInGBLimit": 2,
                "gpu": 0,
            },
            livenessProbeRequirements={
                "periodSeconds": 5,
                "initialDelaySeconds": 20,
                "timeoutSeconds": 3,
                "failureThreshold": 4,
                "successThreshold": 1,
            },
        ),
    ]


DEPLOYMENTS = {
    "ab-test": ["control", "treatment"],
    "k8s-ab": ["blue-v1", "green-v2"],
    "k8s-svc": ["blue"],
    "single-aci": ["blue"],
    "trio": ["alpha", "beta", "gamma"],
}
GENERATED_TRAFFIC = {
    "ab-test": {"control": 70, "treatment": 30},
    "k8s-ab": {"blue-v1": 50, "green-v2": 50},
    "k8s-svc": {"blue": 100},
    "single-aci": {"blue": 100},
    "trio": {"alpha": 33, "beta": 33, "gamma": 34},
}
MIRRORED = {"ab-test", "trio"}  # managed, several deployments


def _generate(root: Path, snapshot_services: list[dict[str, Any]]) -> GenerateResult:
    snapshot = root / "snapshot"
    snapshot.mkdir(parents=True)
    doc = {"workspace": WS, "services": snapshot_services}
    (snapshot / "snapshot.json").write_text(json.dumps(doc), encoding="utf-8")
    return generate(
        Options(
            input=snapshot,
            out=root / "out",
            targets=("terraform", "bicep"),
            service_overrides=OVERRIDES,
        )
    )


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> GenerateResult:
    generated = _generate(tmp_path_factory.mktemp("rollout"), services())
    assert not generated.not_migrated, [o.reason for o in generated.not_migrated]
    return generated


@pytest.fixture(scope="module")
def tf_module(result: GenerateResult) -> Path:
    return result.out / "terraform" / WS["name"]


@pytest.fixture(scope="module")
def bicep_module(result: GenerateResult) -> Path:
    return result.out / "bicep" / WS["name"]


@pytest.fixture(scope="module")
def tf_bodies(tf_module: Path) -> dict[str, dict[str, Any]]:
    return terraform_support.bodies(tf_module)


@pytest.fixture(scope="module")
def bicep_bodies(bicep_module: Path) -> dict[str, dict[str, Any]]:
    return bicep_support.bodies(bicep_module, scope=SCOPE)


def _copy(module: Path, tmp_path: Path) -> Path:
    """A copy of the whole output tree (modules read the bundles beside them); the copy of
    `module` in it."""
    out = module.parent.parent
    shutil.copytree(out, tmp_path / "out")
    return tmp_path / "out" / module.relative_to(out)


def _key_pattern(endpoint: str) -> str:
    """How the endpoint's key starts its line in either file: bare, or quoted ("" or '')."""
    return rf"""(?:{re.escape(endpoint)}|"{re.escape(endpoint)}"|'{re.escape(endpoint)}')"""


def _replace_line(text: str, block: str, endpoint: str, value: str) -> str:
    """`text` with the value of `endpoint` in the map `block` (e.g. `traffic = {`) replaced;
    exactly one line changes."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{block}\s*=\s*\{{", line))
    entry = re.compile(rf"^(\s*{_key_pattern(endpoint)}\s*[:=]\s*)(\{{.*\}})(\s*)$")
    for i in range(start + 1, len(lines)):
        if lines[i].startswith("}"):
            break
        found = entry.match(lines[i])
        if found:
            lines[i] = found.group(1) + value + found.group(3)
            return "".join(lines)
    raise AssertionError(f"no line for {endpoint!r} in {block}")


def _changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


# --- (a) Terraform: the traffic step and its values ------------------------------------------


def test_each_traffic_step_lists_every_deployment(tf_bodies: dict[str, dict[str, Any]]) -> None:
    for endpoint, names in DEPLOYMENTS.items():
        assert {k for k in tf_bodies if k.startswith(f"deployment:{endpoint}/")} == {
            f"deployment:{endpoint}/{n}" for n in names
        }
        body = tf_bodies[f"traffic:{endpoint}"]["properties"]
        assert body["traffic"] == GENERATED_TRAFFIC[endpoint]
        if endpoint in MIRRORED:
            assert body["mirrorTraffic"] == dict.fromkeys(names, 0)
        else:
            assert "mirrorTraffic" not in body
        assert "traffic" not in tf_bodies[f"endpoint:{endpoint}"]["properties"]


def test_the_rollout_file_has_one_line_per_endpoint(tf_module: Path) -> None:
    text = (tf_module / terraform_support.ROLLOUT_FILE).read_text(encoding="utf-8")
    for endpoint in DEPLOYMENTS:
        key = re.compile(rf"^\s*{_key_pattern(endpoint)}\s*=")
        lines = [line for line in text.splitlines() if key.match(line)]
        assert len(lines) == (2 if endpoint in MIRRORED else 1), lines
        for line in lines:
            assert all(f"{n}" in line for n in DEPLOYMENTS[endpoint])


def test_traffic_values_come_from_the_rollout_file(tf_module: Path, tmp_path: Path) -> None:
    copy = _copy(tf_module, tmp_path)
    path = copy / terraform_support.ROLLOUT_FILE
    before = path.read_text(encoding="utf-8")
    after = _replace_line(before, "traffic", "ab-test", "{ control = 100, treatment = 0 }")
    after = _replace_line(after, "mirror_traffic", "ab-test", "{ control = 0, treatment = 25 }")
    path.write_text(after, encoding="utf-8")
    assert len(_changed_lines(before, after)) == 4  # two lines out, two in
    changed = terraform_support.bodies(copy)
    properties = changed["traffic:ab-test"]["properties"]
    assert properties["mirrorTraffic"] == {"control": 0, "treatment": 25}
    assert properties["traffic"] == {"control": 100, "treatment": 0}
    for endpoint in DEPLOYMENTS.keys() - {"ab-test"}:
        assert (
            changed[f"traffic:{endpoint}"]["properties"]["traffic"] == GENERATED_TRAFFIC[endpoint]
        )


def test_a_deployment_left_out_of_the_values_is_sent_as_zero(
    tf_module: Path, tmp_path: Path
) -> None:
    # azapi merges the body into the endpoint: a deployment missing from the body would keep
    # its old percentage, so the body lists it with 0.
    copy = _copy(tf_module, tmp_path)
    path = copy / terraform_support.ROLLOUT_FILE
    text = _replace_line(path.read_text(encoding="utf-8"), "traffic", "trio", "{ gamma = 100 }")
    text = _replace_line(text, "mirror_traffic", "trio", "{}")
    path.write_text(text, encoding="utf-8")
    body = terraform_support.bodies(copy)["traffic:trio"]["properties"]
    assert body["traffic"] == {"alpha": 0, "beta": 0, "gamma": 100}
    assert body["mirrorTraffic"] == {"alpha": 0, "beta": 0, "gamma": 0}


def test_the_traffic_step_waits_for_every_deployment_and_follows_the_endpoint(
    tf_module: Path,
) -> None:
    import hcl2

    for endpoint, names in DEPLOYMENTS.items():
        parsed = hcl2.loads((tf_module / f"main.{endpoint}.tf").read_text(encoding="utf-8"))
        (step,) = [
            block
            for resource in parsed["resource"]
            for kind, blocks in resource.items()
            if kind.strip('"') == "azapi_update_resource"
            for block in blocks.values()
        ]
        label = endpoint.replace("-", "_")
        assert sorted(step["depends_on"]) == sorted(
            "${azapi_resource.deployment_" + f"{label}__{n.replace('-', '_')}" + "}" for n in names
        )
        assert step["lifecycle"][0]["replace_triggered_by"] == [
            "${azapi_resource.endpoint_" + label + "}"
        ]


# --- (b) Terraform: validations and preconditions, evaluated ----------------------------------

CONDITION = re.compile(r"^\s*condition\s*=\s*(.+?)\s*$")


def _variable_conditions(module: Path) -> dict[str, list[str]]:
    """The validation conditions of the rollout variables, as written in variables.tf."""
    import hcl2

    text = (module / "variables.tf").read_text(encoding="utf-8")
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        start = re.match(r'^variable "([^"]+)" \{', line)
        if start:
            current = start.group(1)
        elif line.startswith("}"):
            current = None
        elif current in terraform_support.ROLLOUT_VARIABLES and CONDITION.match(line):
            found.setdefault(current, []).append(CONDITION.match(line).group(1))  # type: ignore[union-attr]
    parsed = {
        name.strip('"'): spec.get("validation", [])
        for block in hcl2.loads(text)["variable"]
        for name, spec in block.items()
    }
    for name in terraform_support.ROLLOUT_VARIABLES:
        assert len(found[name]) == len(parsed[name]) == 2, (name, found)
    return found


def _traffic_preconditions(module: Path, endpoint: str) -> list[str]:
    """The preconditions of the endpoint's traffic step, as written in main.<endpoint>.tf."""
    import hcl2

    text = (module / f"main.{endpoint}.tf").read_text(encoding="utf-8")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('resource "azapi_update'))
    end = next(i for i in range(start, len(lines)) if lines[i] == "}")
    found = [m.group(1) for line in lines[start:end] if (m := CONDITION.match(line))]
    (step,) = [
        block
        for resource in hcl2.loads(text)["resource"]
        for kind, blocks in resource.items()
        if kind.strip('"') == "azapi_update_resource"
        for block in blocks.values()
    ]
    assert len(found) == len(step["lifecycle"][0]["precondition"]) == 3
    return found


Evaluate = Callable[[list[str], dict[str, Any], dict[str, Any]], list[Any]]


@pytest.fixture
def evaluate_conditions(tmp_path: Path) -> Evaluate:
    """Each condition's value (True, False; None when tfparse cannot evaluate it) in a module
    that declares the rollout variables with their generated types and the given values."""
    import tfparse

    counter = iter(range(1000))

    def run(conditions: list[str], traffic: dict[str, Any], mirror: dict[str, Any]) -> list[Any]:
        module = tmp_path / f"conditions{next(counter)}"
        module.mkdir()
        checks = "\n".join(f"  c{i} = {c}" for i, c in enumerate(conditions))
        (module / "main.tf").write_text(
            'variable "traffic" {\n  type = map(map(number))\n}\n\n'
            'variable "mirror_traffic" {\n  type    = map(map(number))\n  default = {}\n}\n\n'
            f"locals {{\n{checks}\n}}\n",
            encoding="utf-8",
        )
        values = {"traffic": traffic, "mirror_traffic": mirror}
        (module / "values.tfvars.json").write_text(json.dumps(values), encoding="utf-8")
        evaluated = tfparse.load_from_path(str(module), vars_paths=["values.tfvars.json"])
        merged: dict[str, Any] = {}
        for block in evaluated.get("locals", []):
            merged.update(block)
        return [merged.get(f"c{i}") for i in range(len(conditions))]

    return run


def _generated_values(module: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    import hcl2

    parsed = hcl2.loads((module / terraform_support.ROLLOUT_FILE).read_text(encoding="utf-8"))

    def unquote(value: Any) -> Any:
        if isinstance(value, dict):
            return {k.strip('"'): unquote(v) for k, v in value.items()}
        return value

    return unquote(parsed["traffic"]), unquote(parsed["mirror_traffic"])


def test_the_generated_values_pass_every_check(
    tf_module: Path, evaluate_conditions: Evaluate
) -> None:
    traffic, mirror = _generated_values(tf_module)
    assert traffic == GENERATED_TRAFFIC
    assert set(mirror) == MIRRORED
    conditions = _variable_conditions(tf_module)
    checks = conditions["traffic"] + conditions["mirror_traffic"]
    for endpoint in DEPLOYMENTS:
        checks += _traffic_preconditions(tf_module, endpoint)
    assert evaluate_conditions(checks, traffic, mirror) == [True] * len(checks)


# (traffic of ab-test, mirror of ab-test) -> (whole 0-100, sums to 0 or 100,
#                                            mirror whole 0-50, at most one mirrored)
VARIABLE_CASES = {
    "dark launch": ({"control": 0, "treatment": 0}, {}, [True, True, True, True]),
    "sum 90": ({"control": 60, "treatment": 30}, {}, [True, False, True, True]),
    "sum 100.5": ({"control": 100.5, "treatment": 0}, {}, [False, False, True, True]),
    "-1 and 101": ({"control": -1, "treatment": 101}, {}, [False, True, True, True]),
    "101 alone": ({"control": 101}, {}, [False, False, True, True]),
    "a fraction": ({"control": 69.5, "treatment": 30.5}, {}, [False, True, True, True]),
    "mirror 51": ({"control": 100, "treatment": 0}, {"treatment": 51}, [True, True, False, True]),
    "mirror 50": ({"control": 100, "treatment": 0}, {"treatment": 50}, [True, True, True, True]),
    "mirror -1": ({"control": 100, "treatment": 0}, {"treatment": -1}, [True, True, False, True]),
    "two mirrored": (
        {"control": 0, "treatment": 0},
        {"control": 10, "treatment": 10},
        [True, True, True, False],
    ),
}


@pytest.mark.parametrize("case", VARIABLE_CASES)
def test_variable_validations_refuse_bad_values(
    tf_module: Path, evaluate_conditions: Evaluate, case: str
) -> None:
    split, mirror_split, expected = VARIABLE_CASES[case]
    traffic, mirror = _generated_values(tf_module)
    traffic["ab-test"] = split
    mirror["ab-test"] = mirror_split
    conditions = _variable_conditions(tf_module)
    checks = conditions["traffic"] + conditions["mirror_traffic"]
    assert evaluate_conditions(checks, traffic, mirror) == expected


# endpoint -> (traffic entry or None for no entry, mirror entry or None) ->
#             (has an entry, names only its deployments, mirror allowed)
PRECONDITION_CASES: dict[str, tuple[str, Any, Any, list[bool]]] = {
    "missing entry": ("ab-test", None, None, [False, True, True]),
    "unknown deployment": ("ab-test", {"control": 100, "ghost": 0}, None, [True, False, True]),
    "left-out deployment": ("ab-test", {"control": 100}, None, [True, True, True]),
    "mirror to a live deployment": (
        "ab-test",
        {"control": 70, "treatment": 30},
        {"control": 0, "treatment": 10},
        [True, True, False],
    ),
    "mirror to an idle deployment": (
        "ab-test",
        {"control": 100, "treatment": 0},
        {"control": 0, "treatment": 10},
        [True, True, True],
    ),
    "mirror to an unknown deployment": (
        "ab-test",
        {"control": 100, "treatment": 0},
        {"ghost": 10},
        [True, True, False],
    ),
    "kubernetes mirror": ("k8s-ab", None, {"blue-v1": 0, "green-v2": 10}, [True, True, False]),
    "kubernetes zero mirror": ("k8s-ab", None, {"blue-v1": 0, "green-v2": 0}, [True, True, True]),
    "single mirror": ("single-aci", None, {"blue": 5}, [True, True, False]),
    "kubernetes unknown": ("k8s-svc", {"blue": 100, "green": 0}, None, [True, False, True]),
}


@pytest.mark.parametrize("case", PRECONDITION_CASES)
def test_traffic_preconditions_refuse_bad_values(
    tf_module: Path, evaluate_conditions: Evaluate, case: str
) -> None:
    endpoint, split, mirror_split, expected = PRECONDITION_CASES[case]
    traffic, mirror = _generated_values(tf_module)
    if case == "missing entry":
        del traffic[endpoint]
    elif split is not None:
        traffic[endpoint] = split
    if mirror_split is not None:
        mirror[endpoint] = mirror_split
    conditions = _traffic_preconditions(tf_module, endpoint)
    assert evaluate_conditions(conditions, traffic, mirror) == expected


def test_an_unknown_mirror_key_is_refused_even_at_zero(
    tf_module: Path, evaluate_conditions: Evaluate
) -> None:
    traffic, mirror = _generated_values(tf_module)
    mirror["ab-test"] = {"control": 0, "treatment": 0, "ghost": 0}
    conditions = _traffic_preconditions(tf_module, "ab-test")
    assert False in evaluate_conditions(conditions, traffic, mirror)


# --- (c) Bicep: the traffic module's decorators and its body -----------------------------------


def _bicep_values(module: Path, traffic: dict[str, Any], mirror: dict[str, Any]) -> dict[str, Any]:
    params = bicep_support.resolved_params(module)
    return {
        **bicep_support.input_values(module),
        "traffic": {**params["traffic"], **traffic},
        "mirrorTraffic": {**params["mirrorTraffic"], **mirror},
    }


def test_bicep_params_hold_the_generated_split(bicep_module: Path) -> None:
    params = bicep_support.resolved_params(bicep_module)
    assert params["traffic"] == GENERATED_TRAFFIC
    assert params["mirrorTraffic"] == {e: dict.fromkeys(DEPLOYMENTS[e], 0) for e in MIRRORED}


def test_bicep_traffic_module_puts_the_whole_endpoint_with_its_traffic(
    bicep_bodies: dict[str, dict[str, Any]], tf_bodies: dict[str, dict[str, Any]]
) -> None:
    for endpoint in DEPLOYMENTS:
        put = bicep_bodies[f"traffic:{endpoint}"]
        created = bicep_bodies[f"endpoint:{endpoint}"]
        # A full PUT: every endpoint property (compute, publicNetworkAccess...) plus traffic.
        expected = dict(created["properties"])
        expected["traffic"] = GENERATED_TRAFFIC[endpoint]
        if endpoint in MIRRORED:
            expected["mirrorTraffic"] = dict.fromkeys(DEPLOYMENTS[endpoint], 0)
        assert put["properties"] == expected
        assert (put["location"], put["tags"], put["identity"]) == (
            created["location"],
            created["tags"],
            created["identity"],
        )
        # Both targets send the same split.
        tf_split = tf_bodies[f"traffic:{endpoint}"]["properties"]
        assert {k: v for k, v in put["properties"].items() if k in tf_split} == tf_split
    assert bicep_bodies["traffic:k8s-ab"]["properties"]["compute"] == f"{WORKSPACE_ID}/computes/k8s"
    assert bicep_bodies["traffic:single-aci"]["properties"]["publicNetworkAccess"] == "Disabled"


BICEP_REJECTED = {
    "sum 90": ({"ab-test": {"control": 60, "treatment": 30}}, {}, "trafficTotal"),
    "sum 110": ({"trio": {"alpha": 50, "beta": 50, "gamma": 10}}, {}, "trafficTotal"),
    "kubernetes sum 90": ({"k8s-ab": {"blue-v1": 45, "green-v2": 45}}, {}, "trafficTotal"),
    "single 50": ({"single-aci": {"blue": 50}}, {}, "trafficTotal"),
    "mirror 60": (
        {"ab-test": {"control": 100, "treatment": 0}},
        {"ab-test": {"control": 0, "treatment": 60}},
        "mirrorTotal",
    ),
    "two mirrored": (
        {"trio": {"alpha": 100, "beta": 0, "gamma": 0}},
        {"trio": {"alpha": 0, "beta": 10, "gamma": 10}},
        "mirroredDeployments",
    ),
    "live and mirrored": (
        {},
        {"ab-test": {"control": 0, "treatment": 10}},
        "liveAndMirrored",
    ),
}


@pytest.mark.parametrize("case", BICEP_REJECTED)
def test_bicep_refuses_bad_splits(bicep_module: Path, case: str) -> None:
    traffic, mirror, param = BICEP_REJECTED[case]
    with pytest.raises(bicep_support.ParameterRejected) as rejected:
        bicep_support.bodies(
            bicep_module, _bicep_values(bicep_module, traffic, mirror), scope=SCOPE
        )
    assert str(rejected.value).startswith(f"{param} = ")


BICEP_ACCEPTED = {
    "mirrored rollout": (
        {"ab-test": {"control": 100, "treatment": 0}},
        {"ab-test": {"control": 0, "treatment": 20}},
    ),
    "flipped": ({"ab-test": {"control": 10, "treatment": 90}}, {}),
    "dark launch": ({"trio": {"alpha": 0, "beta": 0, "gamma": 0}}, {}),
    "kubernetes flipped": ({"k8s-ab": {"blue-v1": 0, "green-v2": 100}}, {}),
    "mirror 50": (
        {"trio": {"alpha": 100, "beta": 0, "gamma": 0}},
        {"trio": {"alpha": 0, "beta": 0, "gamma": 50}},
    ),
}


@pytest.mark.parametrize("case", BICEP_ACCEPTED)
def test_bicep_passes_valid_changes_to_the_traffic_step(bicep_module: Path, case: str) -> None:
    traffic, mirror = BICEP_ACCEPTED[case]
    found = bicep_support.bodies(
        bicep_module, _bicep_values(bicep_module, traffic, mirror), scope=SCOPE
    )
    for endpoint, split in traffic.items():
        assert found[f"traffic:{endpoint}"]["properties"]["traffic"] == split
    for endpoint, split in mirror.items():
        assert found[f"traffic:{endpoint}"]["properties"]["mirrorTraffic"] == split
    for endpoint in DEPLOYMENTS.keys() - set(traffic):
        assert found[f"traffic:{endpoint}"]["properties"]["traffic"] == GENERATED_TRAFFIC[endpoint]


def _replace_json_line(text: str, endpoint: str, value: str) -> str:
    """traffic.json with the live split of `endpoint` replaced: exactly one line changes."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith('  "traffic": {'))
    entry = re.compile(rf"^(\s*{re.escape(json.dumps(endpoint))}: )(\{{.*\}})(,?\s*)$")
    for i in range(start + 1, len(lines)):
        found = entry.match(lines[i])
        if found:
            lines[i] = found.group(1) + value + found.group(3)
            return "".join(lines)
    raise AssertionError(f"no line for {endpoint!r} in traffic.json")


def test_a_one_line_edit_of_traffic_json_reaches_the_traffic_step(
    bicep_module: Path, tmp_path: Path
) -> None:
    copy = _copy(bicep_module, tmp_path)
    path = copy / "traffic.json"
    before = path.read_text(encoding="utf-8")
    after = _replace_json_line(before, "ab-test", '{"control": 20, "treatment": 80}')
    path.write_text(after, encoding="utf-8")
    changed = _changed_lines(before, after)
    assert len(changed) == 2 and all('"ab-test"' in line for line in changed)
    found = bicep_support.bodies(copy, scope=SCOPE)
    assert found["traffic:ab-test"]["properties"]["traffic"] == {"control": 20, "treatment": 80}
    broken = _replace_json_line(before, "ab-test", '{"control": 20, "treatment": 70}')
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(bicep_support.ParameterRejected, match="trafficTotal"):
        bicep_support.bodies(copy, scope=SCOPE)


def test_a_new_v1_split_is_a_one_line_diff_in_each_target(
    result: GenerateResult, tmp_path: Path
) -> None:
    again = _generate(tmp_path, services(ab_split=(80.0, 20.0)))
    for target in ("terraform", "bicep"):
        before_root = result.out / target / WS["name"]
        after_root = again.out / target / WS["name"]
        names = sorted(p.relative_to(before_root) for p in before_root.rglob("*") if p.is_file())
        assert names == sorted(
            p.relative_to(after_root) for p in after_root.rglob("*") if p.is_file()
        )
        diffs = {
            str(name): _changed_lines(
                (before_root / name).read_text(encoding="utf-8"),
                (after_root / name).read_text(encoding="utf-8"),
            )
            for name in names
        }
        changed = {name: lines for name, lines in diffs.items() if lines}
        expected_file = "rollout.auto.tfvars" if target == "terraform" else "traffic.json"
        assert list(changed) == [expected_file], changed
        removed, added = changed[expected_file]
        assert removed.startswith("-") and added.startswith("+")
        assert "ab-test" in removed and "70" in removed and "30" in removed
        assert "ab-test" in added and "80" in added and "20" in added


# --- (d) Kubernetes bodies against azure-ai-ml ----------------------------------------------


def _clean(value: Any) -> Any:
    """Drop empty maps and nulls (the SDK sends `properties: {}`, `traffic: {}`)."""
    if isinstance(value, dict):
        cleaned = {k: _clean(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in ({}, None)}
    return value


def _v1(name: str) -> dict[str, Any]:
    return next(s for s in services() if s["name"] == name)


def _oracle_kubernetes_endpoint(name: str) -> dict[str, Any]:
    from azure.ai.ml.entities import KubernetesOnlineEndpoint

    v1 = _v1(name)
    endpoint = KubernetesOnlineEndpoint(
        name=name,
        compute=f"{WORKSPACE_ID}/computes/k8s",
        auth_mode="key",
        description=v1.get("description"),
        tags=v1.get("kvTags") or None,
    )
    return _clean(endpoint._to_rest_online_endpoint(location=WS["location"]).as_dict())  # type: ignore[no-any-return]


def _oracle_kubernetes_deployment(
    v1: dict[str, Any],
    endpoint: str,
    deployment: str,
    generated: dict[str, Any],
    resources: Any,
) -> dict[str, Any]:
    from azure.ai.ml.entities import (
        CodeConfiguration,
        DefaultScaleSettings,
        KubernetesOnlineDeployment,
        OnlineRequestSettings,
        ProbeSettings,
        TargetUtilizationScaleSettings,
    )

    props = generated["properties"]
    scaler = v1.get("autoScaler") or {}
    if scaler.get("autoscaleEnabled"):
        scale: Any = TargetUtilizationScaleSettings(
            min_instances=scaler["minReplicas"],
            max_instances=scaler["maxReplicas"],
            polling_interval=scaler["refreshPeriodInSeconds"],
            target_utilization_percentage=scaler["targetUtilization"],
        )
        instances = scaler["minReplicas"]
    else:
        scale = DefaultScaleSettings()
        instances = v1["numReplicas"]
    probe = v1.get("livenessProbeRequirements") or {  # the v1 defaults, written explicitly
        "initialDelaySeconds": 310,
        "periodSeconds": 10,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
        "successThreshold": 1,
    }
    deployment_entity = KubernetesOnlineDeployment(
        name=deployment,
        endpoint_name=endpoint,
        # Asset references are whatever the generator resolved them to (another issue).
        model=props["model"],
        code_configuration=CodeConfiguration(
            code=props["codeConfiguration"]["codeId"],
            scoring_script=v1["environmentImageRequest"]["environment"]["environmentVariables"][
                "AZUREML_ENTRY_SCRIPT"
            ],
        ),
        environment=props["environmentId"],
        resources=resources,
        scale_settings=scale,
        instance_count=instances,
        request_settings=OnlineRequestSettings(
            request_timeout_ms=v1["scoringTimeoutMs"],
            max_concurrent_requests_per_instance=v1["maxConcurrentRequestsPerContainer"],
            max_queue_wait_ms=v1["maxQueueWaitMs"],
        ),
        liveness_probe=ProbeSettings(
            initial_delay=probe["initialDelaySeconds"],
            period=probe["periodSeconds"],
            timeout=probe["timeoutSeconds"],
            success_threshold=probe["successThreshold"],
            failure_threshold=probe["failureThreshold"],
        ),
        app_insights_enabled=bool(v1.get("appInsightsEnabled")),
        description=v1.get("description"),
        tags=v1.get("kvTags") or None,
    )
    return _clean(deployment_entity._to_rest_object(location=WS["location"]).as_dict())  # type: ignore[no-any-return]


@pytest.mark.parametrize("endpoint", ["k8s-svc", "k8s-ab"])
def test_kubernetes_endpoints_agree_with_azure_ai_ml(
    tf_bodies: dict[str, dict[str, Any]], endpoint: str
) -> None:
    assert _clean(tf_bodies[f"endpoint:{endpoint}"]) == _oracle_kubernetes_endpoint(endpoint)


def test_a_scaled_kubernetes_deployment_agrees_with_azure_ai_ml(
    tf_bodies: dict[str, dict[str, Any]],
) -> None:
    from azure.ai.ml.entities import ResourceRequirementsSettings, ResourceSettings

    generated = tf_bodies["deployment:k8s-svc/blue"]
    # v1: cpu 0.5, memoryInGB 1.5, cpuLimit 1, memoryInGBLimit 2.
    resources = ResourceRequirementsSettings(
        requests=ResourceSettings(cpu="500m", memory="1536Mi"),
        limits=ResourceSettings(cpu="1", memory="2Gi"),
    )
    expected = _oracle_kubernetes_deployment(
        _v1("k8s-svc"), "k8s-svc", "blue", generated, resources
    )
    assert _clean(generated) == expected


def test_a_gpu_kubernetes_version_agrees_with_azure_ai_ml(
    tf_bodies: dict[str, dict[str, Any]],
) -> None:
    from azure.ai.ml.entities import ResourceRequirementsSettings, ResourceSettings

    generated = tf_bodies["deployment:k8s-ab/green-v2"]
    v1 = _v1("k8s-ab")["versions"]["green-v2"]
    # v1: cpu 1, memoryInGB 4, gpu 1 (a GPU is requested and limited alike).
    resources = ResourceRequirementsSettings(
        requests=ResourceSettings(cpu="1", memory="4Gi", gpu="1"),
        limits=ResourceSettings(gpu="1"),
    )
    expected = _oracle_kubernetes_deployment(v1, "k8s-ab", "green-v2", generated, resources)
    assert _clean(generated) == expected


def test_kubernetes_bodies_carry_no_managed_only_fields(
    tf_bodies: dict[str, dict[str, Any]], bicep_bodies: dict[str, dict[str, Any]]
) -> None:
    # The workspace is private: the managed endpoints next to them are closed.
    assert tf_bodies["endpoint:single-aci"]["properties"]["publicNetworkAccess"] == "Disabled"
    for bodies in (tf_bodies, bicep_bodies):
        for endpoint in ("k8s-ab", "k8s-svc"):
            assert "publicNetworkAccess" not in bodies[f"endpoint:{endpoint}"]["properties"]
            assert "mirrorTraffic" not in bodies[f"traffic:{endpoint}"]["properties"]
            for name in DEPLOYMENTS[endpoint]:
                props = bodies[f"deployment:{endpoint}/{name}"]["properties"]
                assert props["endpointComputeType"] == "Kubernetes"
                assert "egressPublicNetworkAccess" not in props
        assert not [k for k in bodies if k.startswith("autoscale:k8s-")]


def test_the_cluster_owns_the_count_of_target_utilization_deployments(tf_module: Path) -> None:
    written = terraform_support.hcl_blocks(tf_module)
    scaled = written["azapi_resource.deployment_k8s_svc__blue"]
    assert terraform_support.ignored_paths(scaled) == ["body.sku.capacity"]
    # Fixed-count Kubernetes deployments keep their count under Terraform.
    for name in ("blue_v1", "green_v2"):
        assert terraform_support.ignored_paths(written[f"azapi_resource.deployment_k8s_ab__{name}"]) == []
    settings = terraform_support.evaluate(tf_module)
    blocks = terraform_support.resources(settings)
    assert (
        blocks["azapi_resource.deployment_k8s_svc__blue"]["body"]["properties"]["scaleSettings"][
            "scaleType"
        ]
        == "TargetUtilization"
    )
