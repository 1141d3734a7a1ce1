"""What gen-iac generated is remembered: per endpoint, the plan data that renders it again.

A run writes `record/<workspace>/<endpoint>.json` (the endpoint, its deployments and the
assets they use, as plan data) and `record/run.json` (targets, pipelines, layout, what a
person retired). The next run reads them back (`generator.recall`, untrusted: a pull
request can commit them) and:
- keeps an endpoint whose service left the snapshot or was refused, rendered from its record
  and marked, until a person retires it (`--retire NAME=keep|delete`);
- keeps a deployment its endpoint no longer plans (an AKS version gone), likewise
  (`--retire ENDPOINT/DEPLOYMENT=keep|delete`);
- keeps the targets and pipelines an earlier run wrote (`--drop` removes one);
- keeps the person's traffic when the Terraform layout changes.

Pure: records in, plan out. Both renderers render what is kept from the plan.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from generator.diagnostics import InputError
from generator.files import path_component
from generator.plan.model import (
    Asset,
    AssetId,
    AssetVersionName,
    Autoscale,
    BlobUrl,
    BundleText,
    Concat,
    Day2,
    Deployment,
    DeploymentId,
    Endpoint,
    Input,
    MigrationPlan,
    Retirement,
    Upload,
    Value,
    WorkspaceId,
    inputs_of,
)
from generator.plan.naming import is_valid_name

FOLDER = "record"
RUN_FILE = f"{FOLDER}/run.json"
VERSION = 1
RETIRE_CHOICES = ("keep", "delete")
TARGETS = ("terraform", "bicep")
PIPELINES = ("github", "azure-devops")
LAYOUTS = ("workspace", "endpoint")
_ASSET_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")
_PATH_PART = re.compile(r"[^/\\\x00-\x1f\x7f]{1,255}")
MAX_DEPTH = 32


class RecordError(ValueError):
    """A record that is not what gen-iac writes."""


def record_path(workspace: str, endpoint: str) -> str:
    """Where an endpoint's record lives (names as path components, Windows-reserved ones
    changed as every renderer changes them)."""
    return f"{FOLDER}/{path_component(workspace)}/{path_component(endpoint + '.json')}"


# ---------------------------------------------------------------------------------------------
# What a run remembers


@dataclass(frozen=True)
class EndpointRecord:
    endpoint: Endpoint
    assets: tuple[Asset, ...]  # those its deployments use (files are in bundles/, not here)


@dataclass(frozen=True)
class Memory:
    """What the last run wrote into --out (empty on a first run)."""

    targets: tuple[str, ...] = ()
    pipelines: tuple[str, ...] = ()
    layout: str = ""
    retired: tuple[Retirement, ...] = ()
    endpoints: Mapping[str, EndpointRecord] = field(default_factory=dict)  # by name, lower case
    # The person's traffic in the last layout's rollout files (read only when the layout
    # changes): endpoint -> (traffic, mirror).
    traffic: Mapping[str, tuple[dict[str, int], dict[str, int]]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Plan data <-> JSON


def encode_value(value: Value) -> Any:
    if isinstance(value, dict):
        inner = {k: encode_value(v) for k, v in value.items()}
        return {"$": "map", "value": inner} if "$" in value else inner
    if isinstance(value, list):
        return [encode_value(v) for v in value]
    if isinstance(value, WorkspaceId):
        return {"$": "workspace"}
    if isinstance(value, DeploymentId):
        return {"$": "deployment", "endpoint": value.endpoint, "deployment": value.deployment}
    if isinstance(value, Input):
        return {"$": "input", "name": value.name, "key": value.key, "what": value.description}
    if isinstance(value, AssetId):
        return {"$": "asset", "kind": value.kind, "key": value.key}
    if isinstance(value, AssetVersionName):
        return {"$": "version", "kind": value.kind, "key": value.key}
    if isinstance(value, BlobUrl):
        return {"$": "blob", "prefix": value.prefix, "version": encode_value(value.version)}
    if isinstance(value, BundleText):
        return {"$": "text", "path": value.path}
    if isinstance(value, Concat):
        return {"$": "concat", "parts": [encode_value(p) for p in value.parts]}
    return value


def _str(data: Any, key: str, where: str) -> str:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, str):
        raise RecordError(f"{where}: {key} must be a string")
    return value


def _kind(value: str, where: str) -> str:
    if value not in ("code", "environment"):
        raise RecordError(f"{where}: kind must be code or environment")
    return value


def _asset_key(value: str, where: str) -> str:
    if not _ASSET_KEY.fullmatch(value) or ".." in value:
        raise RecordError(f"{where}: {value!r} is not an asset name")
    return value


def _relative(value: str, where: str) -> str:
    """A bundle path: plain components, no '..' (Terraform and Bicep read the file)."""
    parts = value.split("/")
    if not all(_PATH_PART.fullmatch(p) and p not in (".", "..") for p in parts):
        raise RecordError(f"{where}: {value!r} is not a relative path inside the bundles")
    return value


def decode_value(data: Any, where: str, depth: int = 0) -> Value:
    if depth > MAX_DEPTH:
        raise RecordError(f"{where}: nested too deeply")
    if data is None or isinstance(data, (bool, str)):
        return data
    if isinstance(data, int):
        if abs(data) > 2**53:
            raise RecordError(f"{where}: number out of range")
        return data
    if isinstance(data, float):
        if not math.isfinite(data):
            raise RecordError(f"{where}: number out of range")
        return data
    if isinstance(data, list):
        return [decode_value(v, where, depth + 1) for v in data]
    if not isinstance(data, dict):
        raise RecordError(f"{where}: unexpected value")
    tag = data.get("$")
    if tag is None:
        return {str(k): decode_value(v, where, depth + 1) for k, v in data.items()}
    if tag == "map" and isinstance(data.get("value"), dict):
        return {str(k): decode_value(v, where, depth + 1) for k, v in data["value"].items()}
    return _expression(data, tag, where, depth)


def _expression(data: dict[str, Any], tag: Any, where: str, depth: int) -> Value:
    if tag == "workspace":
        return WorkspaceId()
    if tag == "deployment":
        return DeploymentId(_str(data, "endpoint", where), _str(data, "deployment", where))
    if tag == "input":
        return Input(_str(data, "name", where), _str(data, "key", where), _str(data, "what", where))
    if tag in ("asset", "version"):
        kind = _kind(_str(data, "kind", where), where)
        key = _asset_key(_str(data, "key", where), where)
        return AssetId(kind, key) if tag == "asset" else AssetVersionName(kind, key)
    if tag == "blob":
        version = decode_value(data.get("version"), where, depth + 1)
        if not isinstance(version, AssetVersionName):
            raise RecordError(f"{where}: a blob needs a version")
        return BlobUrl(_relative(_str(data, "prefix", where), where), version)
    if tag == "text":
        return BundleText(_relative(_str(data, "path", where), where))
    if tag == "concat" and isinstance(data.get("parts"), list):
        parts = [decode_value(p, where, depth + 1) for p in data["parts"]]
        if not all(isinstance(p, (str, WorkspaceId, DeploymentId, Input)) for p in parts):
            raise RecordError(f"{where}: unexpected part of a concatenation")
        return Concat(tuple(parts))  # type: ignore[arg-type]
    raise RecordError(f"{where}: unknown expression {str(tag)[:40]!r}")


def _body(data: Any, key: str, where: str) -> dict[str, Value]:
    value = decode_value(data.get(key, {}), f"{where}.{key}")
    if not isinstance(value, dict):
        raise RecordError(f"{where}: {key} must be an object")
    return value


def _strings(data: Any, key: str, where: str) -> dict[str, str]:
    value = data.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise RecordError(f"{where}: {key} must map names to strings")
    return {str(k): v for k, v in value.items()}


def _split(data: Any, key: str, where: str) -> dict[str, int]:
    value = data.get(key, {})
    if not isinstance(value, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 100 for v in value.values()
    ):
        raise RecordError(f"{where}: {key} must map deployments to 0-100")
    return {str(k): v for k, v in value.items()}


def _name(value: str, where: str) -> str:
    if not is_valid_name(value):
        raise RecordError(f"{where}: {value!r} is not a valid endpoint or deployment name")
    return value


def encode_record(
    workspace: str, endpoint: Endpoint, assets: Mapping[tuple[str, str], Asset]
) -> Any:
    """An endpoint's record; `assets` are the workspace's by (kind, key)."""
    keys = sorted((kind, key) for kind, key in endpoint.asset_keys if key is not None)
    used = [assets[k] for k in keys if k in assets]
    return {
        "assets": [_encode_asset(a, endpoint.name) for a in used],
        "endpoint": {
            "deployments": [
                {
                    "autoscale": {
                        "name": d.autoscale.name,
                        "properties": encode_value(d.autoscale.properties),
                    }
                    if d.autoscale
                    else None,
                    "code": d.code,
                    "environment": d.environment,
                    "name": d.name,
                    "planned": d.planned or d.name,
                    "properties": encode_value(d.properties),
                    "retained": d.retained,
                    "sku": encode_value(d.sku),
                    "tags": d.tags,
                }
                for d in endpoint.deployments
            ],
            "identityType": endpoint.identity_type,
            "keysFrom": endpoint.keys_from,
            "kind": endpoint.kind,
            "mirrorTraffic": endpoint.mirror_traffic,
            "name": endpoint.name,
            "properties": encode_value(endpoint.properties),
            "service": endpoint.service,
            "tags": endpoint.tags,
            "traffic": endpoint.traffic,
        },
        "version": VERSION,
        "workspace": workspace,
    }


def _encode_asset(a: Asset, endpoint: str) -> Any:
    """An asset as one endpoint's record holds it: with that endpoint's users only, so a
    record changes only with its own endpoint."""
    return {
        "deployments": [u for u in a.deployments if u.split("/", 1)[0] == endpoint],
        "environmentKind": a.environment_kind,
        "image": a.image,
        "key": a.key,
        "kind": a.kind,
        "missing": a.missing,
        "properties": encode_value(a.properties),
        "python": a.python,
        "scoringScript": a.scoring_script,
        "seed": a.seed,
        "upload": {"blobPrefix": a.upload.blob_prefix, "folder": a.upload.folder}
        if a.upload
        else None,
    }


def decode_record(data: Any, where: str, workspace: str) -> EndpointRecord:
    """An endpoint record as gen-iac writes it, every value checked (RecordError if not)."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise RecordError(f"{where}: not a version {VERSION} record of gen-iac")
    if data.get("workspace") != workspace:
        raise RecordError(f"{where}: a record of another workspace")
    e = data.get("endpoint")
    if not isinstance(e, dict) or not isinstance(e.get("deployments"), list):
        raise RecordError(f"{where}: endpoint must be an object with deployments")
    name = _name(_str(e, "name", where), where)
    deployments: list[Deployment] = []
    for number, d in enumerate(e["deployments"]):
        at = f"{where}: deployment {number + 1}"
        if not isinstance(d, dict):
            raise RecordError(f"{at}: not an object")
        dname = _name(_str(d, "name", at), at)
        planned = _name(_str(d, "planned", at), at)
        scale = d.get("autoscale")
        autoscale = None
        if scale is not None:
            if not isinstance(scale, dict):
                raise RecordError(f"{at}: autoscale must be an object")
            autoscale = Autoscale(_str(scale, "name", at), _body(scale, "properties", at))
        env = d.get("environment")
        if env is not None and not isinstance(env, str):
            raise RecordError(f"{at}: environment must be a string")
        deployments.append(
            Deployment(
                dname,
                _body(d, "properties", at),
                _body(d, "sku", at),
                _strings(d, "tags", at),
                autoscale,
                _asset_key(_str(d, "code", at), at),
                _asset_key(env, at) if env is not None else None,
                _str(d, "retained", at),
                "" if planned == dname else planned,
            )
        )
    if not deployments or len({d.name.lower() for d in deployments}) != len(deployments):
        raise RecordError(f"{where}: deployments must be non-empty and unique")
    kind = _str(e, "kind", where)
    if kind not in ("Managed", "Kubernetes"):
        raise RecordError(f"{where}: kind must be Managed or Kubernetes")
    keys_from = e.get("keysFrom")
    if keys_from is not None and not isinstance(keys_from, str):
        raise RecordError(f"{where}: keysFrom must be a string")
    endpoint = Endpoint(
        name=name,
        service=_str(e, "service", where),
        properties=_body(e, "properties", where),
        tags=_strings(e, "tags", where),
        deployments=tuple(deployments),
        traffic=_split(e, "traffic", where),
        mirror_traffic=_split(e, "mirrorTraffic", where),
        kind=kind,
        identity_type=_str(e, "identityType", where),
        keys_from=keys_from,
    )
    assets = data.get("assets")
    if not isinstance(assets, list):
        raise RecordError(f"{where}: assets must be a list")
    return EndpointRecord(endpoint, tuple(_decode_asset(a, where) for a in assets))


def _decode_asset(a: Any, where: str) -> Asset:
    if not isinstance(a, dict):
        raise RecordError(f"{where}: an asset must be an object")
    kind = _kind(_str(a, "kind", where), where)
    key = _asset_key(_str(a, "key", where), where)
    at = f"{where}: {kind} {key}"
    upload = a.get("upload")
    if upload is not None:
        if not isinstance(upload, dict):
            raise RecordError(f"{at}: upload must be an object")
        folder = _relative(_str(upload, "folder", at), at)
        if folder != f"{'code' if kind == 'code' else 'environments'}/{key}":
            raise RecordError(f"{at}: upload folder {folder!r} is not the asset's own")
        upload = Upload(folder, _relative(_str(upload, "blobPrefix", at), at))
    users = a.get("deployments")
    if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
        raise RecordError(f"{at}: deployments must be a list of names")
    optional = {k: a.get(k) for k in ("image", "python")}
    if not all(v is None or isinstance(v, str) for v in optional.values()):
        raise RecordError(f"{at}: image and python must be strings")
    return Asset(
        kind=kind,
        key=key,
        properties=_body(a, "properties", at),
        deployments=tuple(users),
        seed=_str(a, "seed", at),
        upload=upload,
        scoring_script=_str(a, "scoringScript", at),
        missing=a.get("missing") is True,
        environment_kind=_str(a, "environmentKind", at),
        image=optional["image"],
        python=optional["python"],
        kept=True,
    )


def encode_run(
    targets: tuple[str, ...],
    pipelines: tuple[str, ...],
    layout: str,
    retired: tuple[Retirement, ...],
) -> Any:
    return {
        "layout": layout,
        "pipelines": sorted(pipelines),
        "retired": [
            {
                "addresses": list(r.addresses),
                "how": r.how,
                "module": r.module,
                "name": r.name,
                "service": r.service,
            }
            for r in sorted(retired, key=lambda r: r.name.lower())
        ],
        "targets": sorted(targets),
        "version": VERSION,
    }


_ADDRESS = re.compile(
    r"(azapi_resource|azapi_update_resource|azapi_resource_action|azurerm_storage_blob)"
    r"\.[a-z0-9_]{1,200}"
)


def decode_run(data: Any, where: str) -> Memory:
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise RecordError(f"{where}: not a version {VERSION} record of gen-iac")
    targets = data.get("targets", [])
    pipelines = data.get("pipelines", [])
    layout = data.get("layout", "")
    if not isinstance(targets, list) or not set(targets) <= set(TARGETS):
        raise RecordError(f"{where}: targets must be a list of {', '.join(TARGETS)}")
    if not isinstance(pipelines, list) or not set(pipelines) <= set(PIPELINES):
        raise RecordError(f"{where}: pipelines must be a list of {', '.join(PIPELINES)}")
    if layout not in ("", *LAYOUTS):
        raise RecordError(f"{where}: layout must be one of {', '.join(LAYOUTS)}")
    retired = []
    entries = data.get("retired", [])
    if not isinstance(entries, list):
        raise RecordError(f"{where}: retired must be a list")
    for r in entries:
        if not isinstance(r, dict):
            raise RecordError(f"{where}: a retirement must be an object")
        name = _str(r, "name", where)
        for part in name.split("/", 1):
            _name(part, where)
        how = _str(r, "how", where)
        if how not in RETIRE_CHOICES:
            raise RecordError(f"{where}: how must be keep or delete")
        module = _str(r, "module", where)
        if module:
            _relative(module, where)
            if not module.startswith("terraform/"):
                raise RecordError(f"{where}: module must be under terraform/")
        addresses = r.get("addresses", [])
        if not isinstance(addresses, list) or not all(
            isinstance(a, str) and _ADDRESS.fullmatch(a) for a in addresses
        ):
            raise RecordError(f"{where}: addresses must be Terraform resource addresses")
        retired.append(Retirement(name, how, _str(r, "service", where), module, tuple(addresses)))
    return Memory(tuple(targets), tuple(pipelines), layout, tuple(retired))


# ---------------------------------------------------------------------------------------------
# Keeping what is live


def parse_retire(items: list[str]) -> dict[str, str]:
    """`--retire NAME=keep|delete` values, NAME an endpoint or ENDPOINT/DEPLOYMENT."""
    found: dict[str, str] = {}
    for item in items:
        name, sep, how = item.rpartition("=")
        parts = name.split("/")
        if (
            not sep
            or how not in RETIRE_CHOICES
            or len(parts) > 2
            or not all(map(is_valid_name, parts))
        ):
            raise InputError(
                f"--retire {item!r}: expected ENDPOINT=keep|delete or ENDPOINT/DEPLOYMENT=keep|delete"
            )
        found[name.lower()] = how
    return found


def retain(plan: MigrationPlan, memory: Memory, retire: Mapping[str, str]) -> MigrationPlan:
    """The plan with what earlier runs generated and nobody retired kept in it, and what this
    run did about it (`MigrationPlan.day2`).

    A `--retire` name must be something the plan no longer generates: retiring what the
    snapshot still has is refused (remove it from the snapshot, or exclude it, first)."""
    ws = plan.workspace
    planned = {e.name.lower(): e for e in ws.endpoints}
    refused = {o.service for o in plan.outcomes if o.status != "migrated"}
    kept: list[tuple[str, str]] = []
    retired: list[Retirement] = []
    used: set[str] = set()
    endpoints = list(ws.endpoints)
    extra_assets: dict[tuple[str, str], Asset] = {}
    for lower, record in sorted(memory.endpoints.items()):
        old = record.endpoint
        if lower in planned:
            current, replaced = _follow(planned[lower], record)
            kept += [(f"{current.name}/{old_name}", why) for old_name, why in replaced.items()]
            merged, notes, gone = _keep_deployments(current, record, retire, replaced)
            used |= {f"{lower}/{d.name.lower()}" for d, _ in gone}
            kept += notes
            retired += [
                Retirement(
                    f"{current.name}/{d.name}",
                    how,
                    current.service,
                    endpoint=replace(old, deployments=(d,)),
                    assets=record.assets,
                )
                for d, how in gone
            ]
            draining = tuple(d.name for d, how in gone if how == "delete")
            if draining:
                merged = replace(merged, draining=draining)
            if merged is not planned[lower]:
                endpoints[endpoints.index(planned[lower])] = merged
                _add_assets(extra_assets, record, {d.name for d in merged.deployments})
            continue
        how = retire.get(lower)
        if how:
            used.add(lower)
            retired.append(
                Retirement(old.name, how, old.service, endpoint=old, assets=record.assets)
            )
            continue
        why = (
            f"its v1 service {old.service} was refused on this run (MIGRATION.md says why)"
            if old.service in refused
            else f"its v1 service {old.service} is no longer in the snapshot"
        )
        kept.append((old.name, why))
        endpoints.append(replace(old, retained=why))
        _add_assets(extra_assets, record, {d.name for d in old.deployments})
    live = set(planned) | {
        f"{e.name}/{d.name}".lower() for e in ws.endpoints for d in e.deployments
    }
    # Retired by an earlier run the same way: nothing left to do (a script may repeat it).
    used |= {
        r.name.lower()
        for r in memory.retired
        if retire.get(r.name.lower()) == r.how and r.name.lower() not in live
    }
    unknown = sorted(set(retire) - used)
    if unknown:
        raise InputError(
            f"--retire {unknown[0]}: gen-iac generated no such endpoint or deployment that the "
            "snapshot no longer has (only what a re-run keeps can be retired)"
        )
    have = {(a.kind, a.key) for a in ws.assets}
    assets = ws.assets + tuple(a for k, a in sorted(extra_assets.items()) if k not in have)
    endpoints.sort(key=lambda e: e.name.lower())
    workspace = replace(ws, endpoints=tuple(endpoints), assets=assets, inputs=inputs_of(endpoints))
    day2 = Day2(kept=tuple(kept), retired=tuple(retired), earlier_retired=memory.retired)
    return replace(plan, workspace=workspace, day2=day2)


def _keep_deployments(
    current: Endpoint,
    record: EndpointRecord,
    retire: Mapping[str, str],
    replaced: Mapping[str, str],
) -> tuple[Endpoint, list[tuple[str, str]], list[tuple[Deployment, str]]]:
    """An endpoint the plan still has, with the deployments it had before and no longer
    plans kept (unless retired): at 0 %, or a deployment `replaced` by a rollout at the
    share the plan gives its replacement. Returns it, what was kept, what was retired."""
    have = {d.name.lower() for d in current.deployments}
    extra: list[Deployment] = []
    notes: list[tuple[str, str]] = []
    gone: list[tuple[Deployment, str]] = []
    for d in record.endpoint.deployments:
        if d.name.lower() in have:
            continue
        how = retire.get(f"{current.name.lower()}/{d.name.lower()}")
        if how:
            gone.append((d, how))
            continue
        why = replaced.get(d.name) or f"the v1 service {current.service} no longer has it"
        if d.name not in replaced:
            notes.append((f"{current.name}/{d.name}", why))
        extra.append(replace(d, retained=why))
    if not extra:
        return current, notes, gone
    traffic = {**current.traffic, **{d.name: current.traffic.get(d.name, 0) for d in extra}}
    return (
        replace(current, deployments=current.deployments + tuple(extra), traffic=traffic),
        notes,
        gone,
    )


# Deployment properties Azure sets at creation only (the 2025-12-01 spec marks them read and
# create; endpointComputeType is the discriminator): a change needs a new deployment.
IMMUTABLE = ("endpointComputeType", "instanceType")
IMMUTABLE_KUBERNETES = ("model",)  # a Kubernetes deployment's model is fixed too


def immutable_changes(old: Deployment, new: Deployment) -> list[str]:
    """The create-only properties that differ between two versions of a deployment."""
    fields: tuple[str, ...] = IMMUTABLE
    if new.properties.get("endpointComputeType") == "Kubernetes":
        fields += IMMUTABLE_KUBERNETES
    return [f for f in fields if old.properties.get(f) != new.properties.get(f)]


def next_name(name: str, taken: set[str]) -> str:
    """The name of the deployment that replaces `name`: blue <-> green, else `<name>-r2`,
    `-r3`...; never one of `taken` (lower case), always a valid name."""
    swap = {"blue": "green", "green": "blue"}.get(name.lower())
    if swap and swap not in taken:
        return swap
    base = re.sub(r"-r\d+$", "", name)
    number = 2
    while True:
        suffix = f"-r{number}"
        found = base[: 32 - len(suffix)].rstrip("-") + suffix
        if found.lower() not in taken:
            return found
        number += 1


def renamed(d: Deployment, endpoint: str, name: str) -> Deployment:
    """`d` as deployment `name` of `endpoint`: its autoscale setting follows (a name of its
    own, its target the new deployment)."""
    if name == d.name:
        return d
    autoscale = d.autoscale
    if autoscale is not None:
        target = DeploymentId(endpoint, d.name)
        properties = _swap(autoscale.properties, target, DeploymentId(endpoint, name))
        assert isinstance(properties, dict)
        autoscale = Autoscale(f"{endpoint}-{name}-autoscale", properties)
    return replace(d, name=name, autoscale=autoscale, planned=d.planned or d.name)


def _swap(value: Value, old: DeploymentId, new: DeploymentId) -> Value:
    if value == old:
        return new
    if isinstance(value, dict):
        return {k: _swap(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, old, new) for v in value]
    return value


def _follow(current: Endpoint, record: EndpointRecord) -> tuple[Endpoint, dict[str, str]]:
    """The planned endpoint with its deployments under the names they live under (an earlier
    rollout renamed them), and a new deployment beside each one whose create-only
    properties changed. Returns it and, by name, why each replaced deployment is kept."""
    live = {(d.planned or d.name).lower(): d for d in record.endpoint.deployments if not d.retained}
    # Names in use once renamed: what lives, and new deployments under their plan names.
    taken = {d.name.lower() for d in record.endpoint.deployments}
    taken |= {d.name.lower() for d in current.deployments if d.name.lower() not in live}
    deployments: list[Deployment] = []
    traffic = dict(current.traffic)
    mirror = dict(current.mirror_traffic)
    replaced: dict[str, str] = {}
    for d in current.deployments:
        before = live.get(d.name.lower())
        if before is None:
            deployments.append(d)
            continue
        now = renamed(d, current.name, before.name)
        for split in (traffic, mirror):
            if d.name in split:
                split[before.name] = split.pop(d.name)
        changed = immutable_changes(before, now)
        if changed:
            name = next_name(before.name, taken)
            taken.add(name.lower())
            now = renamed(now, current.name, name)
            traffic[name] = 0
            replaced[before.name] = (
                f"replaced by {name}, because {' and '.join(changed)} cannot change in place: "
                f"move its traffic to {name} in the rollout values"
            )
        deployments.append(now)
    if all(a is b for a, b in zip(deployments, current.deployments, strict=True)):
        return current, replaced
    return (
        replace(current, deployments=tuple(deployments), traffic=traffic, mirror_traffic=mirror),
        replaced,
    )


def _add_assets(
    found: dict[tuple[str, str], Asset], record: EndpointRecord, users: set[str]
) -> None:
    kept = tuple(d for d in record.endpoint.deployments if d.name in users)
    wanted = replace(record.endpoint, deployments=kept).asset_keys
    for a in record.assets:
        if (a.kind, a.key) in wanted:
            found.setdefault((a.kind, a.key), a)


def with_person_traffic(plan: MigrationPlan, memory: Memory) -> MigrationPlan:
    """The plan's initial splits replaced by the person's values from the last layout's
    rollout files (a layout change writes new rollout files: they start from the person's
    values, never from the generated ones)."""
    if not memory.traffic:
        return plan
    endpoints = []
    for e in plan.workspace.endpoints:
        values = memory.traffic.get(e.name)
        if values is None:
            endpoints.append(e)
            continue
        traffic, mirror = values
        names = {d.name for d in e.deployments}
        endpoints.append(
            replace(
                e,
                traffic={d: traffic.get(d, 0) for d in sorted(names)},
                mirror_traffic={d: p for d, p in mirror.items() if d in names},
            )
        )
    return replace(plan, workspace=replace(plan.workspace, endpoints=tuple(endpoints)))


def remember(
    plan: MigrationPlan,
    memory: Memory,
    retire: Mapping[str, str],
    targets: tuple[str, ...],
    pipelines: tuple[str, ...],
    drop: tuple[str, ...],
    layout: str,
) -> tuple[MigrationPlan, tuple[str, ...], tuple[str, ...]]:
    """The plan, targets and pipelines of a run given what the last run generated: nothing
    it wrote disappears unless a person says so (`--retire`, `--drop`)."""
    unknown = sorted(set(drop) - set(memory.targets) - set(memory.pipelines))
    if unknown:
        raise InputError(f"--drop {unknown[0]}: the last run into this folder did not generate it")
    asked = set(drop) & (set(targets) | set(pipelines))
    if asked:
        raise InputError(f"--drop {sorted(asked)[0]}: also asked for by --target or --pipeline")
    kept_targets = tuple(t for t in memory.targets if t not in targets and t not in drop)
    kept_pipelines = tuple(p for p in memory.pipelines if p not in pipelines and p not in drop)
    plan = retain(plan, memory, retire)
    day2 = replace(
        plan.day2,
        targets_kept=kept_targets + kept_pipelines,
        dropped=tuple(sorted(drop)),
    )
    all_targets = tuple(t for t in TARGETS if t in targets or t in kept_targets)
    if memory.layout and memory.layout != layout and "terraform" in all_targets:
        plan = with_person_traffic(plan, memory)
        day2 = replace(
            day2,
            layout_from=memory.layout,
            handover=tuple(
                Retirement(
                    r.endpoint.name,
                    "keep",
                    r.endpoint.service,
                    endpoint=r.endpoint,
                    assets=r.assets,
                )
                for _, r in sorted(memory.endpoints.items())
            ),
        )
    return (
        replace(plan, day2=day2),
        all_targets,
        tuple(p for p in PIPELINES if p in pipelines or p in kept_pipelines),
    )
