"""A stand-in `az` on PATH for running generated scripts: Azure is mocked at the command line.

`az rest --method get --url URL [--query Q] [--output tsv|json]` answers with the ARM body
recorded for URL (the shapes ARM returns: list pages with `value` and `nextLink`, resources
with id, name, type, sku and properties), applies `--query` with jmespath as az does
(knack's CLIQuery) and prints it with az's own formatters (knack.output), printing nothing for
a null result as az does. A URL with no answer fails as az does on a 404. `az storage ...`
succeeds (or fails when asked). Every call is recorded.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ARM = "https://management.azure.com"
API = "2025-12-01"

# The program written to bin/az: argv in, ARM answers from $AZ_ANSWERS, calls to $AZ_LOG.
PROGRAM = """
import json, os, sys
from collections import OrderedDict

import jmespath
from knack.output import format_json, format_tsv
from knack.util import CommandResultItem

args = sys.argv[1:]
with open(os.environ["AZ_LOG"], "a", encoding="utf-8") as log:
    log.write("\\0".join(args) + "\\n")


def option(name, default=None):
    return args[args.index(name) + 1] if name in args else default


if args[:1] == ["storage"]:
    if os.environ.get("AZ_FAIL_UPLOAD"):
        sys.stderr.write("ERROR: upload refused\\n")
        sys.exit(1)
    sys.exit(0)
if args[:1] != ["rest"] or option("--method", "get").lower() != "get":
    sys.stderr.write("unexpected az call: " + " ".join(args) + "\\n")
    sys.exit(9)
url = option("--url")
if url.startswith(os.environ["AZ_ARM"]):
    url = url[len(os.environ["AZ_ARM"]):]
with open(os.environ["AZ_ANSWERS"], encoding="utf-8") as f:
    answers = json.load(f)
if url not in answers:
    sys.stderr.write("ERROR: Not Found({\\"error\\":{\\"code\\":\\"NotFound\\"}})\\n")
    sys.exit(3)
result = answers[url]
if isinstance(result, dict) and "__fail__" in result:
    sys.stderr.write("ERROR: " + result["__fail__"] + "\\n")
    sys.exit(1)
query = option("--query")
if query:
    result = jmespath.search(query, result, jmespath.Options(OrderedDict))
if result is not None:
    formatter = format_tsv if option("--output", "json") == "tsv" else format_json
    sys.stdout.write(formatter(CommandResultItem(result)))
"""


@dataclass
class LiveDeployment:
    name: str
    capacity: int = 1
    instance_type: str = "Standard_DS3_v2"


@dataclass
class LiveEndpoint:
    """An online endpoint as it exists in the workspace."""

    name: str
    traffic: dict[str, int] = field(default_factory=dict)
    mirror_traffic: dict[str, int] = field(default_factory=dict)
    deployments: list[LiveDeployment] = field(default_factory=list)
    auth_mode: str = "Key"


@dataclass
class Workspace:
    """What a workspace holds, as ARM lists it: its default datastore (None: none is set as
    the default) and its online endpoints, `page_size` per page of a list."""

    id: str
    location: str = "westeurope"
    datastore: tuple[str, str, str] | None = (
        "workspaceblobstore",
        "stmlwtest",
        "azureml-blobstore-test",
    )
    endpoints: list[LiveEndpoint] = field(default_factory=list)
    page_size: int = 100
    failing: set[str] = field(default_factory=set)  # URLs whose GET fails (throttled, 500)

    def answers(self) -> dict[str, Any]:
        """ARM's answer to each GET the scripts make, by URL (path and query)."""
        found: dict[str, Any] = {}
        found[f"{self.id}/datastores?api-version={API}&isDefault=true"] = {
            "value": [self._datastore()] if self.datastore else []
        }
        found.update(
            self._pages(
                f"{self.id}/onlineEndpoints?api-version={API}",
                [self._endpoint(e) for e in self.endpoints],
            )
        )
        for e in self.endpoints:
            found.update(
                self._pages(
                    f"{self.id}/onlineEndpoints/{e.name}/deployments?api-version={API}",
                    [self._deployment(e, d) for d in e.deployments],
                )
            )
        for url in self.failing:
            found[url] = {"__fail__": "(TooManyRequests) the request was throttled"}
        return found

    def _pages(self, url: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        pages: dict[str, Any] = {}
        chunks = [items[i : i + self.page_size] for i in range(0, len(items), self.page_size)]
        for n, chunk in enumerate(chunks or [[]]):
            here = url if n == 0 else f"{url}&$skipToken={n}"
            page: dict[str, Any] = {"value": chunk}
            if n + 1 < len(chunks):
                page["nextLink"] = f"{ARM}{url}&$skipToken={n + 1}"
            pages[here] = page
        return pages

    def _datastore(self) -> dict[str, Any]:
        assert self.datastore is not None
        name, account, container = self.datastore
        return {
            "id": f"{self.id}/datastores/{name}",
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/datastores",
            "properties": {
                "accountName": account,
                "containerName": container,
                "credentials": {"credentialsType": "AccountKey"},
                "datastoreType": "AzureBlob",
                "endpoint": "core.windows.net",
                "isDefault": True,
                "protocol": "https",
                "serviceDataAccessAuthIdentity": "WorkspaceSystemAssignedIdentity",
                "tags": {},
            },
            "systemData": _SYSTEM_DATA,
        }

    def _endpoint(self, e: LiveEndpoint) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "authMode": e.auth_mode,
            "provisioningState": "Succeeded",
            "publicNetworkAccess": "Enabled",
            "scoringUri": f"https://{e.name}.{self.location}.inference.ml.azure.com/score",
            "swaggerUri": f"https://{e.name}.{self.location}.inference.ml.azure.com/swagger.json",
            "traffic": dict(e.traffic),
        }
        if e.mirror_traffic:
            properties["mirrorTraffic"] = dict(e.mirror_traffic)
        return {
            "id": f"{self.id}/onlineEndpoints/{e.name}",
            "name": e.name,
            "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
            "location": self.location,
            "kind": "Managed",
            "identity": {
                "type": "SystemAssigned",
                "principalId": "11111111-1111-1111-1111-111111111111",
                "tenantId": "22222222-2222-2222-2222-222222222222",
            },
            "tags": {},
            "properties": properties,
            "systemData": _SYSTEM_DATA,
        }

    def _deployment(self, e: LiveEndpoint, d: LiveDeployment) -> dict[str, Any]:
        return {
            "id": f"{self.id}/onlineEndpoints/{e.name}/deployments/{d.name}",
            "name": d.name,
            "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
            "location": self.location,
            "kind": "Managed",
            "sku": {"name": "Default", "tier": "Standard", "capacity": d.capacity},
            "tags": {},
            "properties": {
                "endpointComputeType": "Managed",
                "instanceType": d.instance_type,
                "provisioningState": "Succeeded",
                "scaleSettings": {"scaleType": "Default"},
            },
            "systemData": _SYSTEM_DATA,
        }


_SYSTEM_DATA = {
    "createdAt": "2026-01-12T09:30:00.0000000Z",
    "createdBy": "pipeline@contoso.com",
    "createdByType": "Application",
    "lastModifiedAt": "2026-01-12T09:30:00.0000000Z",
}


def install(
    bin_dir: Path, workspace: Workspace, log: Path, fail_upload: bool = False
) -> dict[str, str]:
    """Writes bin/az and its answers; returns the environment the script runs with."""
    az = bin_dir / "az"
    az.write_text(f"#!{sys.executable}\n{PROGRAM}", encoding="utf-8")
    az.chmod(0o755)
    answers = bin_dir.parent / "arm-answers.json"
    answers.write_text(json.dumps(workspace.answers()), encoding="utf-8")
    log.touch()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "AZ_LOG": str(log),
        "AZ_ANSWERS": str(answers),
        "AZ_ARM": ARM,
    }
    if fail_upload:
        env["AZ_FAIL_UPLOAD"] = "1"
    return env


def read_calls(log: Path) -> list[list[str]]:
    """Every az invocation's arguments, in order."""
    return [line.split("\0") for line in log.read_text(encoding="utf-8").splitlines()]
