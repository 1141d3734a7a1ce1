"""Two sides of the churn example on loopback, and a stand-in for Azure Resource Manager.

- v1: the churn service's own code (the snapshot's source tarball, `src/`) under
  azureml-inference-server-http, behind a gateway that checks the v1 key as ACI does.
- v2: the bundle a generate wrote (`bundles/<ws>/code/churn-aci-blue`) under the same server,
  three times: with the same model, with a retrained model (another bias: predictions move),
  and with a broken model (two weights for three features: every request is a 500). One v2
  gateway checks the v2 key and the deployment header as a managed endpoint does, forwards to
  the server a test picks, and can delay answers or throttle (429) to simulate the network.
- ARM: GET onlineEndpoints/{name}, POST listKeys and token, in the shape Azure answers
  (tests/export/recordings/arm_online_endpoints.json), checking the bearer token.
The scoring code is real; only Azure (ARM, its gateways) is a stand-in. Servers start once per
session; ports are free ones on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import http.server
import json
import shutil
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from generator import smoke
from generator.pipeline import Options, generate
from tests.conftest import EXAMPLE, ROOT

WS = json.loads((EXAMPLE / "snapshot.json").read_text(encoding="utf-8"))["workspace"]
CHURN_TARBALL = EXAMPLE / "assets/churn-aci/7d3e9a1c.tar.gz"
CHURN_MODEL = ROOT / "examples/models/churn-model/3"
BUNDLE = f"bundles/{WS['name']}/code/churn-aci-blue"
# Secrets: none of them may appear in any output.
V1_KEY = "v1KEY-7f3a9c2e-churn-aci-primary"
V2_KEY = "v2KEY-0b8d4e61-churn-aci-primary"
AML_TOKEN = "amlTOKEN-5c1f9a77"
ARM_TOKEN = "armTOKEN-e2d4c6a8"
SECRETS = (V1_KEY, V2_KEY, AML_TOKEN, ARM_TOKEN)


class FakeCredential:
    """azure-identity's side of the token boundary (Entra ID cannot run here)."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(ARM_TOKEN, int(time.time()) + 3600)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def serve(handler: type[http.server.BaseHTTPRequestHandler], owner: Any) -> tuple[_Server, int]:
    server = _Server(("127.0.0.1", 0), handler)
    server.owner = owner  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


@dataclass
class Gateway:
    """What stands in front of a scoring server in Azure: it checks the key, routes to the
    server a test picks, and may delay or throttle."""

    key: str
    backend: int
    deployment: str | None = None  # the header v2 needs (a managed endpoint routes by it)
    delay: float = 0.0
    throttle: int = 0  # answer this many requests with 429 first
    seen: list[dict[str, str]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/score"


class _GatewayHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        gw: Gateway = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        gw.seen.append(dict(self.headers))
        if self.headers.get("Authorization") != f"Bearer {gw.key}":
            return self._answer(401, b'{"message": "invalid key"}')
        if gw.deployment and self.headers.get("azureml-model-deployment") != gw.deployment:
            return self._answer(404, b'{"message": "no such deployment"}')
        if gw.throttle > 0:
            gw.throttle -= 1
            return self._answer(429, b'{"message": "throttled"}', {"Retry-After": "0"})
        time.sleep(gw.delay)
        connection = http.client.HTTPConnection("127.0.0.1", gw.backend, timeout=30)
        try:
            connection.request("POST", "/score", body, {"Content-Type": "application/json"})
            answer = connection.getresponse()
            data = answer.read()
            self._answer(answer.status, data, {"Content-Type": answer.getheader("Content-Type", "")})
        except OSError:
            pass  # the client gave up (a timeout test)
        finally:
            connection.close()

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass


@dataclass
class FakeArm:
    """Online endpoints by name -> (scoring URI, authMode)."""

    endpoints: dict[str, tuple[str, str]] = field(default_factory=dict)
    key: str = V2_KEY
    calls: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


_ENDPOINT_PATH = (
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices"
    "/workspaces/{ws}/onlineEndpoints/"
).format(sub=WS["subscriptionId"], rg=WS["resourceGroup"], ws=WS["name"])


class _ArmHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._route("POST")

    def _route(self, method: str) -> None:
        arm: FakeArm = self.server.owner  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        arm.calls.append(f"{method} {parts.path}")
        if self.headers.get("Authorization") != f"Bearer {ARM_TOKEN}":
            return self._json(401, {"error": {"code": "AuthenticationFailed",
                                              "message": "Authentication failed."}})
        if parse_qs(parts.query).get("api-version") != ["2025-12-01"]:
            return self._json(400, {"error": {"code": "InvalidApiVersionParameter",
                                              "message": "The api-version is invalid."}})
        if not parts.path.startswith(_ENDPOINT_PATH):
            return self._json(404, {"error": {"code": "PathNotFound", "message": "no route"}})
        name, _, action = parts.path[len(_ENDPOINT_PATH):].partition("/")
        if name not in arm.endpoints:
            return self._json(404, {"error": {
                "code": "ResourceNotFound",
                "message": f"The Resource 'Microsoft.MachineLearningServices/workspaces/"
                f"{WS['name']}/onlineEndpoints/{name}' under resource group "
                f"'{WS['resourceGroup']}' was not found.",
            }})
        uri, mode = arm.endpoints[name]
        if method == "GET" and not action:
            return self._json(200, endpoint_payload(name, uri, mode))
        if method == "POST" and action == "listKeys":
            return self._json(200, {"primaryKey": arm.key, "secondaryKey": arm.key[::-1]})
        if method == "POST" and action == "token":
            now = int(time.time())
            return self._json(200, {"accessToken": AML_TOKEN, "expiryTimeUtc": now + 3600,
                                    "refreshAfterTimeUtc": now + 1800, "tokenType": "Bearer"})
        return self._json(404, {"error": {"code": "PathNotFound", "message": "no route"}})

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def endpoint_payload(name: str, uri: str, mode: str) -> dict[str, Any]:
    """An online endpoint as ARM returns it (see tests/export/recordings)."""
    rid = _ENDPOINT_PATH + name
    return {
        "id": rid,
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
        "location": WS["location"],
        "tags": {"gen-iac": "true"},
        "kind": "Managed",
        "identity": {"type": "SystemAssigned", "principalId": "9a8b7c6d-0000-0000-0000-000000000003",
                     "tenantId": "72f988bf-0000-0000-0000-000000000000"},
        "properties": {
            "authMode": mode,
            "properties": {"azureml.onlineendpointid": rid},
            "scoringUri": uri,
            "swaggerUri": uri.rsplit("/", 1)[0] + "/swagger.json",
            "traffic": {"blue": 100},
            "mirrorTraffic": {},
            "publicNetworkAccess": "Enabled",
            "provisioningState": "Succeeded",
        },
        "systemData": {"createdAt": "2026-12-01T10:00:00.0000000Z", "createdByType": "User"},
    }


@dataclass
class Sides:
    snapshot: Path
    out: Path
    v1: Gateway
    v2: Gateway
    arm: FakeArm
    ports: dict[str, int]  # v2 servers: same, changed, broken


def _extract_v1(dest: Path) -> Path:
    with tarfile.open(CHURN_TARBALL, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith("src/"):
                stream = tar.extractfile(member)
                assert stream is not None
                path = dest / member.name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(stream.read())
    return dest / "src"


def _model(dest: Path, **changes: Any) -> Path:
    model = json.loads((CHURN_MODEL / "model.json").read_text(encoding="utf-8"))
    model.update(changes)
    dest.mkdir(parents=True)
    (dest / "model.json").write_text(json.dumps(model), encoding="utf-8")
    return dest


@pytest.fixture(scope="session")
def sides(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sides]:
    root = tmp_path_factory.mktemp("verify")
    v1 = Gateway(V1_KEY, 0)
    v2 = Gateway(V2_KEY, 0, deployment="blue")
    gateways = [serve(_GatewayHandler, v1), serve(_GatewayHandler, v2)]
    v1.port, v2.port = gateways[0][1], gateways[1][1]
    arm = FakeArm()
    arm_server, arm.port = serve(_ArmHandler, arm)

    snapshot = root / "snapshot"
    shutil.copytree(EXAMPLE, snapshot)
    doc = json.loads((snapshot / "snapshot.json").read_text(encoding="utf-8"))
    for service in doc["services"]:
        if service["name"] == "churn-aci":
            service["scoringUri"] = v1.url
    (snapshot / "snapshot.json").write_text(json.dumps(doc), encoding="utf-8")
    out = root / "out"
    generate(Options(input=snapshot, out=out, targets=("terraform",)))

    code_v1 = _extract_v1(root / "v1")
    code_v2 = out / BUNDLE
    models = {
        "v1": CHURN_MODEL,
        "same": CHURN_MODEL,
        "changed": _model(root / "changed", bias=-1.30),  # retrained: 1-5 % off
        "broken": _model(root / "broken", weights=[-1.12, 0.58]),
    }
    servers: dict[str, tuple[smoke.Server, int, Path]] = {}
    try:
        for name, model in models.items():
            code = code_v1 if name == "v1" else code_v2
            port = smoke.pick_port(None)
            script = code / "score.py"
            servers[name] = (
                smoke.Server(smoke.server_command(sys.executable, script, port), code,
                             smoke.server_env(code, model)),
                port,
                script,
            )
        for server, port, script in servers.values():
            smoke.wait_until_live(server, port, 90, script.name)
        v1.backend = servers["v1"][1]
        v2.backend = servers["same"][1]
        arm.endpoints["churn-aci"] = (v2.url, "Key")
        yield Sides(snapshot, out, v1, v2, arm,
                    {name: port for name, (_, port, _) in servers.items()})
    finally:
        for scoring, _, _ in servers.values():
            scoring.stop()
        for http_server in [gateways[0][0], gateways[1][0], arm_server]:
            http_server.shutdown()
