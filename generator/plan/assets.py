"""What one deployment needs to start: its scoring code, environment and model.

The v1 assets become a bundle (`bundles/<workspace>/<endpoint>/<deployment>/`: `code/`,
`environment/`, `bundle.json`) plus the `codes/versions` and `environments/versions` resources
that register it, each versioned by a hash of its content, so unchanged input gives an
unchanged plan. Reference: v2-arm-reference.md section 5, user-needs.md P1, P2, P6.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.assets.bundle import DEFAULT_ENTRY_SCRIPT, code_bundle, content_version, entry_script
from generator.assets.environment import CONDA_FILE, EnvironmentSpec, environment_spec
from generator.assets.lint import LintFinding, lint_files
from generator.diagnostics import Finding, Level
from generator.plan.model import (
    AssetId,
    AssetVersion,
    BlobUrl,
    Body,
    BundleText,
    Concat,
    Input,
    Upload,
    WorkspaceId,
)
from generator.sources.legacy import LegacyService

ENVIRONMENT_IDS = "environment_ids"
BLOB_ROOT = "gen-iac"  # every upload lives under this folder of the default datastore
# Set by the v1 SDK for its own wrapper; v2 sets its own equivalents.
V1_ONLY_ENV_VARS = {"AZUREML_ENTRY_SCRIPT", "AZUREML_SOURCE_DIRECTORY", "EXAMPLE_ENV_VAR"}
FIELD = "environmentImageRequest"


@dataclass(frozen=True)
class DeploymentAssets:
    properties: Body  # codeConfiguration, environmentId, model, environmentVariables
    versions: tuple[AssetVersion, ...]
    files: dict[str, bytes]  # the bundle, relative to its folder
    scoring_script: str
    entry_rule: str
    lint: tuple[LintFinding, ...]


def deployment_assets(
    source: LegacyService, asset_dir: Path | None, endpoint: str, deployment: str, workspace: str
) -> tuple[DeploymentAssets, list[Finding]]:
    findings: list[Finding] = []
    request = source.image_request
    folder = f"{endpoint}/{deployment}"
    properties: Body = {}

    env = request.environment if request and isinstance(request.environment, dict) else {}
    variables = env.get("environmentVariables")
    user_vars = {
        k: v
        for k, v in sorted((variables if isinstance(variables, dict) else {}).items())
        if k not in V1_ONLY_ENV_VARS and isinstance(k, str) and isinstance(v, str)
    }
    if user_vars:
        properties["environmentVariables"] = dict(user_vars)
    model, found = _model(request.model_ids if request else ())
    findings += found
    if model:
        properties["model"] = model

    bundle, found = code_bundle(
        request, asset_dir, code_dir=f"out/bundles/{workspace}/{folder}/code/"
    )
    findings += found
    if bundle:
        script, rule, code_files = bundle.scoring_script, bundle.rule, bundle.files
    else:
        script, rule = entry_script(request) or (DEFAULT_ENTRY_SCRIPT, "assumed")
        code_files = {}
    lint = tuple(lint_files(code_files))
    if lint:
        findings.append(
            Finding(
                Level.WARNING,
                "v1-code",
                f"{len(lint)} use(s) of SDK v1 APIs or the v1 model layout in the scoring code "
                "(see the deployment's code review in MIGRATION.md): rewrite them before "
                "applying, or the container will not start",
                FIELD,
            )
        )
    code_version = bundle.version if bundle else content_version({})
    code = AssetVersion(
        "code",
        f"{endpoint}-{deployment}",
        code_version,
        {"codeUri": BlobUrl(f"{BLOB_ROOT}/{folder}/code/{code_version}")},
        Upload(f"{folder}/code", f"{BLOB_ROOT}/{folder}/code/{code_version}"),
    )
    properties["codeConfiguration"] = {
        "codeId": AssetId("code", endpoint, deployment),
        "scoringScript": script,
    }
    versions = [code]
    files = {f"code/{path}": data for path, data in code_files.items()}

    spec, found = environment_spec(env or None, request.environment_reference if request else None)
    findings += found
    environment = _environment(spec, endpoint, deployment, folder) if spec else None
    if isinstance(environment, AssetVersion):
        versions.append(environment)
        properties["environmentId"] = AssetId("environment", endpoint, deployment)
        assert spec is not None
        if spec.conda_file is not None and spec.kind == "image":
            files[f"environment/{CONDA_FILE}"] = spec.conda_file.encode("utf-8")
        files.update({f"environment/{p}": d for p, d in spec.build_files.items()})
    elif environment is not None:
        properties["environmentId"] = environment
    else:
        properties["environmentId"] = Input(
            ENVIRONMENT_IDS, f"{endpoint}/{deployment}", "environment version ARM id"
        )
    files["bundle.json"] = _manifest(
        endpoint, deployment, script, code_version, spec, bundle is None
    )
    return (
        DeploymentAssets(properties, tuple(versions), files, script, rule, lint),
        findings,
    )


def _model(model_ids: tuple[str, ...]) -> tuple[Concat | None, list[Finding]]:
    """v1 models are v2 model assets already: the deployment references the first by ARM id."""
    field = f"{FIELD}.modelIds"
    if not model_ids:
        return None, [
            Finding(
                Level.WARNING,
                "no-model",
                "the service references no model: the scoring script must load what it needs "
                "itself, or set model in the deployment",
                field,
            )
        ]
    findings: list[Finding] = []
    name, _, version = model_ids[0].rpartition(":")
    if len(model_ids) > 1:
        findings.append(
            Finding(
                Level.WARNING,
                "multi-model",
                f"{len(model_ids)} models ({', '.join(model_ids)}); a v2 deployment mounts one "
                f"model, so {model_ids[0]!r} is referenced. Options: register one model folder "
                "that holds all of them (AZUREML_MODEL_DIR then has a sub-folder each), or one "
                "deployment per model behind its own endpoint, or load the others in init() "
                "from a datastore",
                field,
            )
        )
    if not (name and version):
        findings.append(
            Finding(
                Level.WARNING,
                "invalid-model-id",
                f"model id {model_ids[0]!r} is not NAME:VERSION; no model is referenced",
                field,
            )
        )
        return None, findings
    return Concat((WorkspaceId(), f"/models/{name}/versions/{version}")), findings


def _environment(
    spec: EnvironmentSpec, endpoint: str, deployment: str, folder: str
) -> AssetVersion | Concat | None:
    if spec.kind == "reference":
        assert spec.reference is not None
        name, version = spec.reference
        return (
            Concat((WorkspaceId(), f"/environments/{name}/versions/{version}")) if version else None
        )
    properties: Body = {"osType": "Linux"}
    upload = None
    if spec.kind == "build":
        prefix = f"{BLOB_ROOT}/{folder}/environment/{spec.version}"
        properties["build"] = {
            "contextUri": BlobUrl(prefix),
            "dockerfilePath": spec.dockerfile_path or "Dockerfile",
        }
        upload = Upload(f"{folder}/environment", prefix)
    else:
        properties["image"] = spec.image
        if spec.conda_file is not None:
            properties["condaFile"] = BundleText(f"{folder}/environment/{CONDA_FILE}")
    if spec.name:
        properties["description"] = f"From the v1 environment {spec.name!r}."
    return AssetVersion(
        "environment",
        f"{endpoint}-{deployment}",
        spec.version,
        dict(sorted(properties.items())),
        upload,
    )


def _manifest(
    endpoint: str,
    deployment: str,
    script: str,
    code_version: str,
    spec: EnvironmentSpec | None,
    missing: bool,
) -> bytes:
    """bundle.json: what `gen-iac smoke` and a person need to know about the bundle."""
    data: dict[str, Any] = {
        "codeVersion": code_version,
        "deployment": deployment,
        "endpoint": endpoint,
        "scoringScript": script,
    }
    if missing:
        data["missingCode"] = "put the scoring code into code/ next to this file"
    if spec:
        data["environment"] = {
            k: v
            for k, v in {
                "image": spec.image,
                "kind": spec.kind,
                "python": spec.python,
                "version": spec.version or None,
            }.items()
            if v
        }
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")
