"""The migration plan: workspace -> endpoints -> deployments, ARM bodies as plain data.

Bodies are JSON-like values (dict, list, str, int, float, bool) plus the few expressions
below for values that only exist at apply time. Renderers turn both into their language;
no value is decided after this point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Union

from generator.assets.lint import LintFinding
from generator.diagnostics import Diagnostic
from generator.plan.adoption import Adoption

ML_API_VERSION = "2025-12-01"
AUTOSCALE_API_VERSION = "2022-10-01"
ENDPOINT_TYPE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
DEPLOYMENT_TYPE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
AUTOSCALE_TYPE = "Microsoft.Insights/autoscalesettings"
CODE_TYPE = "Microsoft.MachineLearningServices/workspaces/codes/versions"
ENVIRONMENT_TYPE = "Microsoft.MachineLearningServices/workspaces/environments/versions"
DATASTORE_TYPE = "Microsoft.MachineLearningServices/workspaces/datastores"


@dataclass(frozen=True)
class WorkspaceId:
    """The ARM id of the target workspace."""


@dataclass(frozen=True)
class DeploymentId:
    """The ARM id of a deployment this plan creates."""

    endpoint: str
    deployment: str


@dataclass(frozen=True)
class Input:
    """A value the user supplies at apply time: an entry of a root input map."""

    name: str  # snake_case name of the input map, e.g. "code_ids"
    key: str
    description: str


@dataclass(frozen=True)
class AssetId:
    """The ARM id of a code or environment version this plan registers for a deployment."""

    kind: str  # code | environment
    endpoint: str
    deployment: str


@dataclass(frozen=True)
class BlobUrl:
    """The URL of a folder in the workspace's default blob datastore, which is looked up from
    the workspace at apply time (never hard-coded)."""

    path: str


@dataclass(frozen=True)
class BundleText:
    """The text of a file gen-iac writes into the bundles, read when the code is applied
    (Terraform `file()`, Bicep `loadTextContent()`): the YAML stays reviewable as a file."""

    path: str  # relative to bundles/<workspace>/


@dataclass(frozen=True)
class Concat:
    """String concatenation of literals and expressions (e.g. workspace id + "/models/...")."""

    parts: tuple[str | WorkspaceId | DeploymentId | Input, ...]


# Union, not |: the recursive alias needs string forward references at run time.
Expr = Union[WorkspaceId, DeploymentId, Input, Concat, AssetId, BlobUrl, BundleText]  # noqa: UP007
Value = Union[  # noqa: UP007
    None, bool, int, float, str, Expr, list["Value"], dict[str, "Value"]
]
Body = dict[str, Value]


@dataclass(frozen=True)
class Autoscale:
    name: str
    properties: Body  # Microsoft.Insights/autoscalesettings properties


@dataclass(frozen=True)
class Upload:
    """A bundle folder copied into the default blob datastore before registration."""

    folder: str  # relative to bundles/<workspace>/, e.g. "churn-aci/blue/code"
    blob_prefix: str  # folder in the datastore's container, content-addressed


@dataclass(frozen=True)
class AssetVersion:
    """A `codes/versions` or `environments/versions` resource registered for one deployment."""

    kind: str  # code | environment
    name: str
    version: str  # a content hash: unchanged content, unchanged plan
    properties: Body
    upload: Upload | None = None


@dataclass(frozen=True)
class Deployment:
    name: str
    properties: Body
    sku: Body
    tags: dict[str, str]
    autoscale: Autoscale | None = None  # managed only; Kubernetes scales in scaleSettings
    assets: tuple[AssetVersion, ...] = ()  # code first, then the environment when registered
    bundle: dict[str, bytes] = field(default_factory=dict)  # bundle files by relative path


@dataclass(frozen=True)
class Endpoint:
    name: str
    service: str  # the v1 service it replaces
    properties: Body  # no traffic: that is set after the deployments exist
    tags: dict[str, str]
    deployments: tuple[Deployment, ...]
    traffic: dict[str, int]  # every deployment, zeros included
    mirror_traffic: dict[str, int] = field(default_factory=dict)
    kind: str = "Managed"  # Managed | Kubernetes (properties.compute is set)
    identity_type: str = "SystemAssigned"
    keys_from: str | None = None  # the v1 service whose exported keys the endpoint keeps

    @property
    def can_mirror(self) -> bool:
        """Mirrored traffic needs a managed endpoint and a second deployment to copy to."""
        return self.kind == "Managed" and len(self.deployments) > 1

    @property
    def mirror_split(self) -> dict[str, int]:
        """Mirrored traffic with every deployment listed, zeros included (as traffic is)."""
        return {d.name: self.mirror_traffic.get(d.name, 0) for d in self.deployments}


@dataclass(frozen=True)
class Prices:
    """Monthly prices in USD from the migration guide's cost table."""

    pay_as_you_go: Decimal
    reserved_1y: Decimal
    reserved_3y: Decimal


@dataclass(frozen=True)
class SkuChoice:
    instance_type: str
    rule: str  # seed-table | seed-table-gap | general-purpose | gpu | override
    reason: str
    vcpus: float
    memory_gb: float
    prices: Prices | None
    requested: tuple[float, float, float] | None = None  # v1 CPU, memory GB, GPUs


@dataclass(frozen=True)
class CostComparison:
    v1_monthly: Decimal | None  # ACI formula; None for AKS (billed as its cluster)
    v1_basis: str
    instances: int
    v2: Prices | None  # per month for `instances` instances


@dataclass(frozen=True)
class Rollout:
    """One deployment's place in its endpoint's traffic, for the report."""

    deployment: str
    version: str | None  # the v1 AKS endpoint version it comes from
    role: str | None  # v1 version type: Control | Treatment
    is_default: bool
    v1_percent: float | None  # v1 trafficPercentile
    traffic: int
    mirror: int
    instance_type: str | None
    scoring_script: str = ""
    entry_rule: str = ""  # which rule found the entry script
    lint: tuple[LintFinding, ...] = ()  # v1-only uses in the scoring code
    bundle: str = ""  # bundles/<workspace>/<endpoint>/<deployment>


@dataclass(frozen=True)
class ServiceOutcome:
    """What happened to one v1 service: the report's unit."""

    service: str
    compute_type: str
    status: str  # migrated | not-migrated | skipped
    endpoint: str | None = None
    deployments: tuple[str, ...] = ()
    rollout: tuple[Rollout, ...] = ()
    endpoint_kind: str = "Managed"
    old_scoring_uri: str | None = None
    new_scoring_uri: str | None = None
    sku: SkuChoice | None = None
    cost: CostComparison | None = None
    reason: str = ""
    diagnostics: tuple[Diagnostic, ...] = ()


@dataclass(frozen=True)
class WorkspacePlan:
    subscription_id: str
    resource_group: str
    name: str
    location: str
    endpoints: tuple[Endpoint, ...]
    inputs: tuple[Input, ...]  # every Input the bodies use, sorted

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.name}"
        )

    @property
    def resource_group_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"

    @property
    def keyed_services(self) -> tuple[str, ...]:
        return tuple(sorted(e.keys_from for e in self.endpoints if e.keys_from))


@dataclass(frozen=True)
class MigrationPlan:
    workspace: WorkspacePlan
    outcomes: tuple[ServiceOutcome, ...]
    diagnostics: tuple[Diagnostic, ...] = ()  # not tied to one service (e.g. keys.json mode)
    adoption: Adoption = field(default_factory=Adoption)  # what already exists in the workspace

    @property
    def not_migrated(self) -> tuple[ServiceOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "not-migrated")
