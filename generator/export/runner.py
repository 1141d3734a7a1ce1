"""Export one workspace: list the services, fetch their assets (and keys), write the snapshot.

One failing service, asset or key is recorded in `errors` and the others are still exported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from generator.export.client import CallFailed, ServiceKeys
from generator.export.progress import Progress
from generator.export.writer import SnapshotWriter, UnsafeName, safe_component

EXPORTED_TYPES = ("ACI", "AKS", "AKSENDPOINT")
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


class Source(Protocol):
    """What the runner needs from Azure (client.AzureMLClient in production)."""

    def connect(self) -> dict[str, str]: ...
    def list_services(self, compute_type: str | None = None,
                      tags: tuple[str, ...] = ()) -> list[dict[str, Any]]: ...
    def list_keys(self, name: str) -> ServiceKeys: ...
    def download_artifact(self, url: str, dest: Path) -> int: ...


@dataclass(frozen=True)
class Selection:
    names: tuple[str, ...] = ()
    compute_type: str | None = None
    tags: tuple[str, ...] = ()  # "k" or "k=v", as the MMS `tags` filter takes them

    def matches(self, service: dict[str, Any]) -> bool:
        if self.names and service.get("name") not in self.names:
            return False
        if self.compute_type and str(service.get("computeType", "")).upper() != self.compute_type:
            return False
        raw_tags = service.get("kvTags")
        tags: dict[str, Any] = raw_tags if isinstance(raw_tags, dict) else {}
        for tag in self.tags:
            key, sep, value = tag.partition("=")
            if key not in tags or (sep and str(tags[key]) != value):
                return False
        return True


@dataclass
class Result:
    exported: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def status(self) -> int:
        return EXIT_PARTIAL if self.errors else EXIT_OK


def export(source: Source, out: Path, selection: Selection, with_keys: bool,
           progress: Progress) -> Result:
    """Connect, list, download, then write `out` atomically. Raises client errors that stop
    the whole export (sign-in, workspace, listing); those leave `out` untouched."""
    workspace = source.connect()
    progress.info(f"workspace {workspace['name']} ({workspace['location']}): listing services")
    listed = source.list_services(selection.compute_type, selection.tags)
    services = [s for s in listed if selection.matches(s)]
    result = Result()
    for name in selection.names:
        if not any(s.get("name") == name for s in services):
            result.errors.append(_error(name, "service", "no such service in the workspace "
                                        "(or it does not match --compute-type/--tag)"))
    keys: dict[str, dict[str, str]] = {}
    with SnapshotWriter(out) as writer:
        progress.start(len(services))
        for service in services:
            name = str(service.get("name") or "")
            _strip_keys(service)
            if str(service.get("computeType", "")).upper() in EXPORTED_TYPES:
                _export_assets(source, writer, service, name, result)
                if with_keys and _has_key_auth(service):
                    try:
                        got = source.list_keys(name)
                        keys[name] = {"primaryKey": got.primary, "secondaryKey": got.secondary}
                    except CallFailed as exc:
                        result.errors.append(_error(name, "keys", str(exc)))
            result.exported += 1
            progress.step(f"{name} ({service.get('computeType')})")
        progress.finish()
        writer.write_json("snapshot.json", {"workspace": workspace, "services": services,
                                            "errors": result.errors})
        if with_keys:
            writer.write_json("keys.json", keys, mode=0o600)
        writer.commit()
    return result


def _export_assets(source: Source, writer: SnapshotWriter, service: dict[str, Any], name: str,
                   result: Result) -> None:
    try:
        folder = [safe_component(name, "service name")]
    except UnsafeName as exc:
        result.errors.append(_error(name, "service", f"{exc}; its assets were not downloaded"))
        return
    if str(service.get("computeType", "")).upper() == "AKSENDPOINT":
        for version_name, version in _versions(service):
            try:
                version_folder = [*folder, safe_component(version_name, "version name")]
            except UnsafeName as exc:
                result.errors.append(_error(name, "service", f"{exc}; its assets were not downloaded"))
                continue
            _download_all(source, writer, version, name, version_folder, result)
    else:
        _download_all(source, writer, service, name, folder, result)


def _download_all(source: Source, writer: SnapshotWriter, payload: dict[str, Any], name: str,
                  folder: list[str], result: Result) -> None:
    request = payload.get("environmentImageRequest")
    assets = request.get("assets") if isinstance(request, dict) else None
    for asset in assets if isinstance(assets, list) else []:
        if not isinstance(asset, dict):
            continue
        asset_id, url = asset.get("id"), asset.get("url")
        label = f"asset {asset_id}"
        if not isinstance(asset_id, str) or not isinstance(url, str):
            result.errors.append(_error(name, label, "asset without a string id and url"))
            continue
        try:
            dest = writer.asset_path(*folder, safe_component(asset_id, "asset id"))
            source.download_artifact(url, dest)
        except (CallFailed, UnsafeName) as exc:
            where = f"version {folder[1]}: " if len(folder) > 1 else ""
            result.errors.append(_error(name, label, where + str(exc)))


def _versions(service: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """AKS endpoint versions: the SDK's `versions` map, or the 2019 swagger's `variants` list."""
    versions = service.get("versions")
    if isinstance(versions, dict):
        return [(str(k), v) for k, v in versions.items() if isinstance(v, dict)]
    variants = service.get("variants")
    if isinstance(variants, list):
        return [(str(v.get("name")), v) for v in variants if isinstance(v, dict) and v.get("name")]
    return []


def _has_key_auth(service: dict[str, Any]) -> bool:
    return service.get("authEnabled") is True


def _strip_keys(service: dict[str, Any]) -> None:
    """`keys` is create-only and GET never returns it; drop it should it ever appear, because
    keys must never reach snapshot.json."""
    service.pop("keys", None)
    for _, version in _versions(service):
        version.pop("keys", None)


def _error(service: str, what: str, message: str) -> dict[str, str]:
    return {"service": service, "what": what, "message": message}
