"""The v2 side's address and credential, from Azure Resource Manager.

For each endpoint: GET the online endpoint (its `scoringUri` and `authMode`), then its key
(`listKeys`), its AML token (`token`) or, for `AADToken`, an Entra token for Azure ML from
azure-identity. The ARM bearer token comes from azure-identity's DefaultAzureCredential
(az login, managed identity, workload identity, service principal variables), cached the way
the export caches it. Every call is retried like the export's (connection errors, 408, 429,
5xx, Retry-After) within the run's deadline; errors are one line without the answer's body.

The ARM host follows `--cloud` (its table) or `--arm-endpoint` / GEN_IAC_ARM_ENDPOINT (a
sovereign or private cloud; tests point it at a stand-in on loopback). A bearer token or key
goes only over https, or plain http to a loopback address.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

from generator.export.client import (
    LOGIN_HINT,
    CallFailed,
    TokenCache,
    TokenCredential,
    _error_detail,
    _json_object,
)
from generator.export.redact import strip_queries
from generator.export.retry import GaveUp, RetryPolicy, with_retries
from generator.verify.targets import Secret, Workspace, obj

API_VERSION = "2025-12-01"  # the version the generated code uses
ARM_TIMEOUT = (10.0, 60.0)
ARM_VARIABLE = "GEN_IAC_ARM_ENDPOINT"
CLOUD_VARIABLE = "AZUREML_CURRENT_CLOUD"  # azure-ai-ml's name for the same choice


@dataclass(frozen=True)
class Cloud:
    arm: str  # Resource Manager, no trailing slash
    arm_scope: str
    ml_scope: str  # AADToken endpoints take an Entra token for this audience
    login: str  # the Entra authority host azure-identity signs in at


# azure-ai-ml's table (`_azure_environments.py`), the clouds Azure ML runs in.
CLOUDS = {
    "AzureCloud": Cloud(
        "https://management.azure.com", "https://management.azure.com/.default",
        "https://ml.azure.com/.default", "login.microsoftonline.com",
    ),
    "AzureChinaCloud": Cloud(
        "https://management.chinacloudapi.cn", "https://management.chinacloudapi.cn/.default",
        "https://ml.azure.cn/.default", "login.chinacloudapi.cn",
    ),
    "AzureUSGovernment": Cloud(
        "https://management.usgovcloudapi.net", "https://management.usgovcloudapi.net/.default",
        "https://ml.azure.us/.default", "login.microsoftonline.us",
    ),
}


class AzureError(Exception):
    """The v2 side cannot be reached for this endpoint; the message is one line, no secret."""


@dataclass(frozen=True)
class V2Access:
    scoring_uri: str
    auth_mode: str  # Key | AMLToken | AADToken
    secret: Secret


def loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def may_carry_secret(url: str) -> bool:
    """https anywhere, plain http only to this machine."""
    scheme = urlsplit(url).scheme.lower()
    return bool(urlsplit(url).hostname) and (scheme == "https" or (scheme == "http" and loopback(url)))


class Arm:
    def __init__(
        self,
        base: str,
        cloud: Cloud,
        credential: TokenCredential | None,
        policy: RetryPolicy,
    ) -> None:
        self.base = base.rstrip("/")
        self.cloud = cloud
        self.tokens = TokenCache(credential)
        self.policy = policy
        self._session: Any = None
        self._sign_in_error = ""

    @property
    def sign_in_error(self) -> str:
        """Why no Azure token could be had ("" while none failed)."""
        return self._sign_in_error

    def access(self, ws: Workspace, endpoint: str) -> V2Access:
        """The endpoint's scoring URI, auth mode and the credential its clients send."""
        path = (
            f"/subscriptions/{quote(ws.subscription, safe='')}"
            f"/resourceGroups/{quote(ws.resource_group, safe='')}"
            "/providers/Microsoft.MachineLearningServices"
            f"/workspaces/{quote(ws.name, safe='')}/onlineEndpoints/{quote(endpoint, safe='')}"
        )
        what = f"reading online endpoint {endpoint!r}"
        body = self._call("GET", path, what)
        props = obj(body.get("properties"))
        uri, mode = props.get("scoringUri"), props.get("authMode")
        state = props.get("provisioningState")
        if isinstance(state, str) and state not in ("Succeeded", "Updating"):
            raise AzureError(f"{what}: its provisioningState is {state!r}, not Succeeded")
        if not isinstance(uri, str) or not may_carry_secret(uri):
            raise AzureError(
                f"{what}: its scoringUri {strip_queries(str(uri))[:100]!r} is not an https URL, "
                "and no key goes over plain http (a Kubernetes endpoint needs TLS on its ingress)"
            )
        if mode == "Key":
            keys = self._call("POST", path + "/listKeys", f"listing the keys of {endpoint!r}")
            secret = keys.get("primaryKey")
        elif mode == "AMLToken":
            token = self._call("POST", path + "/token", f"getting a token of {endpoint!r}")
            secret = token.get("accessToken")
        elif mode == "AADToken":
            secret = self._token(self.cloud.ml_scope)
        else:
            raise AzureError(f"{what}: unknown authMode {str(mode)[:40]!r}")
        if not isinstance(secret, str) or not secret:
            raise AzureError(f"{what}: Azure returned no {mode} credential")
        return V2Access(uri, str(mode), Secret(secret))

    def _token(self, scope: str) -> str:
        if self._sign_in_error:  # asked once: every credential source was tried already
            raise AzureError(self._sign_in_error)
        try:
            return self.tokens.get((scope,))
        except Exception as exc:
            detail = strip_queries(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
            self._sign_in_error = (
                f"cannot get an Azure token ({detail[:200] or type(exc).__name__}); {LOGIN_HINT}"
            )
            raise AzureError(self._sign_in_error) from None

    def _call(self, method: str, path: str, what: str) -> dict[str, Any]:
        import requests

        if self.tokens.credential is None:
            try:
                self.tokens.credential = _default_credential(self.cloud)
            except AzureError as exc:
                self._sign_in_error = str(exc)
                raise
        token = self._token(self.cloud.arm_scope)
        if self._session is None:
            self._session = requests.Session()
        session = self._session

        def attempt() -> Any:
            return session.request(
                method,
                self.base + path,
                params={"api-version": API_VERSION},
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=_timeout(self.policy, ARM_TIMEOUT),
                allow_redirects=False,  # a redirect must not carry the token elsewhere
            )

        try:
            response: Any = with_retries(
                attempt, self.policy, what, (requests.ConnectionError, requests.Timeout)
            )
        except GaveUp as exc:  # DeadlinePassed too
            raise AzureError(strip_queries(str(exc))) from None
        if response.status_code == 404 and method == "GET":
            raise AzureError(f"{what}: not found (HTTP 404): has the apply created it?")
        if response.status_code >= 300:
            raise AzureError(f"{what}: HTTP {response.status_code}{_error_detail(response)}")
        try:
            return _json_object(response, what)
        except CallFailed as exc:
            raise AzureError(str(exc)) from None


def _timeout(policy: RetryPolicy, limits: tuple[float, float]) -> tuple[float, float]:
    """A call never waits past the deadline."""
    left = policy.deadline.remaining()
    if left is None:
        return limits
    return (min(limits[0], max(left, 0.1)), min(limits[1], max(left, 0.1)))


def _default_credential(cloud: Cloud) -> TokenCredential:
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        if shutil.which("az"):
            return AzCliCredential()
        raise AzureError(
            "gen-iac verify needs azure-identity (pip install 'gen-iac[verify]') or the Azure "
            "CLI signed in (az login) for the v2 side"
        ) from None
    credential: TokenCredential = DefaultAzureCredential(authority=cloud.login)
    return credential


class _Token(NamedTuple):
    token: str
    expires_on: int


class AzCliCredential:
    """Without azure-identity, the token `az account get-access-token` gives (what
    azure-identity's AzureCliCredential asks for too): a pipeline signed in with `az login`
    needs no extra package for `gen-iac verify --v2-only`."""

    def get_token(self, *scopes: str, **kwargs: Any) -> _Token:
        az = shutil.which("az") or "az"
        try:
            done = subprocess.run(
                [az, "account", "get-access-token", "--scope", scopes[0], "--output", "json"],
                capture_output=True, text=True, timeout=120, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"az account get-access-token: {exc}") from None
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            raise RuntimeError(f"az account get-access-token: {lines[-1] if lines else done.returncode}")
        try:
            data = json.loads(done.stdout)
            expires = data.get("expires_on")
            return _Token(str(data["accessToken"]),
                          int(expires) if expires else int(time.time()) + 300)
        except (ValueError, KeyError, TypeError):
            raise RuntimeError("az account get-access-token: an answer without accessToken") from None
