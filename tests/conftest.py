"""Shared fixtures: the example snapshot, snapshot builders, and the hclfmt binary."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "snapshot"
WORKSPACE = {
    "subscriptionId": "00000000-1111-2222-3333-444444444444",
    "resourceGroup": "rg-test",
    "name": "ws-test",
    "location": "westeurope",
}


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """gen-iac's per-user cache (compiled templates, --check records) in a folder of the
    suite's own, never the user's ~/.cache."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    os.environ.pop("GEN_IAC_NO_CACHE", None)


@pytest.fixture
def example_services() -> list[dict[str, Any]]:
    data = json.loads((EXAMPLE / "snapshot.json").read_text(encoding="utf-8"))
    services: list[dict[str, Any]] = data["services"]
    return services


SnapshotFactory = Callable[..., Path]


@pytest.fixture
def make_snapshot(tmp_path: Path) -> SnapshotFactory:
    """Write a snapshot directory from service payloads (and optional keys) and return it."""
    counter = iter(range(1000))

    def make(
        services: list[Any],
        keys: dict[str, Any] | None = None,
        workspace: dict[str, Any] | None = None,
    ) -> Path:
        directory = tmp_path / f"snapshot{next(counter)}"
        directory.mkdir()
        doc = {"workspace": workspace or WORKSPACE, "services": services}
        (directory / "snapshot.json").write_text(json.dumps(doc), encoding="utf-8")
        if keys is not None:
            path = directory / "keys.json"
            path.write_text(json.dumps(keys), encoding="utf-8")
            path.chmod(0o600)
        return directory

    return make


def aci(name: str = "svc-aci", **fields: Any) -> dict[str, Any]:
    """A minimal environment-based ACI service payload."""
    payload: dict[str, Any] = {
        "name": name,
        "computeType": "ACI",
        "containerResourceRequirements": {"cpu": 1, "memoryInGB": 1},
        "authEnabled": True,
        "scoringUri": f"http://{name}.westeurope.azurecontainer.io/score",
        "environmentImageRequest": {
            "modelIds": ["model-a:1"],
            "environment": {
                "name": "env-a",
                "version": "1",
                "environmentVariables": {"AZUREML_ENTRY_SCRIPT": "score.py"},
            },
        },
    }
    payload.update(fields)
    return payload


def aks(name: str = "svc-aks", **fields: Any) -> dict[str, Any]:
    payload = aci(name)
    payload.update(
        {
            "computeType": "AKS",
            "containerResourceRequirements": {
                "cpu": 2,
                "cpuLimit": None,
                "memoryInGB": 4,
                "memoryInGBLimit": None,
                "gpu": 0,
            },
            "numReplicas": 2,
            "autoScaler": {"autoscaleEnabled": False},
            "scoringTimeoutMs": 60000,
            "maxConcurrentRequestsPerContainer": 1,
            "maxQueueWaitMs": 500,
            "scoringUri": f"http://10.0.0.1:80/api/v1/service/{name}/score",
        }
    )
    payload.update(fields)
    return payload


@pytest.fixture(scope="session")
def hclfmt() -> str:
    """The hclfmt binary; CI must have it (scripts/install-hclfmt.sh builds it)."""
    found = shutil.which("hclfmt") or (
        str(ROOT / ".tools/bin/hclfmt") if (ROOT / ".tools/bin/hclfmt").exists() else None
    )
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("hclfmt is missing in CI: run scripts/install-hclfmt.sh (make test does)")
    pytest.skip("hclfmt not built: run scripts/install-hclfmt.sh")
