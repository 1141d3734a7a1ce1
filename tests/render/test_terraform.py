"""Generated Terraform: fmt-clean, evaluates under tfparse, and carries the bodies azure-ai-ml
would send for the same v2 entities."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from generator.pipeline import Options, generate
from tests.conftest import EXAMPLE, SnapshotFactory, aci, aks
from tests.support.terraform import bodies, evaluate, resources

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


def test_every_file_is_fmt_clean(example_out: Path, hclfmt: str) -> None:
    files = sorted((example_out / "terraform").rglob("*.tf"))
    assert len(files) >= 6
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
    assert 'version = "~> 2.9"' in terraform
    assert "2025-12-01" in (module / "locals.tf").read_text()


def test_traffic_is_set_after_every_deployment(
    example_bodies: dict[str, dict[str, Any]], example_out: Path
) -> None:
    for key, body in example_bodies.items():
        if key.startswith("endpoint:"):
            assert "traffic" not in body["properties"]
    assert example_bodies["traffic:fraud-aks"] == {"properties": {"traffic": {"blue": 100}}}
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
    assert "default" not in keys_block[: keys_block.index("\n}\n")]
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
