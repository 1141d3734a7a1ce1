"""Read a snapshot: `snapshot.json` (+ `keys.json`, `assets/`) or a single JSON file.

Accepted shapes: `{"workspace": {...}, "services": [...]}`, a raw MMS list response
`{"value": [...]}` and a bare list; the last two need the workspace from flags.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from generator import jsonread
from generator.diagnostics import Diagnostic, InputError, Level
from generator.sources.existing import ExistingEndpoint, read_existing
from generator.sources.legacy import REALTIME_COMPUTE_TYPES, LegacyService, parse_service
from generator.sources.untrusted import bad_values, confine_assets, shown, valid_text

WORKSPACE_FIELDS = ("subscriptionId", "resourceGroup", "name", "location")


@dataclass(frozen=True)
class PrivateEndpoint:
    name: str
    status: str  # privateLinkServiceConnectionState.status: Approved, Pending, ...


@dataclass(frozen=True)
class NetworkFacts:
    """What `gen-iac export` recorded about the workspace's network (every key optional)."""

    v1_legacy_mode: bool | None = None
    private_endpoints: tuple[PrivateEndpoint, ...] = ()
    managed_network: str | None = None  # managedNetwork.isolationMode
    unreadable: str | None = None  # the export's error when it could not read them


@dataclass(frozen=True)
class Workspace:
    subscription_id: str
    resource_group: str
    name: str
    location: str
    public_network_access: str | None = None
    network: NetworkFacts = field(default_factory=NetworkFacts)

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.name}"
        )


@dataclass(frozen=True)
class EndpointKeys:
    primary: str
    secondary: str

    def __repr__(self) -> str:  # keys never reach a log or a traceback
        return "EndpointKeys(<redacted>)"


@dataclass(frozen=True)
class Skipped:
    name: str
    compute_type: str
    reason: str


@dataclass
class Snapshot:
    file: str  # the JSON file the services came from, as the user named it
    workspace: Workspace
    services: list[LegacyService]
    skipped: list[Skipped] = field(default_factory=list)
    keys: dict[str, EndpointKeys] = field(default_factory=dict)
    assets_dir: Path | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    existing_endpoints: tuple[ExistingEndpoint, ...] = ()  # onlineEndpoints: adopted, not re-made
    # (service, version or "") -> its assets folder, checked to be safe to read (see
    # sources.untrusted.confine_assets); absent when the snapshot holds none for it.
    asset_dirs: dict[tuple[str, str], Path] = field(default_factory=dict)

    def asset_dir(self, service: str, version: str = "") -> Path | None:
        """The checked assets folder of a service (or an AKS endpoint's version); never a
        path built from a raw name."""
        return self.asset_dirs.get((service, version))


def read_snapshot(path: Path, workspace_flags: dict[str, str] | None = None) -> Snapshot:
    """Read and type-check a snapshot. Raises InputError when nothing can be read."""
    directory = path if path.is_dir() else None
    json_file = path / "snapshot.json" if directory else path
    if directory:
        _no_link(json_file)
    data = _load_json(json_file)
    # The file as messages and the report name it: valid text even when the path is not.
    file = shown(str(json_file))
    raw_workspace, raw_services = _split_shape(data, file)
    workspace = _workspace(raw_workspace, workspace_flags or {}, file)
    workspace = with_export_network_error(workspace, data)
    _check_workspace(workspace, file)
    assets = _assets_root(directory or json_file.parent)

    diagnostics: list[Diagnostic] = []
    services: list[LegacyService] = []
    skipped: list[Skipped] = []
    asset_dirs: dict[tuple[str, str], Path] = {}
    seen: set[str] = set()
    for index, raw in enumerate(raw_services):
        if not isinstance(raw, dict):
            diagnostics.append(
                Diagnostic(
                    f"#{index}",
                    Level.ERROR,
                    "invalid-service",
                    f"expected a service object, got {type(raw).__name__}",
                    file=file,
                )
            )
            continue
        not_realtime = _not_realtime(raw)
        if not_realtime:  # skipped whatever else it holds: none of it is read
            skipped.append(not_realtime)
            continue
        refused = _refuse_values(raw, index, file)
        if refused:
            diagnostics.extend(refused)
            continue
        errors: list[Diagnostic] = []
        service = parse_service(raw, index, file, errors)
        diagnostics.extend(errors)
        if not isinstance(raw.get("name"), str) or not raw["name"]:
            if not errors:
                diagnostics.append(
                    Diagnostic(
                        service.name,
                        Level.ERROR,
                        "invalid-field",
                        "expected a string",
                        field="name",
                        file=file,
                    )
                )
            continue
        if service.compute_type not in REALTIME_COMPUTE_TYPES:  # a mistyped computeType
            continue
        if service.name in seen:
            diagnostics.append(
                Diagnostic(
                    service.name,
                    Level.ERROR,
                    "duplicate-service",
                    "a service of this name appears earlier in the snapshot; this one is ignored",
                    field="name",
                    file=file,
                )
            )
            continue
        seen.add(service.name)
        if errors:
            continue
        found, refused = _service_assets(assets, service, file)
        if refused:
            diagnostics.extend(refused)
            continue
        asset_dirs.update(found)
        services.append(service)

    diagnostics.extend(_export_errors(data, file))
    existing, problems = read_existing(data, file)
    diagnostics.extend(problems)
    keys = _read_keys(directory / "keys.json", diagnostics) if directory else {}
    return Snapshot(
        file, workspace, services, skipped, keys, assets, diagnostics, existing, asset_dirs
    )


def _load_json(path: Path) -> Any:
    try:
        return jsonread.load(path, shown(str(path)))
    except FileNotFoundError:
        raise InputError(
            f"{path}: no such file (expected a snapshot directory or JSON file)"
        ) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None


# Azure ML workspace names: up to 33 characters (3 at least in Azure), a letter or digit
# first, then letters, digits, hyphens and underscores. The name becomes a folder of the
# output, so nothing else passes.
_WORKSPACE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,32}")
_SUBSCRIPTION = re.compile(r"[A-Za-z0-9-]{1,64}")  # a GUID in Azure
# Resource groups: letters (any script), digits, '_', '-', '.', '(' and ')', up to 90, not
# ending with a period.
_RESOURCE_GROUP = re.compile(r"[-\w.()]{0,89}[-\w()]")
_LOCATION = re.compile(r"[a-z0-9]{1,40}")


def _check_workspace(workspace: Workspace, file: str) -> None:
    """Untrusted text of the workspace object: valid text everywhere, a name that is a valid
    workspace name (it becomes a folder of the output)."""
    for key, value in (
        ("subscriptionId", workspace.subscription_id),
        ("resourceGroup", workspace.resource_group),
        ("name", workspace.name),
        ("location", workspace.location),
        ("publicNetworkAccess", workspace.public_network_access or ""),
    ):
        if not valid_text(value) or any(not c.isprintable() for c in value):
            raise InputError(
                f"{file}: field 'workspace.{key}': expected printable text, got {shown(value)!r}"
            )
    if not _WORKSPACE_NAME.fullmatch(workspace.name):
        raise InputError(
            f"{file}: field 'workspace.name': {workspace.name[:80]!r} is not a workspace name "
            "(up to 33 characters: letters, digits, hyphens and underscores, a letter or digit "
            "first)"
        )
    # Each becomes one segment of every ARM id written (a '/' would point them elsewhere).
    for key, value, pattern, expected in (
        ("subscriptionId", workspace.subscription_id, _SUBSCRIPTION, "a subscription id"),
        ("resourceGroup", workspace.resource_group, _RESOURCE_GROUP, "a resource group name"),
        ("location", workspace.location, _LOCATION, "an Azure region such as westeurope"),
    ):
        if not pattern.fullmatch(value):
            raise InputError(f"{file}: field 'workspace.{key}': {value[:80]!r} is not {expected}")


def _no_link(path: Path) -> None:
    """A file of a snapshot directory is read only when it is no symbolic link (that could
    point anywhere on the machine)."""
    if os.path.islink(path):
        raise InputError(f"{shown(str(path))}: a symbolic link; a snapshot holds plain files")


def _assets_root(directory: Path) -> Path | None:
    """`assets/` beside snapshot.json (a snapshot directory, or the folder of the JSON file
    given), when it is a real folder; a symbolic link there is refused."""
    root = directory / "assets"
    if os.path.islink(root):
        raise InputError(
            f"{root}: the snapshot's assets folder is a symbolic link; it must be a real folder"
        )
    return root if root.is_dir() else None


def _not_realtime(raw: dict[str, Any]) -> Skipped | None:
    """A service that is no v1 real-time web service (missing or other computeType), named by
    valid text: skipped before anything else of it is read."""
    name, compute_type = raw.get("name"), raw.get("computeType")
    if not (isinstance(name, str) and name and valid_text(name)):
        return None
    if compute_type is None:
        compute_type = ""
    if not isinstance(compute_type, str) or not valid_text(compute_type):
        return None
    compute_type = compute_type.upper()
    if compute_type in REALTIME_COMPUTE_TYPES:
        return None
    shown_type = compute_type or "(none)"
    return Skipped(name, shown_type, _skip_reason(shown_type))


def _refuse_values(raw: dict[str, Any], index: int, file: str) -> list[Diagnostic]:
    """A service holding a value no generated file can carry (invalid text, NaN, infinity, a
    number out of range) is not migrated; one diagnostic per field (a few at most)."""
    problems = list(bad_values(raw))
    if not problems:
        return []
    name = raw.get("name")
    service = name if isinstance(name, str) and valid_text(name) and name else f"#{index}"
    found = [
        Diagnostic(service, Level.ERROR, "invalid-value", message, where, file)
        for where, message in sorted(problems)[:5]
    ]
    return found


def _service_assets(
    root: Path | None, service: LegacyService, file: str
) -> tuple[dict[tuple[str, str], Path], list[Diagnostic]]:
    """The checked asset folders of a service and its versions, or the errors that refuse it."""
    if root is None:
        return {}, []
    units: list[tuple[str, LegacyService, str]] = [("", service, "name")]
    units += [(v.name, v, f"versions.{v.name}.name") for v in service.versions]
    found: dict[tuple[str, str], Path] = {}
    for version, source, where in units:
        request = source.image_request
        ids = [a.id for a in request.assets] if request else []
        if not ids:
            continue
        folder = (service.name, version) if version else (service.name,)
        directory, refused = confine_assets(root, folder, ids, service.name, where, file)
        if refused:
            return {}, refused
        if directory is not None:
            found[(service.name, version)] = directory
    return found, []


def _split_shape(data: Any, file: str) -> tuple[dict[str, Any] | None, list[Any]]:
    if isinstance(data, list):
        return None, data
    if isinstance(data, dict):
        if "services" in data:
            if not isinstance(data["services"], list):
                raise InputError(f"{file}: field 'services': expected a list of service objects")
            workspace = data.get("workspace")
            if workspace is not None and not isinstance(workspace, dict):
                raise InputError(f"{file}: field 'workspace': expected an object")
            return workspace, data["services"]
        if "value" in data:
            if not isinstance(data["value"], list):
                raise InputError(f"{file}: field 'value': expected a list of service objects")
            return None, data["value"]
    raise InputError(
        f'{file}: expected {{"workspace": ..., "services": [...]}}, an MMS list response '
        '{"value": [...]} or a list of services'
    )


def _workspace(raw: dict[str, Any] | None, flags: dict[str, str], file: str) -> Workspace:
    values: dict[str, Any] = dict(raw or {})
    values.update({k: v for k, v in flags.items() if v})
    for key in (*WORKSPACE_FIELDS, "publicNetworkAccess"):
        value = values.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"{file}: field 'workspace.{key}': expected a non-empty string")
    missing = [key for key in WORKSPACE_FIELDS if not values.get(key)]
    if missing:
        flag_names = {
            "subscriptionId": "--subscription",
            "resourceGroup": "--resource-group",
            "name": "--workspace",
            "location": "--location",
        }
        hint = ", ".join(flag_names[m] for m in missing)
        raise InputError(
            f"{file}: field 'workspace.{missing[0]}': the workspace needs "
            f'{", ".join(missing)}; put them in the snapshot\'s "workspace" object or pass {hint}'
        )
    return Workspace(
        subscription_id=values["subscriptionId"],
        resource_group=values["resourceGroup"],
        name=values["name"],
        location=values["location"].replace(" ", "").lower(),
        public_network_access=values.get("publicNetworkAccess"),
        network=network_facts(values, file),
    )


# The `what` of the export's errors when it could not read the workspace's network settings.
NETWORK_ERRORS = ("workspace.network", "workspace.publicNetworkAccess")


def network_facts(values: dict[str, Any], file: str) -> NetworkFacts:
    """v1LegacyMode, privateEndpointConnections (raw ARM) and managedNetwork (raw ARM)."""
    legacy = values.get("v1LegacyMode")
    if legacy is not None and not isinstance(legacy, bool):
        raise InputError(f"{file}: field 'workspace.v1LegacyMode': expected true or false")
    connections = values.get("privateEndpointConnections")
    if connections is None:
        connections = []
    if not isinstance(connections, list) or not all(isinstance(c, dict) for c in connections):
        raise InputError(
            f"{file}: field 'workspace.privateEndpointConnections': expected a list of objects"
        )
    endpoints = []
    for index, connection in enumerate(connections):
        props = connection.get("properties")
        state = props.get("privateLinkServiceConnectionState") if isinstance(props, dict) else None
        status = state.get("status") if isinstance(state, dict) else None
        name = connection.get("name")
        endpoints.append(
            PrivateEndpoint(
                name if isinstance(name, str) and name else f"#{index}",
                status if isinstance(status, str) else "",
            )
        )
    managed = values.get("managedNetwork")
    if managed is not None and not isinstance(managed, dict):
        raise InputError(f"{file}: field 'workspace.managedNetwork': expected an object")
    mode = managed.get("isolationMode") if managed else None
    return NetworkFacts(
        v1_legacy_mode=legacy,
        private_endpoints=tuple(endpoints),
        managed_network=mode if isinstance(mode, str) and mode else None,
    )


def with_export_network_error(workspace: Workspace, data: Any) -> Workspace:
    """A network read the export recorded as failed (and nobody filled in by hand since)."""
    if workspace.public_network_access is not None:
        return workspace
    entries = data.get("errors") if isinstance(data, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if (
            isinstance(entry, dict)
            and not entry.get("service")
            and entry.get("what") in NETWORK_ERRORS
        ):
            message = str(entry.get("message") or "no detail")
            return replace(workspace, network=replace(workspace.network, unreadable=message))
    return workspace


def _export_errors(data: Any, file: str) -> list[Diagnostic]:
    """What `gen-iac export` could not read: a whole service (not migrated) or a part of it."""
    entries = data.get("errors") if isinstance(data, dict) else None
    found: list[Diagnostic] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        service = shown(str(entry.get("service") or ""))
        what = shown(str(entry.get("what") or "service"))
        detail = shown(str(entry.get("message") or "no detail"))
        message = f"the export could not read {what}: {detail}"
        level = Level.ERROR if what == "service" else Level.WARNING
        found.append(Diagnostic(service, level, "export-failed", message, file=file))
    return found


def _skip_reason(compute_type: str) -> str:
    if compute_type in {"MIRAMLCOMPUTE", "MIR"}:
        return "already a v2 managed online deployment"
    return f"compute type {compute_type} is not a v1 real-time web service (ACI, AKS, AKSENDPOINT)"


def _read_keys(path: Path, diagnostics: list[Diagnostic]) -> dict[str, EndpointKeys]:
    _no_link(path)
    if not path.exists():
        return {}
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        diagnostics.append(
            Diagnostic(
                "",
                Level.WARNING,
                "keys-file-mode",
                "keys.json is readable by other users; run `chmod 600` on it",
                file=shown(str(path)),
            )
        )
    data = _load_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected an object mapping service names to their keys")
    keys: dict[str, EndpointKeys] = {}
    for name, entry in sorted(data.items()):
        if not valid_text(name) or any(bad_values(entry, name)):
            diagnostics.append(
                Diagnostic(
                    "",
                    Level.WARNING,
                    "invalid-keys",
                    f"entry {shown(name)[:40]!r} holds invalid text or numbers; ignored",
                    file=shown(str(path)),
                )
            )
            continue
        primary = entry.get("primaryKey") if isinstance(entry, dict) else None
        secondary = entry.get("secondaryKey") if isinstance(entry, dict) else None
        if not (isinstance(primary, str) and primary and isinstance(secondary, str) and secondary):
            # Never echo the value: it may be a key.
            diagnostics.append(
                Diagnostic(
                    name,
                    Level.WARNING,
                    "invalid-keys",
                    'expected {"primaryKey": string, "secondaryKey": string}; '
                    "the endpoint gets new keys",
                    file=shown(str(path)),
                )
            )
            continue
        keys[name] = EndpointKeys(primary, secondary)
    return keys
