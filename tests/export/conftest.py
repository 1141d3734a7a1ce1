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
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
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


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    authorized: bool


class FakeAzure:
    def __init__(self) -> None:
        self.base = ""
        self.faults: list[Fault] = []
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self.reached = threading.Event()  # set when a hanging fault is reached

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.requests.clear()
            self.reached.clear()

    def recording(self, name: str) -> Any:
        text = (RECORDINGS / name).read_text(encoding="utf-8")
        return json.loads(text.replace("{{BASE}}", self.base))

    def fault_for(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path in path and (fault.method in (None, method)) and fault.times != 0:
                    if fault.times > 0:
                        fault.times -= 1
                    return fault
        return None

    def route(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path == "/metadata/endpoints":
            return 200, self.recording("arm_cloud_metadata.json")
        if path == "/subscriptions":
            return 200, self.recording("arm_subscriptions.json")
        if path.lower() == ARM_WS.lower():
            return 200, self.recording("arm_workspace.json")
        if "/providers/Microsoft.MachineLearningServices/workspaces/" in path and path.startswith("/subscriptions/"):
            return 404, {"error": {"code": "ResourceNotFound", "message": "The Resource "
                                   "'Microsoft.MachineLearningServices/workspaces/x' was not found."}}
        if path == "/discovery":
            return 200, self.recording("discovery.json")
        if path == MMS + "/services" and method == "GET":
            page = 2 if "$skipToken" in query else 1
            return 200, self.recording(f"mms_services_page{page}.json")
        if path.startswith(MMS + "/services/") and path.endswith("/listkeys") and method == "POST":
            name = path[len(MMS + "/services/"):-len("/listkeys")]
            keys = self.recording("mms_listkeys.json")
            if name in keys:
                return 200, keys[name]
            return 404, {"error": {"code": "NotFound", "message": f"service {name} not found"}}
        if path.startswith(ARTIFACTS):
            artifact = unquote(path[len(ARTIFACTS):])
            arts = self.recording("artifacts.json")
            if artifact in arts:
                return 200, arts[artifact]["contentinfo"]
            return 404, {"error": {"code": "NotFound", "message": f"artifact {artifact} not found"}}
        if path.startswith("/blob/azureml/ExperimentRun/dcid."):
            artifact = unquote(path[len("/blob/azureml/ExperimentRun/dcid."):])
            arts = self.recording("artifacts.json")
            if artifact in arts:
                return 200, (RECORDINGS / "blobs" / arts[artifact]["blob"]).read_bytes()
            return 404, b"BlobNotFound"
        return 404, {"error": {"code": "NoRoute", "message": f"no recording for {method} {path}"}}


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
            with azure.lock:
                azure.requests.append(Seen(self.command, path, query,
                                           bool(self.headers.get("Authorization"))))
            fault = azure.fault_for(self.command, self.path)
            headers: dict[str, str] = {}
            if fault is not None and fault.hang is not None:
                azure.reached.set()
                fault.hang.wait(30)
            if fault is not None and fault.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault is not None and fault.hang is None:
                status, body, headers = fault.status, fault.body, fault.headers
            else:
                status, body = azure.route(self.command, path, query)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if isinstance(body, bytes)
                             else "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
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


@pytest.fixture(scope="session")
def azure_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeAzure]:
    if "azureml._vendor.azure_cli_core.cloud" in sys.modules:
        pytest.fail("azureml-core was imported before the fake cloud was set up; "
                    "its cloud table is read once at import")
    home = tmp_path_factory.mktemp("home")
    cert_file, key_file = _self_signed(home)
    azure = FakeAzure()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(azure))
    server.daemon_threads = True
    server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    azure.base = f"https://127.0.0.1:{server.server_address[1]}"
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
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    socket.socket.connect = _loopback_only  # type: ignore[method-assign,assignment]
    try:
        yield azure
    finally:
        socket.socket.connect = _real_connect  # type: ignore[method-assign]
        server.shutdown()
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

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        if self.fail is not None:
            raise self.fail
        return AccessToken(make_jwt(), int(time.time()) + 3600)


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
