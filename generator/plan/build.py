"""Snapshot -> MigrationPlan: apply the mapping rules to every service, collect diagnostics.

One broken service never stops the others: its errors make it "not-migrated" and the
rest of the plan goes on.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace

from generator.diagnostics import Diagnostic, Level
from generator.plan import rules
from generator.plan.cost import compare
from generator.plan.model import (
    Autoscale,
    Body,
    Concat,
    Deployment,
    DeploymentId,
    Endpoint,
    Input,
    MigrationPlan,
    ServiceOutcome,
    SkuChoice,
    Value,
    WorkspaceId,
    WorkspacePlan,
)
from generator.plan.naming import is_valid_name, scoring_uri, valid_name
from generator.plan.sku import NoSize, choose_sku, seed_prices
from generator.sources.legacy import LegacyService
from generator.sources.overrides import Override
from generator.sources.snapshot import Snapshot

DEFAULT_DEPLOYMENT = "blue"
# Set by the v1 SDK for its own wrapper; v2 sets its own equivalents.
V1_ONLY_ENV_VARS = {"AZUREML_ENTRY_SCRIPT", "AZUREML_SOURCE_DIRECTORY", "EXAMPLE_ENV_VAR"}

CODE_IDS = "code_ids"
ENVIRONMENT_IDS = "environment_ids"


class _Skip(Exception):
    """This service cannot be migrated; the diagnostics say why."""


class _Service:
    """Collects the diagnostics of one service while its plan is built."""

    def __init__(self, service: LegacyService, file: str) -> None:
        self.service = service
        self.file = file
        self.diagnostics: list[Diagnostic] = []

    def add(self, level: Level, code: str, message: str, field: str = "") -> None:
        self.diagnostics.append(
            Diagnostic(self.service.name, level, code, message, field, self.file)
        )

    def extend(self, findings: list[rules.Finding]) -> None:
        for f in findings:
            self.add(f.level, f.code, f.message, f.field)

    def fail(self, code: str, message: str, field: str = "") -> _Skip:
        self.add(Level.ERROR, code, message, field)
        return _Skip()


def build_plan(snapshot: Snapshot, overrides: dict[str, Override]) -> MigrationPlan:
    ws = snapshot.workspace
    endpoints: list[Endpoint] = []
    outcomes: list[ServiceOutcome] = []
    taken: dict[str, str] = {}  # endpoint name -> service
    by_service: dict[str, list[Diagnostic]] = {}
    for d in snapshot.diagnostics:
        by_service.setdefault(d.service, []).append(d)

    for service in snapshot.services:
        ctx = _Service(service, snapshot.file)
        ctx.diagnostics.extend(by_service.pop(service.name, []))
        try:
            endpoint, outcome = _plan_service(
                ctx, snapshot, overrides.get(service.name, Override())
            )
            if endpoint.name in taken:
                raise ctx.fail(
                    "duplicate-endpoint",
                    f"endpoint name {endpoint.name!r} is already used by service "
                    f"{taken[endpoint.name]!r}; set endpoint_name in an overrides file",
                    "name",
                )
            taken[endpoint.name] = service.name
            endpoints.append(endpoint)
            outcomes.append(replace(outcome, diagnostics=_sorted(ctx.diagnostics)))
        except _Skip:
            outcomes.append(
                ServiceOutcome(
                    service.name,
                    service.compute_type,
                    "not-migrated",
                    old_scoring_uri=service.scoring_uri,
                    reason=_reason(ctx.diagnostics),
                    diagnostics=_sorted(ctx.diagnostics),
                )
            )

    general = by_service.pop("", [])
    # Services the reader refused (mistyped fields, duplicates, non-objects).
    for name, diags in sorted(by_service.items()):
        if any(d.level is Level.ERROR for d in diags):
            outcomes.append(
                ServiceOutcome(
                    name, "", "not-migrated", reason=_reason(diags), diagnostics=_sorted(diags)
                )
            )
        else:
            general.extend(diags)
    for skipped in snapshot.skipped:
        outcomes.append(
            ServiceOutcome(skipped.name, skipped.compute_type, "skipped", reason=skipped.reason)
        )
    general += [
        Diagnostic(
            "",
            Level.WARNING,
            "unknown-override",
            f"override for {name!r}, which is not a service in the snapshot",
        )
        for name in sorted(set(overrides) - {s.name for s in snapshot.services})
    ]

    endpoints.sort(key=lambda e: e.name)
    inputs = sorted({i for e in endpoints for i in _inputs(e)}, key=lambda i: (i.name, i.key))
    workspace = WorkspacePlan(
        ws.subscription_id, ws.resource_group, ws.name, ws.location, tuple(endpoints), tuple(inputs)
    )
    return MigrationPlan(
        workspace,
        tuple(sorted(outcomes, key=lambda o: (o.status != "migrated", o.status, o.service))),
        _sorted(general),
    )


def _sorted(diagnostics: list[Diagnostic]) -> tuple[Diagnostic, ...]:
    return tuple(sorted(diagnostics, key=lambda d: d.sort_key))


def _reason(diagnostics: list[Diagnostic]) -> str:
    return "; ".join(
        f"{d.field}: {d.message}" if d.field else d.message
        for d in diagnostics
        if d.level is Level.ERROR
    )


def _plan_service(
    ctx: _Service, snapshot: Snapshot, override: Override
) -> tuple[Endpoint, ServiceOutcome]:
    s = ctx.service
    if s.image_id:
        raise ctx.fail(
            "image-based",
            "built from a container image (deploy_from_image / deploy_from_model), which has no "
            "v2 equivalent: register the model and environment and redeploy with a scoring "
            "script, or run the image as a custom container (imageDetails.imageLocation)",
            "imageId",
        )
    if s.compute_type == "AKSENDPOINT":
        raise ctx.fail(
            "not-yet-supported",
            "AKS endpoints with versions are not yet supported by this version of gen-iac",
            "computeType",
        )

    endpoint_name = _endpoint_name(ctx, override)
    sku = _sku(ctx, override)
    scale, findings = rules.scale(s, override.instance_count)
    ctx.extend(findings)
    auth, findings = rules.auth_mode(s)
    ctx.extend(findings)
    _unsupported(ctx)
    private = _private_network(ctx, snapshot)

    endpoint_props: Body = {"authMode": auth}
    if s.description:
        endpoint_props["description"] = s.description
    if private:
        endpoint_props["publicNetworkAccess"] = "Disabled"

    keys_from = None
    if s.name in snapshot.keys:
        if auth == "Key":
            keys_from = s.name
            ctx.add(
                Level.INFO,
                "keys-kept",
                "the endpoint is created with the exported v1 keys (write-only input "
                "endpoint_keys; never stored in files or state)",
            )
        else:
            ctx.add(
                Level.INFO,
                "keys-unused",
                "exported keys are not used: the endpoint uses token auth",
            )
    elif auth == "Key" and s.auth_enabled:
        ctx.add(
            Level.WARNING,
            "new-keys",
            "no exported keys for this service (export with --with-keys to keep them): the "
            "endpoint gets new keys and clients must be given them",
        )

    deployment = _deployment(ctx, endpoint_name, DEFAULT_DEPLOYMENT, sku, scale, override, private)
    endpoint = _nfc_endpoint(
        ctx,
        Endpoint(
            name=endpoint_name,
            service=s.name,
            properties=endpoint_props,
            tags=dict(sorted(s.kv_tags.items())),
            deployments=(deployment,),
            traffic={deployment.name: 100},
            keys_from=keys_from,
        ),
    )
    cpu = s.resources.cpu if s.resources else None
    memory = s.resources.memory_gb if s.resources else None
    cost = (
        compare(s.compute_type, cpu, memory, sku.prices, scale.instances)
        if cpu and memory
        else None
    )
    outcome = ServiceOutcome(
        s.name,
        s.compute_type,
        "migrated",
        endpoint=endpoint_name,
        deployments=(deployment.name,),
        old_scoring_uri=s.scoring_uri,
        new_scoring_uri=scoring_uri(endpoint_name, snapshot.workspace.location),
        sku=sku,
        cost=cost,
    )
    return endpoint, outcome


def _endpoint_name(ctx: _Service, override: Override) -> str:
    s = ctx.service
    if override.endpoint_name:
        if not is_valid_name(override.endpoint_name):
            raise ctx.fail(
                "invalid-override",
                f"endpoint_name {override.endpoint_name!r} is not a valid endpoint name "
                "(3-32 characters, a letter first, letters, digits and single hyphens)",
                "endpoint_name",
            )
        return override.endpoint_name
    name = valid_name(s.name)
    if name != s.name:
        ctx.add(
            Level.WARNING,
            "renamed",
            f"{s.name!r} is not a valid v2 endpoint name; the endpoint is named {name!r}",
            "name",
        )
    ctx.add(
        Level.INFO,
        "endpoint-name-region",
        "endpoint names are unique per Azure region: if the name is taken, set endpoint_name "
        "in an overrides file",
        "name",
    )
    return name


def _sku(ctx: _Service, override: Override) -> SkuChoice:
    s = ctx.service
    res = s.resources
    if override.instance_type:
        return SkuChoice(
            override.instance_type,
            "override",
            "chosen by override",
            0,
            0,
            seed_prices(override.instance_type),
        )
    cpu = res.cpu if res else None
    memory = res.memory_gb if res else None
    for value, key in ((cpu, "cpu"), (memory, "memoryInGB")):
        if value is None or value <= 0:
            got = "nothing" if value is None else f"{value:g}"
            raise ctx.fail(
                "missing-resources",
                f"expected a number > 0, got {got}: it is needed to choose a VM size "
                "(or pass --sku SERVICE=SIZE)",
                f"containerResourceRequirements.{key}",
            )
    assert cpu is not None and memory is not None
    gpu = (res.gpu if res else None) or 0
    try:
        choice = choose_sku(cpu, memory, gpu)
    except NoSize as exc:
        raise ctx.fail(
            "no-size", f"{exc}; pass --sku SERVICE=SIZE", "containerResourceRequirements"
        ) from None
    if choice.rule in {"general-purpose", "gpu"}:
        ctx.add(
            Level.WARNING,
            "sku-outside-seed",
            f"{choice.reason}; check quota and price before applying",
            "containerResourceRequirements",
        )
    elif choice.instance_type in {"Standard_DS1_v2", "Standard_F2s_v2"}:
        ctx.add(
            Level.INFO,
            "small-sku",
            f"{choice.instance_type} follows the seed table but Azure ML calls it small for "
            "production; consider Standard_DS3_v2 if the model needs headroom",
            "containerResourceRequirements",
        )
    limit_cpu = res.cpu_limit if res else None
    limit_mem = res.memory_gb_limit if res else None
    if (limit_cpu or 0) > choice.vcpus or (limit_mem or 0) > choice.memory_gb:
        ctx.add(
            Level.INFO,
            "limits-above-sku",
            "the v1 limits allowed bursting beyond the chosen size; the size follows the "
            "requests as the seed table does",
            "containerResourceRequirements",
        )
    return choice


def _unsupported(ctx: _Service) -> None:
    s = ctx.service
    if s.ssl_enabled or s.cname:
        ctx.add(
            Level.WARNING,
            "tls-custom-dns",
            "v1 TLS settings and custom DNS names have no v2 equivalent: v2 endpoints always "
            "use TLS on their own hostname; put a gateway (APIM, Front Door) in front to keep "
            "a custom name",
            "cname" if s.cname else "sslEnabled",
        )
    if s.encryption_key_vault:
        ctx.add(
            Level.WARNING,
            "encryption",
            "ACI encryptionProperties (customer-managed key) are not supported on online "
            "deployments; workspace encryption settings apply instead",
            "encryptionProperties",
        )
    if s.state and s.state != "Healthy":
        ctx.add(
            Level.WARNING,
            "unhealthy",
            f"the v1 service is {s.state}: the migrated deployment may fail the same way; "
            "check the v1 logs before applying",
            "state",
        )
    if s.data_collection_enabled:
        ctx.add(
            Level.WARNING,
            "data-collection",
            "v1 model data collection is not migrated: v2 uses the data collector, which "
            "needs code changes",
            "dataCollection.storageEnabled",
        )


def _private_network(ctx: _Service, snapshot: Snapshot) -> bool:
    s = ctx.service
    private_ws = (snapshot.workspace.public_network_access or "").lower() == "disabled"
    if not (private_ws or s.vnet):
        return False
    why = (
        "the workspace is private"
        if private_ws
        else f"the ACI service ran in VNet {s.vnet[0]!r}"
        if s.vnet
        else ""
    )
    ctx.add(
        Level.WARNING,
        "network-isolation",
        f"{why}: the endpoint gets publicNetworkAccess Disabled and the deployment "
        "egressPublicNetworkAccess Disabled. Prerequisites: the workspace must not be in v1 "
        "legacy mode, its private endpoints must postdate 2022-05-24, and image builds "
        "cannot reach private package feeds",
        "vnetConfiguration" if s.vnet else "workspace.publicNetworkAccess",
    )
    return True


def _deployment(
    ctx: _Service,
    endpoint: str,
    name: str,
    sku: SkuChoice,
    scale: rules.Scale,
    override: Override,
    private: bool,
) -> Deployment:
    s = ctx.service
    props: Body = {"endpointComputeType": "Managed", "instanceType": sku.instance_type}
    if s.description:
        props["description"] = s.description
    if s.app_insights_enabled is not None:
        props["appInsightsEnabled"] = s.app_insights_enabled
    if private:
        props["egressPublicNetworkAccess"] = "Disabled"
    settings, findings = rules.request_settings(s, override.request_timeout_ms)
    ctx.extend(findings)
    if settings:
        props["requestSettings"] = settings
    probe, findings = rules.liveness_probe(s)
    ctx.extend(findings)
    if probe:
        props["livenessProbe"] = probe
    props.update(_assets(ctx, endpoint, name))
    autoscale = None
    if scale.autoscale is not None:
        autoscale = Autoscale(
            f"{endpoint}-{name}-autoscale",
            rules.autoscale_properties(scale.autoscale, DeploymentId(endpoint, name)),
        )
    return Deployment(
        name=name,
        properties=dict(sorted(props.items())),
        sku={"capacity": scale.instances, "name": "Default"},
        tags=dict(sorted(s.kv_tags.items())),
        autoscale=autoscale,
    )


def _assets(ctx: _Service, endpoint: str, deployment: str) -> Body:
    """Model, code and environment references (the assets issue replaces the inputs)."""
    s = ctx.service
    request = s.image_request
    key = f"{endpoint}/{deployment}"
    found: Body = {}
    env = (request.environment if request else None) or {}
    env_vars = env.get("environmentVariables") if isinstance(env, dict) else None
    env_vars = env_vars if isinstance(env_vars, dict) else {}
    user_vars = {
        k: v
        for k, v in sorted(env_vars.items())
        if k not in V1_ONLY_ENV_VARS and isinstance(k, str) and isinstance(v, str)
    }
    if user_vars:
        found["environmentVariables"] = dict(user_vars)

    model_ids = request.model_ids if request else ()
    if model_ids:
        name, _, version = model_ids[0].rpartition(":")
        if name and version:
            found["model"] = Concat((WorkspaceId(), f"/models/{name}/versions/{version}"))
        else:
            ctx.add(
                Level.WARNING,
                "invalid-model-id",
                f"model id {model_ids[0]!r} is not NAME:VERSION; no model is referenced",
                "environmentImageRequest.modelIds",
            )
        if len(model_ids) > 1:
            ctx.add(
                Level.WARNING,
                "multi-model",
                f"{len(model_ids)} models ({', '.join(model_ids)}); a v2 deployment takes one: "
                f"{model_ids[0]!r} is referenced, the others must be packaged with it",
                "environmentImageRequest.modelIds",
            )
    else:
        ctx.add(
            Level.WARNING,
            "no-model",
            "the service references no model",
            "environmentImageRequest.modelIds",
        )

    script = _scoring_script(ctx, env_vars)
    found["codeConfiguration"] = {
        "codeId": Input(CODE_IDS, key, "code version ARM id holding the scoring code"),
        "scoringScript": script,
    }
    reference = request.environment_reference if request else None
    env_name, env_version = env.get("name"), env.get("version")
    if reference is None and set(env) <= {"name", "version"} and env_name and env_version:
        reference = (str(env_name), str(env_version))
    if reference and reference[1]:
        found["environmentId"] = Concat(
            (WorkspaceId(), f"/environments/{reference[0]}/versions/{reference[1]}")
        )
    else:
        found["environmentId"] = Input(ENVIRONMENT_IDS, key, "environment version ARM id")
    return found


def _scoring_script(ctx: _Service, env_vars: dict[str, Value]) -> str:
    entry = env_vars.get("AZUREML_ENTRY_SCRIPT")
    source = env_vars.get("AZUREML_SOURCE_DIRECTORY")
    if isinstance(entry, str) and entry:
        if isinstance(source, str) and source and entry.startswith(source.rstrip("/") + "/"):
            entry = entry[len(source.rstrip("/")) + 1 :]
        return entry.removeprefix("./")
    request = ctx.service.image_request
    driver = request.driver_program if request else None
    scripts = [
        a.id
        for a in (request.assets if request else ())
        if a.id and a.id != driver and not a.unpack and a.id.endswith(".py")
    ]
    if scripts:
        return scripts[0]
    ctx.add(
        Level.WARNING,
        "entry-script-unknown",
        "the entry script is not recorded (no AZUREML_ENTRY_SCRIPT, no script asset): "
        "'score.py' is assumed",
        "environmentImageRequest",
    )
    return "score.py"


def _all_nfc(value: Value) -> bool:
    if isinstance(value, str):
        return unicodedata.is_normalized("NFC", value)
    if isinstance(value, dict):
        return all(_all_nfc(k) and _all_nfc(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_all_nfc(v) for v in value)
    return True


def _nfc(value: Value) -> Value:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {_nfc(k): _nfc(v) for k, v in value.items()}  # type: ignore[misc]
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    return value


def _nfc_endpoint(ctx: _Service, endpoint: Endpoint) -> Endpoint:
    """Terraform (cty) holds every string in Unicode NFC, so text in another normal form
    cannot reach Azure byte for byte; both targets send the NFC form, and the report says so."""
    parts: list[Value] = [endpoint.properties, endpoint.tags]  # type: ignore[list-item]
    for d in endpoint.deployments:
        parts += [d.properties, d.tags]  # type: ignore[list-item]
    if _all_nfc(parts):
        return endpoint
    ctx.add(
        Level.WARNING,
        "unicode-normalized",
        "some text (description or tags) is not in Unicode NFC form; Terraform normalizes "
        "every string to NFC, so the NFC form (which looks the same) is sent",
    )
    return replace(
        endpoint,
        properties=_nfc(endpoint.properties),  # type: ignore[arg-type]
        tags=_nfc(endpoint.tags),  # type: ignore[arg-type]
        deployments=tuple(
            replace(d, properties=_nfc(d.properties), tags=_nfc(d.tags))  # type: ignore[arg-type]
            for d in endpoint.deployments
        ),
    )


def _inputs(endpoint: Endpoint) -> list[Input]:
    found: list[Input] = []

    def walk(value: Value) -> None:
        if isinstance(value, Input):
            found.append(value)
        elif isinstance(value, Concat):
            found.extend(p for p in value.parts if isinstance(p, Input))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for d in endpoint.deployments:
        walk(d.properties)
    return found
