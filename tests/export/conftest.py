"""A local HTTPS stand-in for Azure (ARM, workspace discovery, Model Management, artifacts,
blob storage) serving recorded payloads, so the real azureml-core and requests code runs.

Seam: azureml-core takes its cloud table from ARM_CLOUD_METADATA_URL (the Azure CLI's
mechanism for custom clouds) at import time; the recorded metadata names AzureCloud,
AzureChinaCloud and AzureUSGovernment with `resourceManager` = this server. The workspace's
recorded `discoveryUrl` points here too, so every host the SDK discovers is this server.
TLS uses a throw-away self-signed certificate trusted through SSL_CERT_FILE and
REQUESTS_CA_BUNDLE (azure-core refuses bearer tokens over plain http). The only fake is the
credential (Azure AD cannot run here). A socket guard fails any test that leaves 127.0.0.1.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

RECORDINGS = Path(__file__).parent / "recordings"
SUB = "00000000-1111-2222-3333-444444444444"
RG = "rg-ml-legacy"
WS = "ws-legacy"
ARM_WS = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}"
MMS = f"/modelmanagement/v1.0{ARM_WS}"
ARTIFACTS = f"/artifact/v2.0{ARM_WS}/artifacts/contentinfo/"
BLOB = "/blob/azureml/ExperimentRun/dcid."
WS_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)(?P<rest>/.*)?$",
    re.IGNORECASE,
)


@dataclass
class Fault:
    """Answer the next `times` requests whose path contains `path` with this instead."""

    path: str
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    times: int = 1  # -1: always
    drop: bool = False  # close the connection without an answer
    hang: threading.Event | None = None  # block until set (to interrupt an export)
    method: str | None = None
    cut_after: int | None = None  # answer normally but close after this many body bytes


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    authorized: bool
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class WorkspaceData:
    """Everything one workspace serves; built from the recordings, changed by tests."""

    arm: dict[str, Any]
    pages: list[dict[str, Any]]  # MMS /services pages; page n>1 is asked with $skipToken=n
    keys: dict[str, Any]
    artifacts: dict[str, Any]
    computes: list[dict[str, Any]]
    endpoints: list[dict[str, Any]]
    deployments: dict[str, list[dict[str, Any]]]
    images: dict[str, dict[str, Any]]
    blobs: dict[str, bytes] = field(default_factory=dict)  # blob file name -> bytes (extra)
    arm_page_size: int = 0  # >0: page ARM lists (computes, endpoints) with nextLink


class FakeAzure:
    def __init__(self) -> None:
        self.base = ""
        self.faults: list[Fault] = []
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self.reached = threading.Event()  # set when a hanging fault is reached
        self.latency = 0.0  # seconds added to every answer (benchmarks)
        self.jitter: Callable[[], float] | None = None  # a varying delay per answer
        self.workspaces: dict[str, WorkspaceData] = {}

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.requests.clear()
            self.reached.clear()
            self.latency = 0.0
            self.jitter = None
            self.workspaces = {WS.lower(): self.default_workspace()}

    def recording(self, name: str) -> Any:
        text = (RECORDINGS / name).read_text(encoding="utf-8")
        return json.loads(text.replace("{{BASE}}", self.base))

    def default_workspace(self) -> WorkspaceData:
        page1 = self.recording("mms_services_page1.json")
        page1["nextLink"] = page1["nextLink"].replace("eyJwYWdlIjoyfQ%3D%3D", "2")
        endpoints = self.recording("arm_online_endpoints.json")
        return WorkspaceData(
            arm=self.recording("arm_workspace.json"),
            pages=[page1, self.recording("mms_services_page2.json")],
            keys=self.recording("mms_listkeys.json"),
            artifacts=self.recording("artifacts.json"),
            computes=self.recording("arm_computes.json")["value"],
            endpoints=endpoints["endpoints"],
            deployments=endpoints["deployments"],
            images=self.recording("mms_images.json"),
        )

    def add_workspace(self, name: str, data: WorkspaceData) -> None:
        with self.lock:
            self.workspaces[name.lower()] = data

    def fault_for(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path in path and (fault.method in (None, method)) and fault.times != 0:
                    if fault.times > 0:
                        fault.times -= 1
                    return fault
        return None

    def route(self, method: str, path: str, query: dict[str, list[str]],
              headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if path == "/metadata/endpoints":
            return 200, self.recording("arm_cloud_metadata.json"), {}
        if path == "/subscriptions":
            return 200, self.recording("arm_subscriptions.json"), {}
        if path == "/discovery":
            return 200, self.recording("discovery.json"), {}
        for prefix, kind in (("/modelmanagement/v1.0", "mms"), ("/artifact/v2.0", "artifact"),
                             ("", "arm")):
            if path.startswith(prefix + "/subscriptions/"):
                match = WS_PATH.match(path[len(prefix):])
                if match is None:
                    break
                data = self.workspaces.get(unquote(match["ws"]).lower())
                if data is None or match["sub"] != SUB:
                    return 404, _not_found(f"workspace {match['ws']}"), {}
                return self._workspace_route(kind, data, method, match["rest"] or "", query)
        if path.startswith(BLOB):
            return self._blob(unquote(path[len(BLOB):]), headers)
        return 404, _not_found(f"no recording for {method} {path}"), {}

    def _workspace_route(self, kind: str, data: WorkspaceData, method: str, rest: str,
                         query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        parts = [unquote(p) for p in rest.split("/") if p]
        if kind == "arm":
            if not parts:
                return 200, data.arm, {}
            if parts == ["computes"]:
                return 200, self._arm_page(data, data.computes, rest, query), {}
            if parts == ["onlineEndpoints"]:
                return 200, self._arm_page(data, data.endpoints, rest, query), {}
            if len(parts) == 3 and parts[0] == "onlineEndpoints" and parts[2] == "deployments":
                if not any(e.get("name") == parts[1] for e in data.endpoints):
                    return 404, _not_found(f"endpoint {parts[1]}"), {}
                items = data.deployments.get(parts[1], [])
                return 200, self._arm_page(data, items, rest, query), {}
        elif kind == "mms":
            if parts == ["services"] and method == "GET":
                page = int((query.get("$skipToken") or ["1"])[0])
                if 1 <= page <= len(data.pages):
                    return 200, data.pages[page - 1], {}
            if len(parts) == 3 and parts[0] == "services" and parts[2] == "listkeys":
                if parts[1] in data.keys:
                    return 200, data.keys[parts[1]], {}
                return 404, _not_found(f"service {parts[1]}"), {}
            if len(parts) == 2 and parts[0] == "images":
                if parts[1] in data.images:
                    return 200, data.images[parts[1]], {}
                return 404, _not_found(f"image {parts[1]}"), {}
        elif kind == "artifact" and parts[:2] == ["artifacts", "contentinfo"]:
            artifact = "/".join(parts[2:])
            if artifact in data.artifacts:
                return 200, data.artifacts[artifact]["contentinfo"], {}
            return 404, _not_found(f"artifact {artifact}"), {}
        return 404, _not_found(f"no recording for {method} {rest}"), {}

    def _arm_page(self, data: WorkspaceData, items: list[dict[str, Any]], rest: str,
                  query: dict[str, list[str]]) -> dict[str, Any]:
        if not data.arm_page_size:
            return {"value": items}
        start = int((query.get("$skipToken") or ["0"])[0])
        end = start + data.arm_page_size
        page: dict[str, Any] = {"value": items[start:end]}
        if end < len(items):
            page["nextLink"] = (f"{self.base}{ARM_WS.rsplit('/', 1)[0]}/{data.arm['name']}{rest}"
                                f"?api-version=2025-12-01&$skipToken={end}")
        return page

    def _blob(self, artifact: str, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        for data in self.workspaces.values():
            if artifact in data.artifacts:
                blob = data.artifacts[artifact]["blob"]
                content = data.blobs.get(blob)
                if content is None:
                    content = (RECORDINGS / "blobs" / blob).read_bytes()
                ranged = re.fullmatch(r"bytes=(\d+)-", headers.get("range", ""))
                if ranged and int(ranged[1]) < len(content):
                    start = int(ranged[1])
                    return 206, content[start:], {
                        "Content-Range": f"bytes {start}-{len(content) - 1}/{len(content)}"}
                return 200, content, {}
        return 404, b"BlobNotFound", {}


def _not_found(what: str) -> dict[str, Any]:
    return {"error": {"code": "NotFound", "message": f"{what} not found"}}


def _handler(azure: FakeAzure) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            path, query = unquote(parts.path), parse_qs(parts.query)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            headers_in = {k.lower(): v for k, v in self.headers.items()}
            with azure.lock:
                azure.requests.append(Seen(self.command, path, query,
                                           bool(self.headers.get("Authorization")), headers_in))
            if azure.latency:
                time.sleep(azure.latency)
            if azure.jitter is not None:
                time.sleep(azure.jitter())
            fault = azure.fault_for(self.command, self.path)
            headers: dict[str, str] = {}
            if fault is not None and fault.hang is not None:
                azure.reached.set()
                fault.hang.wait(30)
            if fault is not None and fault.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault is not None and fault.hang is None and fault.cut_after is None:
                status, body, headers = fault.status, fault.body, fault.headers
            else:
                status, body, headers = azure.route(self.command, path, query, headers_in)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if isinstance(body, bytes)
                             else "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if fault is not None and fault.cut_after is not None:
                self.wfile.write(data[:fault.cut_after])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(data)

        do_GET = _serve
        do_POST = _serve

    return Handler


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and host not in ("127.0.0.1", "::1", "localhost"):
        raise AssertionError(f"test tried to reach {address}: only 127.0.0.1 is allowed")
    return _real_connect(self, address)


def start_server(home: Path) -> tuple[FakeAzure, dict[str, str], Callable[[], None]]:
    """Serve the recordings over TLS on 127.0.0.1; returns the server, the environment that
    points azureml-core and requests at it, and a stop function (tests and the benchmark)."""
    cert_file, key_file = _self_signed(home)
    azure = FakeAzure()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(azure))
    server.daemon_threads = True
    server.request_queue_size = 64
    server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    azure.base = f"https://127.0.0.1:{server.server_address[1]}"
    azure.reset()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {
        "ARM_CLOUD_METADATA_URL": f"{azure.base}/metadata/endpoints?api-version=2019-05-01",
        "SSL_CERT_FILE": str(cert_file),
        "REQUESTS_CA_BUNDLE": str(cert_file),
        "HOME": str(home),  # the SDK caches discovery in ~/.azureml
        "AZURE_CONFIG_DIR": str(home / ".azure"),
        "AZUREML_LOG_DEPRECATION_WARNING_ENABLED": "false",
    }
    return azure, env, server.shutdown


@pytest.fixture(scope="session")
def azure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeAzure]:
    if "azureml._vendor.azure_cli_core.cloud" in sys.modules:
        pytest.fail("azureml-core was imported before the fake cloud was set up; "
                    "its cloud table is read once at import")
    azure, env, stop = start_server(tmp_path_factory.mktemp("home"))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    socket.socket.connect = _loopback_only  # type: ignore[method-assign,assignment]
    try:
        yield azure
    finally:
        socket.socket.connect = _real_connect  # type: ignore[method-assign]
        stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def azure(azure_server: FakeAzure) -> Iterator[FakeAzure]:
    azure_server.reset()
    yield azure_server
    for fault in azure_server.faults:
        if fault.hang is not None:
            fault.hang.set()


class FakeCredential:
    """The token boundary: what DefaultAzureCredential returns, without Azure AD."""

    def __init__(self, fail: Exception | None = None, delay: float = 0.0,
                 lifetime: int = 3600) -> None:
        self.fail = fail
        self.delay = delay  # seconds per call (`az login` starts a process for each)
        self.lifetime = lifetime
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return AccessToken(make_jwt(), int(time.time()) + self.lifetime)


def make_jwt() -> str:
    import jwt

    now = int(time.time())
    claims = {"aud": "https://management.core.windows.net/", "iss": "https://sts.windows.net/t/",
              "tid": "72f988bf-0000-0000-0000-000000000000", "oid": "0a1b2c3d", "iat": now,
              "nbf": now, "exp": now + 3600}
    return str(jwt.encode(claims, "test-signing-key-not-a-secret-0123456789", algorithm="HS256"))


@pytest.fixture
def credential() -> FakeCredential:
    return FakeCredential()
