"""What one deployment needs to start (its scoring code, environment and model), and the
workspace's code and environment assets that several deployments share.

Planning is two steps. `deployment_assets` reads one v1 service: its model, its code bundle,
its environment spec; the deployment's body points at its code and environment through
`AssetId`s with a provisional key (`<endpoint>-<deployment>`). Once every service is planned,
`register_assets` groups equal content into one `Asset` each (content addressing: same files
and entry script, one code asset; same environment definition, one environment asset), gives
each its key and rewrites the bodies to the final keys.

Keys are readable, valid asset names and deterministic: a code asset is named after the first
`<endpoint>-<deployment>` (plan order) that uses it; an environment after the v1 environment's
name and version when known (else like code). Code that the snapshot lacks is never shared: each
deployment gets its own folder to fill. Version names are not decided here: they follow the
folders' files when Terraform or Bicep runs (`VERSION_RULE`). Reference: v2-arm-reference.md
section 5, user-needs.md P1, P2, P6.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from generator.assets.bundle import DEFAULT_ENTRY_SCRIPT, code_bundle, entry_script
from generator.assets.environment import CONDA_FILE, EnvironmentSpec, environment_spec
from generator.assets.lint import LintFinding, lint_files
from generator.diagnostics import Finding, Level
from generator.plan.model import (
    BLOB_ROOT,
    Asset,
    AssetId,
    AssetVersionName,
    BlobUrl,
    Body,
    BundleText,
    Concat,
    Deployment,
    Endpoint,
    Input,
    Upload,
    WorkspaceId,
    asset_root,
)
from generator.sources.legacy import LegacyService

ENVIRONMENT_IDS = "environment_ids"
# Set by the v1 SDK for its own wrapper; v2 sets its own equivalents.
V1_ONLY_ENV_VARS = {"AZUREML_ENTRY_SCRIPT", "AZUREML_SOURCE_DIRECTORY", "EXAMPLE_ENV_VAR"}
FIELD = "environmentImageRequest"
# Asset (container) names: ^[a-zA-Z0-9][a-zA-Z0-9\-_]{0,254}$ (codes and environments).
_ASSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,254}")
_CURATED_PREFIXES = ("azureml-", "microsoft-")  # reserved for curated environments


@dataclass(frozen=True)
class CodeDraft:
    """One deployment's code before assets are shared: what makes two of them one asset."""

    files: dict[str, bytes]
    scoring_script: str
    content: str | None  # content hash of the files; None when the snapshot has no code


@dataclass(frozen=True)
class DeploymentAssets:
    properties: Body  # codeConfiguration, environmentId, model, environmentVariables
    code: CodeDraft
    environment: EnvironmentSpec | None  # registered as an asset (image or build kind)
    scoring_script: str
    entry_rule: str
    lint: tuple[LintFinding, ...]


def provisional_key(endpoint: str, deployment: str) -> str:
    """The key a deployment's assets have until `register_assets` names the shared ones
    (also the final key of code the snapshot lacks, which is never shared)."""
    return f"{endpoint}-{deployment}"


def deployment_assets(
    source: LegacyService, asset_dir: Path | None, endpoint: str, deployment: str, workspace: str
) -> tuple[DeploymentAssets, list[Finding]]:
    findings: list[Finding] = []
    request = source.image_request
    key = provisional_key(endpoint, deployment)
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

    # Paths in messages are relative to the output folder: the console and report prefix them.
    bundle, found = code_bundle(request, asset_dir, code_dir=f"bundles/{workspace}/code/{key}/")
    findings += found
    if bundle:
        script, rule, code_files = bundle.scoring_script, bundle.rule, bundle.files
    else:
        script, rule = entry_script(request) or (DEFAULT_ENTRY_SCRIPT, "assumed")
        code_files = {}
    lint = _lint(bundle.version, code_files) if bundle else ()
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
    properties["codeConfiguration"] = {"codeId": AssetId("code", key), "scoringScript": script}
    code = CodeDraft(code_files, script, bundle.version if bundle else None)

    spec, found = environment_spec(env or None, request.environment_reference if request else None)
    findings += found
    registered: EnvironmentSpec | None = None
    if spec is not None and spec.kind == "reference":
        assert spec.reference is not None
        name, version = spec.reference
        if version:
            properties["environmentId"] = Concat(
                (WorkspaceId(), f"/environments/{name}/versions/{version}")
            )
    elif spec is not None:
        registered = spec
        properties["environmentId"] = AssetId("environment", key)
    if "environmentId" not in properties:
        properties["environmentId"] = Input(
            ENVIRONMENT_IDS, f"{endpoint}/{deployment}", "environment version ARM id"
        )
    return DeploymentAssets(properties, code, registered, script, rule, lint), findings


_LINTED: dict[str, tuple[LintFinding, ...]] = {}  # by content hash: many services, one code


def _lint(content: str, files: dict[str, bytes]) -> tuple[LintFinding, ...]:
    if content not in _LINTED:
        if len(_LINTED) >= 4096:
            _LINTED.clear()
        _LINTED[content] = tuple(lint_files(files))
    return _LINTED[content]


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


# --- the workspace's shared assets ----------------------------------------------------------


@dataclass(frozen=True)
class WorkspaceAssets:
    endpoints: tuple[Endpoint, ...]  # bodies pointing at the final keys
    assets: tuple[Asset, ...]  # codes by key, then environments by key


def register_assets(
    endpoints: list[Endpoint] | tuple[Endpoint, ...],
    drafts: dict[tuple[str, str], DeploymentAssets],
    own: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
) -> WorkspaceAssets:
    """One asset per distinct content, in plan order (endpoints as given, deployments in
    order); `drafts` holds each deployment's `deployment_assets` by (endpoint, deployment).
    A deployment in `own` (a canary given its own code) shares with no other: its folders
    are `<endpoint>-<deployment>`, so editing them rolls that deployment only."""
    codes: dict[tuple[str, ...], _Group] = {}
    environments: dict[tuple[str, ...], _Group] = {}
    env_keys: dict[str, tuple[str, ...]] = {}  # lower-cased key -> identity (case-safe folders)
    final: dict[tuple[str, str], tuple[str, str | None]] = {}
    for endpoint in endpoints:
        for d in endpoint.deployments:
            draft = drafts[(endpoint.name, d.name)]
            user = f"{endpoint.name}/{d.name}"
            own_key = provisional_key(endpoint.name, d.name)
            alone = (endpoint.name, d.name) in own
            code_identity = (
                ("content", draft.code.content, draft.code.scoring_script)
                if draft.code.content is not None and not alone
                else ("own", own_key)
            )
            code = codes.get(code_identity)
            if code is None:
                code = codes[code_identity] = _Group(own_key, draft)
            code.users.append(user)
            env_key = None
            spec = draft.environment
            if spec is not None:
                identity = ("own", own_key) if alone else (spec.version, spec.name or "")
                group = environments.get(identity)
                if group is None:
                    key = _environment_key(spec, own_key, identity, env_keys, alone)
                    group = environments[identity] = _Group(key, draft)
                    env_keys[key.lower()] = identity
                group.users.append(user)
                env_key = group.key
            final[(endpoint.name, d.name)] = (code.key, env_key)
    assets = [_code_asset(g) for g in sorted(codes.values(), key=lambda g: g.key)]
    assets += [_environment_asset(g) for g in sorted(environments.values(), key=lambda g: g.key)]
    rewritten = tuple(
        replace(
            e,
            deployments=tuple(
                _point_at(d, *final[(e.name, d.name)], provisional_key(e.name, d.name))
                for d in e.deployments
            ),
        )
        for e in endpoints
    )
    return WorkspaceAssets(rewritten, tuple(assets))


class _Group:
    """The deployments that share one asset; the first one's draft is the content."""

    def __init__(self, key: str, draft: DeploymentAssets) -> None:
        self.key = key
        self.draft = draft
        self.users: list[str] = []


def _environment_key(
    spec: EnvironmentSpec,
    own: str,
    identity: tuple[str, ...],
    taken: dict[str, tuple[str, ...]],
    alone: bool = False,
) -> str:
    """`<v1 name>-<v1 version>` (or the name alone) when that is a valid, free name for a
    user environment; with `-<content hash>` when another content has it; else `own`."""
    candidates = []
    base = _asset_name(spec.name or "", spec.v1_version)
    if base and not alone and not base.lower().startswith(_CURATED_PREFIXES):
        candidates += [base, _asset_name(base, spec.version[:8])]
    candidates.append(own)
    for candidate in candidates:
        if candidate and taken.get(candidate.lower(), identity) == identity:
            return candidate
    # A v1 name may equal another deployment's `<endpoint>-<deployment>`: add the content hash.
    return _asset_name(own, spec.version[:8]) or own


def _asset_name(name: str, version: str | None) -> str:
    """A valid asset name from a v1 name and version, or "" when none can be made."""
    text = f"{name}-{version}" if version else name
    text = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-_")
    return text if _ASSET_NAME.fullmatch(text) else ""


def _code_asset(group: _Group) -> Asset:
    code = group.draft.code
    folder = f"{asset_root('code')}/{group.key}"
    prefix = f"{BLOB_ROOT}/{folder}"
    version = AssetVersionName("code", group.key)
    return Asset(
        kind="code",
        key=group.key,
        properties={"codeUri": BlobUrl(prefix, version)},
        deployments=tuple(group.users),
        files=code.files,
        upload=Upload(folder, prefix),
        scoring_script=code.scoring_script,
        missing=code.content is None,
    )


def _environment_asset(group: _Group) -> Asset:
    spec = group.draft.environment
    assert spec is not None
    folder = f"{asset_root('environment')}/{group.key}"
    version = AssetVersionName("environment", group.key)
    properties: Body = {"osType": "Linux"}
    upload = None
    files: dict[str, bytes] = {}
    if spec.kind == "build":
        prefix = f"{BLOB_ROOT}/{folder}"
        properties["build"] = {
            "contextUri": BlobUrl(prefix, version),
            "dockerfilePath": spec.dockerfile_path or "Dockerfile",
        }
        upload = Upload(folder, prefix)
        files = dict(spec.build_files)
    else:
        properties["image"] = spec.image
        if spec.conda_file is not None:
            properties["condaFile"] = BundleText(f"{folder}/{CONDA_FILE}")
            files = {CONDA_FILE: spec.conda_file.encode("utf-8")}
    if spec.name:
        properties["description"] = f"From the v1 environment {spec.name!r}."
    properties = dict(sorted(properties.items()))
    return Asset(
        kind="environment",
        key=group.key,
        properties=properties,
        deployments=tuple(group.users),
        files=files,
        seed=version_seed(properties),
        upload=upload,
        environment_kind=spec.kind,
        image=spec.image,
        python=spec.python,
    )


def version_seed(properties: Body) -> str:
    """16 hex of sha256 over the literal properties (expressions by their type): what a
    version covers besides its folder's files."""

    def literal(value: object) -> object:
        return {"$expression": type(value).__name__}

    text = json.dumps(properties, sort_keys=True, separators=(",", ":"), default=literal)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _point_at(d: Deployment, code: str, environment: str | None, own: str) -> Deployment:
    properties = dict(d.properties)
    configuration = properties.get("codeConfiguration")
    if isinstance(configuration, dict) and configuration.get("codeId") == AssetId("code", own):
        properties["codeConfiguration"] = {**configuration, "codeId": AssetId("code", code)}
    if environment is not None and properties.get("environmentId") == AssetId("environment", own):
        properties["environmentId"] = AssetId("environment", environment)
    return replace(d, properties=properties, code=code, environment=environment)
