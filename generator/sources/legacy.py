"""Typed records of the raw Model Management Service payloads (ACI, AKS, AKS endpoint).

Every key is optional: a missing key is `None`, a mistyped key is an error diagnostic.
Unknown keys are ignored. See reference/v1-service-reference.md section 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from generator.diagnostics import Diagnostic
from generator.sources.fields import Fields

REALTIME_COMPUTE_TYPES = ("ACI", "AKS", "AKSENDPOINT")


@dataclass(frozen=True)
class Resources:
    cpu: float | None = None
    memory_gb: float | None = None
    cpu_limit: float | None = None
    memory_gb_limit: float | None = None
    gpu: float | None = None


@dataclass(frozen=True)
class AutoScaler:
    enabled: bool | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    target_utilization: int | None = None
    refresh_period_seconds: int | None = None


@dataclass(frozen=True)
class LivenessProbe:
    period_seconds: int | None = None
    initial_delay_seconds: int | None = None
    timeout_seconds: int | None = None
    failure_threshold: int | None = None
    success_threshold: int | None = None


@dataclass(frozen=True)
class Asset:
    id: str
    mime_type: str | None = None
    url: str | None = None
    unpack: bool | None = None


@dataclass(frozen=True)
class ImageRequest:
    """`environmentImageRequest`: what the service was built from."""

    driver_program: str | None = None
    assets: tuple[Asset, ...] = ()
    model_ids: tuple[str, ...] = ()
    environment: dict[str, Any] | None = None
    environment_reference: tuple[str, str] | None = None  # (name, version)


@dataclass(frozen=True)
class LegacyService:
    name: str
    compute_type: str
    index: int  # position in the snapshot, for messages
    description: str | None = None
    kv_tags: dict[str, str] = field(default_factory=dict)
    state: str | None = None
    scoring_uri: str | None = None
    location: str | None = None
    resources: Resources | None = None
    num_replicas: int | None = None
    autoscaler: AutoScaler | None = None
    scoring_timeout_ms: int | None = None
    max_concurrent_requests: int | None = None
    max_queue_wait_ms: int | None = None
    liveness_probe: LivenessProbe | None = None
    auth_enabled: bool | None = None
    aad_auth_enabled: bool | None = None
    app_insights_enabled: bool | None = None
    ssl_enabled: bool | None = None
    cname: str | None = None
    public_fqdn: str | None = None  # ACI: <DNS label>.<region>.azurecontainer.io
    encryption_key_vault: str | None = None
    vnet: tuple[str, str] | None = None
    data_collection_enabled: bool | None = None
    image_id: str | None = None
    image_request: ImageRequest | None = None
    compute_name: str | None = None
    namespace: str | None = None
    is_default: bool | None = None
    traffic_percentile: float | None = None
    version_type: str | None = None
    versions: tuple[LegacyService, ...] = ()


def parse_service(
    raw: dict[str, Any],
    index: int,
    file: str,
    errors: list[Diagnostic],
    prefix: str = "",
    service: str | None = None,
) -> LegacyService:
    """Build a LegacyService from one raw payload; mistyped keys land in `errors`."""
    raw_name = raw.get("name")
    name = raw_name if isinstance(raw_name, str) else f"#{index}"
    # A version's problems belong to its endpoint, the service the report lists.
    f = Fields(raw, service or name, file, errors, prefix)
    f.text("name")
    res = f.obj("containerResourceRequirements")
    scaler = f.obj("autoScaler")
    probe = f.obj("livenessProbeRequirements")
    vnet = f.obj("vnetConfiguration")
    encryption = f.obj("encryptionProperties")
    collection = f.obj("dataCollection")
    image_request = f.obj("environmentImageRequest")
    return LegacyService(
        name=name,
        compute_type=(f.text("computeType") or "").upper(),
        index=index,
        description=f.text("description"),
        kv_tags=f.str_map("kvTags"),
        state=f.text("state"),
        scoring_uri=f.text("scoringUri"),
        location=f.text("location"),
        resources=_resources(res) if res else None,
        num_replicas=f.whole("numReplicas"),
        autoscaler=_autoscaler(scaler) if scaler else None,
        scoring_timeout_ms=f.whole("scoringTimeoutMs"),
        max_concurrent_requests=f.whole("maxConcurrentRequestsPerContainer"),
        max_queue_wait_ms=f.whole("maxQueueWaitMs"),
        liveness_probe=_probe(probe) if probe else None,
        auth_enabled=f.flag("authEnabled"),
        aad_auth_enabled=f.flag("aadAuthEnabled"),
        app_insights_enabled=f.flag("appInsightsEnabled"),
        ssl_enabled=f.flag("sslEnabled"),
        cname=f.text("cname") or None,
        public_fqdn=f.text("publicFqdn") or None,
        encryption_key_vault=(encryption.text("vaultBaseUrl") or "(set)") if encryption else None,
        vnet=(vnet.text("vnetName") or "", vnet.text("subnetName") or "") if vnet else None,
        data_collection_enabled=collection.flag("storageEnabled") if collection else None,
        image_id=f.text("imageId") or None,
        image_request=_image_request(image_request) if image_request else None,
        compute_name=f.text("computeName"),
        namespace=f.text("namespace"),
        is_default=f.flag("isDefault"),
        traffic_percentile=f.number("trafficPercentile"),
        version_type=f.text("type"),
        versions=_versions(f, index, file, errors),
    )


def _resources(f: Fields) -> Resources:
    return Resources(
        cpu=f.number("cpu"),
        memory_gb=f.number("memoryInGB"),
        cpu_limit=f.number("cpuLimit"),
        memory_gb_limit=f.number("memoryInGBLimit"),
        gpu=f.number("gpu"),
    )


def _autoscaler(f: Fields) -> AutoScaler:
    return AutoScaler(
        enabled=f.flag("autoscaleEnabled"),
        min_replicas=f.whole("minReplicas"),
        max_replicas=f.whole("maxReplicas"),
        target_utilization=f.whole("targetUtilization"),
        refresh_period_seconds=f.whole("refreshPeriodInSeconds"),
    )


def _probe(f: Fields) -> LivenessProbe:
    return LivenessProbe(
        period_seconds=f.whole("periodSeconds"),
        initial_delay_seconds=f.whole("initialDelaySeconds"),
        timeout_seconds=f.whole("timeoutSeconds"),
        failure_threshold=f.whole("failureThreshold"),
        success_threshold=f.whole("successThreshold"),
    )


def _image_request(f: Fields) -> ImageRequest:
    environment = f.obj("environment")
    reference = f.obj("environmentReference")
    ref: tuple[str, str] | None = None
    if reference is not None:
        ref_name, ref_version = reference.text("name"), reference.text("version")
        if ref_name:
            ref = (ref_name, ref_version or "")
    return ImageRequest(
        driver_program=f.text("driverProgram"),
        assets=tuple(
            Asset(
                id=a.text("id") or _url_name(a.text("url")),
                mime_type=a.text("mimeType"),
                url=a.text("url"),
                unpack=a.flag("unpack"),
            )
            for a in f.obj_list("assets")
        ),
        model_ids=tuple(f.str_list("modelIds")),
        environment=dict(environment.raw) if environment else None,
        environment_reference=ref,
    )


def _url_name(url: str | None) -> str:
    """An asset without an id (as in the ARM API's examples) is named by its URL's last part,
    as the artifact store names the file."""
    return url.rstrip("/").rsplit("/", 1)[-1] if url and "/" in url else ""


def _versions(
    f: Fields, index: int, file: str, errors: list[Diagnostic]
) -> tuple[LegacyService, ...]:
    """AKS endpoint versions: the SDK's `versions` map or the swagger's `variants` array."""
    found: list[LegacyService] = []
    versions = f.obj("versions")
    if versions is not None:
        for key in sorted(versions.raw):
            entry = versions.raw[key]
            if not isinstance(entry, dict):
                versions.fail(key, "an object", entry)
                continue
            entry = {"name": key, **entry} if not isinstance(entry.get("name"), str) else entry
            found.append(
                parse_service(entry, index, file, errors, f"versions.{key}.", f.service)
            )
    for variant in f.obj_list("variants"):
        found.append(parse_service(variant.raw, index, file, errors, variant.prefix, f.service))
    return tuple(found)
