"""What to verify: the migrated services a generate recorded in `--out/migration.json`, the
v1 side of each (from the snapshot when given), and the requests to send.

Everything here is untrusted: `--out` may come from a pull request, the snapshot from anyone.
So migration.json is type-checked entry by entry (a bad entry fails that service only), a
bundle's sample request is read only through plain folders inside `--out/bundles/` (no link
is followed), and with a snapshot the v1 URL and auth come from the snapshot, never from
migration.json (a committed migration.json cannot send a v1 key elsewhere). Keys are `Secret`s:
their repr is redacted, and nothing here prints or stores one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from generator import jsonread
from generator.diagnostics import InputError
from generator.files import NotPlainFile, read_below
from generator.sources.untrusted import safe_component, valid_text

MIGRATION = "migration.json"
SAMPLE_REQUEST = "sample-request.json"
EXPECTED_SUFFIX = ".expected.json"  # a recorded v1 answer beside a request, for --v2-only
MAX_FILE_BYTES = 64 << 20  # migration.json
MAX_REQUEST_BYTES = 16 << 20
V1_AUTH = ("key", "token", "none")
V2_AUTH = ("Key", "AMLToken", "AADToken")
KEY_VARIABLE = "GEN_IAC_V1_KEY"  # + _<SERVICE> for one service
TOKEN_VARIABLE = "GEN_IAC_V1_TOKEN"


class UsageError(InputError):
    """Bad usage or no usable generate output: one line, exit 2."""


@dataclass(frozen=True)
class Secret:
    """A key or token: sent in a header, never printed, never written."""

    value: str

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True)
class Request:
    name: str  # the file it came from, for the report
    body: bytes
    expected: bytes | None = None  # a recorded v1 answer (--v2-only compares with it)


@dataclass(frozen=True)
class Workspace:
    subscription: str
    resource_group: str
    name: str
    location: str


@dataclass(frozen=True)
class Target:
    """One migrated service to verify; `problem` says why it cannot be (it then fails)."""

    service: str
    endpoint: str
    deployment: str  # the v2 deployment that replaces v1's default, called by name
    v1_url: str | None
    v1_auth: str  # key | token | none
    planned_url: str | None  # the v2 scoring URI the generate expected
    requests: tuple[Request, ...] = ()
    problem: str = ""


@dataclass(frozen=True)
class Migration:
    workspace: Workspace
    data: dict[str, Any]  # migration.json as read (CUTOVER.md is rendered from it)
    services: tuple[dict[str, Any], ...]  # the migrated entries, as recorded


def read_migration(out: Path) -> Migration:
    """migration.json of a generate in `out` (UsageError when there is none to read)."""
    if not out.is_dir():
        raise UsageError(f"--out {out}: no such folder (give the --out of a generate)")
    path = out / MIGRATION
    data = _read_json(path, MAX_FILE_BYTES)
    if data is None:
        raise UsageError(
            f"{path}: not found: --out must be the folder a generate wrote "
            f"(gen-iac --input SNAPSHOT --out {out})"
        )
    ws = data.get("workspace") if isinstance(data, dict) else None
    services = data.get("services") if isinstance(data, dict) else None
    fields = ("subscriptionId", "resourceGroup", "name", "location")
    if not (
        isinstance(ws, dict)
        and all(isinstance(ws.get(f), str) and valid_text(ws[f]) for f in fields)
        and isinstance(services, list)
    ):
        raise UsageError(
            f"{path}: not a migration report of gen-iac (expected a workspace object with "
            "subscriptionId, resourceGroup, name, location and a services list)"
        )
    assert isinstance(data, dict)
    workspace = Workspace(*(str(ws[f]) for f in fields))
    migrated = tuple(
        s
        for s in services
        if isinstance(s, dict)
        and s.get("status") == "migrated"
        and isinstance(s.get("service"), str)
    )
    return Migration(workspace, data, migrated)


def _read_json(path: Path, limit: int) -> Any:
    """The JSON of a regular file (not a link), None when absent; UsageError when unreadable.
    Parsed by the one strict reader: migration.json in --out is untrusted like a snapshot."""
    try:
        raw = read_below(path.parent, [path.name], limit)
    except NotPlainFile as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    if raw is None:
        return None
    try:
        return jsonread.loads(raw, str(path))
    except InputError as exc:
        raise UsageError(f"not valid JSON: {exc}") from None


@dataclass(frozen=True)
class V1Service:
    """The v1 side as the snapshot has it."""

    url: str | None
    auth: str  # key | token | none
    key: Secret | None


def snapshot_services(snapshot: Path) -> dict[str, V1Service]:
    """The v1 services of a snapshot (URL, auth, exported key), by name."""
    from generator.sources.snapshot import read_snapshot

    data = read_snapshot(snapshot)
    found: dict[str, V1Service] = {}
    for s in data.services:
        key = data.keys.get(s.name)
        auth = "token" if s.aad_auth_enabled else "key" if s.auth_enabled else "none"
        found[s.name] = V1Service(s.scoring_uri, auth, Secret(key.primary) if key else None)
    return found


def targets(
    out: Path,
    migration: Migration,
    names: tuple[str, ...],
    snapshot: Mapping[str, V1Service] | None,
    requests_dir: Path | None,
    max_requests: int,
) -> list[Target]:
    """One target per migrated service (only `names`, when given), in report order."""
    entries = {str(s["service"]): s for s in migration.services}
    unknown = [n for n in names if n not in entries]
    if unknown:
        known = ", ".join(sorted(entries)[:10]) or "none"
        raise UsageError(
            f"--service {unknown[0]!r}: not a migrated service of {out / MIGRATION} "
            f"(migrated: {known})"
        )
    chosen = [entries[n] for n in (dict.fromkeys(names) if names else entries)]  # each once
    return [
        _target(out, migration.workspace, entry, snapshot, requests_dir, max_requests)
        for entry in chosen
    ]


def _target(
    out: Path,
    ws: Workspace,
    entry: dict[str, Any],
    snapshot: Mapping[str, V1Service] | None,
    requests_dir: Path | None,
    max_requests: int,
) -> Target:
    service = str(entry["service"])
    endpoint = entry.get("endpoint")
    deployments = [d for d in entry.get("deployments") or [] if isinstance(d, dict)]
    deployment = _called_deployment(deployments)
    auth = obj(entry.get("auth"))
    v1_url: str | None
    if snapshot is not None:
        v1 = snapshot.get(service)
        v1_url, v1_auth = (v1.url, v1.auth) if v1 else (None, "none")
    else:
        v1_url = entry.get("oldScoringUri") if isinstance(entry.get("oldScoringUri"), str) else None
        v1_auth = str(auth.get("v1")) if auth.get("v1") in V1_AUTH else "key"
    planned = entry.get("newScoringUri")
    target = Target(
        service,
        endpoint if isinstance(endpoint, str) else "",
        str(deployment.get("name")) if deployment else "",
        v1_url,
        str(v1_auth),
        planned if isinstance(planned, str) else None,
    )
    if not valid_text(service) or not (isinstance(endpoint, str) and safe_component(endpoint)):
        return _problem(target, f"{MIGRATION}: the entry has no valid endpoint name")
    if deployment is None or not safe_component(str(deployment.get("name"))):
        return _problem(target, f"{MIGRATION}: the entry has no valid deployment")
    if snapshot is not None and service not in snapshot:
        return _problem(
            target,
            "the snapshot has no such v1 service (is --input the snapshot of this generate?)",
        )
    try:
        found = _requests(out, ws, deployment, service, requests_dir, max_requests)
    except UsageError as exc:
        return _problem(target, str(exc))
    return replace(target, requests=tuple(found))


def no_request_hint(target: Target) -> str:
    return (
        f"no request to send: the bundle has no {SAMPLE_REQUEST}; add one, or give recorded "
        f"requests with --requests DIR (DIR/{target.service}/*.json)"
    )


def _problem(target: Target, problem: str) -> Target:
    return replace(target, problem=problem)


def _called_deployment(deployments: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The v2 deployment that replaces v1's default: the default version, else the one with
    the most live traffic, else the first."""
    if not deployments:
        return None
    defaults = [d for d in deployments if d.get("isDefault") is True]
    if defaults:
        return defaults[0]

    def traffic(d: dict[str, Any]) -> int:
        value = d.get("traffic")
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    return max(deployments, key=traffic)


def _requests(
    out: Path,
    ws: Workspace,
    deployment: dict[str, Any],
    service: str,
    requests_dir: Path | None,
    limit: int,
) -> list[Request]:
    found: list[Request] = []
    bundle = deployment.get("bundle")
    if isinstance(bundle, str) and bundle:
        parts = bundle.split("/")
        # Only bundles/<this workspace>/code/<key>: a recorded path cannot point elsewhere.
        if not (
            len(parts) == 4
            and parts[:3] == ["bundles", ws.name, "code"]
            and all(safe_component(p) for p in parts[1:])
        ):
            raise UsageError(
                f"{MIGRATION}: bundle {bundle[:80]!r} is not bundles/<workspace>/code/<key>"
            )
        body = read_inside(out, [*parts, SAMPLE_REQUEST], MAX_REQUEST_BYTES)
        if body is not None:
            found.append(Request(f"{bundle}/{SAMPLE_REQUEST}", body))
    if requests_dir is not None and safe_component(service):
        folder = requests_dir / service
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                if path.name.endswith(EXPECTED_SUFFIX) or not path.is_file():
                    continue
                expected = path.with_name(path.name[: -len(".json")] + EXPECTED_SUFFIX)
                found.append(
                    Request(
                        path.relative_to(requests_dir).as_posix(),  # no absolute path kept
                        _read_bytes(path),
                        _read_bytes(expected) if expected.is_file() else None,
                    )
                )
    return found[:limit]


def read_inside(root: Path, parts: list[str], limit: int) -> bytes | None:
    """A regular file at root/parts, reached through real folders only; None when absent."""
    try:
        return read_below(root, parts, limit)
    except NotPlainFile as exc:
        raise UsageError(str(exc)) from None


def _read_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_REQUEST_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_REQUEST_BYTES:
        raise UsageError(f"{path}: larger than {MAX_REQUEST_BYTES >> 20} MiB")
    return data


def variable_suffix(service: str) -> str:
    """A service name as an environment variable suffix: upper case, `_` for the rest."""
    return re.sub(r"[^A-Z0-9]", "_", service.upper())


def v1_secret(
    target: Target, snapshot: Mapping[str, V1Service] | None, env: Mapping[str, str]
) -> tuple[Secret | None, str]:
    """The v1 key or token of a service and "" — or None and why there is none."""
    if target.v1_auth == "none":
        return None, ""
    base = KEY_VARIABLE if target.v1_auth == "key" else TOKEN_VARIABLE
    own = f"{base}_{variable_suffix(target.service)}"
    if env.get(own):
        return Secret(env[own]), ""
    v1 = snapshot.get(target.service) if snapshot else None
    if target.v1_auth == "key" and v1 and v1.key:
        return v1.key, ""
    if env.get(base):
        return Secret(env[base]), ""
    if target.v1_auth == "key":
        where = "export the snapshot with --with-keys and pass it with --input, or set "
    else:
        where = "get one (az ml service get-access-token) and set "
    return None, f"no v1 {'key' if target.v1_auth == 'key' else 'token'}: {where}{own}"


def obj(value: object) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (untrusted data is read so)."""
    return value if isinstance(value, dict) else {}
