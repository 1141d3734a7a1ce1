"""The workspace's existing v2 online endpoints: `onlineEndpoints` in snapshot.json.

`gen-iac export` records them as the ARM list API returns them (raw resources), each endpoint
with a `deployments` list of raw deployment resources. Only what adoption compares is read;
every key is optional. A bad shape is one warning line (file, field, what was expected) and
that endpoint or deployment is left out: nothing here can stop a service from migrating.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.diagnostics import Diagnostic, Level
from generator.sources.fields import Fields

KEY = "onlineEndpoints"


@dataclass(frozen=True)
class ExistingDeployment:
    name: str
    id: str
    endpoint_compute_type: str | None = None  # properties.endpointComputeType
    instance_type: str | None = None
    instance_count: int | None = None  # sku.capacity
    scale_type: str | None = None  # properties.scaleSettings.scaleType
    egress_public_network_access: str | None = None
    provisioning_state: str | None = None


@dataclass(frozen=True)
class ExistingEndpoint:
    name: str
    id: str
    location: str | None = None
    auth_mode: str | None = None
    compute: str | None = None  # ARM id of the Kubernetes compute; None: managed
    public_network_access: str | None = None
    identity_type: str | None = None
    provisioning_state: str | None = None
    traffic: tuple[tuple[str, int], ...] = ()
    deployments: tuple[ExistingDeployment, ...] = ()


def read_existing(data: Any, file: str) -> tuple[tuple[ExistingEndpoint, ...], list[Diagnostic]]:
    """The `onlineEndpoints` list of a snapshot (absent: none), with a warning per bad entry."""
    raw = data.get(KEY) if isinstance(data, dict) else None
    if raw is None:
        return (), []
    warnings: list[Diagnostic] = []
    if not isinstance(raw, list):
        return (), [_warning(file, KEY, "expected a list of online endpoint resources")]
    endpoints: list[ExistingEndpoint] = []
    for index, item in enumerate(raw):
        where = f"{KEY}[{index}]"
        if not isinstance(item, dict):
            warnings.append(_warning(file, where, "expected an online endpoint object"))
            continue
        errors: list[Diagnostic] = []
        endpoint = _endpoint(Fields(item, "", file, errors, f"{where}."), where, file, warnings)
        warnings += [_soften(e) for e in errors]
        if endpoint is not None and not errors:
            endpoints.append(endpoint)
    return tuple(sorted(endpoints, key=lambda e: e.name.lower())), warnings


def _endpoint(
    f: Fields, where: str, file: str, warnings: list[Diagnostic]
) -> ExistingEndpoint | None:
    name, rid = f.text("name"), f.text("id")
    if not name or not rid:
        if not f.errors:
            warnings.append(_warning(file, where, "an endpoint needs its name and id; left out"))
        return None
    props = f.obj("properties")
    identity = f.obj("identity")
    deployments: list[ExistingDeployment] = []
    for index, d in enumerate(f.obj_list("deployments")):
        errors: list[Diagnostic] = []
        d.errors = errors
        found = _deployment(d, f"{where}.deployments[{index}]", file, warnings)
        warnings += [_soften(e) for e in errors]
        if found is not None and not errors:
            deployments.append(found)
    return ExistingEndpoint(
        name=name,
        id=rid,
        location=f.text("location"),
        auth_mode=props.text("authMode") if props else None,
        compute=props.text("compute") if props else None,
        public_network_access=props.text("publicNetworkAccess") if props else None,
        identity_type=identity.text("type") if identity else None,
        provisioning_state=props.text("provisioningState") if props else None,
        traffic=_traffic(props, "traffic") if props else (),
        deployments=tuple(sorted(deployments, key=lambda d: d.name.lower())),
    )


def _deployment(
    f: Fields, where: str, file: str, warnings: list[Diagnostic]
) -> ExistingDeployment | None:
    name, rid = f.text("name"), f.text("id")
    if not name or not rid:
        if not f.errors:
            warnings.append(_warning(file, where, "a deployment needs its name and id; left out"))
        return None
    props = f.obj("properties")
    sku = f.obj("sku")
    scale = props.obj("scaleSettings") if props else None
    return ExistingDeployment(
        name=name,
        id=rid,
        endpoint_compute_type=props.text("endpointComputeType") if props else None,
        instance_type=props.text("instanceType") if props else None,
        instance_count=sku.whole("capacity") if sku else None,
        scale_type=scale.text("scaleType") if scale else None,
        egress_public_network_access=props.text("egressPublicNetworkAccess") if props else None,
        provisioning_state=props.text("provisioningState") if props else None,
    )


def _traffic(f: Fields, key: str) -> tuple[tuple[str, int], ...]:
    value = f.get(key)
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
        for k, v in value.items()
    ):
        f.fail(key, "an object of whole numbers", value)
        return ()
    return tuple(sorted(value.items()))


def _warning(file: str, field: str, message: str) -> Diagnostic:
    return Diagnostic("", Level.WARNING, "invalid-existing", message, field=field, file=file)


def _soften(error: Diagnostic) -> Diagnostic:
    """A mistyped field of an existing resource: that resource is not adopted (a warning)."""
    return Diagnostic(
        "",
        Level.WARNING,
        "invalid-existing",
        f"{error.message}; this existing resource is not adopted",
        field=error.field,
        file=error.file,
    )
