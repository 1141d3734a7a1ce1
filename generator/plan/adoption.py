"""Adopt what exists: which generated endpoints and deployments are already in the workspace
(`onlineEndpoints` of the snapshot), and what the first apply would change on them.

Names match case-insensitively (ARM names are). The ids the adoption uses are the ones the
generated code addresses (the plan's workspace id and names), which ARM resolves to the same
resources. Pure: no I/O; the snapshot's resources come in as `ExistingEndpoint` records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from generator.plan.model import (
    AdoptedDeployment,
    AdoptedEndpoint,
    Adoption,
    Change,
    Deployment,
    Endpoint,
    KeptDeployment,
    WorkspacePlan,
)
from generator.sources.existing import ExistingDeployment, ExistingEndpoint

# The records live in the plan model (a plan carries its adoption); importers may name them here.
__all__ = ["AdoptedDeployment", "AdoptedEndpoint", "Adoption", "Change", "KeptDeployment", "adopt"]


def adopt(workspace: WorkspacePlan, existing: Sequence[ExistingEndpoint]) -> Adoption:
    by_name = {e.name.lower(): e for e in existing}
    adopted: list[AdoptedEndpoint] = []
    for endpoint in workspace.endpoints:
        found = by_name.pop(endpoint.name.lower(), None)
        if found is not None:
            adopted.append(_endpoint(workspace, endpoint, found))
    others = tuple(sorted((e.name for e in by_name.values()), key=str.lower))
    return Adoption(tuple(adopted), others)


def endpoint_id(workspace: WorkspacePlan, endpoint: str) -> str:
    return f"{workspace.resource_id}/onlineEndpoints/{endpoint}"


def deployment_id(workspace: WorkspacePlan, endpoint: str, deployment: str) -> str:
    return f"{endpoint_id(workspace, endpoint)}/deployments/{deployment}"


def _endpoint(ws: WorkspacePlan, e: Endpoint, found: ExistingEndpoint) -> AdoptedEndpoint:
    props = e.properties
    existing_kind = "Kubernetes" if found.compute else "Managed"
    changes: list[Change] = []
    _compare(changes, "location", found.location, ws.location, in_place=False, norm=_region)
    _compare(changes, "kind", existing_kind, e.kind, in_place=False)
    if existing_kind == e.kind == "Kubernetes":
        _compare(
            changes,
            "properties.compute",
            _compute_name(found.compute),
            _compute_name(props.get("compute")),
            in_place=False,
        )
    _compare(changes, "properties.authMode", found.auth_mode, props.get("authMode"))
    if e.kind == "Managed":
        _compare(
            changes,
            "properties.publicNetworkAccess",
            found.public_network_access,
            props.get("publicNetworkAccess") or "Enabled",
        )
    _compare(changes, "identity.type", found.identity_type, e.identity_type, norm=_identity)
    existing_deployments = {d.name.lower(): d for d in found.deployments}
    deployments = []
    for d in e.deployments:
        match = existing_deployments.pop(d.name.lower(), None)
        if match is not None:
            deployments.append(_deployment(ws, e.name, d, match))
    traffic = {k.lower(): v for k, v in found.traffic}
    kept = tuple(
        KeptDeployment(d.name, traffic.get(d.name.lower(), 0))
        for d in sorted(existing_deployments.values(), key=lambda d: d.name.lower())
    )
    return AdoptedEndpoint(
        e.name,
        found.name,
        endpoint_id(ws, e.name),
        tuple(changes),
        tuple(deployments),
        kept,
        found.provisioning_state,
    )


def _deployment(
    ws: WorkspacePlan, endpoint: str, d: Deployment, found: ExistingDeployment
) -> AdoptedDeployment:
    props = d.properties
    scale = props.get("scaleSettings")
    changes: list[Change] = []
    _compare(
        changes,
        "properties.endpointComputeType",
        found.endpoint_compute_type,
        props.get("endpointComputeType"),
        in_place=False,
    )
    # The size of a deployment is fixed when it is created: a new size is a new deployment.
    _compare(
        changes,
        "properties.instanceType",
        found.instance_type,
        props.get("instanceType"),
        in_place=False,
    )
    _compare(changes, "sku.capacity", found.instance_count, d.sku.get("capacity"))
    _compare(
        changes,
        "properties.scaleSettings.scaleType",
        found.scale_type,
        scale.get("scaleType") if isinstance(scale, dict) else None,
    )
    if props.get("endpointComputeType") == "Managed":
        _compare(
            changes,
            "properties.egressPublicNetworkAccess",
            found.egress_public_network_access,
            props.get("egressPublicNetworkAccess") or "Enabled",
        )
    return AdoptedDeployment(
        d.name,
        found.name,
        deployment_id(ws, endpoint, d.name),
        tuple(changes),
        found.provisioning_state,
    )


def _compare(
    changes: list[Change],
    field: str,
    existing: Any,
    generated: Any,
    *,
    in_place: bool = True,
    norm: Any = None,
) -> None:
    """Record a change when both values are known and differ (names and enums compare
    case-insensitively, as ARM does)."""
    if existing is None or generated is None or isinstance(generated, (dict, list)):
        return
    a, b = str(existing), str(generated)
    key = norm or (lambda v: v.lower())
    if key(a) != key(b):
        changes.append(Change(field, a, b, in_place))


def _region(value: str) -> str:
    return value.replace(" ", "").lower()


def _identity(value: str) -> str:
    return value.replace(" ", "").lower()


def _compute_name(value: Any) -> str | None:
    """The compute's name from an ARM id or the plan's id expression (the last segment)."""
    parts = getattr(value, "parts", None)
    if parts is not None:
        value = "".join(p for p in parts if isinstance(p, str))
    if not isinstance(value, str) or "/computes/" not in value.lower():
        return None
    return value.rstrip("/").rsplit("/", 1)[-1]
