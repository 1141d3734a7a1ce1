"""Benchmark `gen-iac export` against the local recorded-Azure server (tests/export/conftest.py).

N synthetic ACI services (two assets each, key auth) are served with a fixed latency per
request; the credential takes a fixed time per token, as `az login` does (one process per
token). Prints wall time, HTTP requests and token requests.

    PYTHONPATH=. python scripts/bench_export.py [--services 200] [--latency 0.02] [--token-delay 0.2]

Measured on the 2-CPU build machine (200 services, --with-keys, defaults above):
  before (sequential, a token per call):   158.6 s and 163.9 s, 1,007 requests, 606 tokens
  after (8 at a time, tokens cached):       8.0 s and 7.4 s, 1,010 requests, 1 token
(the 3 extra requests read the computes and the v2 endpoints with their deployments)
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def synthetic(azure: Any, count: int, page_size: int, blob_size: int) -> None:
    from tests.export.conftest import MMS

    data = azure.workspaces["ws-legacy"]
    template = copy.deepcopy(data.pages[0]["value"][0])  # aci-iris
    blob_base = data.artifacts["LocalUpload/a1b2c3d4/3f2a9c1e.tar.gz"]["contentinfo"]["contentUri"]
    services: list[dict[str, Any]] = []
    artifacts: dict[str, Any] = {}
    keys: dict[str, Any] = {}
    for i in range(count):
        name = f"svc-{i:04d}"
        service = copy.deepcopy(template)
        service["id"] = service["name"] = name
        container = f"c{i:07x}"
        assets = []
        for asset_id in ("driver.py", "source.tar.gz"):
            key = f"LocalUpload/{container}/{asset_id}"
            assets.append({"id": asset_id, "mimeType": "application/octet-stream",
                           "url": f"aml://artifact/{key}"})
            blob = f"bench-{i}-{asset_id}"
            artifacts[key] = {"blob": blob, "contentinfo": {
                "contentUri": blob_base.replace("LocalUpload/a1b2c3d4/3f2a9c1e.tar.gz", key),
                "origin": "LocalUpload", "container": container, "path": asset_id}}
            data.blobs[blob] = bytes([i % 251]) * blob_size
        service["environmentImageRequest"]["assets"] = assets
        services.append(service)
        keys[name] = {"primaryKey": f"p{i:031d}", "secondaryKey": f"s{i:031d}"}
    pages: list[dict[str, Any]] = []
    for start in range(0, count, page_size):
        page: dict[str, Any] = {"value": services[start:start + page_size]}
        if start + page_size < count:
            page["nextLink"] = (f"{azure.base}{MMS}/services?expand=true"
                                f"&$skipToken={len(pages) + 2}")
        pages.append(page)
    data.pages, data.artifacts, data.keys = pages, artifacts, keys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per HTTP answer")
    parser.add_argument("--token-delay", type=float, default=0.2, help="seconds per token")
    parser.add_argument("--blob-size", type=int, default=64 * 1024)
    args = parser.parse_args()
    from tests.export.conftest import RG, SUB, WS, FakeCredential, start_server

    with tempfile.TemporaryDirectory(prefix="gen-iac-bench-") as tmp:
        azure, env, stop = start_server(Path(tmp))
        os.environ.update(env)
        from generator.export import command

        synthetic(azure, args.services, 100, args.blob_size)
        azure.latency = args.latency
        credential = FakeCredential(delay=args.token_delay)
        err = io.StringIO()
        started = time.perf_counter()
        status = command.main(["--subscription", SUB, "--resource-group", RG, "--workspace", WS,
                               "--out", str(Path(tmp) / "snap"), "--with-keys", "--quiet"],
                              credential=credential, stream=err)
        elapsed = time.perf_counter() - started
        stop()
    print(f"services={args.services} latency={args.latency}s token-delay={args.token_delay}s "
          f"status={status} wall={elapsed:.1f}s http-requests={len(azure.requests)} "
          f"token-requests={len(credential.scopes)}")
    if status:
        print(err.getvalue(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
