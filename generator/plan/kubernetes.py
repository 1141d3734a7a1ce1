"""Rules for Kubernetes online endpoints (an AKS or Arc cluster attached as a v2 compute).

Reference: v2-arm-reference.md sections 2.1, 3, 3.1 and 3.2.
"""

from __future__ import annotations

import math
from decimal import Decimal

from generator.plan.durations import iso_duration_s
from generator.plan.model import Body
from generator.plan.rules import Scale
from generator.sources.legacy import Resources

# Kubernetes endpoints: len(endpoint) + len(deployment) must be 6-62 (how-to-manage-quotas).
NAME_LENGTHS = (6, 62)
MAX_REQUEST_TIMEOUT_MS = 300_000

PREREQUISITES = (
    "install the Azure ML extension (Microsoft.KubernetesConfiguration/extensions, "
    "extensionType Microsoft.AzureML.Kubernetes) on the cluster with inference enabled",
    "attach the cluster to the workspace as a compute of type Kubernetes under the name "
    "given with --compute",
    "create instance types on the cluster for the sizes you want (otherwise the default "
    "instance type applies and the requests below are the container's own)",
    "a v1 AKS inference cluster (compute type AKS, azureml-fe) cannot host v2 endpoints as "
    "is: remove the v1 azureml-fe resources before installing the extension, or use a new "
    "cluster",
)


def name_length_ok(endpoint: str, deployment: str) -> bool:
    low, high = NAME_LENGTHS
    return low <= len(endpoint) + len(deployment) <= high


def cpu_quantity(cores: float) -> str:
    """v1 cores as a Kubernetes CPU quantity: whole cores plain, fractions in millicores."""
    if float(cores).is_integer():
        return str(int(cores))
    # Decimal, not float: 4.03 * 1000 is 4030.000000000001 in binary floating point.
    return f"{math.ceil(Decimal(str(cores)) * 1000)}m"


def memory_quantity(gb: float) -> str:
    """v1 memoryInGB as a Kubernetes quantity in Gi (fractions in whole Mi, rounded up)."""
    if float(gb).is_integer():
        return f"{int(gb)}Gi"
    return f"{math.ceil(gb * 1024)}Mi"


def container_resources(resources: Resources | None) -> Body | None:
    """`containerResourceRequirements` from the v1 requests and limits; None when v1 had none."""
    if resources is None:
        return None
    requests = _quantities(resources.cpu, resources.memory_gb, resources.gpu)
    limits = _quantities(resources.cpu_limit, resources.memory_gb_limit, resources.gpu)
    found: Body = {}
    if requests:
        found["containerResourceRequests"] = requests
    if limits:
        found["containerResourceLimits"] = limits
    return found or None


def _quantities(cpu: float | None, memory: float | None, gpu: float | None) -> Body:
    """Positive values only: v1 sent 0 (or nothing) for "no request"; a negative value is
    no Kubernetes quantity at all ("-1" would fail at apply time)."""
    found: Body = {}
    if cpu is not None and cpu > 0:
        found["cpu"] = cpu_quantity(cpu)
    if gpu is not None and gpu > 0:
        found["gpu"] = str(math.ceil(gpu))
    if memory is not None and memory > 0:
        found["memory"] = memory_quantity(memory)
    return found


def scale_settings(scale: Scale) -> Body:
    """The v1 autoscaler maps one to one onto TargetUtilization; without it, a fixed count."""
    scaler = scale.autoscale
    if scaler is None:
        return {"scaleType": "Default"}
    body: Body = {
        "maxInstances": scaler.max_replicas,
        "minInstances": scaler.min_replicas,
        "scaleType": "TargetUtilization",
    }
    if scaler.refresh_period_seconds:
        body["pollingInterval"] = iso_duration_s(scaler.refresh_period_seconds)
    if scaler.target_utilization is not None:
        body["targetUtilizationPercentage"] = scaler.target_utilization
    return dict(sorted(body.items()))
