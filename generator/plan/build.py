"""Snapshot -> MigrationPlan: apply the mapping rules to every service, collect diagnostics.

One broken service never stops the others: its errors make it "not-migrated" and the
rest of the plan goes on.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from pathlib import Path

from generator.diagnostics import Diagnostic, Finding, Level
from generator.files import path_component
from generator.plan import kubernetes as kubernetes_rules
from generator.plan import network as network_rules
from generator.plan import rules, traffic
from generator.plan.assets import DeploymentAssets, deployment_assets, register_assets
from generator.plan.cost import compare, total
from generator.plan.model import (
    AuthChange,
    Autoscale,
    Body,
    Concat,
    CostComparison,
    Deployment,
    DeploymentId,
    Endpoint,
    MigrationPlan,
    Rollout,
    ServiceOutcome,
    SkuChoice,
    Value,
    WorkspaceId,
    WorkspacePlan,
    inputs_of,
)
from generator.plan.naming import is_valid_name, scoring_uri, valid_name
from generator.plan.sku import (
    NoSize,
    choose_sku,
    is_managed_size,
    seed_prices,
    unknown_size_message,
)
from generator.plan.text import all_nfc, to_nfc
from generator.sources.legacy import LegacyService, Resources
from generator.sources.overrides import Override
from generator.sources.snapshot import Snapshot

DEFAULT_DEPLOYMENT = "blue"


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

    def extend(self, findings: list[Finding], prefix: str = "") -> None:
        for f in findings:
            self.add(f.level, f.code, f.message, prefix + f.field if f.field else f.field)

    def fail(self, code: str, message: str, field: str = "") -> _Skip:
        self.add(Level.ERROR, code, message, field)
        return _Skip()


AKS_TYPES = ("AKS", "AKSENDPOINT")


def build_plan(
    snapshot: Snapshot, overrides: dict[str, Override], defaults: Override | None = None
) -> MigrationPlan:
    """`defaults` are the choices given for all services (flags without SERVICE=);
    `overrides` the per-service ones, which win."""
    ws = snapshot.workspace
    endpoints: list[Endpoint] = []
    outcomes: list[ServiceOutcome] = []
    taken: dict[str, str] = {}  # endpoint name, lower-cased -> service
    taken_names: dict[str, str] = {}  # other resource-group-wide names, lower-cased -> service
    by_service: dict[str, list[Diagnostic]] = {}
    for d in snapshot.diagnostics:
        by_service.setdefault(d.service, []).append(d)

    drafts: dict[tuple[str, str], DeploymentAssets] = {}  # (endpoint, deployment) -> assets
    own: set[tuple[str, str]] = set()  # (endpoint, deployment) with folders of their own
    for service in snapshot.services:
        ctx = _Service(service, snapshot.file)
        ctx.diagnostics.extend(by_service.pop(service.name, []))
        try:
            endpoint, outcome, planned = _plan_service(
                ctx, snapshot, _choices(service, defaults, overrides.get(service.name))
            )
            # Azure resource names ignore case, and so do Terraform labels and file names
            # on some systems: two endpoints that differ only in case are the same one.
            folded = endpoint.name.lower()
            if folded in taken:
                raise ctx.fail(
                    "duplicate-endpoint",
                    f"endpoint name {endpoint.name!r} is already used by service "
                    f"{taken[folded]!r} (Azure names ignore case); set endpoint_name in an "
                    "overrides file",
                    "name",
                )
            clash = next((a for a in _workspace_names(endpoint) if a.lower() in taken_names), None)
            if clash:
                raise ctx.fail(
                    "duplicate-name",
                    f"resource name {clash!r} is already used by service "
                    f"{taken_names[clash.lower()]!r} (Azure names ignore case); set "
                    "endpoint_name or deployment_name in an overrides file",
                    "name",
                )
            taken[folded] = service.name
            taken_names.update(
                dict.fromkeys((a.lower() for a in _workspace_names(endpoint)), service.name)
            )
            endpoints.append(endpoint)
            drafts.update({(endpoint.name, name): a for name, a in planned.items()})
            own |= _own_bundles(ctx, endpoint, overrides.get(service.name))
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
    general += _unknown_overrides(overrides, [s.name for s in snapshot.services])

    endpoints.sort(key=lambda e: e.name)
    shared = register_assets(endpoints, drafts, own)
    outcomes = _with_asset_folders(outcomes, shared.endpoints, path_component(ws.name))
    inputs = inputs_of(endpoints)
    workspace = WorkspacePlan(
        ws.subscription_id,
        ws.resource_group,
        ws.name,
        ws.location,
        shared.endpoints,
        tuple(inputs),
        shared.assets,
    )
    return MigrationPlan(
        workspace,
        tuple(sorted(outcomes, key=lambda o: (o.status != "migrated", o.status, o.service))),
        _sorted(general),
    )


def _unknown_overrides(overrides: dict[str, Override], services: list[str]) -> list[Diagnostic]:
    """A choice (SERVICE=VALUE flag or overrides file entry) for a name no service has: a
    mistyped name would otherwise change nothing without a word."""
    found = []
    for name in sorted(set(overrides) - set(services)):
        close = difflib.get_close_matches(name, services, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        found.append(
            Diagnostic(
                "",
                Level.WARNING,
                "unknown-override",
                f"a choice (a SERVICE=VALUE flag or an overrides file entry) names {name!r}, "
                f"which is not a service in the snapshot{hint}: it is not applied",
            )
        )
    return found


def _with_asset_folders(
    outcomes: list[ServiceOutcome], endpoints: tuple[Endpoint, ...], workspace: str
) -> list[ServiceOutcome]:
    """Each rollout's code and environment folders, once the shared assets have their keys."""
    keys = {(e.name, d.name): (d.code, d.environment) for e in endpoints for d in e.deployments}
    found = []
    for o in outcomes:
        if o.endpoint is not None and o.rollout:
            rollout = []
            for r in o.rollout:
                code, environment = keys[(o.endpoint, r.deployment)]
                rollout.append(
                    replace(
                        r,
                        bundle=f"bundles/{workspace}/code/{code}",
                        environment_bundle=f"bundles/{workspace}/environments/{environment}"
                        if environment
                        else "",
                    )
                )
            o = replace(o, rollout=tuple(rollout))
        found.append(o)
    return found


def _workspace_names(endpoint: Endpoint) -> list[str]:
    """Names of an endpoint's resources that live beside other endpoints' resources in the
    resource group (autoscale settings), which must not meet another endpoint's."""
    return [d.autoscale.name for d in endpoint.deployments if d.autoscale]


def _own_bundles(
    ctx: _Service, endpoint: Endpoint, override: Override | None
) -> set[tuple[str, str]]:
    """The deployments the overrides give folders of their own (`own_bundles`)."""
    wanted = set(override.own_bundles or ()) if override else set()
    names = {d.name for d in endpoint.deployments}
    for name in sorted(wanted - names):
        ctx.add(
            Level.WARNING,
            "unknown-deployment",
            f"own_bundles names {name!r}, which is not a deployment of endpoint "
            f"{endpoint.name} ({', '.join(sorted(names))})",
            "own_bundles",
        )
    return {(endpoint.name, name) for name in wanted & names}


def _choices(
    service: LegacyService, defaults: Override | None, override: Override | None
) -> Override:
    base = defaults or Override()
    if base.endpoint_kind and service.compute_type not in AKS_TYPES:
        base = replace(base, endpoint_kind=None)  # a kind for all services means all AKS ones
    return base.merged(override or Override())


def _sorted(diagnostics: list[Diagnostic]) -> tuple[Diagnostic, ...]:
    return tuple(sorted(diagnostics, key=lambda d: d.sort_key))


def _reason(diagnostics: list[Diagnostic]) -> str:
    return "; ".join(
        f"{d.field}: {d.message}" if d.field else d.message
        for d in diagnostics
        if d.level is Level.ERROR
    )


@dataclass(frozen=True)
class _Unit:
    """One future deployment: the v1 service (or AKS endpoint version) it comes from."""

    name: str
    source: LegacyService
    prefix: str  # field prefix for diagnostics, e.g. "versions.a."
    asset_dir: Path | None  # the snapshot's assets of this service or version
    share: traffic.Share | None = None


def _plan_service(
    ctx: _Service, snapshot: Snapshot, override: Override
) -> tuple[Endpoint, ServiceOutcome, dict[str, DeploymentAssets]]:
    s = ctx.service
    if s.image_id:
        raise ctx.fail(
            "image-based",
            "built from a container image (deploy_from_image / deploy_from_model), which has no "
            "v2 equivalent: register the model and environment and redeploy with a scoring "
            "script, or run the image as a custom container (imageDetails.imageLocation)",
            "imageId",
        )
    endpoint_name = _endpoint_name(ctx, override)
    kubernetes = override.endpoint_kind == "kubernetes"
    size = override.instance_type
    if size and not kubernetes and not is_managed_size(size):  # on Kubernetes: a CRD's name
        ctx.add(Level.WARNING, "unknown-sku", unknown_size_message(size), "instance_type")
    if kubernetes and not override.compute:
        raise ctx.fail(
            "no-compute",
            "a Kubernetes endpoint needs the workspace's Kubernetes compute: pass --compute NAME "
            "(or SERVICE=NAME), or set compute in an overrides file",
            "compute",
        )
    units = _units(ctx, override, snapshot)
    auth, findings = rules.auth_mode(s)
    ctx.extend(findings)
    _unsupported(ctx)
    ctx.extend(rules.moves(s, snapshot.workspace.location, kubernetes))
    net = _network(ctx, snapshot, kubernetes)

    endpoint_props: Body = {"authMode": auth}
    if kubernetes:
        endpoint_props["compute"] = Concat((WorkspaceId(), f"/computes/{override.compute}"))
        ctx.add(
            Level.WARNING,
            "kubernetes-prerequisites",
            f"runs on the Kubernetes compute {override.compute!r}: the cluster needs the Azure "
            "ML extension and a Kubernetes compute attach before applying (see Kubernetes "
            "prerequisites in MIGRATION.md)",
            "compute",
        )
    if s.description:
        endpoint_props["description"] = s.description
    if net.public_access_disabled:
        endpoint_props["publicNetworkAccess"] = "Disabled"
    keys_from = _keys(ctx, snapshot, auth)

    deployments: list[Deployment] = []
    skus: dict[str, SkuChoice | None] = {}
    costs: list[CostComparison] = []
    planned: dict[str, DeploymentAssets] = {}
    for unit in units:
        scale, findings = rules.scale(unit.source, override.instance_count, kubernetes)
        ctx.extend(findings, unit.prefix)
        if kubernetes:
            if not kubernetes_rules.name_length_ok(endpoint_name, unit.name):
                low, high = kubernetes_rules.NAME_LENGTHS
                raise ctx.fail(
                    "name-length",
                    f"Kubernetes endpoints need len(endpoint) + len(deployment) from {low} to "
                    f"{high}; {endpoint_name!r} + {unit.name!r} is "
                    f"{len(endpoint_name) + len(unit.name)}: set endpoint_name or deployment_name",
                    "name",
                )
            sku = None
            props = _kubernetes_properties(ctx, unit, scale, override)
        else:
            sku = _sku(ctx, unit, override)
            props = _managed_properties(unit, sku, net.egress_disabled)
            cost = _cost(unit.source, sku, scale.instances)
            if cost:
                costs.append(cost)
        skus[unit.name] = sku
        deployment, planned[unit.name] = _deployment(
            ctx, snapshot.workspace.name, endpoint_name, unit, props, scale, override, kubernetes
        )
        deployments.append(deployment)

    live, mirror = _traffic(ctx, units, override, kubernetes)
    endpoint = _nfc_endpoint(
        ctx,
        Endpoint(
            name=endpoint_name,
            service=s.name,
            properties=dict(sorted(endpoint_props.items())),
            tags=dict(sorted(s.kv_tags.items())),
            deployments=tuple(deployments),
            traffic=live,
            mirror_traffic=mirror,
            kind="Kubernetes" if kubernetes else "Managed",
            keys_from=keys_from,
        ),
    )
    single = len(units) == 1
    outcome = ServiceOutcome(
        s.name,
        s.compute_type,
        "migrated",
        endpoint=endpoint_name,
        deployments=tuple(u.name for u in units),
        rollout=tuple(
            Rollout(
                deployment=u.name,
                version=None if single and u.share is None else u.source.name,
                role=u.source.version_type,
                is_default=bool(u.source.is_default),
                v1_percent=u.source.traffic_percentile,
                traffic=live.get(u.name, 0),
                mirror=mirror.get(u.name, 0),
                instance_type=sku.instance_type if (sku := skus[u.name]) else None,
                scoring_script=planned[u.name].scoring_script,
                entry_rule=planned[u.name].entry_rule,
                lint=planned[u.name].lint,
            )
            for u in units
        ),
        endpoint_kind=endpoint.kind,
        old_scoring_uri=s.scoring_uri,
        new_scoring_uri=scoring_uri(endpoint_name, snapshot.workspace.location),
        auth=AuthChange(rules.v1_auth(s), auth, keys_from is not None),
        sku=skus[units[0].name] if single else None,
        cost=total(costs) if costs and len(costs) == len(units) else None,
    )
    return endpoint, outcome, planned


def _units(ctx: _Service, override: Override, snapshot: Snapshot) -> list[_Unit]:
    """One deployment per AKS endpoint version (names kept, made valid); else one."""
    s = ctx.service
    if s.compute_type != "AKSENDPOINT":
        name = override.deployment_name or DEFAULT_DEPLOYMENT
        if not is_valid_name(name):
            raise ctx.fail(
                "invalid-deployment-name",
                f"deployment name {name!r} is not valid (3-32 characters, a letter first, "
                "letters, digits and single hyphens)",
                "deployment_name",
            )
        return [_Unit(name, s, "", snapshot.asset_dir(s.name))]
    if not s.versions:
        raise ctx.fail("no-versions", "the AKS endpoint has no versions to migrate", "versions")
    if override.deployment_name:
        ctx.add(
            Level.INFO,
            "deployment-name-ignored",
            "AKS endpoint versions keep their own names; deployment_name is not used",
            "deployment_name",
        )
    units: list[_Unit] = []
    seen: dict[str, str] = {}  # lower-cased deployment name -> version (ARM names ignore case)
    for v in sorted(s.versions, key=lambda v: v.name):
        name = valid_name(v.name, prefix="v")
        if name.lower() in seen:
            raise ctx.fail(
                "version-name-collision",
                f"versions {seen[name.lower()]!r} and {v.name!r} both become deployment "
                f"{name!r}; rename one in v1 or migrate them separately",
                f"versions.{v.name}",
            )
        seen[name.lower()] = v.name
        if name != v.name:
            ctx.add(
                Level.WARNING,
                "renamed",
                f"version {v.name!r} is not a valid v2 deployment name; the deployment is "
                f"named {name!r}",
                f"versions.{v.name}",
            )
        share = traffic.Share(name, v.traffic_percentile, bool(v.is_default), v.version_type)
        units.append(
            _Unit(name, v, f"versions.{v.name}.", snapshot.asset_dir(s.name, v.name), share)
        )
    return units


def _traffic(
    ctx: _Service, units: list[_Unit], override: Override, kubernetes: bool
) -> tuple[dict[str, int], dict[str, int]]:
    shares = [u.share for u in units if u.share is not None]
    if shares:
        try:
            live, findings = traffic.split(shares)
        except traffic.TrafficError as exc:
            raise ctx.fail("invalid-traffic", str(exc), "versions.trafficPercentile") from None
        ctx.extend(findings)
    else:
        live = {units[0].name: 100}
    mirror: dict[str, int] = {}
    if override.mirror:
        why = (
            "Kubernetes endpoints do not support mirrored traffic"
            if kubernetes
            else "mirroring needs a second deployment (an AKS endpoint with versions)"
            if len(shares) < 2
            else ""
        )
        if why:
            ctx.add(Level.WARNING, "mirror-ignored", f"{why}; --mirror is not applied", "mirror")
        else:
            live, mirror = traffic.with_mirror(shares, live, override.mirror)
            target = next(iter(mirror))
            ctx.add(
                Level.INFO,
                "mirror",
                f"{target!r} gets no live traffic and a copy of {override.mirror} % of the "
                "requests (shadow testing): its responses are discarded",
                "mirror",
            )
    if override.initial_traffic == 0:
        live = dict.fromkeys(live, 0)
        ctx.add(
            Level.WARNING,
            "dark-launch",
            "initial traffic is 0 (dark launch): the endpoint answers no requests until "
            "the traffic map is changed; call a deployment directly with the "
            "azureml-model-deployment header to test it",
            "initial_traffic",
        )
    return live, mirror


def _keys(ctx: _Service, snapshot: Snapshot, auth: str) -> str | None:
    s = ctx.service
    if s.name in snapshot.keys:
        if auth == "Key":
            ctx.add(
                Level.INFO,
                "keys-kept",
                "the endpoint is created with the exported v1 keys (write-only input "
                "endpoint_keys; never stored in files or state)",
            )
            return s.name
        ctx.add(
            Level.INFO,
            "keys-unused",
            "exported keys are not used: the endpoint uses token auth",
        )
    elif auth == "Key" and rules.key_auth(s):
        ctx.add(
            Level.WARNING,
            "new-keys",
            "no exported keys for this service (export with --with-keys to keep them): the "
            "endpoint gets new keys and clients must be given them",
        )
    return None


def _cost(source: LegacyService, sku: SkuChoice, instances: int) -> CostComparison | None:
    res = source.resources
    if res and res.cpu and res.memory_gb:
        return compare(source.compute_type, res.cpu, res.memory_gb, sku.prices, instances)
    return None


def _requested(res: Resources | None) -> tuple[float, float, float] | None:
    """What v1 asked for (CPU, memory GB, GPUs), for the report's size line."""
    if res and res.cpu and res.memory_gb:
        return (res.cpu, res.memory_gb, res.gpu or 0)
    return None


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


def _sku(ctx: _Service, unit: _Unit, override: Override) -> SkuChoice:
    res = unit.source.resources
    where = unit.prefix + "containerResourceRequirements"
    if override.instance_type:
        return SkuChoice(
            override.instance_type,
            "override",
            "chosen by override",
            0,
            0,
            seed_prices(override.instance_type),
            _requested(res),
        )
    cpu = res.cpu if res else None
    memory = res.memory_gb if res else None
    if cpu is None or memory is None:  # v1 applied its defaults: the service ran with them
        cpu = rules.V1_DEFAULT_CPU if cpu is None else cpu
        memory = rules.V1_DEFAULT_MEMORY_GB if memory is None else memory
        ctx.add(
            Level.INFO,
            "v1-default-kept",
            f"no CPU or memory request: v1 then gave the container {rules.V1_DEFAULT_CPU:g} "
            f"CPU and {rules.V1_DEFAULT_MEMORY_GB:g} GB, and the size is chosen for that",
            where,
        )
    for value, key in ((cpu, "cpu"), (memory, "memoryInGB")):
        if value <= 0:
            raise ctx.fail(
                "missing-resources",
                f"expected a number > 0, got {value:g}: it is needed to choose a VM size "
                "(or pass --sku SERVICE=SIZE)",
                f"{where}.{key}",
            )
    gpu = (res.gpu if res else None) or 0
    try:
        choice = replace(choose_sku(cpu, memory, gpu), requested=(cpu, memory, gpu))
    except NoSize as exc:
        raise ctx.fail("no-size", f"{exc}; pass --sku SERVICE=SIZE", where) from None
    if choice.rule in {"general-purpose", "gpu"}:
        ctx.add(
            Level.WARNING,
            "size-beyond-guide-table",
            f"{choice.reason}; check quota and price before applying",
            where,
        )
    elif choice.instance_type in {"Standard_DS1_v2", "Standard_F2s_v2"}:
        ctx.add(
            Level.INFO,
            "small-sku",
            f"{choice.instance_type} follows the migration guide's table but Azure ML calls it "
            "small for production; consider Standard_DS3_v2 if the model needs headroom",
            where,
        )
    limit_cpu = res.cpu_limit if res else None
    limit_mem = res.memory_gb_limit if res else None
    if (limit_cpu or 0) > choice.vcpus or (limit_mem or 0) > choice.memory_gb:
        ctx.add(
            Level.INFO,
            "limits-above-sku",
            "the v1 limits allowed bursting beyond the chosen size; the size follows the "
            "requests as the migration guide's table does",
            where,
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
    if s.state == "Transitioning":
        ctx.add(
            Level.WARNING,
            "operation-in-flight",
            "the v1 service is Transitioning: an operation (a deployment or update) was "
            "running when it was exported, so these settings may be outdated; export again "
            "when it has ended",
            "state",
        )
    elif s.state and s.state != "Healthy":
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


def _network(ctx: _Service, snapshot: Snapshot, kubernetes: bool) -> network_rules.Network:
    """The network rules (plan/network.py) applied to this service; blocking ones skip it."""
    net = network_rules.decide(snapshot.workspace, ctx.service.vnet, kubernetes)
    if net.blocking is not None:
        raise ctx.fail(net.blocking.code, net.blocking.message, net.blocking.field)
    ctx.extend(list(net.findings))
    return net


def _managed_properties(unit: _Unit, sku: SkuChoice, egress_disabled: bool) -> Body:
    props: Body = {"endpointComputeType": "Managed", "instanceType": sku.instance_type}
    if egress_disabled:
        props["egressPublicNetworkAccess"] = "Disabled"
    return props


def _kubernetes_properties(
    ctx: _Service, unit: _Unit, scale: rules.Scale, override: Override
) -> Body:
    props: Body = {
        "endpointComputeType": "Kubernetes",
        "scaleSettings": kubernetes_rules.scale_settings(scale),
    }
    if override.instance_type:
        props["instanceType"] = override.instance_type
    resources = kubernetes_rules.container_resources(unit.source.resources)
    if resources:
        props["containerResourceRequirements"] = resources
    elif not override.instance_type:
        ctx.add(
            Level.WARNING,
            "no-resources",
            "no v1 CPU or memory requests: the cluster's default instance type applies",
            unit.prefix + "containerResourceRequirements",
        )
    return props


def _deployment(
    ctx: _Service,
    workspace: str,
    endpoint: str,
    unit: _Unit,
    props: Body,
    scale: rules.Scale,
    override: Override,
    kubernetes: bool,
) -> tuple[Deployment, DeploymentAssets]:
    s = unit.source
    props = dict(props)
    if s.description:
        props["description"] = s.description
    if s.app_insights_enabled is not None:
        props["appInsightsEnabled"] = s.app_insights_enabled
    settings, findings = rules.request_settings(
        s,
        override.request_timeout_ms,
        kubernetes_rules.MAX_REQUEST_TIMEOUT_MS
        if kubernetes
        else rules.MANAGED_MAX_REQUEST_TIMEOUT_MS,
    )
    ctx.extend(findings, unit.prefix)
    if settings:
        props["requestSettings"] = settings
    probe, findings = rules.liveness_probe(s)
    ctx.extend(findings, unit.prefix)
    if probe:
        props["livenessProbe"] = probe
    assets, findings = deployment_assets(s, unit.asset_dir, endpoint, unit.name, path_component(workspace))
    ctx.extend(findings, unit.prefix)
    props.update(assets.properties)
    autoscale = None
    if scale.autoscale is not None and not kubernetes:
        autoscale = Autoscale(
            f"{endpoint}-{unit.name}-autoscale",
            rules.autoscale_properties(scale.autoscale, DeploymentId(endpoint, unit.name)),
        )
    return Deployment(
        name=unit.name,
        properties=dict(sorted(props.items())),
        sku={"capacity": scale.instances, "name": "Default"},
        tags=dict(sorted(s.kv_tags.items())),
        autoscale=autoscale,
    ), assets


def _nfc_endpoint(ctx: _Service, endpoint: Endpoint) -> Endpoint:
    """Terraform (cty) holds every string in Unicode NFC, so text in another normal form
    cannot reach Azure byte for byte; both targets send the NFC form, and the report says so."""
    parts: list[Value] = [endpoint.properties, endpoint.tags]  # type: ignore[list-item]
    for d in endpoint.deployments:
        parts += [d.properties, d.tags]  # type: ignore[list-item]
    if all_nfc(parts):
        return endpoint
    ctx.add(
        Level.WARNING,
        "unicode-normalized",
        "some text (description or tags) is not in Unicode NFC form; Terraform normalizes "
        "every string to NFC, so the NFC form (which looks the same) is sent",
    )
    return replace(
        endpoint,
        properties=to_nfc(endpoint.properties),  # type: ignore[arg-type]
        tags=to_nfc(endpoint.tags),  # type: ignore[arg-type]
        deployments=tuple(
            replace(d, properties=to_nfc(d.properties), tags=to_nfc(d.tags))  # type: ignore[arg-type]
            for d in endpoint.deployments
        ),
    )

