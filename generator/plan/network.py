"""Network rules: what the workspace's network facts mean for a migrated endpoint.

Pure: workspace facts (as `gen-iac export` recorded them) in, a decision with its findings out.
- v1 legacy mode blocks v2 online endpoints: a blocking error that says how to turn it off.
- Network settings the export could not read block managed endpoints: never guessed public.
- A private workspace (publicNetworkAccess Disabled, or an approved private endpoint), or an
  ACI service in a VNet: the endpoint gets publicNetworkAccess Disabled. Outbound: with the
  workspace's managed virtual network the deployment follows its rules; otherwise (the legacy
  per-deployment isolation) the deployment gets egressPublicNetworkAccess Disabled.
- Kubernetes endpoints: network isolation is the cluster's (both settings are managed-only).
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.diagnostics import Finding, Level
from generator.sources.snapshot import Workspace

MANAGED_VNET_MODES = ("allowinternetoutbound", "allowonlyapprovedoutbound")


@dataclass(frozen=True)
class Network:
    public_access_disabled: bool = False  # endpoint properties.publicNetworkAccess Disabled
    egress_disabled: bool = False  # deployment properties.egressPublicNetworkAccess Disabled
    findings: tuple[Finding, ...] = ()
    blocking: Finding | None = None  # the service cannot be migrated (an error)


def decide(workspace: Workspace, vnet: tuple[str, str] | None, kubernetes: bool) -> Network:
    facts = workspace.network
    if facts.v1_legacy_mode:
        return Network(blocking=Finding(
            Level.ERROR,
            "v1-legacy-mode",
            f"workspace {workspace.name!r} is in v1 legacy mode, which blocks v2 online "
            "endpoints: turn it off before applying (`az ml workspace update --name "
            f"{workspace.name} --resource-group {workspace.resource_group} "
            "--v1-legacy-mode false`, or set properties.v1LegacyMode to false on the "
            "workspace resource), then export and generate again. v1 services keep running",
            "workspace.v1LegacyMode",
        ))
    if facts.unreadable is not None and workspace.public_network_access is None:
        if kubernetes:
            return Network(findings=(Finding(
                Level.WARNING,
                "network-unknown",
                "the export could not read the workspace's network settings "
                f"({facts.unreadable}); a Kubernetes endpoint's network is the cluster's, "
                "check its ingress and private link to the workspace",
                "workspace.publicNetworkAccess",
            ),))
        return Network(blocking=Finding(
            Level.ERROR,
            "network-unknown",
            "the export could not read the workspace's network settings "
            f"({facts.unreadable}), so whether the endpoint must be private is unknown: "
            "export again with read access to the workspace, or set "
            'workspace.publicNetworkAccess ("Enabled" or "Disabled") in snapshot.json',
            "workspace.publicNetworkAccess",
        ))
    disabled = (workspace.public_network_access or "").lower() == "disabled"
    approved = [p.name for p in facts.private_endpoints if p.status.lower() == "approved"]
    managed = (facts.managed_network or "").lower() in MANAGED_VNET_MODES
    private = disabled or bool(approved)
    if not (private or vnet):
        if managed:
            return Network(findings=(_managed_finding(facts.managed_network, False),))
        return Network()
    if disabled:
        why, where = "the workspace is private (publicNetworkAccess Disabled)", \
            "workspace.publicNetworkAccess"
    elif approved:
        why, where = (
            f"the workspace has approved private endpoint(s) {', '.join(sorted(approved))}",
            "workspace.privateEndpointConnections",
        )
    else:
        assert vnet is not None
        why, where = f"the ACI service ran in VNet {vnet[0]!r}", "vnetConfiguration"
    if kubernetes:
        return Network(findings=(Finding(
            Level.WARNING,
            "network-isolation",
            f"{why}: on a Kubernetes endpoint, network isolation is the cluster's "
            "(publicNetworkAccess is managed-only); check the cluster's ingress and its "
            "private link to the workspace",
            where,
        ),))
    if managed:
        return Network(True, False, (
            Finding(
                Level.WARNING,
                "network-isolation",
                f"{why}: the endpoint gets publicNetworkAccess Disabled (scoring only through "
                "the workspace's private endpoint). Prerequisite: workspace private endpoints "
                "created before 2022-05-24 must be recreated",
                where,
            ),
            _managed_finding(facts.managed_network, True),
        ))
    return Network(True, True, (Finding(
        Level.WARNING,
        "network-isolation",
        f"{why}: the endpoint gets publicNetworkAccess Disabled and the deployment "
        "egressPublicNetworkAccess Disabled. Prerequisites: the workspace must not be in v1 "
        "legacy mode, its private endpoints must postdate 2022-05-24, and image builds "
        "cannot reach private package feeds",
        where,
    ),))


def _managed_finding(mode: str | None, private: bool) -> Finding:
    return Finding(
        Level.WARNING if private else Level.INFO,
        "managed-network",
        f"the workspace has a managed virtual network (isolationMode {mode}): the deployment's "
        "outbound traffic follows its rules, so egressPublicNetworkAccess (the legacy "
        "isolation) is not set"
        + (
            "; add outbound rules for the package feeds and registries the environment needs"
            if (mode or "").lower() == "allowonlyapprovedoutbound"
            else ""
        ),
        "workspace.managedNetwork",
    )
