"""Plan -> Bicep: `main.bicep`, `main.bicepparam`, `modules/endpoint-traffic.bicep`,
`bicepconfig.json` and a README, one set per workspace.

The ARM bodies are the plan's, exactly as the Terraform target sends them; every value passes
through the Bicep encoder (`generator.render.bicep_encoder`) and the templates hold structure
only. Parameters:
- `location` (defaults to the resource group's, set to the plan's location in main.bicepparam),
  `workspaceName`;
- one object parameter per plan input map (`code_ids` -> `codeIds`), typed with a user-defined
  type that lists every "<endpoint>/<deployment>" key; main.bicepparam holds an empty
  placeholder per key with a TODO, and the `@minLength(1)` of `resourceIdType` makes an
  unfilled placeholder fail validation before anything is deployed;
- `endpointKeys` (only when an endpoint keeps its v1 keys): `@secure()`, no default, read in
  main.bicepparam from the environment variable GEN_IAC_ENDPOINT_KEYS (keys.json as is), used
  only in the endpoint's `properties.keys`, never output, never written to a file.
"""

from __future__ import annotations

import re
import shlex
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
    AssetId,
    AssetVersionName,
    BlobUrl,
    BundleText,
    Concat,
    DeploymentId,
    Endpoint,
    Input,
    MigrationPlan,
    WorkspaceId,
    asset_root,
)
from generator.render import bicep_encoder as enc
from generator.render.templating import environment as _jinja

WORKSPACE_TYPE = "Microsoft.MachineLearningServices/workspaces"
TRAFFIC_MODULE = "modules/endpoint-traffic.bicep"
KEYS_PARAM = "endpointKeys"
KEYS_ENV = "GEN_IAC_ENDPOINT_KEYS"
RESOURCE_ID_TYPE = "resourceIdType"
TRAFFIC_PARAM = "traffic"
MIRROR_PARAM = "mirrorTraffic"
DATASTORE_PARAM = "datastoreName"
VERSIONS_PARAM = "assetVersions"
# upload-bundles.sh prints {"datastoreName": ..., "versions": {"<folder>": "<version>"}};
# the commands in README.md hand it to main.bicepparam through this variable.
UPLOAD_ENV = "GEN_IAC_UPLOAD"
UPLOAD_SCRIPT = "upload-bundles.sh"

RESOURCE_TYPES = {
    "autoscale": f"{AUTOSCALE_TYPE}@{AUTOSCALE_API_VERSION}",
    "code": f"{CODE_TYPE}@{ML_API_VERSION}",
    "codeContainer": f"{CODE_TYPE.removesuffix('/versions')}@{ML_API_VERSION}",
    "datastore": f"{DATASTORE_TYPE}@{ML_API_VERSION}",
    "environment": f"{ENVIRONMENT_TYPE}@{ML_API_VERSION}",
    "environmentContainer": f"{ENVIRONMENT_TYPE.removesuffix('/versions')}@{ML_API_VERSION}",
    "deployment": f"{DEPLOYMENT_TYPE}@{ML_API_VERSION}",
    "endpoint": f"{ENDPOINT_TYPE}@{ML_API_VERSION}",
    "workspace": f"{WORKSPACE_TYPE}@{ML_API_VERSION}",
}

# Names main.bicep declares itself; resource symbols never take them.
_FIXED_NAMES = {
    "location",
    "workspaceName",
    "workspace",
    KEYS_PARAM,
    DATASTORE_PARAM,
    VERSIONS_PARAM,
    "assetVersionsType",
    "assetVersionType",
    "datastore",
    "datastoreUrl",
    TRAFFIC_PARAM,
    MIRROR_PARAM,
    "trafficType",
    "mirrorTrafficType",
    "percentType",
    "mirrorPercentType",
    "endpointIds",
    "scoringUris",
    RESOURCE_ID_TYPE,
}


def param_name(input_name: str) -> str:
    """The Bicep parameter of a plan input map: `code_ids` -> `codeIds`."""
    return enc.camel(input_name)


class Symbols:
    """lowerCamelCase resource and module symbols, unique within main.bicep (a numeric suffix
    settles the rare clash, e.g. endpoints `a-b` and `aB`), in plan order."""

    def __init__(self, plan: MigrationPlan) -> None:
        taken = set(_FIXED_NAMES)
        for name in {i.name for i in plan.workspace.inputs}:
            taken |= {param_name(name), param_name(name) + "Type"}
        self._names: dict[tuple[str, ...], str] = {}

        def add(role: str, *names: str) -> None:
            base = enc.camel(role, *names)
            symbol, n = base, 1
            while symbol in taken:
                n += 1
                symbol = f"{base}{n}"
            taken.add(symbol)
            self._names[(role, *names)] = symbol

        for a in plan.workspace.assets:
            add(a.kind, a.key)
            add(a.kind + "Container", a.key)
        for e in plan.workspace.endpoints:
            add("endpoint", e.name)
            for d in e.deployments:
                add("deployment", e.name, d.name)
                if d.autoscale:
                    add("autoscale", e.name, d.name)
            add("traffic", e.name)

    def endpoint(self, endpoint: str) -> str:
        return self._names[("endpoint", endpoint)]

    def deployment(self, endpoint: str, deployment: str) -> str:
        return self._names[("deployment", endpoint, deployment)]

    def autoscale(self, endpoint: str, deployment: str) -> str:
        return self._names[("autoscale", endpoint, deployment)]

    def traffic(self, endpoint: str) -> str:
        return self._names[("traffic", endpoint)]

    def asset(self, kind: str, key: str) -> str:
        return self._names[(kind, key)]

    def container(self, kind: str, key: str) -> str:
        return self._names[(kind + "Container", key)]


class Encoder:
    """The encoder bound to one plan's symbols: plan expressions as Bicep."""

    def __init__(self, symbols: Symbols, bundles: str) -> None:
        self.symbols = symbols
        self.bundles = bundles  # the workspace's bundles, relative to main.bicep

    def expression(self, value: Any) -> str:
        if isinstance(value, WorkspaceId):
            return "workspace.id"
        if isinstance(value, DeploymentId):
            return f"{self.symbols.deployment(value.endpoint, value.deployment)}.id"
        if isinstance(value, Input):
            return f"{param_name(value.name)}[{enc.string(value.key)}]"
        if isinstance(value, AssetId):
            return f"{self.symbols.asset(value.kind, value.key)}.id"
        if isinstance(value, AssetVersionName):
            return asset_version(value.kind, value.key)
        if isinstance(value, BlobUrl):
            version = asset_version(value.version.kind, value.version.key)
            return enc.template(
                [enc.Raw("datastoreUrl"), f"/{value.prefix}/", enc.Raw(version)]
            )
        if isinstance(value, BundleText):
            return f"loadTextContent({enc.string(f'{self.bundles}/{value.path}')})"
        if isinstance(value, Concat):
            return enc.template(
                [p if isinstance(p, str) else enc.Raw(self.expression(p)) for p in value.parts]
            )
        raise TypeError(f"not a plan expression: {value!r}")

    def __call__(self, value: Any, level: int = 0) -> str:
        return enc.encode(value, level, self.expression)


def asset_version(kind: str, key: str) -> str:
    """The version name upload-bundles.sh computed for an asset's folder."""
    return f"{VERSIONS_PARAM}[{enc.string(f'{asset_root(kind)}/{key}')}]"


def environment(encoder: Encoder) -> Any:
    # An overlay with its own filter table: the encoder is bound to this plan's symbols.
    env = _jinja("bicep").overlay()
    env.filters = dict(env.filters)
    env.filters["bicep"] = encoder
    env.filters["bicep_comment"] = enc.comment
    return env


def render_bicep(plan: MigrationPlan) -> list[RenderedFile]:
    """main.bicep, main.bicepparam, the traffic module, bicepconfig.json and a README for the
    plan's workspace. Keys are never written: main.bicepparam reads them from the environment."""
    ws = plan.workspace
    symbols = Symbols(plan)
    encoder = Encoder(symbols, f"../../bundles/{ws.name}")
    env = environment(encoder)
    base = f"bicep/{ws.name}"
    outcomes = {o.endpoint: o for o in plan.outcomes if o.endpoint}
    inputs = _inputs(plan)
    context: dict[str, Any] = {
        "workspace": ws,
        "types": RESOURCE_TYPES,
        "inputs": inputs,
        "keys": _keys(plan),
        "endpoints": [_endpoint_context(e, symbols, outcomes.get(e.name)) for e in ws.endpoints],
        "resource_id_type": RESOURCE_ID_TYPE,
        "rollout": _rollout(plan) if ws.endpoints else None,
        "uploads": _uploads(plan),
        "assets": _assets(plan, symbols),
        "datastore": {
            "param": DATASTORE_PARAM,
            "versions": VERSIONS_PARAM,
            "env": UPLOAD_ENV,
            "script": UPLOAD_SCRIPT,
            "value": enc.Raw(f"json(readEnvironmentVariable({enc.string(UPLOAD_ENV)}))"),
        },
        "bundles": shlex.quote(f"../../bundles/{ws.name}"),
        "workspace_id": shlex.quote(ws.resource_id),
        "api_version": shlex.quote(ML_API_VERSION),
        "traffic_module": TRAFFIC_MODULE,
        "commands": _commands(plan),
        "endpoint_ids": {e.name: enc.Raw(f"{symbols.endpoint(e.name)}.id") for e in ws.endpoints},
        "scoring_uris": {
            e.name: enc.Raw(f"{symbols.endpoint(e.name)}.properties.scoringUri")
            for e in ws.endpoints
        },
    }
    names = ["main.bicep", "main.bicepparam", TRAFFIC_MODULE, "bicepconfig.json", "README.md"]
    if ws.assets:
        names.append(UPLOAD_SCRIPT)
    return [
        RenderedFile(f"{base}/{name}", env.get_template(f"{name}.j2").render(context))
        for name in names
    ]


_SAFE_FOLDER = re.compile(r"(?:code|environments)/[A-Za-z0-9][A-Za-z0-9_-]*")


def _uploads(plan: MigrationPlan) -> list[dict[str, str]]:
    """Every asset folder for upload-bundles.sh, which versions each one (and uploads those
    registered from blob storage), shell-quoted: shlex is the shell's encoder."""
    found = []
    for a in plan.workspace.assets:
        # The script also writes the folder into its JSON answer unescaped: keys are asset
        # names, so this never fails for a plan gen-iac built.
        if not _SAFE_FOLDER.fullmatch(a.folder):
            raise ValueError(f"not an asset folder: {a.folder!r}")
        found.append(
            {
                "folder": shlex.quote(a.folder),
                "seed": shlex.quote(a.seed),
                "upload": "1" if a.upload else "0",
            }
        )
    return found


def _assets(plan: MigrationPlan, symbols: Symbols) -> dict[str, Any] | None:
    """The asset section of main.bicep: the version param and its type, the default
    datastore, and one version resource per asset (each in an `existing` container)."""
    ws = plan.workspace
    if not ws.assets:
        return None
    return {
        "versions_type": {a.folder: enc.Raw("assetVersionType") for a in ws.assets},
        "resources": [
            {
                "asset": a,
                "symbol": symbols.asset(a.kind, a.key),
                "container": symbols.container(a.kind, a.key),
                "type": a.kind,
                "version": enc.Raw(asset_version(a.kind, a.key)),
                "properties": a.properties,
                "users": _users(a.deployments),
            }
            for a in ws.assets
        ],
    }


def _users(deployments: tuple[str, ...]) -> str:
    more = len(deployments) - 3
    return ", ".join(deployments[:3]) + (f" and {more} more" if more > 0 else "")


def _inputs(plan: MigrationPlan) -> list[dict[str, Any]]:
    by_name: dict[str, list[Input]] = {}
    for i in plan.workspace.inputs:
        by_name.setdefault(i.name, []).append(i)
    found = []
    for name, entries in sorted(by_name.items()):
        what = entries[0].description
        found.append(
            {
                "name": param_name(name),
                "type": param_name(name) + "Type",
                "description": f"Required. {what[:1].upper()}{what[1:]} for each deployment, "
                'keyed by "<endpoint>/<deployment>".',
                "type_description": f"{what[:1].upper()}{what[1:]} of every deployment that "
                "needs one.",
                "todo": f"fill in the {what} of every deployment; an empty value fails "
                "validation before anything is deployed.",
                "type_body": {i.key: enc.Raw(RESOURCE_ID_TYPE) for i in entries},
                "placeholders": {i.key: "" for i in entries},
            }
        )
    return found


def _rollout(plan: MigrationPlan) -> dict[str, Any]:
    """The `traffic` and `mirrorTraffic` params: typed so every deployment must be listed,
    values one line per endpoint in main.bicepparam."""
    endpoints = plan.workspace.endpoints

    def typed(percent: str, only: list[Endpoint]) -> dict[str, Any]:
        return {
            e.name: enc.Raw(enc.inline({d.name: enc.Raw(percent) for d in e.deployments}))
            for e in only
        }

    mirrored = [e for e in endpoints if e.can_mirror]
    return {
        "traffic": TRAFFIC_PARAM,
        "mirror": MIRROR_PARAM,
        "traffic_type": typed("percentType", list(endpoints)),
        "mirror_type": typed("mirrorPercentType", mirrored),
        "traffic_values": {e.name: enc.Raw(enc.inline(e.traffic)) for e in endpoints},
        "mirror_values": {e.name: enc.Raw(enc.inline(e.mirror_split)) for e in mirrored},
    }


def _keys(plan: MigrationPlan) -> dict[str, Any] | None:
    services = plan.workspace.keyed_services
    if not services:
        return None
    return {
        "name": KEYS_PARAM,
        "env": KEYS_ENV,
        "description": "Required. Keys of the v1 services by service name, in the keys.json "
        f"format of gen-iac export; needed for: {', '.join(services)}. Sent only in the "
        "endpoints' properties.keys.",
        "value": enc.Raw(f"json(readEnvironmentVariable({enc.string(KEYS_ENV)}))"),
    }


def _endpoint_context(endpoint: Endpoint, symbols: Symbols, outcome: Any) -> dict[str, Any]:
    properties: dict[str, Any] = dict(endpoint.properties)
    if endpoint.keys_from:
        ref = f"{KEYS_PARAM}[{enc.string(endpoint.keys_from)}]"
        properties["keys"] = {
            "primaryKey": enc.Raw(f"{ref}.primaryKey"),
            "secondaryKey": enc.Raw(f"{ref}.secondaryKey"),
        }
    # The traffic step is a full PUT: every endpoint property (keys aside: they are only
    # honoured at creation, as azapi's GET-merge-PUT leaves them out too) plus the traffic.
    live = f"{TRAFFIC_PARAM}[{enc.string(endpoint.name)}]"
    mirror = f"{MIRROR_PARAM}[{enc.string(endpoint.name)}]"
    names = [d.name for d in endpoint.deployments]
    traffic_properties: dict[str, Any] = {**endpoint.properties, "traffic": enc.Raw(live)}
    # Checks the module's parameter decorators make before the PUT (Bicep cannot sum a map
    # without a lambda): live total 0 or 100, mirror total <= 50, one mirrored deployment,
    # none both live and mirrored.
    checks: dict[str, Any] = {
        "trafficTotal": enc.Raw(" + ".join(enc.access(live, n) for n in names)),
    }
    if endpoint.can_mirror:
        traffic_properties["mirrorTraffic"] = enc.Raw(mirror)
        checks["mirrorTotal"] = enc.Raw(" + ".join(enc.access(mirror, n) for n in names))
        checks["mirroredDeployments"] = enc.Raw(
            " + ".join(f"min({enc.access(mirror, n)}, 1)" for n in names)
        )
        checks["liveAndMirrored"] = enc.Raw(
            " + ".join(f"min({enc.access(live, n)}, {enc.access(mirror, n)})" for n in names)
        )
    symbol = symbols.endpoint(endpoint.name)
    todos = [d.message for d in outcome.diagnostics if d.level is Level.WARNING] if outcome else []
    return {
        "endpoint": endpoint,
        "symbol": symbol,
        "compute": outcome.compute_type if outcome else "",
        "todos": todos,
        "identity": {"type": endpoint.identity_type},
        "properties": properties,
        "deployments": [
            {
                "deployment": d,
                "symbol": symbols.deployment(endpoint.name, d.name),
                "autoscale": {
                    "symbol": symbols.autoscale(endpoint.name, d.name),
                    "name": d.autoscale.name,
                    "properties": d.autoscale.properties,
                }
                if d.autoscale
                else None,
            }
            for d in endpoint.deployments
        ],
        "traffic": {
            "symbol": symbols.traffic(endpoint.name),
            "name": enc.Raw(
                enc.template([enc.Raw(f"uniqueString({symbol}.id, location)"), "-traffic"])
            ),
            "params": {
                "endpointName": enc.Raw(f"{symbol}.name"),
                "identityType": endpoint.identity_type,
                "location": enc.Raw("location"),
                "properties": traffic_properties,
                **checks,
                "tags": endpoint.tags,
                "workspaceName": enc.Raw("workspace.name"),
            },
            "depends_on": [
                enc.Raw(symbols.deployment(endpoint.name, d.name)) for d in endpoint.deployments
            ],
        },
    }


def _commands(plan: MigrationPlan) -> dict[str, str]:
    ws = plan.workspace
    common = (
        f"  --subscription {shlex.quote(ws.subscription_id)} \\\n"
        f"  --resource-group {shlex.quote(ws.resource_group)} \\\n"
        f"  --name {shlex.quote('gen-iac-' + ws.name)} \\\n"
        "  --template-file main.bicep \\\n"
        "  --parameters main.bicepparam"
    )
    if not ws.assets:
        return {
            "what_if": f"az deployment group what-if \\\n{common}",
            "create": f"az deployment group create \\\n{common}",
        }
    # An assignment of "$(...)" fails the shell on its own (unlike `export X="$(...)"`).
    upload = f"set -euo pipefail\n{UPLOAD_ENV}=\"$(./{UPLOAD_SCRIPT}{{}})\"\nexport {UPLOAD_ENV}\n"
    return {
        "what_if": upload.format(" --dry-run") + f"az deployment group what-if \\\n{common}",
        "create": upload.format("") + f"az deployment group create \\\n{common}",
    }
