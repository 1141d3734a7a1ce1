"""The only module that talks to Azure: azure-identity for tokens, azureml-core for the rest.

What azureml-core does here, and what it does not:
- tokens: `TokenAuthentication` over an azure-identity credential (DefaultAzureCredential:
  az login, managed identity, workload identity/OIDC, service principal env vars), scoped to
  the ARM audience of the chosen cloud;
- cloud endpoints: azureml-core's cloud table (`--cloud`; ARM_CLOUD_METADATA_URL for custom
  clouds, as with the Azure CLI);
- workspace: `Workspace(...)` (ARM GET via the SDK), whose `discoveryUrl` gives the Model
  Management and artifact hosts (`_get_mms_url`, the service context);
- artifact content info: the SDK's `ArtifactsClient`, with its own retries switched off.
- Model Management list/listkeys and the blob download use the SDK's requests session and
  auth header directly, because the SDK's wrappers do not fit the snapshot contract:
  `Webservice.list` turns payloads into objects (the raw JSON is the contract), rejects
  payloads with missing keys, and the SDK's retry sleeps a fixed 32 s on 429 ignoring
  Retry-After with a sleep nobody can inject or cap. The blob is fetched with its SAS URL
  and no bearer token (the ARM token must not go to storage).
Every import of azureml/azure happens inside a function: the generator starts without them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from generator.export.retry import GaveUp, RetryPolicy, with_retries

LOGIN_HINT = (
    "sign in with `az login` (add `--cloud NAME` for a sovereign cloud), or set "
    "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal "
    "(AZURE_FEDERATED_TOKEN_FILE for workload identity), or run where a managed identity is assigned"
)
EXTRA_HINT = "pip install 'gen-iac[export]'"
ARTIFACT_PREFIX = "aml://artifact/"
WORKSPACE_API_VERSION = "2024-10-01"  # new enough to return properties.publicNetworkAccess
TIMEOUT = (15.0, 120.0)  # connect, read (seconds)
MAX_PAGES = 10_000


class MissingExtra(Exception):
    """azureml-core or azure-identity is not installed."""


class AuthFailed(Exception):
    """No token could be had; the message says how to sign in."""


class WorkspaceUnavailable(Exception):
    """The workspace cannot be read (not found, no access, unknown cloud)."""


class CallFailed(Exception):
    """One call failed for good (after retries); the message is one line without secrets."""


class TokenCredential(Protocol):
    """azure-core's TokenCredential: what DefaultAzureCredential and test fakes provide."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Target:
    subscription: str
    resource_group: str
    workspace: str
    cloud: str = "AzureCloud"


@dataclass(frozen=True)
class ServiceKeys:
    primary: str
    secondary: str

    def __repr__(self) -> str:  # keys never reach a log or a traceback
        return "ServiceKeys(<redacted>)"


def require_extra() -> None:
    """Fail with one line when the `export` extra is missing."""
    try:
        import azure.identity  # noqa: F401
        import azureml.core  # noqa: F401
    except ImportError as exc:
        raise MissingExtra(
            f"gen-iac export needs azureml-core and azure-identity ({exc.name or exc} is missing); "
            f"install them with: {EXTRA_HINT}"
        ) from None


def known_clouds() -> list[str]:
    """The cloud names azureml-core knows (its table, or ARM_CLOUD_METADATA_URL's)."""
    from azureml._vendor.azure_cli_core.cloud import KNOWN_CLOUDS

    return [cloud.name for cloud in KNOWN_CLOUDS]


def quiet_sdk_loggers() -> None:
    """azureml-core and azure-identity log errors with payloads and stack details; our one
    line per problem replaces them (Python's last-resort handler would print them)."""
    for name in ("azureml", "azure", "msrest", "msal", "urllib3"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


class _Ok:
    """A successful non-HTTP result, shaped like a response for the retry loop."""

    status_code = 200
    headers: dict[str, str] = {}  # noqa: RUF012 - read-only

    def __init__(self, value: str) -> None:
        self.value = value


class AzureMLClient:
    def __init__(self, target: Target, credential: TokenCredential | None = None,
                 policy: RetryPolicy | None = None) -> None:
        self.target = target
        self.policy = policy or RetryPolicy()
        self._credential = credential
        self._auth_error: str | None = None
        self._ws: Any = None
        self._auth: Any = None
        self._mms_url = ""
        self._session: Any = None
        self._artifacts: Any = None

    # -- connecting -----------------------------------------------------------------------

    def connect(self) -> dict[str, str]:
        """Authenticate, read the workspace through ARM and discover its service hosts.

        Returns the snapshot's workspace object.
        """
        require_extra()
        quiet_sdk_loggers()
        if self.target.cloud not in known_clouds():
            raise WorkspaceUnavailable(
                f"unknown cloud {self.target.cloud!r}; use one of {', '.join(known_clouds())}"
            )
        from azureml._vendor.azure_cli_core.azureml_cloud import _Clouds
        from azureml.core.authentication import TokenAuthentication

        cloud = _Clouds.get_cloud_or_default(self.target.cloud)
        if self._credential is None:
            self._credential = _default_credential(cloud.endpoints.active_directory)
        self._auth = TokenAuthentication(self._token_for, cloud=self.target.cloud)
        # Ask once up front, so a sign-in problem is one clear line, not an SDK traceback.
        self._token_for(cloud.endpoints.active_directory_resource_id)
        self._ws = self._open_workspace()
        self._discover()
        return self._workspace_object(cloud.endpoints.resource_manager)

    def _token_for(self, resource: str) -> str:
        from azureml._vendor.azure_cli_core.auth.util import resource_to_scopes

        assert self._credential is not None
        try:
            return str(self._credential.get_token(*resource_to_scopes(resource)).token)
        except Exception as exc:  # every credential failure means the same to the user
            detail = _first_line(str(exc)) or type(exc).__name__
            self._auth_error = f"cannot get an Azure token ({detail}); {LOGIN_HINT}"
            raise AuthFailed(self._auth_error) from None

    def _open_workspace(self) -> Any:
        from azureml.core import Workspace

        t = self.target
        try:
            return Workspace(t.subscription, t.resource_group, t.workspace, auth=self._auth,
                             _cloud=t.cloud)
        except Exception as exc:
            if self._auth_error:
                raise AuthFailed(self._auth_error) from None
            raise WorkspaceUnavailable(
                f"cannot read workspace {t.workspace!r} in resource group {t.resource_group!r} "
                f"of subscription {t.subscription!r}: {_sdk_message(exc)}"
            ) from None

    def _discover(self) -> None:
        from azureml._model_management._util import _get_mms_url, get_requests_session
        from azureml._restclient.artifacts_client import ArtifactsClient

        try:
            self._mms_url = str(_get_mms_url(self._ws))
            artifacts = ArtifactsClient(self._ws.service_context)
        except Exception as exc:
            if self._auth_error:
                raise AuthFailed(self._auth_error) from None
            raise WorkspaceUnavailable(
                f"cannot discover the service hosts of workspace {self.target.workspace!r} "
                f"(discovery URL {self._ws.discovery_url}): {_sdk_message(exc)}"
            ) from None
        # Our retry loop is the only one: the SDK's would sleep outside our budget.
        artifacts.retries = 0
        self._artifacts = artifacts
        self._session = get_requests_session()

    def _workspace_object(self, resource_manager: str) -> dict[str, str]:
        ws = self._ws
        info = {
            "subscriptionId": self.target.subscription,
            "resourceGroup": self.target.resource_group,
            "name": str(ws.name),
            "location": str(ws.location),
        }
        # The SDK's workspace model (ARM 2020-01-01) predates publicNetworkAccess; read it
        # from the same ARM resource at a newer API version. It is optional in a snapshot.
        url = resource_manager.rstrip("/") + _arm_workspace_path(self.target)
        try:
            response = self._send("GET", url, "reading the workspace network settings",
                                  params={"api-version": WORKSPACE_API_VERSION})
            if response.status_code == 200:
                value = response.json().get("properties", {}).get("publicNetworkAccess")
                if isinstance(value, str) and value:
                    info["publicNetworkAccess"] = value
        except (CallFailed, ValueError, AttributeError):
            pass
        return info

    # -- Model Management -----------------------------------------------------------------

    def list_services(self, compute_type: str | None = None,
                      tags: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """All pages of GET /services?expand=true, as raw payloads."""
        params: dict[str, str] | None = {"expand": "true"}
        assert params is not None
        if compute_type:
            params["computeType"] = compute_type
        if tags:
            params["tags"] = ",".join(tags)
        url: str | None = self._mms_url + "/services"
        services: list[dict[str, Any]] = []
        seen: set[str] = set()
        page = 0
        while url:
            page += 1
            if url in seen or page > MAX_PAGES:
                raise CallFailed(f"listing services: the service returned a paging loop at {url}")
            seen.add(url)
            response = self._send("GET", url, f"listing services (page {page})", params=params,
                                  bearer=True)
            body = _json_object(response, f"listing services (page {page})")
            value = body.get("value")
            if not isinstance(value, list):
                raise CallFailed(f"listing services (page {page}): the answer has no 'value' list")
            services.extend(item for item in value if isinstance(item, dict))
            next_link = body.get("nextLink")
            url = next_link if isinstance(next_link, str) and next_link else None
            if url and not _same_origin(url, self._mms_url):
                # Never send the bearer token to a host the workspace did not name.
                raise CallFailed(f"listing services: nextLink points to another host ({_origin(url)})")
            params = None  # nextLink carries its own query
        return services

    def list_keys(self, name: str) -> ServiceKeys:
        what = "reading the keys"
        url = f"{self._mms_url}/services/{quote(name, safe='')}/listkeys"
        response = self._send("POST", url, what, bearer=True)
        body = _json_object(response, what)
        primary, secondary = body.get("primaryKey"), body.get("secondaryKey")
        if not (isinstance(primary, str) and isinstance(secondary, str)):
            raise CallFailed(f"{what}: the answer has no primaryKey/secondaryKey")
        return ServiceKeys(primary, secondary)

    # -- artifacts --------------------------------------------------------------------------

    def download_artifact(self, url: str, dest: Path) -> int:
        """Download one `aml://artifact/...` asset byte for byte; returns its size."""
        if not url.startswith(ARTIFACT_PREFIX):
            raise CallFailed(f"unsupported asset URL {url!r} (only {ARTIFACT_PREFIX}... is exported)")
        parts = url[len(ARTIFACT_PREFIX):].split("/", 2)
        if len(parts) != 3 or not all(parts):
            raise CallFailed(f"malformed artifact URL {url!r}")
        origin, container, path = parts
        content_uri = self._content_uri(origin, container, path)
        what = "downloading the artifact"

        def attempt() -> Any:
            return self._session.get(content_uri, stream=True, timeout=TIMEOUT)

        response = self._retry(attempt, what)
        if response.status_code != 200:
            raise CallFailed(f"{what}: HTTP {response.status_code}{_error_detail(response)}")
        size = 0
        try:
            with dest.open("wb") as handle:
                for chunk in response.iter_content(chunk_size=1 << 16):
                    handle.write(chunk)
                    size += len(chunk)
        except Exception as exc:
            dest.unlink(missing_ok=True)
            raise CallFailed(f"{what}: the connection broke off ({_first_line(str(exc))})") from None
        return size

    def _content_uri(self, origin: str, container: str, path: str) -> str:
        from msrest.exceptions import HttpOperationError

        what = "asking the artifact service for the download URL"

        def attempt() -> Any:
            try:
                return _Ok(str(self._artifacts.get_file_uri(origin, container, path)))
            except HttpOperationError as exc:
                return exc.response  # status and Retry-After for our loop

        result = self._retry(attempt, what)
        if isinstance(result, _Ok):
            return result.value
        if result.status_code == 404:
            raise CallFailed(f"{what}: HTTP 404, the artifact {origin}/{container}/{path} no longer exists")
        raise CallFailed(f"{what}: HTTP {result.status_code}{_error_detail(result)}")

    # -- plumbing ---------------------------------------------------------------------------

    def _send(self, method: str, url: str, what: str, params: dict[str, str] | None = None,
              bearer: bool = True) -> Any:
        def attempt() -> Any:
            headers = {"Content-Type": "application/json"}
            if bearer:
                headers.update(self._auth.get_authentication_header())
            return self._session.request(method, url, headers=headers, params=params,
                                         timeout=TIMEOUT)

        response = self._retry(attempt, what)
        if response.status_code >= 400:
            raise CallFailed(f"{what}: HTTP {response.status_code}{_error_detail(response)}")
        return response

    def _retry(self, attempt: Callable[[], Any], what: str) -> Any:
        import requests

        try:
            return with_retries(attempt, self.policy, what,
                                transient=(requests.ConnectionError, requests.Timeout))
        except GaveUp as exc:
            raise CallFailed(str(exc)) from None
        except AuthFailed:
            raise
        except Exception as exc:
            if self._auth_error:
                raise AuthFailed(self._auth_error) from None
            raise CallFailed(f"{what}: {_sdk_message(exc)}") from None


def _default_credential(login_endpoint: str) -> TokenCredential:
    from azure.identity import DefaultAzureCredential

    # The authority follows --cloud, so sovereign-cloud identities sign in at their own host.
    credential: TokenCredential = DefaultAzureCredential(authority=login_endpoint.rstrip("/"))
    return credential


def _arm_workspace_path(t: Target) -> str:
    return (f"/subscriptions/{quote(t.subscription)}/resourceGroups/{quote(t.resource_group)}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{quote(t.workspace)}")


def _json_object(response: Any, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise CallFailed(f"{what}: the answer is not JSON") from None
    if not isinstance(body, dict):
        raise CallFailed(f"{what}: the answer is not a JSON object")
    return body


def _error_detail(response: Any) -> str:
    """`: <error.message>` from an Azure error body; never the raw body (it may hold secrets)."""
    try:
        body = response.json()
    except Exception:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) and isinstance(body, dict):
        message = body.get("message")
    return f": {_first_line(message)}" if isinstance(message, str) and message.strip() else ""


def _sdk_message(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    inner = _find_json_message(str(text))
    return inner or _first_line(str(text))


def _find_json_message(text: str) -> str | None:
    """SDK exceptions embed the service's JSON error; pull out its message."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        data = json.loads(text[start:])
    except ValueError:
        return None
    for candidate in _walk_messages(data):
        return _first_line(candidate)
    return None


def _walk_messages(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        if isinstance(data.get("message"), str):
            yield data["message"]
        for value in data.values():
            yield from _walk_messages(value)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _same_origin(a: str, b: str) -> bool:
    return _origin(a).lower() == _origin(b).lower()
