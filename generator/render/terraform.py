"""Plan -> Terraform root module (azapi 2.x), one file per endpoint.

All values pass through the HCL encoder (`generator.render.hcl`); the templates hold the
block structure only.
"""

from __future__ import annotations

import json
from typing import Any

from generator.diagnostics import Level
from generator.plan.model import (
    AUTOSCALE_API_VERSION,
    AUTOSCALE_TYPE,
    DEPLOYMENT_TYPE,
    ENDPOINT_TYPE,
    ML_API_VERSION,
    Concat,
    Deployment,
    DeploymentId,
    Endpoint,
    Input,
    MigrationPlan,
    WorkspaceId,
)
from generator.render import RenderedFile, hcl
from generator.render.templating import environment as _jinja

TERRAFORM_VERSION = ">= 1.11, < 2.0"  # write-only arguments (sensitive_body) need 1.11
AZAPI_SOURCE = "Azure/azapi"
AZAPI_VERSION = "~> 2.9"  # 2.9 is the first azapi whose schemas know 2025-12-01
KEYS_FILE = "endpoint_keys.auto.tfvars.json"
KEYS_VARIABLE = "endpoint_keys"

RESOURCE_TYPES = {
    "insights_autoscalesettings": f"{AUTOSCALE_TYPE}@{AUTOSCALE_API_VERSION}",
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


def expression(value: Any) -> str:
    """Plan expressions as HCL."""
    if isinstance(value, WorkspaceId):
        return "local.workspace_id"
    if isinstance(value, DeploymentId):
        return f"azapi_resource.{deployment_label(value.endpoint, value.deployment)}.id"
    if isinstance(value, Input):
        return f"var.{value.name}[{hcl.string(value.key)}]"
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
    context: dict[str, Any] = {
        "terraform_version": TERRAFORM_VERSION,
        "azapi_source": AZAPI_SOURCE,
        "azapi_version": AZAPI_VERSION,
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
                "validation": {
                    "condition": hcl.Raw(
                        f"length(setsubtract({encode(wanted)}, keys(var.{name}))) == 0"
                    ),
                    "error_message": f"Give a value for every deployment: {', '.join(wanted)}.",
                },
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
                "validation": {
                    "condition": hcl.Raw(
                        f"length(setsubtract({encode(services)}, keys(var.{KEYS_VARIABLE}))) == 0"
                    ),
                    "error_message": f"Give the keys of every service: {', '.join(services)}.",
                },
            }
        )
    return variables


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
        "traffic_body": {"properties": {"traffic": endpoint.traffic}},
        "traffic_depends_on": [
            hcl.Raw(f"azapi_resource.{deployment_label(endpoint.name, d.name)}")
            for d in endpoint.deployments
        ],
        "resource_types": RESOURCE_TYPES,
        "exports": ENDPOINT_EXPORTS,
    }


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
