"""Mapping rules, one at a time, on LegacyService records."""

from __future__ import annotations

from typing import Any

from generator.diagnostics import Finding, Level
from generator.plan import rules
from generator.plan.model import DeploymentId
from generator.sources.legacy import AutoScaler, LegacyService, LivenessProbe


def svc(**fields: Any) -> LegacyService:
    return LegacyService(
        name="s", compute_type=str(fields.pop("compute_type", "AKS")), index=0, **fields
    )


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def test_auth() -> None:
    assert rules.auth_mode(svc(auth_enabled=True))[0] == "Key"
    mode, findings = rules.auth_mode(svc(auth_enabled=False, aad_auth_enabled=False))
    assert (mode, codes(findings)) == ("Key", ["auth-none"])
    assert findings[0].level is Level.WARNING
    assert rules.auth_mode(svc(aad_auth_enabled=True))[0] == "AMLToken"


def test_request_settings_convert_and_clamp() -> None:
    body, findings = rules.request_settings(
        svc(scoring_timeout_ms=90000, max_concurrent_requests=1, max_queue_wait_ms=500), None
    )
    assert body == {
        "requestTimeout": "PT1M30S",
        "maxConcurrentRequestsPerInstance": 1,
        "maxQueueWait": "PT0.5S",
    }
    assert findings == []
    body, findings = rules.request_settings(svc(scoring_timeout_ms=600000), None)
    assert body == {"requestTimeout": "PT3M"}
    assert codes(findings) == ["clamped-timeout"]


def test_request_timeout_override_wins_and_aci_default_is_explained() -> None:
    body, _ = rules.request_settings(svc(scoring_timeout_ms=1000), 20000)
    assert body == {"requestTimeout": "PT20S"}
    body, findings = rules.request_settings(svc(compute_type="ACI"), None)
    assert body == {}
    assert codes(findings) == ["changed-default"]


def test_concurrency_above_one_mentions_worker_count() -> None:
    _, findings = rules.request_settings(svc(max_concurrent_requests=4), None)
    assert "worker-count" in codes(findings)


def test_liveness_probe_keeps_v1_values_and_fills_v1_defaults() -> None:
    probe, findings = rules.liveness_probe(
        svc(
            liveness_probe=LivenessProbe(
                period_seconds=5,
                initial_delay_seconds=60,
                timeout_seconds=3,
                failure_threshold=4,
                success_threshold=1,
            )
        )
    )
    assert probe == {
        "failureThreshold": 4,
        "initialDelay": "PT1M",
        "period": "PT5S",
        "successThreshold": 1,
        "timeout": "PT3S",
    }
    assert findings == []
    probe, findings = rules.liveness_probe(svc())
    assert probe == {
        "failureThreshold": 3,
        "initialDelay": "PT5M10S",
        "period": "PT10S",
        "successThreshold": 1,
        "timeout": "PT2S",
    }
    assert codes(findings) == ["changed-default"]
    _, findings = rules.liveness_probe(svc(liveness_probe=LivenessProbe(success_threshold=2)))
    assert codes(findings) == ["clamped-probe"]
    assert rules.liveness_probe(svc(compute_type="ACI")) == (None, [])


def test_scale() -> None:
    assert rules.scale(svc(compute_type="ACI"), None)[0] == rules.Scale(1, None)
    assert rules.scale(svc(num_replicas=3), None)[0] == rules.Scale(3, None)
    assert rules.scale(svc(num_replicas=3), 5)[0] == rules.Scale(5, None)
    scale, findings = rules.scale(svc(num_replicas=0), None)
    assert scale == rules.Scale(1, None) and codes(findings) == ["default-replicas"]


def test_unset_replicas_keep_v1_autoscaling() -> None:
    """v1 AKS autoscaled (1-10 replicas, 70 % CPU) when no replica count was given."""
    for service in (svc(), svc(autoscaler=AutoScaler())):
        scale, findings = rules.scale(service, None)
        assert scale.instances == 1
        assert scale.autoscale == AutoScaler(True, 1, 10, 70, 1)
        assert codes(findings) == ["v1-default-kept", "autoscale"]
    off = svc(num_replicas=2, autoscaler=AutoScaler(enabled=False))
    assert rules.scale(off, None) == (rules.Scale(2, None), [])


def test_unset_aks_timeout_keeps_v1_60_seconds() -> None:
    body, findings = rules.request_settings(svc(), None)
    assert body == {"requestTimeout": "PT1M"}
    assert codes(findings) == ["v1-default-kept"]
    assert "60 s" in findings[0].message and "5 s" in findings[0].message
    body, _ = rules.request_settings(svc(compute_type="AKSENDPOINT"), None, 30_000)
    assert body == {"requestTimeout": "PT30S"}  # within the limit given


def test_unset_aks_auth_is_v1_key_auth() -> None:
    assert rules.auth_mode(svc()) == ("Key", [])
    assert rules.key_auth(svc()) and not rules.key_auth(svc(compute_type="ACI"))
    assert not rules.key_auth(svc(aad_auth_enabled=True))
    assert codes(rules.auth_mode(svc(compute_type="ACI"))[1]) == ["auth-none"]


def test_moves_region_and_chosen_dns_label() -> None:
    aci = svc(
        compute_type="ACI",
        location="East US 2",
        public_fqdn="sentiment.eastus2.azurecontainer.io",
    )
    findings = rules.moves(aci, "westeurope", kubernetes=False)
    assert codes(findings) == ["region-change", "dns-label-lost"]
    assert "eastus2" in findings[0].message and "westeurope" in findings[0].message
    assert "'sentiment'" in findings[1].message
    generated = svc(
        compute_type="ACI",
        location="westeurope",
        public_fqdn="ddde8e29-3e3a-42d2-980d-8fb7e005ab81.westeurope.azurecontainer.io",
    )
    assert rules.moves(generated, "westeurope", kubernetes=False) == []
    assert rules.moves(svc(location="eastus"), "westeurope", kubernetes=False) == []


def test_autoscale_uses_v1_settings_and_defaults() -> None:
    scale, findings = rules.scale(
        svc(
            autoscaler=AutoScaler(
                enabled=True, min_replicas=2, max_replicas=6, target_utilization=60
            )
        ),
        None,
    )
    assert scale.instances == 2
    assert scale.autoscale is not None
    assert (scale.autoscale.min_replicas, scale.autoscale.max_replicas) == (2, 6)
    assert codes(findings) == ["autoscale"]
    # v1 defaults: 1..10 replicas at 70 %
    scale, _ = rules.scale(svc(autoscaler=AutoScaler(enabled=True)), None)
    assert scale.autoscale is not None
    assert (
        scale.autoscale.min_replicas,
        scale.autoscale.max_replicas,
        scale.autoscale.target_utilization,
    ) == (1, 10, 70)
    scale, findings = rules.scale(svc(autoscaler=AutoScaler(enabled=True, min_replicas=0)), None)
    assert scale.instances == 1 and "clamped-scale" in codes(findings)


def test_autoscale_rules_target_the_deployment() -> None:
    target = DeploymentId("ep", "blue")
    body: Any = rules.autoscale_properties(AutoScaler(True, 2, 6, 60, 1), target)
    assert body["targetResourceUri"] == target
    profile = body["profiles"][0]
    assert profile["capacity"] == {"default": "2", "maximum": "6", "minimum": "2"}
    out, down = profile["rules"]
    assert (out["metricTrigger"]["threshold"], out["scaleAction"]["direction"]) == (60, "Increase")
    assert (down["metricTrigger"]["threshold"], down["scaleAction"]["direction"]) == (
        30,
        "Decrease",
    )
    assert out["metricTrigger"]["metricName"] == "CpuUtilizationPercentage"
