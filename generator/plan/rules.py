"""Mapping rules v1 -> v2, one pure function each (no I/O, no state)."""

from __future__ import annotations

from dataclasses import dataclass

from generator.diagnostics import Finding, Level
from generator.plan.durations import iso_duration_ms, iso_duration_s
from generator.plan.model import Body, DeploymentId
from generator.sources.legacy import AutoScaler, LegacyService, LivenessProbe

MANAGED_MAX_REQUEST_TIMEOUT_MS = 180_000
# What the v1 SDK fills in when an AKS service has no livenessProbeRequirements.
V1_PROBE_DEFAULTS = LivenessProbe(
    period_seconds=10,
    initial_delay_seconds=310,
    timeout_seconds=2,
    failure_threshold=3,
    success_threshold=1,
)
# v1 AKS autoscaler defaults (reference: v1-service-reference.md 2.9).
V1_AUTOSCALE_DEFAULTS = AutoScaler(
    enabled=True,
    min_replicas=1,
    max_replicas=10,
    target_utilization=70,
    refresh_period_seconds=1,
)


def v1_auth(service: LegacyService) -> str:
    """How v1 clients authenticate: key | token | none."""
    if service.aad_auth_enabled:
        return "token"
    return "key" if service.auth_enabled else "none"


def auth_mode(service: LegacyService) -> tuple[str, list[Finding]]:
    if service.aad_auth_enabled:
        return "AMLToken", [
            Finding(
                Level.INFO,
                "auth-token",
                "v1 token auth becomes AMLToken auth; clients fetch tokens from "
                "the endpoint's token action as before",
                "aadAuthEnabled",
            )
        ]
    if service.auth_enabled:
        return "Key", []
    return "Key", [
        Finding(
            Level.WARNING,
            "auth-none",
            "the v1 service had no authentication; v2 online endpoints always require it, so it "
            "becomes key auth: clients must now send 'Authorization: Bearer <key>'",
            "authEnabled",
        )
    ]


def request_settings(
    service: LegacyService,
    timeout_override_ms: int | None,
    max_timeout_ms: int = MANAGED_MAX_REQUEST_TIMEOUT_MS,
) -> tuple[Body, list[Finding]]:
    """`max_timeout_ms`: 180 s on managed endpoints, 300 s on Kubernetes ones."""
    findings: list[Finding] = []
    settings: Body = {}
    timeout = timeout_override_ms if timeout_override_ms is not None else service.scoring_timeout_ms
    if timeout is not None:
        if timeout > max_timeout_ms:
            findings.append(
                Finding(
                    Level.WARNING,
                    "clamped-timeout",
                    f"request timeout {timeout} ms is above the endpoint limit; clamped to "
                    f"{max_timeout_ms} ms",
                    "scoringTimeoutMs",
                )
            )
            timeout = max_timeout_ms
        if timeout <= 0:
            findings.append(
                Finding(
                    Level.WARNING,
                    "invalid-timeout",
                    f"request timeout {timeout} ms is not positive; the v2 default (5 s) applies",
                    "scoringTimeoutMs",
                )
            )
        else:
            settings["requestTimeout"] = iso_duration_ms(timeout)
    elif service.compute_type == "ACI":
        findings.append(
            Finding(
                Level.INFO,
                "changed-default",
                "ACI had no request timeout setting; v2 managed endpoints time out after 5 s by "
                "default (180 s at most): set request_timeout_ms in an overrides file if scoring "
                "takes longer",
                "scoringTimeoutMs",
            )
        )
    if service.max_concurrent_requests is not None:
        if service.max_concurrent_requests < 1:
            findings.append(
                Finding(
                    Level.WARNING,
                    "invalid-concurrency",
                    "max concurrent requests below 1; the v2 default (1) applies",
                    "maxConcurrentRequestsPerContainer",
                )
            )
        else:
            settings["maxConcurrentRequestsPerInstance"] = service.max_concurrent_requests
            if service.max_concurrent_requests > 1:
                findings.append(
                    Finding(
                        Level.INFO,
                        "worker-count",
                        f"{service.max_concurrent_requests} concurrent requests per instance: the v2 "
                        "inference server runs one worker unless the environment variable "
                        "WORKER_COUNT is set (each worker loads the model)",
                        "maxConcurrentRequestsPerContainer",
                    )
                )
    if service.max_queue_wait_ms is not None and service.max_queue_wait_ms > 0:
        settings["maxQueueWait"] = iso_duration_ms(service.max_queue_wait_ms)
        if service.max_queue_wait_ms != 500:
            findings.append(
                Finding(
                    Level.INFO,
                    "queue-wait-deprecated",
                    "maxQueueWait is deprecated on managed endpoints; raise the request timeout instead",
                    "maxQueueWaitMs",
                )
            )
    return settings, findings


def liveness_probe(service: LegacyService) -> tuple[Body | None, list[Finding]]:
    """AKS probes carry over with their v1 values (v2 defaults differ: 10 s delay, 30 failures)."""
    if service.compute_type == "ACI":
        return None, []
    findings: list[Finding] = []
    probe = service.liveness_probe
    if probe is None:
        probe = V1_PROBE_DEFAULTS
        findings.append(
            Finding(
                Level.INFO,
                "changed-default",
                "no liveness probe in v1: the v1 defaults (310 s initial delay, 3 failures) are "
                "written explicitly because v2 defaults differ (10 s, 30 failures)",
                "livenessProbeRequirements",
            )
        )
    merged = LivenessProbe(
        period_seconds=_first(probe.period_seconds, V1_PROBE_DEFAULTS.period_seconds),
        initial_delay_seconds=_first(
            probe.initial_delay_seconds, V1_PROBE_DEFAULTS.initial_delay_seconds
        ),
        timeout_seconds=_first(probe.timeout_seconds, V1_PROBE_DEFAULTS.timeout_seconds),
        failure_threshold=_first(probe.failure_threshold, V1_PROBE_DEFAULTS.failure_threshold),
        success_threshold=_first(probe.success_threshold, V1_PROBE_DEFAULTS.success_threshold),
    )
    success = merged.success_threshold
    if success != 1:
        findings.append(
            Finding(
                Level.WARNING,
                "clamped-probe",
                f"liveness success threshold {success} is fixed to 1 in v2",
                "livenessProbeRequirements.successThreshold",
            )
        )
    return {
        "failureThreshold": merged.failure_threshold,
        "initialDelay": iso_duration_s(merged.initial_delay_seconds or 0),
        "period": iso_duration_s(merged.period_seconds or 0),
        "successThreshold": 1,
        "timeout": iso_duration_s(merged.timeout_seconds or 0),
    }, findings


@dataclass(frozen=True)
class Scale:
    instances: int  # sku.capacity: fixed count, or the autoscale default
    autoscale: AutoScaler | None  # resolved v1 settings when autoscale is on


def scale(
    service: LegacyService, instance_override: int | None, kubernetes: bool = False
) -> tuple[Scale, list[Finding]]:
    """`kubernetes`: the autoscaler becomes TargetUtilization scale settings, not Azure Monitor."""
    findings: list[Finding] = []
    if instance_override is not None:
        return Scale(instance_override, None), findings
    if service.compute_type == "ACI":
        return Scale(1, None), findings
    scaler = service.autoscaler
    if scaler is not None and scaler.enabled:
        d = V1_AUTOSCALE_DEFAULTS
        resolved = AutoScaler(
            enabled=True,
            min_replicas=_first(scaler.min_replicas, d.min_replicas),
            max_replicas=_first(scaler.max_replicas, d.max_replicas),
            target_utilization=_first(scaler.target_utilization, d.target_utilization),
            refresh_period_seconds=_first(scaler.refresh_period_seconds, d.refresh_period_seconds),
        )
        low = 1 if resolved.min_replicas is None else resolved.min_replicas
        if low < 1:
            findings.append(
                Finding(
                    Level.WARNING,
                    "clamped-scale",
                    "autoscale minimum below 1; managed deployments keep at least one instance",
                    "autoScaler.minReplicas",
                )
            )
            low = 1
        high = max(resolved.max_replicas or low, low)
        resolved = AutoScaler(
            True, low, high, resolved.target_utilization, resolved.refresh_period_seconds
        )
        findings.append(
            Finding(
                Level.INFO,
                "autoscale",
                f"v1 autoscaler ({low}-{high} replicas, {resolved.target_utilization}% CPU) becomes "
                + (
                    "TargetUtilization scale settings on the Kubernetes deployment"
                    if kubernetes
                    else "an Azure Monitor autoscale setting on the deployment; v2 scale-out "
                    "takes minutes, not seconds, and the refresh period has no equivalent"
                ),
                "autoScaler",
            )
        )
        return Scale(low, resolved), findings
    replicas = service.num_replicas
    if replicas is None or replicas < 1:
        findings.append(
            Finding(
                Level.WARNING,
                "default-replicas",
                "no usable replica count; one instance is used",
                "numReplicas",
            )
        )
        replicas = 1
    return Scale(replicas, None), findings


def autoscale_properties(settings: AutoScaler, deployment_id: DeploymentId) -> Body:
    """A CPU rule pair: out by one above the v1 target, in by one below half of it."""
    target = settings.target_utilization or 70
    low, high = settings.min_replicas or 1, settings.max_replicas or 1

    def rule(direction: str, operator: str, threshold: int) -> Body:
        return {
            "metricTrigger": {
                "metricName": "CpuUtilizationPercentage",
                "metricResourceUri": deployment_id,
                "operator": operator,
                "statistic": "Average",
                "threshold": threshold,
                "timeAggregation": "Average",
                "timeGrain": "PT1M",
                "timeWindow": "PT5M",
            },
            "scaleAction": {
                "cooldown": "PT5M",
                "direction": direction,
                "type": "ChangeCount",
                "value": "1",
            },
        }

    return {
        "enabled": True,
        "profiles": [
            {
                "capacity": {"default": str(low), "maximum": str(high), "minimum": str(low)},
                "name": "default",
                "rules": [
                    rule("Increase", "GreaterThan", target),
                    rule("Decrease", "LessThan", max(target // 2, 1)),
                ],
            }
        ],
        "targetResourceUri": deployment_id,
    }


def _first(value: int | None, default: int | None) -> int | None:
    return default if value is None else value
