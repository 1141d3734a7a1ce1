"""Export one workspace: its facts, its v2 endpoints, its services with their assets (and keys).

What cannot be read is recorded in `errors` (never guessed) and the rest is still exported.
Downloads and key reads run in a bounded pool of threads; the snapshot's order and bytes do
not depend on which finishes first. Past the deadline nothing new starts, and what is left is
one error per service.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from generator.export.client import ARTIFACT_PREFIX, CallFailed, ListingStopped, ServiceKeys
from generator.export.progress import Progress
from generator.export.redact import drop_secret_fields, strip_queries, strip_sas
from generator.export.retry import Deadline
from generator.export.writer import SnapshotWriter, UnsafeName, safe_component

T = TypeVar("T")
R = TypeVar("R")

EXPORTED_TYPES = ("ACI", "AKS", "AKSENDPOINT")
EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
WORKERS = 8
ATTACHED_COMPUTE_TYPES = ("AKS", "KUBERNETES")

# `what` of the workspace-level errors (service ""); generator/sources reads these names.
WHAT_NETWORK = "workspace.network"  # the workspace resource could not be read at all
WHAT_PUBLIC_ACCESS = "workspace.publicNetworkAccess"
WHAT_COMPUTES = "workspace.computes"
WHAT_ENDPOINTS = "onlineEndpoints"
WHAT_LISTING = "services"
WHAT_DEADLINE = "assets/keys past the deadline"  # per service: what the deadline left undone


class Source(Protocol):
    """What the runner needs from Azure (client.AzureMLClient in production)."""

    def connect(self) -> dict[str, Any]: ...
    def workspace_resource(self) -> dict[str, Any]: ...
    def list_computes(self) -> list[dict[str, Any]]: ...
    def list_online_endpoints(self) -> list[dict[str, Any]]: ...
    def list_deployments(self, endpoint: str) -> list[dict[str, Any]]: ...
    def list_services(self, compute_type: str | None = None,
                      tags: tuple[str, ...] = ()) -> list[dict[str, Any]]: ...
    def get_image(self, image_id: str) -> dict[str, Any]: ...
    def list_keys(self, name: str) -> ServiceKeys: ...
    def download_artifact(self, url: str, dest: Path,
                          cancelled: Callable[[], bool] = ...) -> int: ...


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
    bytes: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def status(self) -> int:
        return EXIT_PARTIAL if self.errors else EXIT_OK


@dataclass(frozen=True)
class Task:
    """One download or key read of one service."""

    service: str
    kind: str  # "asset" or "keys"
    label: str  # the error's `what`
    url: str = ""
    folder: tuple[str, ...] = ()
    asset_id: str = ""


@dataclass
class Outcome:
    error: str | None = None
    deadline: bool = False  # not done because the deadline passed
    size: int = 0
    keys: ServiceKeys | None = None


def export(source: Source, out: Path, selection: Selection, with_keys: bool,
           progress: Progress, deadline: Deadline | None = None,
           workers: int = WORKERS) -> Result:
    """Connect, read, download, then write `out` atomically. Raises client errors that stop
    the whole export (sign-in, workspace, first page of the listing); those leave `out`
    untouched."""
    deadline = deadline or Deadline(None)
    result = Result()
    workspace, endpoints, services = read_workspace(source, selection, progress, result)
    tasks = _tasks(services, with_keys, result)
    keys: dict[str, dict[str, str]] = {}
    with SnapshotWriter(out) as writer:
        outcomes = _run(source, writer, services, tasks, deadline, progress, workers)
        _collect(tasks, outcomes, deadline, result, keys)
        result.exported = len(services)
        snapshot: dict[str, Any] = {"workspace": workspace, "services": services,
                                    "errors": result.errors}
        if endpoints is not None:
            snapshot["onlineEndpoints"] = endpoints
        writer.write_json("snapshot.json", snapshot)
        if with_keys:
            writer.write_json("keys.json", keys, mode=0o600)
        writer.commit()
    return result


def read_workspace(source: Source, selection: Selection, progress: Progress,
                   result: Result) -> tuple[dict[str, Any], list[dict[str, Any]] | None,
                                            list[dict[str, Any]]]:
    """The workspace object (with its facts), its v2 endpoints (None: unreadable) and the
    selected services (image details filled in); problems go to `result.errors`."""
    workspace = source.connect()
    workspace.update(_network_facts(source, result))
    computes = _computes(source, result)
    if computes is not None:
        workspace["computes"] = computes
    endpoints = _online_endpoints(source, result)
    progress.info(f"workspace {workspace['name']} ({workspace['location']}): listing services")
    try:
        listed = source.list_services(selection.compute_type, selection.tags)
    except ListingStopped as exc:
        listed = exc.items
        result.errors.append(_error("", WHAT_LISTING, str(exc)))
    services = [strip_sas(s) for s in listed if selection.matches(s)]
    for name in selection.names:
        if not any(s.get("name") == name for s in services):
            result.errors.append(_error(name, "service", "no such service in the workspace "
                                        "(or it does not match --compute-type/--tag)"))
    for service in services:
        _strip_keys(service)
        _image_details(source, service, result)
    return workspace, endpoints, services


def _network_facts(source: Source, result: Result) -> dict[str, Any]:
    """publicNetworkAccess, v1LegacyMode, privateEndpointConnections, managedNetwork: as ARM
    says them. A failed read is an error, never a guess (a private workspace must not get
    public endpoints)."""
    try:
        raw = source.workspace_resource()
    except CallFailed as exc:
        result.errors.append(_error("", WHAT_NETWORK, f"{exc}; publicNetworkAccess, "
                                    "v1LegacyMode, privateEndpointConnections and managedNetwork "
                                    "are unknown"))
        return {}
    props = raw.get("properties")
    props = props if isinstance(props, dict) else {}
    facts: dict[str, Any] = {}
    access = props.get("publicNetworkAccess")
    if isinstance(access, str) and access.strip():
        facts["publicNetworkAccess"] = access
    else:
        result.errors.append(_error("", WHAT_PUBLIC_ACCESS, "the workspace resource does not "
                                    "say whether public network access is enabled"))
    legacy = props.get("v1LegacyMode")
    if isinstance(legacy, bool):
        facts["v1LegacyMode"] = legacy
    elif legacy is not None:
        result.errors.append(_error("", "workspace.v1LegacyMode", "expected true or false"))
    connections = props.get("privateEndpointConnections")
    if connections is None:  # ARM leaves out what is not there
        facts["privateEndpointConnections"] = []
    elif isinstance(connections, list):
        facts["privateEndpointConnections"] = [strip_sas(c) for c in connections
                                               if isinstance(c, dict)]
    else:
        result.errors.append(_error("", "workspace.privateEndpointConnections", "expected a list"))
    managed = props.get("managedNetwork")
    if isinstance(managed, dict):
        facts["managedNetwork"] = strip_sas(managed)
    elif managed is not None:
        result.errors.append(_error("", "workspace.managedNetwork", "expected an object"))
    return facts


def _workspace_listing(
    call: Callable[[], list[dict[str, Any]]], what: str, result: Result
) -> list[dict[str, Any]] | None:
    """A workspace-level ARM listing: what it gave before it stopped (with an error), or None
    when it could not be read at all (an error: the fact is unknown, never guessed)."""
    try:
        return call()
    except ListingStopped as exc:
        result.errors.append(_error("", what, str(exc)))
        return exc.items
    except CallFailed as exc:
        result.errors.append(_error("", what, str(exc)))
        return None


def _computes(source: Source, result: Result) -> dict[str, Any] | None:
    """The attached AKS and Kubernetes computes (name -> ARM resource, credentials dropped)."""
    listed = _workspace_listing(source.list_computes, WHAT_COMPUTES, result)
    if listed is None:
        return None
    found: dict[str, Any] = {}
    for compute in listed:
        props = compute.get("properties")
        kind = props.get("computeType") if isinstance(props, dict) else None
        name = compute.get("name")
        if isinstance(name, str) and str(kind).upper() in ATTACHED_COMPUTE_TYPES:
            found[name] = strip_sas(drop_secret_fields(compute))
    return found


def _online_endpoints(source: Source, result: Result) -> list[dict[str, Any]] | None:
    """The workspace's v2 online endpoints, each with its `deployments` (raw ARM; ARM never
    returns their keys, and SAS queries are dropped). An endpoint whose deployments cannot be
    listed has no `deployments` key (and an error)."""
    endpoints = _workspace_listing(source.list_online_endpoints, WHAT_ENDPOINTS, result)
    if endpoints is None:
        return None
    named = [strip_sas(e) for e in endpoints
             if isinstance(e.get("name"), str) and e.get("name")]

    def deployments(endpoint: dict[str, Any]) -> list[dict[str, Any]] | str:
        try:
            return [strip_sas(d)
                    for d in source.list_deployments(str(endpoint["name"]))]
        except CallFailed as exc:  # ListingStopped included: a partial list is not the list
            return str(exc)

    listed = run_pool(named, WORKERS, deployments, lambda index, found: None,
                      threading.Event(), lambda exc: f"{type(exc).__name__}: {exc}")
    for endpoint, found in zip(named, listed, strict=True):
        if isinstance(found, str):
            result.errors.append(_error("", f"{WHAT_ENDPOINTS}.{endpoint['name']}.deployments",
                                        found))
        else:
            endpoint["deployments"] = found
    return named


def _image_details(source: Source, service: dict[str, Any], result: Result) -> None:
    """An image-based service (`imageId`) needs its image's details (assets, conda file,
    image location) for a manual rebuild; `expand=true` usually has them, else ask."""
    image_id = service.get("imageId")
    if not isinstance(image_id, str) or not image_id or isinstance(service.get("imageDetails"),
                                                                   dict):
        return
    name = str(service.get("name") or "")
    try:
        service["imageDetails"] = strip_sas(source.get_image(image_id))
    except CallFailed as exc:
        result.errors.append(_error(name, "imageDetails", f"{exc}; the service is built from "
                                    f"image {image_id!r}, whose assets were not exported"))


def _tasks(services: list[dict[str, Any]], with_keys: bool, result: Result) -> list[Task]:
    tasks: list[Task] = []
    for service in services:
        name = str(service.get("name") or "")
        if str(service.get("computeType", "")).upper() not in EXPORTED_TYPES:
            continue
        tasks.extend(_asset_tasks(service, name, result))
        if with_keys and service.get("authEnabled") is True:
            tasks.append(Task(name, "keys", "keys"))
    return tasks


def _asset_tasks(service: dict[str, Any], name: str, result: Result) -> list[Task]:
    try:
        folder = (safe_component(name, "service name"),)
    except UnsafeName as exc:
        result.errors.append(_error(name, "service", f"{exc}; its assets were not downloaded"))
        return []
    units: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    if str(service.get("computeType", "")).upper() == "AKSENDPOINT":
        for version_name, version in _versions(service):
            try:
                units.append(((*folder, safe_component(version_name, "version name")), version))
            except UnsafeName as exc:
                result.errors.append(_error(name, "service",
                                            f"{exc}; its assets were not downloaded"))
    else:
        units.append((folder, service))
    tasks: list[Task] = []
    taken: dict[tuple[str, ...], str] = {}  # path -> url: two threads never write one file
    for where, payload in units:
        for asset_id, url in _assets(payload):
            label = f"asset {asset_id}"
            prefix = f"version {where[1]}: " if len(where) > 1 else ""
            if not isinstance(asset_id, str) or not isinstance(url, str):
                result.errors.append(_error(name, label, "asset without a string id and url"))
                continue
            try:
                path = (*where, safe_component(asset_id, "asset id"))
            except UnsafeName as exc:
                result.errors.append(_error(name, label, prefix + str(exc)))
                continue
            if path in taken:
                if taken[path] != url:
                    result.errors.append(_error(name, label, prefix + "another asset has the "
                                                "same id; only the first was downloaded"))
                continue
            taken[path] = url
            tasks.append(Task(name, "asset", label, url, where, asset_id))
    return tasks


def _assets(payload: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(id, url) of the environment's assets, or an image's assets and conda file."""
    found: list[tuple[Any, Any]] = []
    for key in ("environmentImageRequest", "imageDetails"):
        holder = payload.get(key)
        assets = holder.get("assets") if isinstance(holder, dict) else None
        for asset in assets if isinstance(assets, list) else []:
            if isinstance(asset, dict):
                url = asset.get("url")
                # No id (as in the ARM API's examples): the reader names it by its URL's end.
                name = url.rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) else None
                found.append((asset.get("id") or name, url))
    details = payload.get("imageDetails")
    runtime = details.get("targetRuntime") if isinstance(details, dict) else None
    props = runtime.get("properties") if isinstance(runtime, dict) else None
    for key in ("condaEnvFile", "pipRequirements"):
        url = props.get(key) if isinstance(props, dict) else None
        if isinstance(url, str) and url.startswith(ARTIFACT_PREFIX):
            found.append((url.rsplit("/", 1)[-1], url))
    return found


def _run(source: Source, writer: SnapshotWriter, services: list[dict[str, Any]],
         tasks: list[Task], deadline: Deadline, progress: Progress,
         workers: int) -> list[Outcome]:
    """Run the tasks on `workers` threads; progress counts services (and bytes) as they
    finish. Past the deadline a task is not started (Outcome.deadline)."""
    cancel = threading.Event()
    left: dict[str, int] = {}
    for task in tasks:
        left[task.service] = left.get(task.service, 0) + 1
    progress.start(len(services))
    labels = {str(s.get("name") or ""): f"{s.get('name')} ({s.get('computeType')})"
              for s in services}
    for name in labels:
        if name not in left:
            progress.step(labels[name])

    def work(task: Task) -> Outcome:
        if cancel.is_set():
            return Outcome(error="cancelled")
        if deadline.passed():
            return Outcome(deadline=True)
        try:
            if task.kind == "keys":
                return Outcome(keys=source.list_keys(task.service))
            dest = writer.asset_path(*task.folder, task.asset_id)
            return Outcome(size=source.download_artifact(task.url, dest, cancel.is_set))
        except CallFailed as exc:
            return Outcome(error=str(exc), deadline=exc.deadline)
        except OSError as exc:
            return Outcome(error=f"cannot write the asset: {exc.strerror or exc}")

    def done(index: int, outcome: Outcome) -> None:
        name = tasks[index].service
        left[name] -= 1
        progress.add_bytes(outcome.size)
        if left[name] == 0:
            progress.step(labels.get(name, name))

    try:
        return run_pool(tasks, workers, work, done, cancel,
                        lambda exc: Outcome(error=f"{type(exc).__name__}: {exc}"))
    finally:
        progress.finish()


def run_pool(items: Sequence[T], workers: int, work: Callable[[T], R],
             done: Callable[[int, R], None], cancel: threading.Event,
             failed: Callable[[Exception], R]) -> list[R]:
    """`work` on daemon threads (an interrupted export exits without waiting for a stalled
    download); `done` runs on the calling thread in completion order. Results in item order;
    an unexpected exception becomes `failed(exc)` (a bug must not hang the export)."""
    results: list[R | None] = [None] * len(items)
    pending: queue.Queue[int] = queue.Queue()
    finished: queue.Queue[int] = queue.Queue()
    for index in range(len(items)):
        pending.put(index)

    def worker() -> None:
        while True:
            try:
                index = pending.get_nowait()
            except queue.Empty:
                return
            try:
                results[index] = work(items[index])
            except Exception as exc:
                results[index] = failed(exc)
            finished.put(index)

    threads = [threading.Thread(target=worker, name=f"gen-iac-export-{n}", daemon=True)
               for n in range(max(1, min(workers, len(items))))]
    for thread in threads:
        thread.start()
    try:
        for _ in range(len(items)):
            while True:
                try:
                    index = finished.get(timeout=0.2)  # wakes up for signals
                    break
                except queue.Empty:
                    continue
            outcome = results[index]
            assert outcome is not None
            done(index, outcome)
    except BaseException:
        cancel.set()
        raise
    return [r for r in results if r is not None]


def _collect(tasks: list[Task], outcomes: list[Outcome], deadline: Deadline, result: Result,
             keys: dict[str, dict[str, str]]) -> None:
    """Errors in task order (not completion order); what the deadline left undone is one
    error per service."""
    late: dict[str, list[str]] = {}
    for task, outcome in zip(tasks, outcomes, strict=True):
        result.bytes += outcome.size
        if outcome.keys is not None:
            keys[task.service] = {"primaryKey": outcome.keys.primary,
                                  "secondaryKey": outcome.keys.secondary}
        if outcome.deadline:
            if task.service not in late:
                late[task.service] = []
                result.errors.append({"service": task.service, "what": WHAT_DEADLINE,
                                      "message": ""})
            late[task.service].append(task.label)
        elif outcome.error is not None:
            result.errors.append(_error(task.service, task.label, outcome.error))
    for entry in result.errors:
        if entry["what"] == WHAT_DEADLINE and not entry["message"]:
            undone = late[entry["service"]]
            entry["message"] = (f"{deadline.describe()} before {', '.join(undone)} could be "
                                "exported; export this service again (--service NAME)")


def _versions(service: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """AKS endpoint versions: the SDK's `versions` map, or the 2019 swagger's `variants` list."""
    versions = service.get("versions")
    if isinstance(versions, dict):
        return [(str(k), v) for k, v in versions.items() if isinstance(v, dict)]
    variants = service.get("variants")
    if isinstance(variants, list):
        return [(str(v.get("name")), v) for v in variants if isinstance(v, dict) and v.get("name")]
    return []


def _strip_keys(service: dict[str, Any]) -> None:
    """`keys` is create-only and GET never returns it; drop it should it ever appear, because
    keys must never reach snapshot.json."""
    service.pop("keys", None)
    for _, version in _versions(service):
        version.pop("keys", None)


def _error(service: str, what: str, message: str) -> dict[str, str]:
    return {"service": service, "what": what, "message": strip_queries(message)}
