"""Plan -> Bicep, one set of files per workspace:

    main.bicep                  parameters, one module call per batch, outputs
    main.bicepparam             the values (gen-iac's), read from the two files below and the
                                environment (GEN_IAC_UPLOAD, keys)
    traffic.json                the traffic split, one line per endpoint (the person's file)
    inputs.json                 values only a person can give (the person's file)
    modules/assets-NNN.bicep    a batch of code and environment versions (deployed first)
    modules/endpoints-NNN.bicep a batch of endpoints: endpoints, deployments, autoscale
    modules/*.bicepparam        each batch deployable on its own, with the same values
    modules/endpoint-traffic.bicep  the traffic step: a full PUT of one endpoint with traffic
    bicepconfig.json, README.md, upload-bundles.sh

ARM refuses a template with more than 800 resources, 256 parameters, 64 outputs or 4 MB, and a
module is its own deployment: endpoints are packed, in plan order, into batches that stay
well under `BATCH_RESOURCES` deployed resources and `BATCH_BYTES` of source each (the traffic
module counted once per endpoint, as Bicep inlines a module's template at every call), so
main.bicep holds one module per batch and no batch grows with the workspace. main.bicep inlines
its batches in turn, so a workspace too large for one deployment of it deploys each batch on its
own with `modules/*.bicepparam` (same values, same bodies).

The ARM bodies are the plan's, exactly as the Terraform target sends them; every value passes
through the Bicep encoder (`generator.render.bicep_encoder`) and the templates hold structure
only. Parameters of main.bicep:
- `location` (defaults to the resource group's, set to the plan's location in main.bicepparam),
  `workspaceName`;
- `traffic` and `mirrorTraffic`, typed so every deployment must be listed, loaded by
  main.bicepparam from traffic.json;
- `live`: what exists in the workspace when the deployment runs, as upload-bundles.sh read it
  from ARM (no setting to remember): `endpoints` (each declared endpoint that exists, with its
  live and mirrored traffic) and `capacity` (the instance count of each autoscaled deployment
  that exists). An endpoint that exists is PUT with the traffic it has (the new split waits
  for the traffic step, after its deployments are updated) and never sent keys; a new one is
  PUT without traffic (none of its deployments exists yet); an autoscaled deployment keeps the
  instance count autoscale gave it;
- `datastoreName` and `assetVersions` (the version name of every asset folder), both from
  what upload-bundles.sh prints (GEN_IAC_UPLOAD), like `live`;
- one object parameter per plan input map (`code_ids` -> `codeIds`), typed with a user-defined
  type that lists every "<endpoint>/<deployment>" key; inputs.json holds an empty
  placeholder per key, and the `@minLength(1)` of `resourceIdType` makes an unfilled
  placeholder fail validation before anything is deployed;
- `endpointKeys` (only when an endpoint keeps its v1 keys): `@secure()`, read in
  main.bicepparam from GEN_IAC_ENDPOINT_KEYS (keys.json as is; `{}` when unset), sent in an
  endpoint's `properties.keys` only when given for its service and the endpoint does not exist
  yet (`live`), never output or written.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from generator import jsonread
from generator.files import PERSON, RenderedFile, UnreadableFile
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
TRAFFIC_FILE = "traffic.json"
INPUTS_FILE = "inputs.json"
LIVE_PARAM = "live"
# A batch module stays well under ARM's 800 resources and 4 MB per template: deployed
# resources and module calls, and Bicep source bytes including the traffic module inlined at
# each call (compiled JSON runs about 1.5x the source; 1 MB leaves room for 4x).
BATCH_RESOURCES = 400
BATCH_BYTES = 1_000_000
# Bicep source (modules inlined) above which one deployment of main.bicep likely passes ARM's
# 1 MB compressed job size: about 3x that much compiled JSON, compressing about 10:1.
LARGE_WORKSPACE_BYTES = 3_000_000
ASSET_BATCH = 400  # asset versions per assets module
ASSET_BYTES = 1_000_000  # and bytes, the conda files loadTextContent() inlines included
ASSET_OVERHEAD = 2_000  # a version's own source, generously
KEYS_PARAM = "endpointKeys"
KEYS_ENV = "GEN_IAC_ENDPOINT_KEYS"
RESOURCE_ID_TYPE = "resourceIdType"
TRAFFIC_PARAM = "traffic"
MIRROR_PARAM = "mirrorTraffic"
DATASTORE_PARAM = "datastoreName"
VERSIONS_PARAM = "assetVersions"
# upload-bundles.sh prints {"datastoreName": ..., "versions": {"<folder>": "<version>"},
# "live": {"endpoints": ..., "capacity": ...}}; the commands in README.md hand it to
# main.bicepparam through this variable.
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
    LIVE_PARAM,
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
            add("current", e.name)

    def endpoint(self, endpoint: str) -> str:
        return self._names[("endpoint", endpoint)]

    def deployment(self, endpoint: str, deployment: str) -> str:
        return self._names[("deployment", endpoint, deployment)]

    def autoscale(self, endpoint: str, deployment: str) -> str:
        return self._names[("autoscale", endpoint, deployment)]

    def traffic(self, endpoint: str) -> str:
        return self._names[("traffic", endpoint)]

    def current(self, endpoint: str) -> str:
        return self._names[("current", endpoint)]

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
            return enc.template([enc.Raw("datastoreUrl"), f"/{value.prefix}/", enc.Raw(version)])
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


@dataclass
class Batch:
    """One module of endpoints: its file, its symbol in main.bicep, what it needs passed."""

    number: int
    sections: list[str] = field(default_factory=list)  # rendered endpoint sections
    endpoints: list[Endpoint] = field(default_factory=list)
    resources: int = 0  # deployed resources and module calls
    size: int = 0  # bytes of the sections

    @property
    def path(self) -> str:
        return f"modules/endpoints-{self.number:03d}.bicep"

    @property
    def symbol(self) -> str:
        return f"endpoints{self.number:03d}"


def endpoint_resources(endpoint: Endpoint) -> int:
    """What one endpoint adds to its batch's template: the endpoint, each deployment with its
    autoscale setting, and the traffic module call (asset versions are in the assets modules;
    the batch refers to them as `existing`, which deploys nothing)."""
    return 2 + sum(1 + (1 if d.autoscale else 0) for d in endpoint.deployments)


def batches(sections: list[tuple[Endpoint, str]], inlined: int = 0) -> list[Batch]:
    """Endpoints in plan order, a new batch when the next would pass either budget; `inlined`
    is what each endpoint's traffic module call adds to the batch's compiled template."""
    found: list[Batch] = []
    for endpoint, text in sections:
        cost, size = endpoint_resources(endpoint), len(text.encode("utf-8")) + inlined
        last = found[-1] if found else None
        if last is None or (
            last.endpoints
            and (last.resources + cost > BATCH_RESOURCES or last.size + size > BATCH_BYTES)
        ):
            last = Batch(len(found) + 1)
            found.append(last)
        last.endpoints.append(endpoint)
        last.sections.append(text)
        last.resources += cost
        last.size += size
    return found


def render_bicep(plan: MigrationPlan) -> list[RenderedFile]:
    """main.bicep, main.bicepparam, traffic.json (the person's), the batch modules, the traffic
    module, bicepconfig.json, a README and the upload script for the plan's workspace. Keys are
    never written: main.bicepparam reads them from the environment."""
    ws = plan.workspace
    symbols = Symbols(plan)
    # Modules sit one folder down: bundles are two levels up from main.bicep, three from them.
    encoder = Encoder(symbols, f"../../../bundles/{ws.folder}")
    env = environment(encoder)
    base = f"bicep/{ws.folder}"
    outcomes = {o.endpoint: o for o in plan.outcomes if o.endpoint}
    inputs = _inputs(plan)
    keys = _keys(plan)
    section = env.get_template("modules/_endpoint.bicep.j2")
    shared = {
        "types": RESOURCE_TYPES,
        "datastore": {"script": UPLOAD_SCRIPT},
        # Relative to the batch module, which is in modules/ too.
        "traffic_module": TRAFFIC_MODULE.removeprefix("modules/"),
    }
    rendered = [
        (e, section.render({**shared, **_endpoint_context(e, symbols, outcomes.get(e.name))}))
        for e in ws.endpoints
    ]
    traffic_module = env.get_template(f"{TRAFFIC_MODULE}.j2").render(shared)
    found = batches(rendered, len(traffic_module.encode("utf-8")))
    assets = _assets(plan, symbols)
    asset_contexts = _asset_batches(assets)
    context: dict[str, Any] = {
        "workspace": ws,
        "types": RESOURCE_TYPES,
        "inputs": inputs,
        "keys": keys,
        "resource_id_type": RESOURCE_ID_TYPE,
        "rollout": _rollout(plan) if ws.endpoints else None,
        "uploads": _uploads(plan),
        "assets": assets,
        "asset_batches": asset_contexts,
        "datastore": {
            "param": DATASTORE_PARAM,
            "versions": VERSIONS_PARAM,
            "env": UPLOAD_ENV,
            "script": UPLOAD_SCRIPT,
            "value": enc.Raw(f"json(readEnvironmentVariable({enc.string(UPLOAD_ENV)}))"),
        },
        "bundles": shlex.quote(f"../../bundles/{ws.folder}"),
        "live": {
            "param": LIVE_PARAM,
            "value": enc.Raw(
                f"json(readEnvironmentVariable({enc.string(UPLOAD_ENV)})).{LIVE_PARAM}"
            ),
        },
        "declared": _declared(plan),
        "retiring": _retiring(plan),
        "traffic_file": TRAFFIC_FILE,
        "inputs_file": INPUTS_FILE,
        "workspace_id": shlex.quote(ws.resource_id),
        "api_version": shlex.quote(ML_API_VERSION),
        "traffic_module": TRAFFIC_MODULE,
        "commands": _commands(plan),
        "batches": [
            _batch_context(b, plan, inputs, keys, symbols, [a["symbol"] for a in asset_contexts])
            for b in found
        ],
        "limits": {"resources": BATCH_RESOURCES},
        # Source bytes main.bicep's compiled template holds (its modules inlined): past the
        # threshold, the README leads with deploying the batches one by one.
        "large": sum(b.size for b in found) > LARGE_WORKSPACE_BYTES,
    }
    context["endpoint_ids"] = _union([b.symbol for b in found], "endpointIds")
    context["scoring_uris"] = _union([b.symbol for b in found], "scoringUris")
    files = [
        RenderedFile(f"{base}/{name}", env.get_template(f"{name}.j2").render(context))
        for name in ("main.bicep", "main.bicepparam")
    ]
    assets_module = env.get_template("modules/assets.bicep.j2")
    assets_values = env.get_template("modules/assets.bicepparam.j2")
    for batch in asset_contexts:
        here = {**context, "batch": batch}
        files.append(RenderedFile(f"{base}/{batch['path']}", assets_module.render(here)))
        files.append(RenderedFile(f"{base}/{batch['path']}param", assets_values.render(here)))
    if ws.endpoints:
        generated = traffic_json(plan)
        files.append(
            RenderedFile(
                f"{base}/{TRAFFIC_FILE}",
                generated,
                owner=PERSON,
                merge=TrafficMerge(generated),
            )
        )
        module = env.get_template("modules/endpoints.bicep.j2")
        values = env.get_template("modules/endpoints.bicepparam.j2")
        for b, batch in zip(found, context["batches"], strict=True):
            here = {**context, "batch": batch}
            files.append(RenderedFile(f"{base}/{b.path}", module.render(here)))
            files.append(RenderedFile(f"{base}/{b.path}param", values.render(here)))
        files.append(
            RenderedFile(
                f"{base}/{TRAFFIC_MODULE}",
                traffic_module,
            )
        )
    if inputs:
        placeholders = inputs_json(inputs)
        files.append(
            RenderedFile(
                f"{base}/{INPUTS_FILE}",
                placeholders,
                owner=PERSON,
                merge=InputsMerge(placeholders),
            )
        )
    names = ["bicepconfig.json", "README.md"]
    if ws.assets or ws.endpoints:
        names.append(UPLOAD_SCRIPT)
    files += [
        RenderedFile(f"{base}/{name}", env.get_template(f"{name}.j2").render(context))
        for name in names
    ]
    return files


def _union(symbols: list[str], output: str) -> enc.Raw:
    refs = [f"{s}.outputs.{output}" for s in symbols]
    if not refs:
        return enc.Raw("{}")
    return enc.Raw(refs[0] if len(refs) == 1 else f"union({', '.join(refs)})")


def _batch_context(
    batch: Batch,
    plan: MigrationPlan,
    inputs: list[dict[str, Any]],
    keys: dict[str, Any] | None,
    symbols: Symbols,
    asset_modules: list[str],
) -> dict[str, Any]:
    """What main.bicep passes to one batch module and what the module declares."""
    names = {e.name for e in batch.endpoints}
    used = {i.name for i in plan.workspace.inputs if i.key.split("/", 1)[0] in names}
    batch_inputs = [p for p in inputs if p["snake"] in used]
    keyed = keys is not None and any(e.keys_from for e in batch.endpoints)
    mirrored = any(e.can_mirror for e in batch.endpoints)
    params: dict[str, Any] = {
        "location": enc.Raw("location"),
        "workspaceName": enc.Raw("workspaceName"),
        TRAFFIC_PARAM: enc.Raw(TRAFFIC_PARAM),
        LIVE_PARAM: enc.Raw(LIVE_PARAM),
    }
    datastore = any("datastoreUrl" in text for text in batch.sections)
    if datastore:
        params[DATASTORE_PARAM] = enc.Raw(DATASTORE_PARAM)
    if mirrored:
        params[MIRROR_PARAM] = enc.Raw(MIRROR_PARAM)
    for p in batch_inputs:
        params[p["name"]] = enc.Raw(p["name"])
    if keyed:
        params[KEYS_PARAM] = enc.Raw(KEYS_PARAM)
    assets = _used_assets(batch.endpoints, symbols)
    if assets:
        params[VERSIONS_PARAM] = enc.Raw(VERSIONS_PARAM)
    first = batch.endpoints[0].name
    last = batch.endpoints[-1].name
    return {
        "path": batch.path,
        "symbol": batch.symbol,
        "number": batch.number,
        "count": len(batch.endpoints),
        "range": first if first == last else f"{first} to {last}",
        "name": enc.Raw(
            enc.template(
                [enc.Raw("uniqueString(workspace.id, location)"), f"-endpoints-{batch.number:03d}"]
            )
        ),
        "params": params,
        "inputs": batch_inputs,
        "keyed": keyed,
        "mirrored": mirrored,
        "sections": batch.sections,
        "datastore": datastore,
        "assets": assets,
        # The asset versions exist before any deployment refers to them.
        "depends_on": [enc.Raw(m) for m in asset_modules] if assets else [],
        "resources": batch.resources,
        "endpoint_ids": {
            e.name: enc.Raw(f"{symbols.endpoint(e.name)}.id") for e in batch.endpoints
        },
        "scoring_uris": {
            e.name: enc.Raw(f"{symbols.endpoint(e.name)}.properties.scoringUri")
            for e in batch.endpoints
        },
    }


def traffic_json(plan: MigrationPlan) -> str:
    """traffic.json as gen-iac writes it: the plan's split, one line per endpoint."""
    endpoints = plan.workspace.endpoints
    return _traffic_text(
        {e.name: dict(e.traffic) for e in endpoints},
        {e.name: dict(e.mirror_split) for e in endpoints if e.can_mirror},
    )


def _traffic_text(
    traffic: dict[str, dict[str, int]],
    mirror: dict[str, dict[str, int]],
    extra: dict[str, Any] | None = None,
) -> str:
    def block(values: dict[str, dict[str, int]]) -> str:
        if not values:
            return "{}"
        rows = [
            f"    {json.dumps(name)}: {json.dumps(values[name], sort_keys=True)}"
            for name in sorted(values)
        ]
        return "{\n" + ",\n".join(rows) + "\n  }"

    rows = [f'  "mirrorTraffic": {block(mirror)}', f'  "traffic": {block(traffic)}']
    for key, value in sorted((extra or {}).items()):  # a person's own keys, kept
        text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
        rows.append(
            f"  {json.dumps(key, ensure_ascii=False)}: {text.replace(chr(10), chr(10) + '  ')}"
        )
    return "{\n" + ",\n".join(rows) + "\n}\n"


def inputs_json(inputs: list[dict[str, Any]]) -> str:
    """inputs.json as gen-iac writes it: per input map an empty placeholder for each
    deployment, preceded by a `//<name>` entry saying what to put there."""
    doc: dict[str, Any] = {}
    for p in inputs:
        doc["//" + p["name"]] = p["help"]
        doc[p["name"]] = p["placeholders"]
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _person_json(disk: bytes) -> dict[str, Any]:
    """A person's JSON file, read by the one strict reader: an object, or UnreadableFile
    (the run stops with file:line:column, never a silent non-merge)."""
    try:
        found = jsonread.loads(disk, "")
    except jsonread.JsonError as exc:
        raise UnreadableFile(exc.line, exc.column, exc.what) from None
    if not isinstance(found, dict):
        raise UnreadableFile(1, 1, "expected a JSON object")
    return found


def _object_at(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise UnreadableFile(1, 1, f"field {key!r}: expected an object")
    return value


@dataclass(frozen=True)
class InputsMerge:
    """inputs.json after a re-run: a person's value is kept for every key that still exists,
    new keys get an empty placeholder, removed ones are dropped, the help text is gen-iac's;
    keys the person added at the top are kept. A file that is not a JSON object stops the
    run (UnreadableFile)."""

    generated: str

    def __call__(self, disk: bytes) -> bytes:
        new = json.loads(self.generated)
        old = _person_json(disk)
        for name, placeholders in new.items():
            if name.startswith("//"):
                continue
            kept = _object_at(old, name)
            for key in placeholders:
                value = kept.get(key)
                if isinstance(value, str):
                    placeholders[key] = value
        for name, value in old.items():  # the person's own keys (notes, $schema, ...)
            if name not in new and not name.startswith("//") and not isinstance(value, dict):
                new[name] = value
        return (json.dumps(new, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


@dataclass(frozen=True)
class TrafficMerge:
    """traffic.json's merge (RenderedFile.merge): equal for equal content, so two renders of
    one plan compare equal."""

    generated: str

    def __call__(self, disk: bytes) -> bytes:
        return merge_traffic(disk, self.generated)


def merge_traffic(disk: bytes, generated: str) -> bytes:
    """traffic.json after a re-run, from the person's file on disk and gen-iac's new one: a
    person's split is kept for every endpoint that still exists (their values for deployments
    that remain, 0 for deployments that are new), new endpoints get gen-iac's initial split,
    removed endpoints and deployments are dropped; keys the person added at the top stay.
    Where dropping a deployment leaves a live split that no longer totals 0 or 100 (it still
    had traffic), gen-iac's split for that endpoint is used, since the deployment would refuse
    it. A file that is not JSON of that shape stops the run (UnreadableFile, with the field)."""
    new = json.loads(generated)
    old = _person_json(disk)
    old_traffic, old_mirror = _object_at(old, "traffic"), _object_at(old, "mirrorTraffic")

    def percent(where: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UnreadableFile(1, 1, f"field {where!r}: expected a whole percentage")
        if isinstance(value, float) and not (value.is_integer() and 0 <= value <= 100):
            raise UnreadableFile(1, 1, f"field {where!r}: expected a whole percentage")
        return int(value)  # 0.0 is 0: a dark launch stays dark

    def kept(
        field: str, name: str, old_split: Any, new_split: dict[str, int], total_ok: Any
    ) -> dict[str, int]:
        if old_split is None:
            return new_split
        if not isinstance(old_split, dict):
            raise UnreadableFile(1, 1, f"field '{field}.{name}': expected an object")
        split = {
            deployment: percent(f"{field}.{name}.{deployment}", old_split[deployment])
            if deployment in old_split
            else 0
            for deployment in new_split
        }
        return split if total_ok(sum(split.values())) else new_split

    traffic = {
        name: kept("traffic", name, old_traffic.get(name), split, lambda t: t in (0, 100))
        for name, split in new["traffic"].items()
    }
    mirror = {
        name: kept("mirrorTraffic", name, old_mirror.get(name), split, lambda t: 0 <= t <= 50)
        for name, split in new["mirrorTraffic"].items()
    }
    extra = {k: v for k, v in old.items() if k not in ("traffic", "mirrorTraffic")}
    return _traffic_text(traffic, mirror, extra).encode("utf-8")


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


def _asset_weight(resource: dict[str, Any]) -> int:
    """Bytes an asset version adds to its module's compiled template: its body and what
    loadTextContent() inlines from its folder (an environment's conda file)."""
    asset = resource["asset"]
    inlined = sum(len(data) for data in asset.files.values()) if asset.kind == "environment" else 0
    return ASSET_OVERHEAD + inlined


def _asset_batches(assets: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The asset versions in modules of at most ASSET_BATCH versions and ASSET_BYTES each (a
    version is one deployed resource; the containers are `existing`), in plan order, deployed
    before the endpoint batches."""
    if not assets:
        return []
    groups: list[list[dict[str, Any]]] = []
    size = 0
    for resource in assets["resources"]:
        weight = _asset_weight(resource)
        if not groups or len(groups[-1]) >= ASSET_BATCH or size + weight > ASSET_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(resource)
        size += weight
    found: list[dict[str, Any]] = []
    for number, group in enumerate(groups, start=1):
        found.append(
            {
                "path": f"modules/assets-{number:03d}.bicep",
                "symbol": f"assets{number:03d}",
                "number": number,
                "resources": group,
                "name": enc.Raw(
                    enc.template(
                        [enc.Raw("uniqueString(workspace.id, location)"), f"-assets-{number:03d}"]
                    )
                ),
                "params": {
                    DATASTORE_PARAM: enc.Raw(DATASTORE_PARAM),
                    VERSIONS_PARAM: enc.Raw(VERSIONS_PARAM),
                    "workspaceName": enc.Raw("workspaceName"),
                },
            }
        )
    return found


def _used_assets(endpoints: list[Endpoint], symbols: Symbols) -> list[dict[str, Any]]:
    """The asset versions an endpoint batch's deployments refer to, declared there as
    `existing` (the assets modules create them first)."""
    used = sorted(
        {("code", d.code) for e in endpoints for d in e.deployments if d.code}
        | {
            ("environment", d.environment)
            for e in endpoints
            for d in e.deployments
            if d.environment
        }
    )
    return [
        {
            "symbol": symbols.asset(kind, key),
            "container": symbols.container(kind, key),
            "type": kind,
            "key": key,
            "version": enc.Raw(asset_version(kind, key)),
        }
        for kind, key in used
    ]


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
                "snake": name,
                "name": param_name(name),
                "type": param_name(name) + "Type",
                "description": f"Required. {what[:1].upper()}{what[1:]} for each deployment, "
                'keyed by "<endpoint>/<deployment>".',
                "type_description": f"{what[:1].upper()}{what[1:]} of every deployment that "
                "needs one.",
                "help": f"Required: the {what} of every deployment listed; an empty value "
                "fails validation before anything is deployed.",
                "type_body": {i.key: enc.Raw(RESOURCE_ID_TYPE) for i in entries},
                "placeholders": {i.key: "" for i in entries},
                "value": enc.Raw(
                    f"loadJsonContent({enc.string(INPUTS_FILE)}, "
                    f"{enc.string('$.' + param_name(name))})"
                ),
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
        "traffic_value": enc.Raw(
            f"loadJsonContent({enc.string(TRAFFIC_FILE)}, {enc.string('$.' + TRAFFIC_PARAM)})"
        ),
        "mirror_value": enc.Raw(
            f"loadJsonContent({enc.string(TRAFFIC_FILE)}, {enc.string('$.' + MIRROR_PARAM)})"
        ),
    }


def _keys(plan: MigrationPlan) -> dict[str, Any] | None:
    services = plan.workspace.keyed_services
    if not services:
        return None
    return {
        "name": KEYS_PARAM,
        "env": KEYS_ENV,
        "description": "Required. Keys of the v1 services by service name, in the keys.json "
        f"format of gen-iac export, for: {', '.join(services)}. An endpoint is sent its "
        "keys (properties.keys) only when they are given here: at its creation or for a "
        "deliberate reset; an empty object sends none and keeps the live keys.",
        "value": enc.Raw(
            f"json(readEnvironmentVariable({enc.string(KEYS_ENV)}, {enc.string('{}')}))"
        ),
    }


def _endpoint_context(endpoint: Endpoint, symbols: Symbols, outcome: Any) -> dict[str, Any]:
    properties: dict[str, Any] = dict(endpoint.properties)
    name = enc.string(endpoint.name)
    # What the endpoint's own PUT carries besides its properties. An endpoint that exists (in
    # `live`, read from ARM when the deployment runs) keeps the traffic it has: the new split
    # goes out in the traffic step, once the deployments it names are updated. A new one gets
    # no traffic (its deployments do not exist yet) and its v1 keys: keys only at creation.
    created = "{}"
    if endpoint.keys_from:
        service = enc.string(endpoint.keys_from)
        ref = f"{KEYS_PARAM}[{service}]"
        keys = enc.inline(
            {
                "primaryKey": enc.Raw(f"{ref}.primaryKey"),
                "secondaryKey": enc.Raw(f"{ref}.secondaryKey"),
            }
        )
        created = f"(contains({KEYS_PARAM}, {service}) ? {{ keys: {keys} }} : {{}})"
    existing = f"{LIVE_PARAM}.endpoints"
    current = f"contains({existing}, {name}) ? {existing}[{name}] : {created}"
    # The traffic step is a full PUT: every endpoint property (keys aside: they are only
    # honoured at creation, as azapi's GET-merge-PUT leaves them out too) plus the traffic.
    live = f"{TRAFFIC_PARAM}[{name}]"
    mirror = f"{MIRROR_PARAM}[{name}]"
    names = [d.name for d in endpoint.deployments]
    # A deployment retired with delete is drained by name, at 0, as Terraform's step does
    # (Bicep deletes nothing: upload-bundles.sh says how once it is drained).
    drained = enc.inline({d: 0 for d in endpoint.draining})
    split = f"union({drained}, {live})" if endpoint.draining else live
    traffic_properties: dict[str, Any] = {**endpoint.properties, "traffic": enc.Raw(split)}
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
    deployments = []
    previous: str | None = None
    for d in endpoint.deployments:
        dsymbol = symbols.deployment(endpoint.name, d.name)
        deployments.append(
            {
                "deployment": d,
                "symbol": dsymbol,
                "capacity": _live_capacity(endpoint.name, d.name) if d.autoscale else None,
                # Siblings one at a time: Azure refuses a change while the endpoint updates.
                "depends_on": [enc.Raw(previous)] if previous else [],
                "autoscale": {
                    "symbol": symbols.autoscale(endpoint.name, d.name),
                    "name": d.autoscale.name,
                    "properties": d.autoscale.properties,
                }
                if d.autoscale
                else None,
            }
        )
        previous = dsymbol
    return {
        "endpoint": endpoint,
        "symbol": symbol,
        "compute": outcome.compute_type if outcome else "",
        "identity": {"type": endpoint.identity_type},
        "properties": properties,
        "current": {"symbol": symbols.current(endpoint.name), "value": current},
        "deployments": deployments,
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


def _live_capacity(endpoint: str, deployment: str) -> str:
    """The sku of an autoscaled deployment that exists takes the instance count it has
    (`live.capacity`, read when the deployment runs): autoscale owns it, and a redeploy that
    sent the generated count would undo its scaling for as long as it takes to climb back."""
    key = enc.string(f"{endpoint}/{deployment}")
    ref = f"{LIVE_PARAM}.capacity"
    return f"contains({ref}, {key}) ? {{ capacity: {ref}[{key}] }} : {{}}"


# Endpoint and deployment names as upload-bundles.sh compares them with ARM's answers (and
# writes them into its JSON unescaped): the plan's naming rules give nothing else.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")


def _declared(plan: MigrationPlan) -> list[dict[str, str]]:
    """Each endpoint of the templates for upload-bundles.sh, shell-quoted: its deployments and
    those with an autoscale setting (whose live instance count the deployment keeps)."""
    found = []
    for e in plan.workspace.endpoints:
        for name in (e.name, *(d.name for d in e.deployments)):
            if not _SAFE_NAME.fullmatch(name):
                raise ValueError(f"not an endpoint or deployment name: {name!r}")
        found.append(
            {
                "name": shlex.quote(e.name),
                "deployments": shlex.quote(" ".join(d.name for d in e.deployments)),
                "autoscaled": shlex.quote(" ".join(d.name for d in e.deployments if d.autoscale)),
                "draining": shlex.quote(" ".join(e.draining)),
            }
        )
    return found


def _retiring(plan: MigrationPlan) -> str:
    """The endpoints this run retires with delete, for upload-bundles.sh to name (with the
    command that deletes them: a Bicep deployment deletes nothing), shell-quoted."""
    names = [r.name for r in plan.day2.retired if r.how == "delete" and "/" not in r.name]
    for name in names:
        if not _SAFE_NAME.fullmatch(name):
            raise ValueError(f"not an endpoint name: {name!r}")
    return shlex.quote(" ".join(names))


def _commands(plan: MigrationPlan) -> dict[str, str]:
    ws = plan.workspace
    common = (
        f"  --subscription {shlex.quote(ws.subscription_id)} \\\n"
        f"  --resource-group {shlex.quote(ws.resource_group)} \\\n"
        f"  --name {shlex.quote('gen-iac-' + ws.name)} \\\n"
        "  --template-file main.bicep \\\n"
        "  --parameters main.bicepparam"
    )
    each = (
        "for values in modules/assets-*.bicepparam modules/endpoints-*.bicepparam; do\n"
        '  batch="$(basename "$values" .bicepparam)"\n'
        "  az deployment group create \\\n"
        f"    --subscription {shlex.quote(ws.subscription_id)} \\\n"
        f"    --resource-group {shlex.quote(ws.resource_group)} \\\n"
        f'    --name {shlex.quote("gen-iac-" + ws.name + "-")}"$batch" \\\n'
        '    --template-file "modules/$batch.bicep" \\\n'
        '    --parameters "$values" || break\n'
        "done"
    )
    if not ws.assets and not ws.endpoints:
        return {
            "what_if": f"az deployment group what-if \\\n{common}",
            "create": f"az deployment group create \\\n{common}",
            "batches": each,
            "upload": "",
        }
    # Steps chained with && (a person pastes these into a terminal: shell options would close
    # it on the first error); the assignment of "$(...)" carries the script's exit status.
    upload = f'{UPLOAD_ENV}="$(bash {UPLOAD_SCRIPT}{{}})" &&\nexport {UPLOAD_ENV} &&\n'
    return {
        "what_if": upload.format(" --dry-run") + f"az deployment group what-if \\\n{common}",
        "create": upload.format("") + f"az deployment group create \\\n{common}",
        "batches": upload.format("") + each,
        "upload": upload.format(""),
    }
