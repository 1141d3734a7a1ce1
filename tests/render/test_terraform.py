"""Generated Terraform: fmt-clean, evaluates under tfparse, and carries the bodies azure-ai-ml
would send for the same v2 entities."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from generator.cli import main as cli_main
from generator.files import PERSON
from generator.pipeline import Options, generate
from tests.conftest import EXAMPLE, SnapshotFactory, aci, aks
from tests.support.terraform import (
    bodies,
    evaluate,
    hcl_blocks,
    ignore_changes,
    ignored_paths,
    input_values,
    resources,
    stripped,
    without_paths,
)

ML = "Microsoft.MachineLearningServices/workspaces"


@pytest.fixture(scope="module")
def example_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    generate(Options(input=EXAMPLE, out=out))
    return out


@pytest.fixture(scope="module")
def example_bodies(example_out: Path) -> dict[str, dict[str, Any]]:
    return bodies(example_out / "terraform" / "mlw-contoso-prod")


def _example(name: str) -> dict[str, Any]:
    data = json.loads((EXAMPLE / "snapshot.json").read_text(encoding="utf-8"))
    service: dict[str, Any] = next(s for s in data["services"] if s["name"] == name)
    return service


def test_every_file_is_fmt_clean(example_out: Path, hclfmt: str, tmp_path: Path) -> None:
    generate(Options(input=EXAMPLE, out=tmp_path, layout="endpoint"))
    files = [
        p
        for root in (example_out, tmp_path)
        for pattern in ("*.tf", "*.tfvars")
        for p in sorted((root / "terraform").rglob(pattern))
    ]
    assert len(files) >= 6 + 6 * 7
    check = subprocess.run([hclfmt, "-check", *map(str, files)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    same = subprocess.run(
        [hclfmt, "-require-no-change", *map(str, files)], capture_output=True, text=True
    )
    assert same.returncode == 0, same.stderr


def test_module_layout(example_out: Path) -> None:
    module = example_out / "terraform" / "mlw-contoso-prod"
    names = sorted(p.name for p in module.iterdir())
    assert names == [
        "assets.tf",  # the code and environment versions every deployment shares
        "inputs.auto.tfvars",
        "locals.tf",
        "main.ab-endpoint.tf",
        "main.churn-aci.tf",
        "main.fraud-aks.tf",
        "main.ocr-aci-private.tf",
        "main.recs-aks-token.tf",
        "main.sentiment-aci.tf",
        "outputs.tf",
        "providers.tf",
        "rollout.auto.tfvars",
        "terraform.tf",
        "variables.tf",
    ]
    terraform = (module / "terraform.tf").read_text()
    assert 'required_version = ">= 1.11, < 2.0"' in terraform
    assert 'version = "2.12.0"' in terraform
    assert "2025-12-01" in (module / "locals.tf").read_text()


def test_traffic_is_set_after_every_deployment(
    example_bodies: dict[str, dict[str, Any]], example_out: Path
) -> None:
    for key, body in example_bodies.items():
        if key.startswith("endpoint:"):
            assert "traffic" not in body["properties"]
    v1 = _example("fraud-aks")
    assert example_bodies["traffic:fraud-aks"] == {
        "properties": {
            "authMode": "Key",
            "description": v1["description"],
            "traffic": {"blue": 100},
        },
        "tags": v1["kvTags"],
    }
    text = (example_out / "terraform/mlw-contoso-prod/main.fraud-aks.tf").read_text()
    assert "depends_on = [azapi_resource.deployment_fraud_aks__blue]" in text
    assert "replace_triggered_by = [azapi_resource.endpoint_fraud_aks]" in text


def test_hostile_strings_reach_the_bodies_unchanged(
    example_bodies: dict[str, dict[str, Any]],
) -> None:
    v1 = _example("sentiment-aci")
    endpoint = example_bodies["endpoint:sentiment-aci"]
    deployment = example_bodies["deployment:sentiment-aci/blue"]
    assert endpoint["properties"]["description"] == v1["description"]
    assert endpoint["tags"] == v1["kvTags"]
    assert deployment["properties"]["description"] == v1["description"]
    assert deployment["tags"] == v1["kvTags"]


def test_autoscale_targets_the_deployment(example_out: Path) -> None:
    module = example_out / "terraform" / "mlw-contoso-prod"
    blocks = resources(evaluate(module))
    autoscale = blocks["azapi_resource.autoscale_fraud_aks__blue"]["body"]["properties"]
    deployment_id = blocks["azapi_resource.deployment_fraud_aks__blue"]["id"]
    assert autoscale["targetResourceUri"] == deployment_id
    assert {r["metricTrigger"]["metricResourceUri"] for r in autoscale["profiles"][0]["rules"]} == {
        deployment_id
    }
    assert autoscale["profiles"][0]["capacity"] == {"default": "2", "maximum": "8", "minimum": "2"}
    assert "ignore_changes = [body.sku.capacity]" in (module / "main.fraud-aks.tf").read_text()


# --- agreement with azure-ai-ml, the reference client -------------------------------------


def _clean(value: Any) -> Any:
    """Drop empty maps and nulls (the SDK sends `properties: {}`, `traffic: {}`)."""
    if isinstance(value, dict):
        cleaned = {k: _clean(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in ({}, None)}
    return value


def _oracle_endpoint(
    service: dict[str, Any], body: dict[str, Any], location: str
) -> dict[str, Any]:
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    auth = "aml_token" if service.get("aadAuthEnabled") else "key"
    private = bool(service.get("vnetConfiguration"))
    endpoint = ManagedOnlineEndpoint(
        name=service["name"],
        auth_mode=auth,
        description=service.get("description"),
        tags=service.get("kvTags") or None,
        public_network_access="Disabled" if private else None,
    )
    return _clean(endpoint._to_rest_online_endpoint(location=location).as_dict())  # type: ignore[no-any-return]


def _oracle_deployment(
    service: dict[str, Any], body: dict[str, Any], location: str
) -> dict[str, Any]:
    from azure.ai.ml.entities import (
        CodeConfiguration,
        ManagedOnlineDeployment,
        OnlineRequestSettings,
        ProbeSettings,
    )

    props = body["properties"]
    request = None
    if service.get("computeType") == "AKS":
        request = OnlineRequestSettings(
            request_timeout_ms=min(service["scoringTimeoutMs"], 180_000),
            max_concurrent_requests_per_instance=service["maxConcurrentRequestsPerContainer"],
            max_queue_wait_ms=service["maxQueueWaitMs"],
        )
    probe = None
    if service.get("computeType") == "AKS":
        p = service.get("livenessProbeRequirements") or {
            "initialDelaySeconds": 310,
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        }
        probe = ProbeSettings(
            initial_delay=p["initialDelaySeconds"],
            period=p["periodSeconds"],
            timeout=p["timeoutSeconds"],
            success_threshold=1,
            failure_threshold=p["failureThreshold"],
        )
    env_vars = {
        k: v
        for k, v in service["environmentImageRequest"]["environment"]
        .get("environmentVariables", {})
        .items()
        if not k.startswith("AZUREML_") and k != "EXAMPLE_ENV_VAR"
    }
    deployment = ManagedOnlineDeployment(
        name="blue",
        endpoint_name=service["name"],
        model=props["model"],
        code_configuration=CodeConfiguration(
            code=props["codeConfiguration"]["codeId"],
            scoring_script=props["codeConfiguration"]["scoringScript"],
        ),
        environment=props["environmentId"],
        instance_type=props["instanceType"],
        instance_count=body["sku"]["capacity"],
        request_settings=request,
        liveness_probe=probe,
        app_insights_enabled=bool(service.get("appInsightsEnabled")),
        egress_public_network_access="Disabled" if service.get("vnetConfiguration") else None,
        description=service.get("description"),
        tags=service.get("kvTags") or None,
        environment_variables=env_vars or None,
    )
    return _clean(deployment._to_rest_object(location=location).as_dict())  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "service", ["churn-aci", "fraud-aks", "recs-aks-token", "sentiment-aci", "ocr-aci-private"]
)
def test_bodies_agree_with_azure_ai_ml(
    example_bodies: dict[str, dict[str, Any]], service: str
) -> None:
    v1 = _example(service)
    endpoint = _clean(example_bodies[f"endpoint:{service}"])
    deployment = _clean(example_bodies[f"deployment:{service}/blue"])
    assert endpoint == _oracle_endpoint(v1, endpoint, "westeurope")
    assert deployment == _oracle_deployment(v1, deployment, "westeurope")


def test_model_and_environment_references(example_bodies: dict[str, dict[str, Any]]) -> None:
    ws = (
        "/subscriptions/8f2d3c1e-5b7a-4e9c-9d21-6a0b4c3e2f10/resourceGroups/rg-ml-prod/providers/"
        + ML
        + "/mlw-contoso-prod"
    )
    recs = example_bodies["deployment:recs-aks-token/blue"]["properties"]
    assert recs["model"] == f"{ws}/models/recs-als/versions/5"
    assert recs["environmentId"] == f"{ws}/environments/recs-inference/versions/11"
    assert recs["codeConfiguration"]["scoringScript"] == "recommend.py"
    churn = example_bodies["deployment:churn-aci/blue"]["properties"]
    assert (
        churn["codeConfiguration"]["scoringScript"] == "score.py"
    )  # src/score.py minus the source dir
    assert churn["environmentVariables"] == {"LOG_LEVEL": "info"}


# --- keys -------------------------------------------------------------------------------

KEYS = {
    "svc-aci": {
        "primaryKey": "PRIMARY-k3y-do-not-leak",
        "secondaryKey": "SECONDARY-k3y-do-not-leak",
    }
}


def _all_text(root: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


def test_keys_are_write_only_inputs_and_never_in_files(
    make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    generate(Options(input=make_snapshot([aci(), aks()], keys=KEYS), out=out))
    assert "k3y-do-not-leak" not in _all_text(out)
    module = out / "terraform" / "ws-test"
    variables = (module / "variables.tf").read_text()
    assert 'variable "endpoint_keys"' in variables
    for attribute in ("ephemeral   = true", "sensitive   = true"):
        assert attribute in variables
    keys_block = variables[variables.index('variable "endpoint_keys"') :]
    # Null by default: only the apply that creates an endpoint needs its keys.
    assert "default     = null" in keys_block[: keys_block.index("\n}\n")]
    assert "endpoint_keys" not in (module / "outputs.tf").read_text()
    found = bodies(module)
    assert found["endpoint-secrets:svc-aci"] == {
        "properties": {
            "keys": {"primaryKey": "test-primary-svc-aci", "secondaryKey": "test-secondary-svc-aci"}
        }
    }
    assert "endpoint-secrets:svc-aks" not in found  # no exported keys: Azure makes new ones
    assert '"properties.keys" = "1"' in (module / "main.svc-aci.tf").read_text()


def test_write_keys_puts_them_in_one_private_ignored_file(
    make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    generate(Options(input=make_snapshot([aci()], keys=KEYS), out=out, write_keys=True))
    module = out / "terraform" / "ws-test"
    secret = module / "endpoint_keys.auto.tfvars.json"
    assert os.stat(secret).st_mode & 0o777 == 0o600
    assert json.loads(secret.read_text()) == {"endpoint_keys": KEYS}
    assert (module / ".gitignore").read_text().splitlines()[-1] == "endpoint_keys.auto.tfvars.json"
    others = [p for p in out.rglob("*") if p.is_file() and p != secret]
    assert all("k3y-do-not-leak" not in p.read_text(errors="replace") for p in others)


# --- day 2: re-applies keep traffic, one change at a time, secrets only when sent ----------


def _module(make_snapshot: SnapshotFactory, root: Path, services: list[Any], **kw: Any) -> Path:
    generate(Options(input=make_snapshot(services, **kw), out=root))
    return root / "terraform" / "ws-test"


def _merge_like_azapi(live: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """What azapi_update_resource PUTs: the live resource (GET) with the body merged in,
    objects key by key (docs/resources/update_resource.md; internal/services/
    azapi_update_resource.go, utils.MergeObjectWithOption, at v2.9.0)."""
    out = dict(live)
    for k, v in patch.items():
        out[k] = (
            _merge_like_azapi(out[k], v)
            if isinstance(v, dict) and isinstance(out.get(k), dict)
            else v
        )
    return out


@pytest.mark.parametrize(
    ("before_fields", "after_fields"),
    [
        (
            {"description": "first words", "kvTags": {"team": "a"}},
            {"description": "second words", "kvTags": {"team": "b", "added": "yes"}},
        ),
        # A setting the endpoint did not have at creation: Terraform ignores a path only
        # where the prior state has it, so a narrow ignore list would let this one through.
        ({}, {"description": "second words", "kvTags": {"team": "b", "added": "yes"}}),
    ],
    ids=["changed", "added-later"],
)
def test_changed_settings_never_re_put_the_endpoint_without_traffic(
    make_snapshot: SnapshotFactory,
    tmp_path: Path,
    before_fields: dict[str, Any],
    after_fields: dict[str, Any],
) -> None:
    before = _module(make_snapshot, tmp_path / "before", [aci(**before_fields)])
    after = _module(make_snapshot, tmp_path / "after", [aci(**after_fields)])
    address = "azapi_resource.endpoint_svc_aci"
    ignored = ignored_paths(hcl_blocks(after)[address])
    old = resources(evaluate(before))[address]
    new = resources(evaluate(after))[address]
    assert stripped(old) != stripped(new)  # the change is real
    # azapi_resource PUTs its body as is (no merge, internal/services/azapi_resource.go
    # CreateUpdate at v2.9.0): under ignore_changes, Terraform must plan no change at all,
    # or it would PUT the endpoint without its traffic.
    assert ignore_changes(old, new, ignored) == stripped(old)

    # The change goes through the traffic step instead: GET, merge, PUT, traffic included.
    step = bodies(after)["traffic:svc-aci"]
    live = {
        "location": "westeurope",
        "properties": {**old["body"]["properties"], "traffic": {"blue": 100}},
        "tags": old["tags"],
    }
    put = _merge_like_azapi(live, step)
    assert put["properties"]["traffic"] == {"blue": 100}
    assert put["properties"]["description"] == "second words"
    assert put["tags"] == {**old["tags"], "team": "b", "added": "yes"}


def test_deployments_of_one_endpoint_take_turns(example_out: Path) -> None:
    module = example_out / "terraform" / "mlw-contoso-prod"
    evaluated = evaluate(module)
    blocks = resources(evaluated)
    endpoint_ids = {
        b["name"]: b["id"] for a, b in blocks.items() if a.startswith("azapi_resource.endpoint_")
    }
    assert len(set(endpoint_ids.values())) == len(endpoint_ids) >= 6
    locks: dict[str, set[str]] = {}
    for address, block in blocks.items():
        if address.startswith("azapi_resource.deployment_"):
            assert block["locks"] == [block["parent_id"]], address  # its endpoint, nothing else
            locks.setdefault(block["parent_id"], set()).add(address)
    for block in resources(evaluated, "azapi_update_resource").values():
        assert block["locks"] == [block["resource_id"]]
    # ab-endpoint's two deployments share one lock; other endpoints hold their own.
    assert len(locks[endpoint_ids["ab-endpoint"]]) == 2
    assert set(locks) == set(endpoint_ids.values())
    # Within an endpoint, an explicit order: azapi starts a timeout before it waits for the
    # lock, so a deployment waiting its turn must not be started yet. Across endpoints none.
    after = {
        address: block.get("depends_on")
        for address, block in hcl_blocks(module).items()
        if address.startswith("azapi_resource.deployment_")
    }
    assert after["azapi_resource.deployment_ab_endpoint__versiona"] is None
    assert after["azapi_resource.deployment_ab_endpoint__versionb"] == [
        "${azapi_resource.deployment_ab_endpoint__versiona}"
    ]
    assert sum(1 for v in after.values() if v) == 1  # every other endpoint has one deployment


def test_autoscaled_managed_deployments_ignore_capacity(example_out: Path) -> None:
    module = example_out / "terraform" / "mlw-contoso-prod"
    written = hcl_blocks(module)
    assert ignored_paths(written["azapi_resource.deployment_fraud_aks__blue"]) == [
        "body.sku.capacity"
    ]
    # A fixed count stays Terraform's: a drift would show and be corrected.
    assert ignored_paths(written["azapi_resource.deployment_recs_aks_token__blue"]) == []


def test_keys_are_needed_only_when_sent(make_snapshot: SnapshotFactory, tmp_path: Path) -> None:
    module = _module(make_snapshot, tmp_path / "out", [aci()], keys=KEYS)
    values = input_values(module)
    # The apply that creates the endpoint: keys given, sent once (version "1").
    first = resources(evaluate(module, values))["azapi_resource.endpoint_svc_aci"]
    assert first["sensitive_body"] == {
        "properties": {
            "keys": {"primaryKey": "test-primary-svc-aci", "secondaryKey": "test-secondary-svc-aci"}
        }
    }
    assert first["sensitive_body_version"] == {"properties.keys": "1"}
    # Every later plan: no keys at all, nothing to send, and the same version, so azapi
    # leaves properties.keys out of any request (unmarshalSensitiveBody, v2.9.0).
    later_values = {k: v for k, v in values.items() if k != "endpoint_keys"}
    later = resources(evaluate(module, later_values))["azapi_resource.endpoint_svc_aci"]
    assert later.get("sensitive_body") is None
    assert later["sensitive_body_version"] == first["sensitive_body_version"]
    assert without_paths(later, ["sensitive_body"]) == without_paths(first, ["sensitive_body"])
    # Keys exported after the endpoint exists add a version; it must not re-PUT the endpoint.
    written = hcl_blocks(module)["azapi_resource.endpoint_svc_aci"]
    assert "sensitive_body_version" in ignored_paths(written)
    # The traffic step never carries keys: a rotation made in Azure is never reverted.
    step = resources(evaluate(module, later_values), "azapi_update_resource")
    assert all("sensitive_body" not in b for b in step.values())


# --- required inputs: a commented placeholder, and a plan that says what to put there ------


def _input_checks(module: Path, tmp_path: Path, values: dict[str, Any]) -> list[Any]:
    """Each validation condition of environment_ids (True, False) for the given values,
    evaluated by tfparse as Terraform would."""
    import hcl2
    import tfparse

    variables = hcl2.loads((module / "variables.tf").read_text(encoding="utf-8"))
    (spec,) = [b['"environment_ids"'] for b in variables["variable"] if '"environment_ids"' in b]
    conditions = [v["condition"].removeprefix("${").removesuffix("}") for v in spec["validation"]]
    check = tmp_path / f"check{len(list(tmp_path.iterdir()))}"
    check.mkdir()
    (check / "main.tf").write_text(
        'variable "environment_ids" {\n  type    = map(string)\n  default = {}\n}\n\nlocals {\n'
        + "".join(f"  c{i} = {c}\n" for i, c in enumerate(conditions))
        + "}\n",
        encoding="utf-8",
    )
    (check / "values.tfvars.json").write_text(json.dumps(values), encoding="utf-8")
    evaluated = tfparse.load_from_path(str(check), vars_paths=["values.tfvars.json"])
    found: dict[str, Any] = {}
    for block in evaluated.get("locals", []):
        found.update(block)
    return [found.get(f"c{i}") for i in range(len(conditions))]


def test_inputs_only_a_person_can_give_are_placeholders_that_stop_the_plan(
    example_out: Path, tmp_path: Path
) -> None:
    import hcl2

    module = example_out / "terraform" / "mlw-contoso-prod"
    text = (module / "inputs.auto.tfvars").read_text(encoding="utf-8")
    assert hcl2.loads(text)["environment_ids"] == {}  # every line is a commented placeholder
    placeholders = [line for line in text.splitlines() if line.startswith('  # "ab-endpoint/')]
    assert len(placeholders) == 2
    assert all("/environments/<name>/versions/<version>" in p for p in placeholders)
    as_written: dict[str, Any] = {"environment_ids": {}}
    assert _input_checks(module, tmp_path, as_written) == [False, True]
    message = (module / "variables.tf").read_text(encoding="utf-8")
    assert (
        "ab-endpoint/versiona, ab-endpoint/versionb): in inputs.auto.tfvars, uncomment" in message
    )

    # The person uncomments the lines and puts real ids there: the checks pass.
    filled = text.replace("  # ", "  ").replace("<name>", "fraud-env").replace("<version>", "3")
    parsed = hcl2.loads(filled)["environment_ids"]  # python-hcl2 keeps the quotes
    values = {"environment_ids": {k.strip('"'): v.strip('"') for k, v in parsed.items()}}
    assert _input_checks(module, tmp_path, values) == [True, True]
    half = {"environment_ids": {"ab-endpoint/versiona": "fraud-env:3", "ab-endpoint/versionb": ""}}
    assert _input_checks(module, tmp_path, half) == [False, False]


def test_the_inputs_file_is_the_persons_and_grows_with_new_deployments(tmp_path: Path) -> None:
    from generator.render.terraform import render_terraform
    from generator.render.tfvars import InputsMerge

    result = generate(Options(input=EXAMPLE, out=tmp_path))
    (inputs,) = [f for f in render_terraform(result.plan) if f.path.endswith("/inputs.auto.tfvars")]
    assert inputs.owner == PERSON and isinstance(inputs.merge, InputsMerge)
    filled = inputs.text.replace("  # ", "  ").encode()
    assert inputs.merge(filled) == filled  # the person's values, byte for byte
    grown = InputsMerge(
        {
            **inputs.merge.placeholders,
            ("environment_ids", "new-ep/blue"): '"new-ep/blue" = "<id>"',
        }
    )
    merged = grown(filled)
    assert merged.startswith(filled)
    assert merged[len(filled) :].decode().splitlines()[-1] == (
        '# environment_ids: "new-ep/blue" = "<id>"'
    )
    assert grown.report("inputs.auto.tfvars", filled) == [
        "inputs.auto.tfvars: added a placeholder for environment_ids of new-ep/blue: fill it in "
        "before the next plan"
    ]
    assert grown.report("inputs.auto.tfvars", merged) == []


# --- --layout endpoint: one root module (one state) per endpoint -----------------------------

_REF = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _comparable(found: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Bodies with tfparse's stand-ins for resource ids (random UUIDs) made equal."""
    loaded: dict[str, Any] = json.loads(_REF.sub("<ref>", json.dumps(found, sort_keys=True)))
    return loaded


def test_a_root_module_per_endpoint_carries_the_same_bodies(
    example_out: Path, example_bodies: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert cli_main(["--layout", "endpoint", "--out", str(out)]) in (0, 1)
    root = out / "terraform" / "mlw-contoso-prod"
    modules = sorted(p for p in root.iterdir() if p.is_dir())
    assert [m.name for m in modules] == sorted(
        p.name.removeprefix("main.").removesuffix(".tf")
        for p in (example_out / "terraform" / "mlw-contoso-prod").glob("main.*.tf")
    )
    assert not [p for p in root.iterdir() if p.is_file()]  # nothing shared by reference
    union: dict[str, dict[str, Any]] = {}
    for module in modules:
        found = bodies(module)
        # Each module holds its endpoint and nothing of another endpoint.
        endpoints = {k.split(":", 1)[1] for k in found if k.startswith("endpoint:")}
        assert endpoints == {module.name}
        assert not set(found) & set(union)
        union.update(found)
        # Shared values are generated identically in every module (no symlinks, no module).
        assert not any(p.is_symlink() for p in module.iterdir())
        for name in ("providers.tf", "terraform.tf"):
            text = (module / name).read_text(encoding="utf-8")
            assert text == (example_out / "terraform/mlw-contoso-prod" / name).read_text()
    # Each module has its own state, so it versions and uploads its assets apart from the
    # others (gen-iac/<endpoint>/...): otherwise one module replacing shared blobs would
    # delete what another module's live version points at. The bodies agree up to that.
    assert _unversioned(union) == _unversioned(example_bodies)
    versions = {k.split("/")[1] for k in union if k.startswith(("code:", "environment:"))}
    assert not versions & {k.split("/")[1] for k in example_bodies if k.startswith("code:")}
    code = union[
        "code:churn-aci-blue/"
        + next(k.split("/")[1] for k in union if k.startswith("code:churn-aci-blue/"))
    ]
    assert "/gen-iac/churn-aci/code/churn-aci-blue/" in code["properties"]["codeUri"]


_VERSION = re.compile(r"(/versions/|(?:code|environment):[\w-]+/|/)[0-9a-f]{16}\b")


def _unversioned(found: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Bodies with asset version names and the module's blob folder taken out."""
    text = json.dumps(_comparable(found), sort_keys=True)
    text = re.sub(r"/gen-iac/[\w-]+/(code|environments)/", r"/gen-iac/\1/", text)
    loaded: dict[str, Any] = json.loads(_VERSION.sub(r"\1<version>", text))
    return loaded


def test_each_endpoint_module_asks_only_for_its_own_inputs(tmp_path: Path) -> None:
    generate(Options(input=EXAMPLE, out=tmp_path, layout="endpoint"))
    root = tmp_path / "terraform" / "mlw-contoso-prod"
    with_inputs = sorted(m.name for m in root.iterdir() if (m / "inputs.auto.tfvars").exists())
    assert with_inputs == ["ab-endpoint"]
    assert "environment_ids" not in (root / "churn-aci" / "variables.tf").read_text()
    traffic = (root / "churn-aci" / "rollout.auto.tfvars").read_text()
    assert '"churn-aci" = { blue = 100 }' in traffic and "fraud-aks" not in traffic


def test_an_unknown_layout_is_refused() -> None:
    from generator.render.terraform import render_terraform

    with pytest.raises(ValueError, match="unknown Terraform layout"):
        render_terraform(generate_plan_only(), layout="per-service")


def generate_plan_only() -> Any:
    from generator.pipeline import plan_from

    plan, _ = plan_from(Options(input=EXAMPLE))
    return plan


def test_the_whole_keys_file_serves_every_endpoint_module(
    make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    keys = {
        **KEYS,
        "svc-aks": {"primaryKey": "P2-k3y-do-not-leak", "secondaryKey": "S2-k3y-do-not-leak"},
        "not-migrated": {"primaryKey": "x", "secondaryKey": "y"},
    }
    snapshot = make_snapshot([aci(), aks()], keys=keys)
    out = tmp_path / "out"
    generate(Options(input=snapshot, out=out, layout="endpoint"))
    assert "k3y-do-not-leak" not in _all_text(out)
    for service in ("svc-aci", "svc-aks"):
        module = out / "terraform" / "ws-test" / service
        # export TF_VAR_endpoint_keys="$(cat keys.json)": every service's keys, extras too.
        values = {**input_values(module), "endpoint_keys": keys}
        secrets = bodies(module, values)[f"endpoint-secrets:{service}"]
        assert secrets == {"properties": {"keys": keys[service]}}
