"""Benchmark: generate N synthetic services and compare with the floor (read the same JSON,
write the same files). Prints wall time and peak memory of each, in fresh processes.

    python scripts/benchmark.py [--counts 1000 10000] [--targets terraform bicep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FLOOR = r"""
import json, os, sys
from pathlib import Path
snapshot, listing, out = sys.argv[1:4]
json.loads(Path(snapshot).read_text(encoding="utf-8"))
for line in Path(listing).read_text().splitlines():
    path, size = line.rsplit("\t", 1)
    target = Path(out) / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"x" * int(size))
"""


def synthetic(count: int) -> dict[str, Any]:
    services = []
    for i in range(count):
        kind = "AKS" if i % 3 else "ACI"
        service: dict[str, Any] = {
            "name": f"svc-{i:05d}",
            "computeType": kind,
            "description": f'Service {i}: "quoted" \\ ${{x}} %{{y}} ünï\nline two',
            "kvTags": {"team": f"team-{i % 17}", "cost-center": f"CC-{i % 101}"},
            "containerResourceRequirements": {
                "cpu": [0.5, 1, 2, 3, 4][i % 5],
                "memoryInGB": [1, 2, 4, 8, 16][i % 5],
            },
            "authEnabled": i % 4 != 0,
            "appInsightsEnabled": i % 2 == 0,
            "scoringUri": f"http://10.0.{i // 250}.{i % 250}:80/api/v1/service/svc-{i:05d}/score",
            "environmentImageRequest": {
                "modelIds": [f"model-{i % 50}:{i % 7 + 1}"],
                "environment": {
                    "name": f"env-{i % 20}",
                    "version": "3",
                    "environmentVariables": {
                        "AZUREML_ENTRY_SCRIPT": "src/score.py",
                        "AZUREML_SOURCE_DIRECTORY": "src",
                    },
                },
            },
        }
        if kind == "AKS":
            service.update(
                {
                    "numReplicas": 2,
                    "autoScaler": {
                        "autoscaleEnabled": i % 2 == 0,
                        "minReplicas": 1,
                        "maxReplicas": 5,
                        "targetUtilization": 70,
                        "refreshPeriodInSeconds": 1,
                    },
                    "scoringTimeoutMs": 60000,
                    "maxConcurrentRequestsPerContainer": 1,
                    "maxQueueWaitMs": 500,
                    "livenessProbeRequirements": {
                        "periodSeconds": 10,
                        "initialDelaySeconds": 310,
                        "timeoutSeconds": 2,
                        "failureThreshold": 3,
                        "successThreshold": 1,
                    },
                }
            )
        services.append(service)
    workspace = {
        "subscriptionId": "00000000-0000-0000-0000-000000000000",
        "resourceGroup": "rg-bench",
        "name": "ws-bench",
        "location": "westeurope",
    }
    return {"workspace": workspace, "services": services}


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a fresh child process."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{argv[:3]} failed with status {status}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--targets", nargs="+", default=["terraform"])
    args = parser.parse_args()
    print(
        f"{'services':>8} {'gen-iac s':>10} {'MiB':>7} {'floor s':>8} {'MiB':>7} {'ratio':>6} {'files':>7}"
    )
    for count in args.counts:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            snapshot = root / "snapshot.json"
            snapshot.write_text(json.dumps(synthetic(count)), encoding="utf-8")
            out = root / "out"
            targets = [a for t in args.targets for a in ("--target", t)]
            gen_s, gen_mb = timed(
                [
                    sys.executable,
                    "-m",
                    "generator",
                    *targets,
                    "--input",
                    str(snapshot),
                    "--out",
                    str(out),
                    "--quiet",
                ]
            )
            files = [p for p in out.rglob("*") if p.is_file()]
            listing = root / "listing.tsv"
            listing.write_text(
                "".join(f"{p.relative_to(out)}\t{p.stat().st_size}\n" for p in files)
            )
            floor_s, floor_mb = timed(
                [sys.executable, "-c", FLOOR, str(snapshot), str(listing), str(root / "floor")]
            )
            print(
                f"{count:>8} {gen_s:>10.2f} {gen_mb:>7.0f} {floor_s:>8.2f} {floor_mb:>7.0f} "
                f"{gen_s / floor_s:>6.1f} {len(files):>7}"
            )


if __name__ == "__main__":
    main()
