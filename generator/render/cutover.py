"""CUTOVER.md: per migrated service, what the teams that call it change, and in which order.

Rendered from the migration report's data (the dict that becomes migration.json) and the
verify statuses (`sources.verified`): a generate renders it from its plan, `gen-iac verify`
renders it again from migration.json with the statuses it found, and both give the same
bytes for the same statuses, so `--check` stays quiet after a verify. That data is read back
from `--out` by verify, so every value is checked for its type here and reaches the Markdown
only through `render.markdown` (names and URLs as code spans, shell lines quoted with
`shlex.quote`, Python literals with `repr`, inside fences longer than any backtick run).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from generator.files import RenderedFile
from generator.render import markdown
from generator.sources.verified import Verified

CUTOVER = "CUTOVER.md"
# Entra audiences of the AADToken endpoints, by ARM host (azure-ai-ml's cloud table).
ML_RESOURCE = "https://ml.azure.com"
REQUEST_FILE = "request.json"
KEY_VARIABLE = "ENDPOINT_KEY"
TOKEN_VARIABLE = "ENDPOINT_TOKEN"
_RANK = {"agrees": 0, "answers": 1, None: 2, "no-request": 2, "slower": 3, "differs": 4,
         "failed": 5}


def render_cutover(migration: Mapping[str, Any], verified: Mapping[str, Verified]) -> RenderedFile:
    from generator.render.report import _environment

    view = cutover_view(migration, verified)
    return RenderedFile(CUTOVER, _environment().get_template("CUTOVER.md.j2").render(view))


def cutover_view(migration: Mapping[str, Any], verified: Mapping[str, Verified]) -> dict[str, Any]:
    ws = _obj(migration.get("workspace"))
    workspace = {k: _str(ws.get(k)) for k in ("subscriptionId", "resourceGroup", "name", "location")}
    raw = migration.get("services")
    services = [
        _service(s, verified)
        for s in (raw if isinstance(raw, list) else [])
        if isinstance(s, dict) and s.get("status") == "migrated" and isinstance(s.get("service"), str)
    ]
    order = sorted(services, key=lambda s: (_RANK.get(s["status"], 2), s["name"]))
    return {
        "ws": workspace,
        "services": services,
        "order": order,
        "verified": sum(s["status"] in ("agrees", "answers") for s in services),
        "defaults": markdown.fenced(
            [
                shlex.join(["az", "account", "set", "--subscription", workspace["subscriptionId"]]),
                shlex.join(["az", "configure", "--defaults",
                            f"group={workspace['resourceGroup']}",
                            f"workspace={workspace['name']}"]),
            ],
            "sh",
        ),
        "verify_command": markdown.fenced(
            ["gen-iac verify --out OUT --input SNAPSHOT  # v1 and v2 side by side",
             "gen-iac verify --out OUT --v2-only         # once v1 is gone"], "sh"
        ),
    }


def _service(entry: Mapping[str, Any], verified: Mapping[str, Verified]) -> dict[str, Any]:
    name = str(entry["service"])
    endpoint = _str(entry.get("endpoint"))
    auth = _obj(entry.get("auth"))
    v1_auth = str(auth.get("v1")) if auth.get("v1") in ("key", "token", "none") else "key"
    v2_auth = str(auth.get("v2")) if auth.get("v2") in ("Key", "AMLToken", "AADToken") else "Key"
    deployments = [
        {
            "name": _str(d.get("name")),
            "traffic": _int(d.get("traffic")),
            "mirror": _int(d.get("mirrorTraffic")),
        }
        for d in entry.get("deployments") or []
        if isinstance(d, dict)
    ]
    kind = _str(entry.get("endpointKind")) or "Managed"
    new_url = _str(entry.get("newScoringUri"))
    status = verified.get(name)
    if status is not None and status.endpoint != endpoint:
        status = None  # verified on another endpoint: not this migration's
    variable = KEY_VARIABLE if v2_auth == "Key" else TOKEN_VARIABLE
    v2_command = _credential_command(endpoint, v2_auth)
    v1_secret = {"key": "<v1 key>", "token": "<v1 token>"}.get(v1_auth)
    return {
        "name": name,
        "endpoint": endpoint,
        "old_url": _str(entry.get("oldScoringUri")),
        "new_url": new_url,
        "v1_header": f"Authorization: Bearer {v1_secret}" if v1_secret else "",
        "v1_command": shlex.join(
            ["az", "ml", "service", "get-keys" if v1_auth == "key" else "get-access-token",
             "--name", name]
        ) if v1_secret else "",
        "v2_header": f"Authorization: Bearer ${variable}",
        "v2_command": shlex.join(v2_command),
        "v2_auth": v2_auth,
        "keys_kept": auth.get("keysKept") is True,
        "deployments": deployments,
        "dark": bool(deployments) and all(d["traffic"] == 0 for d in deployments),
        "can_mirror": kind == "Managed" and len(deployments) > 1,
        "kubernetes": kind == "Kubernetes",
        "url_command": shlex.join(["az", "ml", "online-endpoint", "show", "--name", endpoint,
                                   "--query", "scoring_uri", "--output", "tsv"]),
        "status": status.status if status else None,
        "verified": status,
        "curl": markdown.fenced(
            [
                f'{variable}="$({shlex.join(v2_command)})"',
                f"curl --fail-with-body {shlex.quote(new_url)} "
                f'-H "Authorization: Bearer ${variable}" '
                f"-H 'Content-Type: application/json' -d @{REQUEST_FILE}",
            ],
            "sh",
        ),
        "python": markdown.fenced(
            [
                "import os, pathlib, requests  # the request body as the v1 service took it:",
                f"response = requests.post({new_url!r}, "
                f"data=pathlib.Path({REQUEST_FILE!r}).read_bytes(), "
                f'headers={{"Authorization": f"Bearer {{os.environ[{variable!r}]}}", '
                '"Content-Type": "application/json"}, timeout=60)',
                "print(response.status_code, response.text)",
            ],
            "python",
        ),
    }


def _credential_command(endpoint: str, v2_auth: str) -> list[str]:
    """The key or token of an endpoint, with the workspace as the CLI default."""
    if v2_auth == "AADToken":
        return ["az", "account", "get-access-token", "--resource", ML_RESOURCE,
                "--query", "accessToken", "--output", "tsv"]
    query = "primaryKey" if v2_auth == "Key" else "accessToken"
    return ["az", "ml", "online-endpoint", "get-credentials", "--name", endpoint,
            "--query", query, "--output", "tsv"]


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
