"""Plan -> Terraform root module (azapi 2.x), one file per endpoint.

All values pass through the HCL encoder (`generator.render.hcl`); the templates hold the
block structure only.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from generator.diagnostics import Level
from generator.files import RenderedFile
from generator.plan.model import (
    AUTOSCALE_API_VERSION,
    AUTOSCALE_TYPE,
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
    WorkspaceId,
    asset_root,
)
from generator.plan.traffic import MAX_MIRROR
from generator.render import hcl
from generator.render.templating import environment as _jinja

TERRAFORM_VERSION = ">= 1.11, < 2.0"  # write-only arguments (sensitive_body) need 1.11
AZAPI_SOURCE = "Azure/azapi"
AZAPI_VERSION = "~> 2.9"  # 2.9 is the first azapi whose schemas know 2025-12-01
# azurerm only uploads the bundles (azapi cannot upload files), with Entra ID. 4.77.0 is the
# first release whose azurerm_storage_blob takes storage_container_id (CHANGELOG 4.77.0,
# #32235): the name-based arguments it deprecates list every storage account of the
# subscription, which needs subscription-wide read.
AZURERM_SOURCE = "hashicorp/azurerm"
AZURERM_VERSION = "~> 4.77"
ASSETS_FILE = "assets.tf"
KEYS_FILE = "endpoint_keys.auto.tfvars.json"
KEYS_VARIABLE = "endpoint_keys"
# The rollout controls: one line per endpoint, the one place a traffic change is made.
ROLLOUT_FILE = "rollout.auto.tfvars"
TRAFFIC_VARIABLE = "traffic"
MIRROR_VARIABLE = "mirror_traffic"

RESOURCE_TYPES = {
    "insights_autoscalesettings": f"{AUTOSCALE_TYPE}@{AUTOSCALE_API_VERSION}",
    "machinelearningservices_workspaces_codes_versions": f"{CODE_TYPE}@{ML_API_VERSION}",
    "machinelearningservices_workspaces_datastores": f"{DATASTORE_TYPE}@{ML_API_VERSION}",
    "machinelearningservices_workspaces_environments_versions": f"{ENVIRONMENT_TYPE}@{ML_API_VERSION}",
    "machinelearningservices_workspaces_online_endpoints": f"{ENDPOINT_TYPE}@{ML_API_VERSION}",
    "machinelearningservices_workspaces_online_endpoints_deployments": f"{DEPLOYMENT_TYPE}@{ML_API_VERSION}",
}
# What the endpoint exports for outputs.tf, nothing more (no default read-only output).
ENDPOINT_EXPORTS = {"scoring_uri": "properties.scoringUri"}
# Image builds on first deployment routinely pass azapi's 30-minute default.
DEPLOYMENT_TIMEOUTS = {"create": "90m", "delete": "60m", "update": "90m"}


def label(*names: str) -> str:
    """A resource label: role prefix, then the names joined by '__' (names never hold '_')."""
    return "__".join(n.lower().replace("-", "_") for n in names)


def endpoint_label(endpoint: str) -> str:
    return "endpoint_" + label(endpoint)


def deployment_label(endpoint: str, deployment: str) -> str:
    return "deployment_" + label(endpoint, deployment)


def autoscale_label(endpoint: str, deployment: str) -> str:
    return "autoscale_" + label(endpoint, deployment)


def traffic_label(endpoint: str) -> str:
    return "traffic_" + label(endpoint)


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
        return '"${local.datastore_url}/' + hcl.escape(value.prefix) + "/${" + version + '}"'
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


def render_terraform(
    plan: MigrationPlan, keys: dict[str, tuple[str, str]] | None = None
) -> list[RenderedFile]:
    """The root module for the plan's workspace; `keys` (service -> (primary, secondary)) is
    given only when the user asked for the keys file."""
    ws = plan.workspace
    env = environment()
    base = f"terraform/{ws.name}"
    uploads = any(a.upload for a in ws.assets)
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
        "variables": _variables(plan),
        "outputs": _outputs(plan),
    }
    files = [
        RenderedFile(f"{base}/{name}", env.get_template(f"{name}.j2").render(context))
        for name in ("terraform.tf", "providers.tf", "variables.tf", "locals.tf", "outputs.tf")
    ]
    endpoint_template = env.get_template("endpoint.tf.j2")
    outcomes = {o.endpoint: o for o in plan.outcomes if o.endpoint}
    for endpoint in ws.endpoints:
        outcome = outcomes.get(endpoint.name)
        files.append(
            RenderedFile(
                f"{base}/main.{endpoint.name}.tf",
                endpoint_template.render(
                    _endpoint_context(
                        endpoint,
                        outcome.compute_type if outcome else "",
                        [d.message for d in outcome.diagnostics if d.level is Level.WARNING]
                        if outcome
                        else [],
                    )
                ),
            )
        )
    if ws.assets:
        files.append(render_assets(plan, env, base))
    if ws.endpoints:
        files.append(_rollout_file(plan, base))
    if keys is not None and ws.keyed_services:
        files.extend(_keys_files(base, ws.keyed_services, keys))
    return files


def _variables(plan: MigrationPlan) -> list[dict[str, Any]]:
    ws = plan.workspace
    by_name: dict[str, list[Input]] = {}
    for i in ws.inputs:
        by_name.setdefault(i.name, []).append(i)
    variables: list[dict[str, Any]] = []
    for name, entries in sorted(by_name.items()):
        wanted = [i.key for i in entries]
        variables.append(
            {
                "name": name,
                "comment": [],
                "attributes": {
                    "type": hcl.Raw("map(string)"),
                    "description": f"{entries[0].description[:1].upper()}{entries[0].description[1:]} "
                    'for each deployment, keyed by "<endpoint>/<deployment>".',
                    "nullable": False,
                },
                "validations": [
                    {
                        "condition": hcl.Raw(
                            f"length(setsubtract({encode(wanted)}, keys(var.{name}))) == 0"
                        ),
                        "error_message": f"Give a value for every deployment: {', '.join(wanted)}.",
                    }
                ],
            }
        )
    if ws.keyed_services:
        services = list(ws.keyed_services)
        variables.append(
            {
                "name": KEYS_VARIABLE,
                "comment": [
                    "The v1 endpoint keys, so clients keep working. Ephemeral and write-only: sent once",
                    "at creation and never stored in state or plan files. Set it from the snapshot:",
                    f'export TF_VAR_{KEYS_VARIABLE}="$(cat SNAPSHOT/keys.json)"',
                ],
                "attributes": {
                    "type": hcl.Raw("map(object({ primaryKey = string, secondaryKey = string }))"),
                    "description": "Keys of the v1 services by service name, in the keys.json format "
                    "of gen-iac export.",
                    "ephemeral": True,
                    "nullable": False,
                    "sensitive": True,
                },
                "validations": [
                    {
                        "condition": hcl.Raw(
                            f"length(setsubtract({encode(services)}, keys(var.{KEYS_VARIABLE}))) == 0"
                        ),
                        "error_message": f"Give the keys of every service: {', '.join(services)}.",
                    }
                ],
            }
        )
    if ws.endpoints:
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


def _rollout_file(plan: MigrationPlan, base: str) -> RenderedFile:
    def one_line(values: dict[str, dict[str, int]]) -> str:
        return encode({ep: hcl.Raw(hcl.inline(split)) for ep, split in values.items()})

    endpoints = plan.workspace.endpoints
    traffic = {e.name: e.traffic for e in endpoints}
    mirror = {e.name: e.mirror_split for e in endpoints if e.can_mirror}
    text = (
        "# Generated by gen-iac: the rollout controls, one line per endpoint. Review traffic\n"
        "# changes here. Whole percentages; each endpoint's live traffic sums to 0 or 100.\n"
        "# Retire a deployment in two applies: set its traffic to 0, then delete it.\n\n"
        f"{TRAFFIC_VARIABLE} = {one_line(traffic)}\n\n"
        "# A copy of up to 50 % of the live requests, sent to one deployment without live\n"
        "# traffic (shadow testing). Managed endpoints with several deployments.\n"
        f"{MIRROR_VARIABLE} = {one_line(mirror)}\n"
    )
    return RenderedFile(f"{base}/{ROLLOUT_FILE}", text)


def _outputs(plan: MigrationPlan) -> list[dict[str, Any]]:
    endpoints = plan.workspace.endpoints
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


def _endpoint_context(endpoint: Endpoint, compute_type: str, todos: list[str]) -> dict[str, Any]:
    ep_label = endpoint_label(endpoint.name)
    body: dict[str, Any] = {"properties": endpoint.properties}
    sensitive = None
    if endpoint.keys_from:
        ref = f"var.{KEYS_VARIABLE}[{hcl.string(endpoint.keys_from)}]"
        sensitive = {
            "properties": {
                "keys": {
                    "primaryKey": hcl.Raw(f"{ref}.primaryKey"),
                    "secondaryKey": hcl.Raw(f"{ref}.secondaryKey"),
                }
            }
        }
    return {
        "endpoint": endpoint,
        "endpoint_compute": compute_type,
        "todos": todos,
        "label": ep_label,
        "body": body,
        "sensitive_body": sensitive,
        "sensitive_body_version": {"properties.keys": "1"} if sensitive else None,
        "deployments": [_deployment_context(endpoint, ep_label, d) for d in endpoint.deployments],
        "traffic_label": traffic_label(endpoint.name),
        "traffic_body": {"properties": _traffic_properties(endpoint)},
        "traffic_preconditions": _traffic_preconditions(endpoint),
        "traffic_depends_on": [
            hcl.Raw(f"azapi_resource.{deployment_label(endpoint.name, d.name)}")
            for d in endpoint.deployments
        ],
        "resource_types": RESOURCE_TYPES,
        "exports": ENDPOINT_EXPORTS,
    }


def _traffic_properties(endpoint: Endpoint) -> dict[str, Any]:
    """Every deployment at 0, then the reviewer's values: azapi merges this body into the
    remote endpoint, so a deployment left out would keep its old percentage."""
    zeros = hcl.inline({d.name: 0 for d in endpoint.deployments})
    name = hcl.string(endpoint.name)
    found = {"traffic": hcl.Raw(f"merge({zeros}, lookup(var.{TRAFFIC_VARIABLE}, {name}, {{}}))")}
    if endpoint.can_mirror:
        found["mirrorTraffic"] = hcl.Raw(
            f"merge({zeros}, lookup(var.{MIRROR_VARIABLE}, {name}, {{}}))"
        )
    return found


def _traffic_preconditions(endpoint: Endpoint) -> list[dict[str, Any]]:
    name = hcl.string(endpoint.name)
    names = encode([d.name for d in endpoint.deployments])
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


def render_assets(plan: MigrationPlan, env: Any, base: str) -> RenderedFile:
    """assets.tf: the default datastore, the version names and, once per distinct content,
    the uploads and version registrations every deployment shares."""
    ws = plan.workspace
    context = {
        "workspace": ws.name,
        "bundles": hcl.Raw(f'"${{path.module}}/../../bundles/{hcl.escape(ws.name)}"'),
        "subscription_id": ws.subscription_id,
        "resource_group": ws.resource_group,
        "seeds": {a.folder: a.seed for a in ws.assets},
        "assets": [_asset_context(a, ws.name) for a in ws.assets],
    }
    return RenderedFile(f"{base}/{ASSETS_FILE}", env.get_template(f"{ASSETS_FILE}.j2").render(context))


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
                    f'"{hcl.escape(asset.upload.blob_prefix)}/${{{version}}}/${{each.value}}"'
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


def _deployment_context(endpoint: Endpoint, ep_label: str, d: Deployment) -> dict[str, Any]:
    return {
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
