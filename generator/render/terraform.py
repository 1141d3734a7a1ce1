"""Plan -> Terraform root module (azapi 2.x), one file per endpoint.

All values pass through the HCL encoder (`generator.render.hcl`); the templates hold the
block structure only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from generator.files import PERSON, RenderedFile
from generator.plan.model import (
    AUTOSCALE_API_VERSION,
    AUTOSCALE_TYPE,
    BLOB_ROOT,
    CODE_TYPE,
    DATASTORE_TYPE,
    DEPLOYMENT_TYPE,
    ENDPOINT_TYPE,
    ENVIRONMENT_TYPE,
    ML_API_VERSION,
    Asset,
    AssetId,
    AssetVersionName,
    BlobUrl,
    BundleText,
    Concat,
    Deployment,
    DeploymentId,
    Endpoint,
    Input,
    MigrationPlan,
    Retirement,
    WorkspaceId,
    WorkspacePlan,
    asset_root,
    inputs_of,
)
from generator.plan.traffic import MAX_MIRROR
from generator.render import hcl, rollout_tfvars
from generator.render.templating import environment as _jinja
from generator.render.tfvars import InputsMerge

TERRAFORM_VERSION = ">= 1.11, < 2.0"  # write-only arguments (sensitive_body) need 1.11
AZAPI_SOURCE = "Azure/azapi"
# Exact provider versions: a pipeline's plan and its apply must run the same provider build (the
# lock file records the hashes). 2.9 is the first azapi whose schemas know 2025-12-01; 2.12.0 is
# the newest 2.x release.
AZAPI_VERSION = "2.12.0"
# azurerm only uploads the bundles (azapi cannot upload files), with Entra ID. 4.77.0 is the
# first release whose azurerm_storage_blob takes storage_container_id (CHANGELOG 4.77.0,
# #32235): the name-based arguments it deprecates list every storage account of the
# subscription, which needs subscription-wide read. 4.81.0 is the newest 4.x release.
AZURERM_SOURCE = "hashicorp/azurerm"
AZURERM_VERSION = "4.81.0"
ASSETS_FILE = "assets.tf"
KEYS_FILE = "endpoint_keys.auto.tfvars.json"
KEYS_VARIABLE = "endpoint_keys"
# Values only a person can give (e.g. environment ids), as commented placeholders.
INPUTS_FILE = "inputs.auto.tfvars"
# What a placeholder shows, by input name ({workspace} is the workspace's ARM id).
PLACEHOLDERS = {"environment_ids": "{workspace}/environments/<name>/versions/<version>"}
# The rollout controls: one line per endpoint, the one place a traffic change is made.
ROLLOUT_FILE = rollout_tfvars.FILE
TRAFFIC_VARIABLE = rollout_tfvars.TRAFFIC
MIRROR_VARIABLE = rollout_tfvars.MIRROR

RESOURCE_TYPES = {
    "insights_autoscalesettings": f"{AUTOSCALE_TYPE}@{AUTOSCALE_API_VERSION}",
    "machinelearningservices_workspaces_codes_versions": f"{CODE_TYPE}@{ML_API_VERSION}",
    "machinelearningservices_workspaces_datastores": f"{DATASTORE_TYPE}@{ML_API_VERSION}",
    "machinelearningservices_workspaces_environments_versions": f"{ENVIRONMENT_TYPE}@{ML_API_VERSION}",
    "machinelearningservices_workspaces_online_endpoints": f"{ENDPOINT_TYPE}@{ML_API_VERSION}",
    "machinelearningservices_workspaces_online_endpoints_deployments": f"{DEPLOYMENT_TYPE}@{ML_API_VERSION}",
}
# Endpoint settings that may change after creation. The endpoint resource ignores later
# changes of its body (azapi_resource PUTs its body as is, which would drop the live
# traffic); the traffic step, an azapi_update_resource (GET, merge, PUT), carries these.
# The rest of the body (compute) is create-only: changing it needs a new endpoint.
ENDPOINT_SETTINGS = ("authMode", "description", "publicNetworkAccess")
# What the endpoint exports for outputs.tf, nothing more (no default read-only output).
ENDPOINT_EXPORTS = {"scoring_uri": "properties.scoringUri"}
# Image builds on first deployment routinely pass azapi's 30-minute default.
DEPLOYMENT_TIMEOUTS = {"create": "90m", "delete": "60m", "update": "90m"}


def label(*names: str) -> str:
    """A resource label: role prefix, then the names joined by '__' (names never hold '_').

    Lower case, so names that differ only in case share a label: Azure names are
    case-insensitive and the plan keeps them unique that way (`check_labels` asserts it)."""
    return "__".join(n.lower().replace("-", "_") for n in names)


def check_labels(endpoints: tuple[Endpoint, ...]) -> None:
    """Every endpoint and deployment gets its own Terraform label, or rendering stops:
    two resources with one label would make the module invalid."""
    seen: dict[str, str] = {}
    for e in endpoints:
        wanted = [(endpoint_label(e.name), e.name)]
        wanted += [(deployment_label(e.name, d.name), f"{e.name}/{d.name}") for d in e.deployments]
        for found, name in wanted:
            if found in seen:
                raise ValueError(
                    f"{name!r} and {seen[found]!r} would share the Terraform label {found!r}: "
                    "the plan must keep names unique case-insensitively"
                )
            seen[found] = name


def endpoint_label(endpoint: str) -> str:
    return "endpoint_" + label(endpoint)


def deployment_label(endpoint: str, deployment: str) -> str:
    return "deployment_" + label(endpoint, deployment)


def autoscale_label(endpoint: str, deployment: str) -> str:
    return "autoscale_" + label(endpoint, deployment)


def traffic_label(endpoint: str) -> str:
    return "traffic_" + label(endpoint)


def drain_label(endpoint: str) -> str:
    return "drain_" + label(endpoint)


def asset_label(kind: str, key: str) -> str:
    """code_<key> / environment_<key>: an asset's version registration and its uploaded blobs.

    Keys of lower-case words joined by single hyphens map one to one (no '__' in them); any
    other key (v1 environment names may hold '_', '--' or capitals) gets '__' and a hash of
    the key, so two keys never share a label."""
    if re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", key):
        return f"{kind}_{key.replace('-', '_')}"
    plain = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")
    return f"{kind}__{plain}__{hashlib.sha256(key.encode('utf-8')).hexdigest()[:8]}"


def asset_version(kind: str, key: str) -> str:
    """The version name Terraform computes for an asset (see assets.tf)."""
    return f"local.asset_versions[{hcl.string(f'{asset_root(kind)}/{key}')}]"


def bundle_path(folder: str) -> str:
    """An HCL string template for a path under the workspace's bundles (no quotes)."""
    return "${local.bundles}/" + hcl.escape(folder)


def expression(value: Any) -> str:
    """Plan expressions as HCL."""
    if isinstance(value, WorkspaceId):
        return "local.workspace_id"
    if isinstance(value, DeploymentId):
        return f"azapi_resource.{deployment_label(value.endpoint, value.deployment)}.id"
    if isinstance(value, Input):
        return f"var.{value.name}[{hcl.string(value.key)}]"
    if isinstance(value, AssetId):
        return f"azapi_resource_action.{asset_label(value.kind, value.key)}.resource_id"
    if isinstance(value, AssetVersionName):
        return asset_version(value.kind, value.key)
    if isinstance(value, BlobUrl):
        version = asset_version(value.version.kind, value.version.key)
        return '"${local.datastore_url}/' + blob_folder(value.prefix, version) + '"'
    if isinstance(value, BundleText):
        return f'file("{bundle_path(value.path)}")'
    if isinstance(value, Concat):
        inner = "".join(
            hcl.escape(p) if isinstance(p, str) else "${" + expression(p) + "}" for p in value.parts
        )
        return f'"{inner}"'
    raise TypeError(f"not a plan expression: {value!r}")


def encode(value: Any, level: int = 0) -> str:
    return hcl.encode(value, level, expression)


def attrs(values: dict[str, Any], level: int) -> str:
    return hcl.attributes([(hcl.key(k), encode(v, level)) for k, v in values.items()], level)


def environment() -> Any:
    env = _jinja("terraform")
    env.filters["hcl"] = encode
    env.filters["hcl_comment"] = hcl.comment
    env.globals["attrs"] = attrs
    return env


LAYOUTS = ("workspace", "endpoint")


def render_terraform(
    plan: MigrationPlan,
    keys: dict[str, tuple[str, str]] | None = None,
    layout: str = "workspace",
) -> list[RenderedFile]:
    """Terraform root modules for the plan's workspace; `keys` (service -> (primary,
    secondary)) is given only when the user asked for the keys file.

    layout "workspace": one root module, terraform/<ws>/. Layout "endpoint": one root module
    (its own state) per endpoint, terraform/<ws>/<endpoint>/, each a complete module with
    the same shared files (providers, locals, versions) generated identically, so hundreds
    of endpoints plan in parallel and one failing endpoint blocks no other."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown Terraform layout {layout!r}; expected one of {LAYOUTS}")
    check_labels(plan.workspace.endpoints)
    # Built once for all modules: per module, they made `--layout endpoint` quadratic.
    compute = {o.endpoint: o.compute_type for o in plan.outcomes if o.endpoint}
    assets = AssetIndex(plan.workspace)
    # Endpoints that exist already (imports.tf) are sent no keys: see `_render_module`.
    adopted = frozenset(e.name for e in plan.adoption.endpoints)
    files: list[RenderedFile] = []
    modules = module_endpoints(plan, layout)
    removals = _removals_by_module(plan, layout)
    for base, endpoints in modules.items():
        scope = endpoints[0].name if layout == "endpoint" else ""
        files += _render_module(plan, endpoints, base, keys, scope, compute, assets, adopted)
        configured = set(module_addresses(endpoints, assets.used_by(endpoints)))
        files += _removed_file(base, removals.pop(base, []), configured)
    for base, retired in sorted(removals.items()):
        files += _handover_module(plan, base, retired)
    return files


REMOVED_FILE = "removed.tf"


def module_of(ws: WorkspacePlan, endpoint: Endpoint, layout: str) -> str:
    """The root module folder that manages `endpoint` in `layout` (as `module_endpoints`)."""
    return f"terraform/{ws.folder}" + (f"/{endpoint.folder}" if layout == "endpoint" else "")


def endpoint_addresses(endpoint: Endpoint, whole: bool = True) -> list[str]:
    """The Terraform addresses of an endpoint's resources (`whole`: the endpoint, its traffic
    step and drain too; else its deployments alone)."""
    found = []
    if whole:
        found += [
            f"azapi_resource.{endpoint_label(endpoint.name)}",
            f"azapi_update_resource.{traffic_label(endpoint.name)}",
            f"azapi_resource_action.{drain_label(endpoint.name)}",
        ]
    for d in endpoint.deployments:
        found.append(f"azapi_resource.{deployment_label(endpoint.name, d.name)}")
        if d.autoscale:
            found.append(f"azapi_resource.{autoscale_label(endpoint.name, d.name)}")
    return found


def asset_addresses(assets: tuple[Asset, ...]) -> list[str]:
    found = []
    for a in assets:
        found.append(f"azapi_resource_action.{asset_label(a.kind, a.key)}")
        if a.upload:
            found.append(f"azurerm_storage_blob.{asset_label(a.kind, a.key)}")
    return found


def module_addresses(endpoints: tuple[Endpoint, ...], assets: tuple[Asset, ...]) -> list[str]:
    """Every resource address a root module declares."""
    return [a for e in endpoints for a in endpoint_addresses(e)] + asset_addresses(assets)


def stamped_retirements(plan: MigrationPlan, layout: str) -> tuple[Retirement, ...]:
    """Every retirement Terraform must still know of, each with its root module and the
    addresses it had there: the earlier runs' as remembered, this run's (and a layout
    change's) derived from what they were."""
    ws = plan.workspace
    day2 = plan.day2
    found = list(day2.earlier_retired)
    for r, in_layout in [(r, layout) for r in day2.retired] + [
        (r, day2.layout_from) for r in day2.handover
    ]:
        if r.endpoint is None:
            continue
        whole = "/" not in r.name
        module = module_of(ws, r.endpoint, in_layout)
        used = r.endpoint.asset_keys
        assets = tuple(a for a in r.assets if (a.kind, a.key) in used)
        addresses = endpoint_addresses(r.endpoint, whole) + asset_addresses(assets)
        found.append(
            replace(r, module=module, addresses=tuple(addresses), endpoint=None, assets=())
        )
    return tuple(found)


def _removals_by_module(plan: MigrationPlan, layout: str) -> dict[str, list[Retirement]]:
    found: dict[str, list[Retirement]] = {}
    for r in stamped_retirements(plan, layout):
        found.setdefault(r.module, []).append(r)
    return found


def _removed_blocks(retired: list[Retirement], configured: set[str]) -> str:
    """`removed` blocks (Terraform >= 1.7) for what was retired with keep: forgotten from the
    state, nothing deleted in Azure. Retired with delete: nothing here, so the apply destroys
    it (its drain first). An address the module declares again is left out."""
    addresses = sorted({a for r in retired if r.how == "keep" for a in r.addresses} - configured)
    blocks = [
        "removed {\n"
        + hcl.attributes([("from", a)], 1)
        + "\n\n  lifecycle {\n    destroy = false\n  }\n}\n"
        for a in addresses
    ]
    return "\n".join(blocks)


def _removed_file(base: str, retired: list[Retirement], configured: set[str]) -> list[RenderedFile]:
    blocks = _removed_blocks(retired, configured)
    if not blocks:
        return []
    names = ", ".join(sorted({r.name for r in retired if r.how == "keep"}))
    return [
        RenderedFile(
            f"{base}/{REMOVED_FILE}",
            "# Generated by gen-iac. A re-run replaces this file unless a person edited it.\n"
            f"# No longer managed here ({hcl.comment(names)}): the next apply forgets these\n"
            "# resources from the state and deletes nothing in Azure. Once applied, each\n"
            "# block is a no-op.\n\n" + blocks,
        )
    ]


def _handover_module(
    plan: MigrationPlan, base: str, retired: list[Retirement]
) -> list[RenderedFile]:
    """A root module that no longer manages anything (an endpoint retired in the endpoint
    layout, or the root modules of an earlier layout): applied once, it forgets what was
    retired with keep and destroys, drained first, what was retired with delete."""
    env = environment()
    addresses = {a for r in retired for a in r.addresses}
    context: dict[str, Any] = {
        "terraform_version": TERRAFORM_VERSION,
        "azapi_source": AZAPI_SOURCE,
        "azapi_version": AZAPI_VERSION,
        "azurerm": {"source": AZURERM_SOURCE, "version": AZURERM_VERSION}
        if any(a.startswith("azurerm_") for a in addresses)
        else None,
        "subscription_id": plan.workspace.subscription_id,
    }
    files = [
        RenderedFile(f"{base}/{name}", env.get_template(f"{name}.j2").render(context))
        for name in ("terraform.tf", "providers.tf")
    ]
    return files + _removed_file(base, retired, set())


def module_endpoints(plan: MigrationPlan, layout: str) -> dict[str, tuple[Endpoint, ...]]:
    """Each root module's folder (relative to the output) and the endpoints it manages.
    The assets a module registers are those its endpoints' deployments use."""
    ws = plan.workspace
    if layout == "workspace":
        return {f"terraform/{ws.folder}": ws.endpoints}
    return {f"terraform/{ws.folder}/{e.folder}": (e,) for e in ws.endpoints}


def _render_module(
    plan: MigrationPlan,
    endpoints: tuple[Endpoint, ...],
    base: str,
    keys: dict[str, tuple[str, str]] | None,
    scope: str,
    compute: Mapping[str, str],
    index: AssetIndex,
    adopted: frozenset[str] = frozenset(),
) -> list[RenderedFile]:
    """One root module. `adopted`: endpoints that exist already, whose create PUT never
    carries the v1 keys (sent to one they would replace its live keys, and with no hash of
    them in the imported state azapi would plan them again on every plan)."""
    ws = plan.workspace
    env = environment()
    up = "../" * (base.count("/") + 1)  # from the module back to the output folder
    assets = index.used_by(endpoints)
    uploads = any(a.upload for a in assets)
    inputs = inputs_of(endpoints)
    keyed = tuple(sorted(e.keys_from for e in endpoints if e.keys_from and e.name not in adopted))
    context: dict[str, Any] = {
        "terraform_version": TERRAFORM_VERSION,
        "azapi_source": AZAPI_SOURCE,
        "azapi_version": AZAPI_VERSION,
        "azurerm": {"source": AZURERM_SOURCE, "version": AZURERM_VERSION} if uploads else None,
        "subscription_id": ws.subscription_id,
        "locals": {
            "location": ws.location,
            "resource_group_id": ws.resource_group_id,
            "workspace_id": ws.resource_id,
        },
        "resource_types": RESOURCE_TYPES,
        "variables": _variables(inputs, keyed, bool(endpoints)),
        "outputs": _outputs(endpoints),
    }
    files = [
        RenderedFile(f"{base}/{name}", env.get_template(f"{name}.j2").render(context))
        for name in ("terraform.tf", "providers.tf", "variables.tf", "locals.tf", "outputs.tf")
    ]
    endpoint_template = env.get_template("endpoint.tf.j2")
    for endpoint in endpoints:
        sends_keys = bool(endpoint.keys_from) and endpoint.name not in adopted
        files.append(
            RenderedFile(
                f"{base}/main.{endpoint.name}.tf",
                endpoint_template.render(
                    _endpoint_context(endpoint, compute.get(endpoint.name, ""), sends_keys)
                ),
            )
        )
    if assets:
        files.append(render_assets(ws, assets, env, base, up, scope))
    if endpoints:
        files.append(_rollout_file(endpoints, base))
    if inputs:
        files.append(_inputs_file(ws, inputs, base))
    if keys is not None and keyed:
        files.extend(_keys_files(base, keyed, keys))
    return files


def _variables(
    inputs: tuple[Input, ...], keyed: tuple[str, ...], rollout: bool
) -> list[dict[str, Any]]:
    by_name: dict[str, list[Input]] = {}
    for i in inputs:
        by_name.setdefault(i.name, []).append(i)
    variables: list[dict[str, Any]] = []
    for name, entries in sorted(by_name.items()):
        wanted = [i.key for i in entries]
        what = entries[0].description
        validations = [
            {
                "condition": hcl.Raw(
                    f"length(setsubtract({encode(wanted)}, "
                    f'[for k, v in var.{name} : k if trimspace(v) != ""])) == 0'
                ),
                "error_message": f"{name} needs the {what} of every deployment "
                f"({', '.join(wanted)}): in {INPUTS_FILE}, uncomment each line and put the "
                "value there (see MIGRATION.md).",
            }
        ]
        if name.endswith("_ids"):
            validations.append(
                {
                    "condition": hcl.Raw(
                        f'alltrue([for k, v in var.{name} : startswith(v, "/subscriptions/")])'
                    ),
                    "error_message": f"Each value of {name} is a full ARM id "
                    '("/subscriptions/...").',
                }
            )
        variables.append(
            {
                "name": name,
                "comment": [f"Values: {INPUTS_FILE}, which only a person can fill in."],
                "attributes": {
                    "type": hcl.Raw("map(string)"),
                    "default": {},
                    "description": f"{what[:1].upper()}{what[1:]} "
                    'for each deployment, keyed by "<endpoint>/<deployment>".',
                    "nullable": False,
                },
                "validations": validations,
            }
        )
    if keyed:
        variables.append(
            {
                "name": KEYS_VARIABLE,
                "comment": [
                    "The v1 endpoint keys, so clients keep working. Needed only by the apply that",
                    "creates an endpoint: sent once, never stored in state or plan files. Set it then:",
                    f'export TF_VAR_{KEYS_VARIABLE}="$(cat SNAPSHOT/keys.json)"',
                ],
                "attributes": {
                    "type": hcl.Raw("map(object({ primaryKey = string, secondaryKey = string }))"),
                    "default": None,
                    "description": "Keys of the v1 services by service name, in the keys.json format "
                    f"of gen-iac export (this module uses those of {', '.join(keyed)}). Only the "
                    "apply that creates an endpoint sends its keys; leave it unset otherwise.",
                    "ephemeral": True,
                    "sensitive": True,
                },
                "validations": [],
            }
        )
    if rollout:
        variables += _rollout_variables()
    return variables


def _rollout_variables() -> list[dict[str, Any]]:
    """Value rules live here; rules about one endpoint's deployments are preconditions of
    its traffic step (a variable's validation can only see the variable)."""

    def each(variable: str, test: str) -> hcl.Raw:
        return hcl.Raw(
            f"alltrue(flatten([for endpoint, split in var.{variable} : "
            f"[for deployment, percent in split : {test}]]))"
        )

    whole = "floor(percent) == percent"
    return [
        {
            "name": TRAFFIC_VARIABLE,
            "comment": [
                f"Values: {ROLLOUT_FILE}. Change a split there; each endpoint is one line."
            ],
            "attributes": {
                "type": hcl.Raw("map(map(number))"),
                "description": "Live traffic by endpoint, then deployment: whole percentages "
                "summing to 0 or 100 per endpoint. A deployment left out gets 0.",
                "nullable": False,
            },
            "validations": [
                {
                    "condition": each(
                        TRAFFIC_VARIABLE, f"percent >= 0 && percent <= 100 && {whole}"
                    ),
                    "error_message": "Traffic percentages are whole numbers from 0 to 100.",
                },
                {
                    "condition": hcl.Raw(
                        f"alltrue([for endpoint, split in var.{TRAFFIC_VARIABLE} : "
                        "contains([0, 100], sum(concat([0], values(split))))])"
                    ),
                    "error_message": "The traffic of each endpoint must sum to 0 or 100.",
                },
            ],
        },
        {
            "name": MIRROR_VARIABLE,
            "comment": [f"Values: {ROLLOUT_FILE}. Managed endpoints only."],
            "attributes": {
                "type": hcl.Raw("map(map(number))"),
                "description": "Mirrored (shadow) traffic by endpoint, then deployment: a copy "
                f"of up to {MAX_MIRROR} % of the live requests sent to one deployment that has "
                "no live traffic; its responses are discarded.",
                "default": {},
                "nullable": False,
            },
            "validations": [
                {
                    "condition": each(
                        MIRROR_VARIABLE, f"percent >= 0 && percent <= {MAX_MIRROR} && {whole}"
                    ),
                    "error_message": f"Mirrored traffic is a whole number from 0 to {MAX_MIRROR}.",
                },
                {
                    "condition": hcl.Raw(
                        f"alltrue([for endpoint, split in var.{MIRROR_VARIABLE} : "
                        "length([for deployment, percent in split : deployment if percent > 0]) <= 1])"
                    ),
                    "error_message": "At most one deployment per endpoint receives mirrored traffic.",
                },
            ],
        },
    ]


def rollout_values(
    endpoints: tuple[Endpoint, ...],
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """The generated traffic and mirror splits by endpoint: the initial values of the
    rollout file, and what a re-run merges into a person's copy of it."""
    traffic = {e.name: dict(e.traffic) for e in endpoints}
    mirror = {e.name: e.mirror_split for e in endpoints if e.can_mirror}
    return traffic, mirror


def _rollout_file(endpoints: tuple[Endpoint, ...], base: str) -> RenderedFile:
    traffic, mirror = rollout_values(endpoints)
    return RenderedFile(
        f"{base}/{ROLLOUT_FILE}",
        rollout_tfvars.render(traffic, mirror),
        owner=PERSON,
        merge=rollout_tfvars.RolloutMerge(traffic, mirror),
    )


def _outputs(endpoints: tuple[Endpoint, ...]) -> list[dict[str, Any]]:
    return [
        {
            "name": "endpoint_ids",
            "attributes": {
                "description": "ARM ids of the online endpoints, by endpoint name.",
                "value": {
                    e.name: hcl.Raw(f"azapi_resource.{endpoint_label(e.name)}.id")
                    for e in endpoints
                },
            },
        },
        {
            "name": "scoring_uris",
            "attributes": {
                "description": "Scoring URLs of the online endpoints, by endpoint name.",
                "value": {
                    e.name: hcl.Raw(f"azapi_resource.{endpoint_label(e.name)}.output.scoring_uri")
                    for e in endpoints
                },
            },
        },
    ]


def endpoint_ignore_changes() -> list[str]:
    """What the endpoint resource ignores after creation: its whole body (the settings that
    may change go through the traffic step; a path Terraform ignores must exist in the prior
    state, so a setting first added later would slip through a narrower list), its tags, and
    the keys' version (keys are sent at creation only; a version appearing later, when keys
    are exported after the endpoint exists, must not re-PUT the endpoint)."""
    return ["body", "sensitive_body_version", "tags"]


def _keys_expression(service: str) -> hcl.Raw:
    """The endpoint's v1 keys when the ephemeral input holds them, else nothing to send."""
    ref = f"var.{KEYS_VARIABLE}[{hcl.string(service)}]"
    return hcl.Raw(f"try({ref}, null) == null ? null : {{ properties = {{ keys = {ref} }} }}")


def _endpoint_context(endpoint: Endpoint, compute_type: str, sends_keys: bool) -> dict[str, Any]:
    ep_label = endpoint_label(endpoint.name)
    body: dict[str, Any] = {"properties": endpoint.properties}
    sensitive = _keys_expression(endpoint.keys_from) if sends_keys and endpoint.keys_from else None
    locks = [hcl.Raw(f"azapi_resource.{ep_label}.id")]
    return {
        "endpoint": endpoint,
        "retire": f"--retire {endpoint.name}=keep (stop managing) or --retire {endpoint.name}=delete",
        "endpoint_compute": compute_type,
        "label": ep_label,
        "body": body,
        "sensitive_body": sensitive,
        "sensitive_body_version": {"properties.keys": "1"} if sensitive else None,
        "ignore_changes": endpoint_ignore_changes(),
        "locks": locks,
        "deployments": [
            _deployment_context(endpoint, ep_label, d, before)
            for d, before in zip(
                endpoint.deployments, (None, *endpoint.deployments[:-1]), strict=True
            )
        ],
        "traffic_label": traffic_label(endpoint.name),
        "traffic_body": _traffic_body(endpoint),
        "drain_label": drain_label(endpoint.name),
        "drain_body": _drain_body(endpoint),
        "drain_depends_on": [hcl.Raw(f"azapi_update_resource.{traffic_label(endpoint.name)}")]
        + [
            hcl.Raw(f"azapi_resource.{autoscale_label(endpoint.name, d.name)}")
            for d in endpoint.deployments
            if d.autoscale
        ],
        "traffic_preconditions": _traffic_preconditions(endpoint),
        "traffic_depends_on": [
            hcl.Raw(f"azapi_resource.{deployment_label(endpoint.name, d.name)}")
            for d in endpoint.deployments
        ],
        "resource_types": RESOURCE_TYPES,
        "exports": ENDPOINT_EXPORTS,
    }


def _traffic_body(endpoint: Endpoint) -> dict[str, Any]:
    """The endpoint's mutable settings, tags and traffic, merged by azapi into the live
    endpoint (GET, merge, PUT): the one way the endpoint changes after creation."""
    properties = {k: v for k, v in endpoint.properties.items() if k in ENDPOINT_SETTINGS}
    body: dict[str, Any] = {"properties": {**properties, **_traffic_properties(endpoint)}}
    if endpoint.tags:
        body["tags"] = endpoint.tags
    return body


def _drain_body(endpoint: Endpoint) -> dict[str, Any]:
    """The endpoint as it is, with no traffic: what its destroy-time drain PUTs (onlineEndpoints
    has no PATCH for traffic), so no deployment is deleted while it takes requests."""
    empty: dict[str, Any] = {"traffic": {}}
    if endpoint.can_mirror:
        empty["mirrorTraffic"] = {}
    return {
        "identity": {"type": endpoint.identity_type},
        "location": hcl.Raw("local.location"),
        "properties": {**endpoint.properties, **empty},
        "tags": endpoint.tags,
    }


def _traffic_properties(endpoint: Endpoint) -> dict[str, Any]:
    """Every deployment at 0, then the reviewer's values: azapi merges this body into the
    remote endpoint, so a deployment left out would keep its old percentage."""
    zeros = hcl.inline(
        {d: 0 for d in (*(d.name for d in endpoint.deployments), *endpoint.draining)}
    )
    name = hcl.string(endpoint.name)
    found: dict[str, Any] = {
        "traffic": hcl.Raw(f"merge({zeros}, lookup(var.{TRAFFIC_VARIABLE}, {name}, {{}}))")
    }
    # A deployment being deleted may still get mirrored traffic: set to 0 as well.
    if endpoint.can_mirror or (endpoint.kind == "Managed" and endpoint.draining):
        found["mirrorTraffic"] = hcl.Raw(
            f"merge({zeros}, lookup(var.{MIRROR_VARIABLE}, {name}, {{}}))"
        )
    return found


def _traffic_preconditions(endpoint: Endpoint) -> list[dict[str, Any]]:
    name = hcl.string(endpoint.name)
    names = encode([d.name for d in endpoint.deployments] + list(endpoint.draining))
    split = f"lookup(var.{TRAFFIC_VARIABLE}, {name}, {{}})"
    mirror = f"lookup(var.{MIRROR_VARIABLE}, {name}, {{}})"
    checks = [
        {
            "condition": hcl.Raw(f"contains(keys(var.{TRAFFIC_VARIABLE}), {name})"),
            "error_message": f"var.{TRAFFIC_VARIABLE} has no entry for endpoint {endpoint.name}: "
            f"add one to {ROLLOUT_FILE}.",
        },
        {
            "condition": hcl.Raw(f"alltrue([for d in keys({split}) : contains({names}, d)])"),
            "error_message": f"var.{TRAFFIC_VARIABLE}[{name}] names a deployment that endpoint "
            f"{endpoint.name} does not have. To remove a deployment, first set its traffic to 0 "
            "and apply; then delete the deployment and its entry.",
        },
    ]
    if endpoint.draining:
        checks.append(
            {
                "condition": hcl.Raw(
                    f"alltrue([for d in {encode(list(endpoint.draining))} : lookup({split}, d, 0) == 0])"
                ),
                "error_message": f"Endpoint {endpoint.name}: {', '.join(endpoint.draining)} "
                f"is being deleted: give its traffic to another deployment in {ROLLOUT_FILE}.",
            }
        )
    if endpoint.can_mirror:
        checks.append(
            {
                "condition": hcl.Raw(
                    f"alltrue([for d, p in {mirror} : contains({names}, d) && "
                    f"(p == 0 || lookup({split}, d, 0) == 0)])"
                ),
                "error_message": f"Mirrored traffic of endpoint {endpoint.name} must go to one of "
                "its deployments that has no live traffic.",
            }
        )
    else:
        why = (
            "Kubernetes endpoints do not support mirrored traffic"
            if endpoint.kind == "Kubernetes"
            else "mirroring needs a second deployment"
        )
        checks.append(
            {
                "condition": hcl.Raw(f"alltrue([for d, p in {mirror} : p == 0])"),
                "error_message": f"Endpoint {endpoint.name}: {why}.",
            }
        )
    return checks


def module_assets(ws: WorkspacePlan, endpoints: tuple[Endpoint, ...]) -> tuple[Asset, ...]:
    """The assets a module registers: those its endpoints' deployments use."""
    return AssetIndex(ws).used_by(endpoints)


class AssetIndex:
    """The workspace's assets by (kind, key), in the plan's order: a module's assets are
    found in time proportional to its deployments, not to the workspace's assets."""

    def __init__(self, ws: WorkspacePlan) -> None:
        self.position: dict[tuple[str, str | None], tuple[int, Asset]] = {
            (a.kind, a.key): (n, a) for n, a in enumerate(ws.assets)
        }

    def used_by(self, endpoints: tuple[Endpoint, ...]) -> tuple[Asset, ...]:
        wanted = {
            (kind, key)
            for e in endpoints
            for d in e.deployments
            for kind, key in (("code", d.code), ("environment", d.environment))
        }
        found = sorted(self.position[k] for k in wanted if k in self.position)
        return tuple(a for _, a in found)


def render_assets(
    ws: WorkspacePlan,
    assets: tuple[Asset, ...],
    env: Any,
    base: str,
    up: str = "../../",
    scope: str = "",
) -> RenderedFile:
    """assets.tf: the default datastore, the version names and, once per distinct content,
    the uploads and version registrations the module's deployments share.

    `scope` (the endpoint of a per-endpoint module, else "") keeps root modules apart: each
    module has its own state, so it uploads under `gen-iac/<scope>/` and folds the scope into
    its version names; one module replacing its blobs never deletes another module's."""
    seeds = {a.folder: a.seed for a in assets}
    if scope:
        seeds = {
            folder: hashlib.sha256(f"{scope}\n{seed}".encode()).hexdigest()[:16]
            for folder, seed in seeds.items()
        }
    context = {
        "workspace": ws.folder,
        "bundles": hcl.Raw(f'"${{path.module}}/{up}bundles/{hcl.escape(ws.folder)}"'),
        "blob_root": f"{BLOB_ROOT}/{scope}" if scope else BLOB_ROOT,
        "subscription_id": ws.subscription_id,
        "resource_group": ws.resource_group,
        "seeds": seeds,
        "assets": [_asset_context(a, ws.folder) for a in assets],
    }
    return RenderedFile(
        f"{base}/{ASSETS_FILE}", env.get_template(f"{ASSETS_FILE}.j2").render(context)
    )


def blob_folder(prefix: str, version: str) -> str:
    """An HCL template (no quotes) for an asset's versioned folder in the datastore, under
    the module's `local.blob_root`."""
    rest = prefix.removeprefix(f"{BLOB_ROOT}/")
    return "${local.blob_root}/" + hcl.escape(rest) + "/${" + version + "}"


def _asset_context(asset: Asset, workspace: str) -> dict[str, Any]:
    asset_type = "codes" if asset.kind == "code" else "environments"
    version = asset_version(asset.kind, asset.key)
    shown = ", ".join(asset.deployments[:3])
    more = len(asset.deployments) - 3
    found: dict[str, Any] = {
        "asset": asset,
        "users": shown + (f" and {more} more" if more > 0 else ""),
        "label": asset_label(asset.kind, asset.key),
        "type": f"machinelearningservices_workspaces_{asset_type}_versions",
        "resource_id": hcl.Raw(
            f'"${{local.workspace_id}}/{asset_type}/{hcl.escape(asset.key)}/versions/${{{version}}}"'
        ),
        "body": {"properties": asset.properties},
        "upload": None,
    }
    if asset.upload:
        folder = bundle_path(asset.upload.folder)
        found["upload"] = {
            "attributes": {
                "name": hcl.Raw(
                    f'"{blob_folder(asset.upload.blob_prefix, version)}/${{each.value}}"'
                ),
                "storage_container_id": hcl.Raw("local.storage_container_id"),
                "type": "Block",
                "source": hcl.Raw(f'"{folder}/${{each.value}}"'),
                "content_md5": hcl.Raw(f'filemd5("{folder}/${{each.value}}")'),
            },
            "for_each": hcl.Raw(f'fileset("{folder}", "**")'),
            "check": {
                "condition": hcl.Raw(f'length(fileset("{folder}", "**")) > 0'),
                "error_message": f"The bundle folder bundles/{workspace}/{asset.upload.folder} is "
                "empty: put the files there (see MIGRATION.md), then plan again.",
            },
        }
    return found


def scaled_by(endpoint: Endpoint, d: Deployment) -> str | None:
    """What changes the deployment's instance count after creation, if anything: then the
    deployment ignores later changes of `sku.capacity` (no perpetual diff, no reset)."""
    if d.autoscale:
        return f"the autoscale setting {autoscale_label(endpoint.name, d.name)}"
    scale = d.properties.get("scaleSettings")
    if isinstance(scale, dict) and scale.get("scaleType") == "TargetUtilization":
        return "the cluster's TargetUtilization scale settings"
    return None


def _deployment_context(
    endpoint: Endpoint, ep_label: str, d: Deployment, before: Deployment | None
) -> dict[str, Any]:
    return {
        "after": f"azapi_resource.{deployment_label(endpoint.name, before.name)}" if before else "",
        "retire": f"--retire {endpoint.name}/{d.name}=keep or =delete",
        "scaled_by": scaled_by(endpoint, d),
        "deployment": d,
        "label": deployment_label(endpoint.name, d.name),
        "parent": hcl.Raw(f"azapi_resource.{ep_label}.id"),
        "body": {"properties": d.properties, "sku": d.sku},
        "timeouts": DEPLOYMENT_TIMEOUTS,
        "autoscale": {
            "label": autoscale_label(endpoint.name, d.name),
            "name": d.autoscale.name,
            "body": {"properties": d.autoscale.properties},
        }
        if d.autoscale
        else None,
    }


def _inputs_file(ws: WorkspacePlan, inputs: tuple[Input, ...], base: str) -> RenderedFile:
    """Values only a person can give, each a commented placeholder: until it is filled in,
    `terraform plan` stops at the variable's validation, which says what to put there."""
    placeholders = {(i.name, i.key): _placeholder(ws, i) for i in inputs}
    text = (
        "# Generated by gen-iac, then yours: values only a person can give. Terraform reads\n"
        "# this file by itself. Uncomment each line and put the value there; until then\n"
        "# terraform plan stops and says what is missing. A re-run of gen-iac keeps this\n"
        "# file and adds the entries new deployments need, as comments at the end.\n"
    )
    for name in sorted({i.name for i in inputs}):
        entries = [i for i in inputs if i.name == name]
        text += (
            f"\n# {entries[0].description[:1].upper()}{entries[0].description[1:]} for each "
            "deployment: the v1 service\n# recorded none that gen-iac could register (see "
            f"MIGRATION.md).\n{name} = {{\n"
        )
        text += "".join(f"  # {placeholders[(name, i.key)]}\n" for i in entries)
        text += "}\n"
    return RenderedFile(
        f"{base}/{INPUTS_FILE}", text, owner=PERSON, merge=InputsMerge(placeholders)
    )


def _placeholder(ws: WorkspacePlan, i: Input) -> str:
    shape = PLACEHOLDERS.get(i.name, f"<{i.description}>").replace("{workspace}", ws.resource_id)
    return f"{hcl.string(i.key)} = {hcl.string(shape)}"


def _keys_files(
    base: str, services: tuple[str, ...], keys: dict[str, tuple[str, str]]
) -> list[RenderedFile]:
    values = {
        KEYS_VARIABLE: {
            s: {"primaryKey": keys[s][0], "secondaryKey": keys[s][1]} for s in services if s in keys
        }
    }
    return [
        RenderedFile(
            f"{base}/{KEYS_FILE}", json.dumps(values, indent=2, sort_keys=True) + "\n", secret=True
        ),
        RenderedFile(
            f"{base}/.gitignore",
            f"# Endpoint keys written by gen-iac --write-keys: never commit them.\n{KEYS_FILE}\n",
        ),
    ]
