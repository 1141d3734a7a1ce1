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
from generator.diagnostics import Diagnostic, Level
from generator.files import path_component

ML_API_VERSION = "2025-12-01"
AUTOSCALE_API_VERSION = "2022-10-01"
ENDPOINT_TYPE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints"
DEPLOYMENT_TYPE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
AUTOSCALE_TYPE = "Microsoft.Insights/autoscalesettings"
CODE_TYPE = "Microsoft.MachineLearningServices/workspaces/codes/versions"
ENVIRONMENT_TYPE = "Microsoft.MachineLearningServices/workspaces/environments/versions"
DATASTORE_TYPE = "Microsoft.MachineLearningServices/workspaces/datastores"


# --- adoption: what already exists in the workspace (see plan/adoption.py) ---


@dataclass(frozen=True)
class Change:
    """One value the apply would change on an existing resource."""

    field: str  # ARM path, e.g. properties.instanceType
    existing: str
    generated: str
    in_place: bool = True  # False: the service does not change it on an existing resource


@dataclass(frozen=True)
class AdoptedDeployment:
    name: str  # as generated
    existing_name: str  # as it exists (the case may differ)
    resource_id: str
    changes: tuple[Change, ...] = ()
    provisioning_state: str | None = None


@dataclass(frozen=True)
class KeptDeployment:
    """An existing deployment under an adopted endpoint that gen-iac does not generate."""

    name: str
    traffic: int  # its live traffic now


@dataclass(frozen=True)
class AdoptedEndpoint:
    name: str
    existing_name: str
    resource_id: str
    changes: tuple[Change, ...] = ()
    deployments: tuple[AdoptedDeployment, ...] = ()
    kept: tuple[KeptDeployment, ...] = ()
    provisioning_state: str | None = None

    @property
    def blocked(self) -> bool:
        """Some change cannot be made on the existing endpoint or one of its deployments."""
        return any(not c.in_place for c in self.changes) or any(
            not c.in_place for d in self.deployments for c in d.changes
        )


@dataclass(frozen=True)
class Adoption:
    endpoints: tuple[AdoptedEndpoint, ...] = ()
    others: tuple[str, ...] = ()  # existing endpoints gen-iac does not generate (left alone)

    @property
    def deployment_count(self) -> int:
        return sum(len(e.deployments) for e in self.endpoints)


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
    """The ARM id of the registered version of a workspace asset (`WorkspacePlan.assets`)."""

    kind: str  # code | environment
    key: str  # the asset's name: `Asset.key`


@dataclass(frozen=True)
class AssetVersionName:
    """The version name of a workspace asset, computed from the files of its folder when
    Terraform or Bicep runs (see VERSION_RULE), never by gen-iac: an edited file registers a
    new version and rolls every deployment that uses the asset to it."""

    kind: str  # code | environment
    key: str


@dataclass(frozen=True)
class BlobUrl:
    """The URL of an asset's versioned folder in the workspace's default blob datastore
    (looked up at apply time, never hard-coded): `<datastore url>/<prefix>/<version>`."""

    prefix: str  # e.g. "gen-iac/code/churn-aci-blue"
    version: AssetVersionName


@dataclass(frozen=True)
class BundleText:
    """The text of a file in the bundles, read when the code is applied (Terraform `file()`,
    Bicep `loadTextContent()`): a person's edit reaches Azure without re-generation."""

    path: str  # relative to bundles/<workspace>/, e.g. "environments/churn-env-4/conda.yaml"


@dataclass(frozen=True)
class Concat:
    """String concatenation of literals and expressions (e.g. workspace id + "/models/...")."""

    parts: tuple[str | WorkspaceId | DeploymentId | Input, ...]


# Union, not |: the recursive alias needs string forward references at run time.
Expr = Union[  # noqa: UP007
    WorkspaceId, DeploymentId, Input, Concat, AssetId, AssetVersionName, BlobUrl, BundleText
]
Value = Union[  # noqa: UP007
    None, bool, int, float, str, Expr, list["Value"], dict[str, "Value"]
]
Body = dict[str, Value]


@dataclass(frozen=True)
class Autoscale:
    name: str
    properties: Body  # Microsoft.Insights/autoscalesettings properties


# How a version name follows content (Terraform locals, upload-bundles.sh and the tests agree):
#   digest  = sha256 hex of the concatenation, over every file of the asset's folder in byte
#             order of its '/'-separated relative path, of "<path>\t<sha256 hex of the file>\n"
#   version = the first 16 hex of sha256("<seed>\n<digest>")
VERSION_RULE = "sha256-folder-v1"
VERSION_LENGTH = 16
BLOB_ROOT = "gen-iac"  # every upload lives under this folder of the default datastore


@dataclass(frozen=True)
class Upload:
    """An asset folder copied into the default blob datastore before registration, under
    `<blob_prefix>/<version>/`."""

    folder: str  # relative to bundles/<workspace>/, e.g. "code/churn-aci-blue"
    blob_prefix: str  # e.g. "gen-iac/code/churn-aci-blue"


@dataclass(frozen=True)
class Asset:
    """A code or environment asset, registered once for the workspace and shared by every
    deployment whose content is the same. Its files are `bundles/<workspace>/<folder>/`
    (a person's after the first run: an edit there changes every deployment that uses it);
    its version name is `AssetVersionName(kind, key)`, computed from those files at apply time.
    """

    kind: str  # code | environment
    key: str  # the asset's name in the workspace and its folder name
    properties: Body  # the version's properties (BlobUrl, BundleText, AssetVersionName inside)
    deployments: tuple[str, ...]  # "<endpoint>/<deployment>" of every user, plan order
    files: dict[str, bytes] = field(default_factory=dict)  # by path relative to the folder
    # What the version covers besides the files: a hash of the literal properties (the image,
    # the description, ...), so a regenerated body never lands on a registered version.
    seed: str = ""
    upload: Upload | None = None
    scoring_script: str = ""  # code: the entry script, relative to the folder
    missing: bool = False  # code: the snapshot had none, the folder is for a person to fill
    environment_kind: str = ""  # environment: image | build
    image: str | None = None  # environment: the base image (kind image)
    python: str | None = None  # environment: the Python it pins, "3.10"
    # Kept from an earlier run's record: its files are in bundles/ already, the run keeps
    # them as they are (`files` is empty).
    kept: bool = False

    @property
    def folder(self) -> str:
        """Relative to bundles/<workspace>/: code/<key> or environments/<key>."""
        return f"{asset_root(self.kind)}/{self.key}"

    @property
    def version(self) -> AssetVersionName:
        return AssetVersionName(self.kind, self.key)

    @property
    def shared(self) -> bool:
        return len(self.deployments) > 1

    def edit_note(self, workspace: str) -> str:
        """For the report: what an edit of this asset's files does (paths relative to the
        output folder)."""
        what = "conda file and build files" if self.kind == "environment" else "scoring code"
        users = ", ".join(self.deployments)
        if not self.shared:
            return (
                f"bundles/{workspace}/{self.folder}/ is used by {users} only: editing its "
                f"{what} registers a new {self.kind} version on the next apply and rolls "
                "that deployment to it."
            )
        return (
            f"bundles/{workspace}/{self.folder}/ is shared by {len(self.deployments)} "
            f"deployments ({users}): editing its {what} once fixes every one of them; the "
            f"next apply registers one new {self.kind} version and rolls each of them to it."
        )


def asset_root(kind: str) -> str:
    """The folder of an asset kind under bundles/<workspace>/."""
    return "code" if kind == "code" else "environments"


@dataclass(frozen=True)
class Deployment:
    name: str
    properties: Body
    sku: Body
    tags: dict[str, str]
    autoscale: Autoscale | None = None  # managed only; Kubernetes scales in scaleSettings
    code: str = ""  # key of its code asset in WorkspacePlan.assets
    environment: str | None = None  # key of its environment asset; None: referenced or input
    retained: str = ""  # why an earlier run's deployment is kept though no longer planned
    # The plan's name for it when a rollout renamed it (a change Azure refuses in place
    # made a new deployment beside the old one); "" when it has the plan's name.
    planned: str = ""


def inputs_of(endpoints: tuple[Endpoint, ...] | list[Endpoint]) -> tuple[Input, ...]:
    """Every value a person supplies that the endpoints' bodies use, sorted (a workspace's,
    or one root module's when each endpoint has its own)."""
    found: set[Input] = set()

    def walk(value: Value) -> None:
        if isinstance(value, Input):
            found.add(value)
        elif isinstance(value, Concat):
            found.update(p for p in value.parts if isinstance(p, Input))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for e in endpoints:
        walk(e.properties)
        for d in e.deployments:
            walk(d.properties)
            walk(d.sku)
    return tuple(sorted(found, key=lambda i: (i.name, i.key)))


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
    # Why an earlier run's endpoint is kept though the plan no longer has it ("" planned).
    retained: str = ""
    # Deployments retired with delete by this run: the traffic step sets them to 0 before
    # Terraform deletes them (it updates a dependent before it destroys what it depended on).
    draining: tuple[str, ...] = ()

    @property
    def folder(self) -> str:
        """The endpoint's folder with `--layout endpoint`."""
        return path_component(self.name)

    @property
    def can_mirror(self) -> bool:
        """Mirrored traffic needs a managed endpoint and a second deployment to copy to."""
        return self.kind == "Managed" and len(self.deployments) > 1

    @property
    def asset_keys(self) -> set[tuple[str, str | None]]:
        """(kind, key) of every asset its deployments use."""
        found: set[tuple[str, str | None]] = {("code", d.code) for d in self.deployments}
        return found | {("environment", d.environment) for d in self.deployments}

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
    bundle: str = ""  # its code folder, what `gen-iac smoke` takes: bundles/<ws>/code/<key>
    environment_bundle: str = ""  # bundles/<ws>/environments/<key>, "" when none is registered


@dataclass(frozen=True)
class AuthChange:
    """What a service's clients send before and after (CUTOVER.md, `gen-iac verify`)."""

    v1: str  # key | token | none
    v2: str  # the endpoint's authMode: Key | AMLToken | AADToken
    keys_kept: bool  # the endpoint is created with the exported v1 keys


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
    auth: AuthChange | None = None
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
    # Code and environment assets registered once each, shared by the deployments using the
    # same content: codes sorted by key, then environments sorted by key.
    assets: tuple[Asset, ...] = ()

    def asset(self, kind: str, key: str) -> Asset:
        return next(a for a in self.assets if a.kind == kind and a.key == key)

    @property
    def folder(self) -> str:
        """The workspace's folder under terraform/, bicep/ and bundles/."""
        return path_component(self.name)

    @property
    def shared_asset_notes(self) -> tuple[str, ...]:
        """One line per asset several deployments share: an edit there fixes all of them."""
        return tuple(a.edit_note(self.folder) for a in self.assets if a.shared)

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
class Retirement:
    """A person's decision about an endpoint (or one deployment) gen-iac no longer plans, or
    an endpoint a Terraform layout change moves out of its old root module."""

    name: str  # ENDPOINT or ENDPOINT/DEPLOYMENT
    how: str  # keep (stop managing, nothing deleted) | delete (drained, then deleted)
    service: str = ""
    # Terraform: the root module it lived in and every address there (`removed` blocks).
    module: str = ""
    addresses: tuple[str, ...] = ()
    # What it was (this run only, not remembered): the renderers derive the addresses.
    endpoint: Endpoint | None = None
    assets: tuple[Asset, ...] = ()


@dataclass(frozen=True)
class Day2:
    """What a run did about what earlier runs generated, for the report, console and --check."""

    kept: tuple[tuple[str, str], ...] = ()  # (ENDPOINT or ENDPOINT/DEPLOYMENT, why), retained
    retired: tuple[Retirement, ...] = ()  # retired by this run's --retire
    earlier_retired: tuple[Retirement, ...] = ()  # retired by earlier runs (removed blocks stay)
    targets_kept: tuple[str, ...] = ()  # targets and pipelines an earlier run wrote, not asked
    dropped: tuple[str, ...] = ()  # ... and dropped on purpose (--drop)
    layout_from: str = ""  # the earlier layout when this run changes it
    handover: tuple[Retirement, ...] = ()  # what the earlier layout's root modules forget

    @property
    def any(self) -> bool:
        return bool(self.kept or self.retired or self.targets_kept or self.dropped) or bool(
            self.layout_from
        )

    def lines(self) -> list[str]:
        """One line each, for the console, the top of SUMMARY.md and MIGRATION.md."""
        found = [
            f"kept {name}: {why}; retire it with --retire {name}=keep (stop managing) or "
            f"--retire {name}=delete (drain, then delete)"
            for name, why in self.kept
        ]
        for r in self.retired:
            if r.how == "keep":
                found.append(
                    f"retired {r.name}: no longer managed; the next apply forgets it from the "
                    "Terraform state and deletes nothing in Azure"
                )
            else:
                found.append(
                    f"retired {r.name}: the next Terraform apply moves its traffic away, then "
                    "deletes it (a Bicep deployment deletes nothing)"
                )
        found += [
            f"kept {t}: an earlier run generated it; add it to the command, or --drop {t} to "
            "remove it"
            for t in self.targets_kept
        ]
        found += [f"removed {t}: dropped by --drop" for t in self.dropped]
        if self.layout_from:
            found.append(
                f"Terraform layout changed from {self.layout_from}: the new root modules adopt "
                "the live endpoints (imports.tf) and keep your traffic; apply the old root "
                "modules once (removed blocks, nothing deleted), then the new ones"
            )
        return found


@dataclass(frozen=True)
class MigrationPlan:
    workspace: WorkspacePlan
    outcomes: tuple[ServiceOutcome, ...]
    diagnostics: tuple[Diagnostic, ...] = ()  # not tied to one service (e.g. keys.json mode)
    adoption: Adoption = field(default_factory=Adoption)  # what already exists in the workspace
    day2: Day2 = field(default_factory=Day2)  # what this run kept and retired of earlier runs

    @property
    def not_migrated(self) -> tuple[ServiceOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "not-migrated")

    @property
    def incomplete(self) -> bool:
        """Some service was not migrated, or part of the input was not read at all (a list's
        later pages): the run never exits 0."""
        return bool(self.not_migrated) or any(d.level is Level.ERROR for d in self.diagnostics)
