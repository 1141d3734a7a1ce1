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
- tokens are cached per audience until five minutes before they expire (with `az login`
  every token is an `az` process), and shared by every thread and workspace of one run;
- every call is retried on connection errors (msrest's ClientRequestError, requests'
  ConnectionError), read timeouts and 408/429/5xx within the export's deadline; a download
  that breaks mid-body is resumed with `Range`.
Every import of azureml/azure happens inside a function: the generator starts without them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from generator.export.redact import strip_queries
from generator.export.retry import DeadlinePassed, GaveUp, RetryPolicy, with_retries

LOGIN_HINT = (
    "sign in with `az login` (for a sovereign cloud first `az cloud set -n NAME`), or set "
    "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal "
    "(AZURE_FEDERATED_TOKEN_FILE for workload identity), or run where a managed identity is assigned"
)
EXTRA_HINT = "pip install 'gen-iac[export]'"
ARTIFACT_PREFIX = "aml://artifact/"
WORKSPACE_API_VERSION = "2024-10-01"  # returns publicNetworkAccess, v1LegacyMode, managedNetwork
COMPUTE_API_VERSION = "2024-10-01"
ENDPOINT_API_VERSION = "2025-12-01"  # the version the generated code uses (DESIGN.md)
TIMEOUT = (15.0, 120.0)  # connect, read (seconds)
MAX_PAGES = 10_000
TOKEN_MARGIN = 300.0  # a cached token is renewed this many seconds before it expires
CHUNK = 1 << 16


class MissingExtra(Exception):
    """azureml-core or azure-identity is not installed."""


class AuthFailed(Exception):
    """No token could be had; the message says how to sign in."""


class WorkspaceUnavailable(Exception):
    """The workspace cannot be read (not found, no access, unknown cloud)."""


class CallFailed(Exception):
    """One call failed for good (after retries); the message is one line without secrets."""

    def __init__(self, message: str, deadline: bool = False) -> None:
        super().__init__(strip_queries(message))
        self.deadline = deadline  # it failed because the export's deadline passed


class ListingStopped(CallFailed):
    """A listing could not go on past some page; `items` holds what was listed before."""

    def __init__(self, message: str, items: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.items = items


class TokenCache:
    """One token per audience, reused until TOKEN_MARGIN seconds before it expires.

    Shared by the threads (and workspaces) of one export; the lock makes concurrent first
    requests ask the credential once.
    """

    def __init__(self, credential: TokenCredential | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.credential = credential
        self.clock = clock
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.failed = False  # the credential could not give a token

    def get(self, scopes: tuple[str, ...]) -> str:
        with self._lock:
            cached = self._tokens.get(scopes)
            if cached and cached[1] - TOKEN_MARGIN > self.clock():
                return cached[0]
            assert self.credential is not None
            try:
                token = self.credential.get_token(*scopes)
            except Exception:
                self.failed = True
                raise
            value, expires = str(token.token), float(token.expires_on)
            self._tokens[scopes] = (value, expires)
            return value


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
                 policy: RetryPolicy | None = None, tokens: TokenCache | None = None) -> None:
        self.target = target
        self.policy = policy or RetryPolicy()
        self._tokens = tokens or TokenCache(credential)
        if credential is not None and self._tokens.credential is None:
            self._tokens.credential = credential
        self._auth_error: str | None = None
        self._arm = ""
        self._ws: Any = None
        self._auth: Any = None
        self._mms_url = ""
        self._session: Any = None
        self._artifacts: Any = None

    # -- connecting -----------------------------------------------------------------------

    def connect(self) -> dict[str, Any]:
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
        if self._tokens.credential is None:
            self._tokens.credential = _default_credential(cloud.endpoints.active_directory)
        self._auth = TokenAuthentication(self._token_for, cloud=self.target.cloud)
        self._arm = str(cloud.endpoints.resource_manager).rstrip("/")
        # Ask once up front, so a sign-in problem is one clear line, not an SDK traceback.
        self._token_for(cloud.endpoints.active_directory_resource_id)
        self._ws = self._open_workspace()
        self._discover()
        return {
            "subscriptionId": self.target.subscription,
            "resourceGroup": self.target.resource_group,
            "name": str(self._ws.name),
            "location": str(self._ws.location),
        }

    def _token_for(self, resource: str) -> str:
        from azureml._vendor.azure_cli_core.auth.util import resource_to_scopes

        try:
            return self._tokens.get(tuple(resource_to_scopes(resource)))
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
        artifacts._client.config.connection.timeout = TIMEOUT  # msrest's default is 100 s
        self._artifacts = artifacts
        self._session = get_requests_session()

    # -- ARM: workspace facts, computes, v2 endpoints ---------------------------------------

    def workspace_resource(self) -> dict[str, Any]:
        """The workspace's ARM resource at an API version that has its network settings (the
        SDK's workspace model, ARM 2020-01-01, predates them)."""
        what = "reading the workspace network settings"
        response = self._send("GET", self._arm + _arm_workspace_path(self.target), what,
                              params={"api-version": WORKSPACE_API_VERSION})
        return _json_object(response, what)

    def list_computes(self) -> list[dict[str, Any]]:
        return self._arm_list("/computes", COMPUTE_API_VERSION, "listing the workspace computes")

    def list_online_endpoints(self) -> list[dict[str, Any]]:
        return self._arm_list("/onlineEndpoints", ENDPOINT_API_VERSION,
                              "listing the v2 online endpoints")

    def list_deployments(self, endpoint: str) -> list[dict[str, Any]]:
        return self._arm_list(f"/onlineEndpoints/{quote(endpoint, safe='')}/deployments",
                              ENDPOINT_API_VERSION,
                              f"listing the deployments of online endpoint {endpoint!r}")

    def _arm_list(self, suffix: str, api_version: str, what: str) -> list[dict[str, Any]]:
        base = self._arm + _arm_workspace_path(self.target)
        # ARM's own host only: its nextLink never leaves it.
        return self._paged(base + suffix, {"api-version": api_version}, what, self._arm,
                           same_domain=False)

    # -- Model Management -----------------------------------------------------------------

    def list_services(self, compute_type: str | None = None,
                      tags: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """All pages of GET /services?expand=true, as raw payloads. Raises ListingStopped
        (with the services listed so far) when a later page cannot be had."""
        params: dict[str, str] = {"expand": "true"}
        if compute_type:
            params["computeType"] = compute_type
        if tags:
            params["tags"] = ",".join(tags)
        return self._paged(self._mms_url + "/services", params, "listing services",
                           self._mms_url, same_domain=True)

    def get_image(self, image_id: str) -> dict[str, Any]:
        what = f"reading image {image_id!r}"
        url = f"{self._mms_url}/images/{quote(image_id, safe='')}"
        return _json_object(self._send("GET", url, what), what)

    def _paged(self, url: str, params: dict[str, str] | None, what: str, home: str,
               same_domain: bool) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        page = 0
        next_url: str | None = url
        while next_url:
            page += 1
            label = f"{what} (page {page})"
            if next_url in seen or page > MAX_PAGES:
                raise _stopped(f"{label}: the service returned a paging loop", items, page)
            seen.add(next_url)
            try:
                body = _json_object(self._send("GET", next_url, label, params=params), label)
            except CallFailed as exc:
                if page == 1:
                    raise
                raise ListingStopped(f"{exc}; the {len(items)} item(s) of the pages before "
                                     "were kept", items) from None
            value = body.get("value")
            if not isinstance(value, list):
                raise _stopped(f"{label}: the answer has no 'value' list", items, page)
            items.extend(item for item in value if isinstance(item, dict))
            link = body.get("nextLink")
            next_url = link if isinstance(link, str) and link else None
            if next_url and not follows(next_url, home, same_domain):
                # Never send the bearer token to a host the workspace did not name.
                raise _stopped(f"{what}: page {page + 1} is on another host "
                               f"({_origin(next_url)}), which is not followed", items, page + 1)
            params = None  # nextLink carries its own query
        return items

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

    def download_artifact(self, url: str, dest: Path,
                          cancelled: Callable[[], bool] = lambda: False) -> int:
        """Download one `aml://artifact/...` asset byte for byte; returns its size.

        A connection that breaks mid-body is resumed where it stopped (`Range`), within the
        retry policy; a server that ignores the range sends the whole blob again.
        """
        if not url.startswith(ARTIFACT_PREFIX):
            raise CallFailed(f"unsupported asset URL {url!r} (only {ARTIFACT_PREFIX}... is exported)")
        parts = url[len(ARTIFACT_PREFIX):].split("/", 2)
        if len(parts) != 3 or not all(parts):
            raise CallFailed(f"malformed artifact URL {url!r}")
        origin, container, path = parts
        content_uri = self._content_uri(origin, container, path)
        what = "downloading the artifact"
        state = {"size": 0}

        def attempt() -> Any:
            import requests

            headers = {"Range": f"bytes={state['size']}-"} if state["size"] else {}
            response = self._session.get(content_uri, stream=True, timeout=self._timeout(),
                                         headers=headers)
            if response.status_code not in (200, 206):
                return response
            if response.status_code == 200 or not _resumes_at(response, state["size"]):
                state["size"] = 0  # the whole blob (again)
            expected = _content_length(response)
            got = 0
            try:
                with dest.open("r+b" if state["size"] else "wb") as handle:
                    handle.seek(state["size"])
                    handle.truncate()
                    for chunk in response.iter_content(chunk_size=CHUNK):
                        if cancelled():
                            raise CallFailed(f"{what}: cancelled")
                        handle.write(chunk)
                        state["size"] += len(chunk)
                        got += len(chunk)
            except requests.RequestException as exc:
                raise _BrokeOff(f"the connection broke off after {state['size']} bytes "
                                f"({_first_line(str(exc))})") from None
            except ConnectionError as exc:
                raise _BrokeOff(f"the connection broke off after {state['size']} bytes "
                                f"({_first_line(str(exc))})") from None
            except OSError as exc:
                raise CallFailed(f"{what}: cannot write {dest.name}: "
                                 f"{exc.strerror or exc}") from None
            finally:
                response.close()
            if expected is not None and got < expected:
                raise _BrokeOff(f"the connection broke off after {state['size']} bytes "
                                f"({got} of {expected} in this answer)")
            return _Ok(str(state["size"]))

        try:
            result = self._retry(attempt, what)
        except CallFailed:
            dest.unlink(missing_ok=True)
            raise
        if not isinstance(result, _Ok):
            dest.unlink(missing_ok=True)
            raise CallFailed(f"{what}: HTTP {result.status_code}{_error_detail(result)}")
        return state["size"]

    def _content_uri(self, origin: str, container: str, path: str) -> str:
        from msrest.exceptions import HttpOperationError

        what = "asking the artifact service for the download URL"

        def attempt() -> Any:
            try:
                return _Ok(str(self._artifacts.get_file_uri(origin, container, path)))
            except HttpOperationError as exc:
                if exc.response is None:
                    raise
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
                                         timeout=self._timeout())

        response = self._retry(attempt, what)
        if response.status_code >= 400:
            raise CallFailed(f"{what}: HTTP {response.status_code}{_error_detail(response)}")
        return response

    def _timeout(self) -> tuple[float, float]:
        """The read timeout never runs past the deadline (a stalled server cannot hang us)."""
        left = self.policy.deadline.remaining()
        if left is None:
            return TIMEOUT
        return (min(TIMEOUT[0], max(left, 0.5)), min(TIMEOUT[1], max(left, 0.5)))

    def _retry(self, attempt: Callable[[], Any], what: str) -> Any:
        import requests
        from msrest.exceptions import ClientRequestError

        transient = (requests.ConnectionError, requests.Timeout, ClientRequestError, _BrokeOff)
        try:
            return with_retries(attempt, self.policy, what, transient=transient)
        except DeadlinePassed as exc:
            raise CallFailed(str(exc), deadline=True) from None
        except GaveUp as exc:
            raise CallFailed(str(exc)) from None
        except (AuthFailed, CallFailed):
            raise
        except Exception as exc:
            if self._auth_error:
                raise AuthFailed(self._auth_error) from None
            raise CallFailed(f"{what}: {_sdk_message(exc)}") from None


class _BrokeOff(Exception):
    """A download stopped mid-body; retried (and resumed) like a dropped connection."""


def _content_length(response: Any) -> int | None:
    try:
        return int(response.headers.get("Content-Length"))
    except (TypeError, ValueError):
        return None


def _resumes_at(response: Any, offset: int) -> bool:
    """A 206 whose Content-Range starts where the partial file ends."""
    content_range = str(response.headers.get("Content-Range") or "")
    return content_range.startswith(f"bytes {offset}-")


def _stopped(message: str, items: list[dict[str, Any]], page: int) -> CallFailed:
    if page <= 1:
        return CallFailed(message)
    return ListingStopped(f"{message}; the {len(items)} item(s) of the pages before were kept",
                          items)


def follows(url: str, home: str, same_domain: bool) -> bool:
    """May a nextLink be followed (with the bearer token)? Only over https, to the host the
    workspace named, or (for Model Management, whose hosts are regional: `<region>.api.azureml.ms`)
    to a host in the same parent domain of the same cloud."""
    link, base = urlsplit(url), urlsplit(home)
    if link.scheme.lower() != "https" or not link.hostname or not base.hostname:
        return False
    if _origin(url).lower() == _origin(home).lower():
        return True
    if not same_domain or link.port not in (None, 443) or base.port not in (None, 443):
        return False
    parent = base.hostname.lower().split(".")[1:]
    if len(parent) < 3 or all(p.isdigit() for p in parent):  # never just "azure.com" or an IP
        return False
    return link.hostname.lower().endswith("." + ".".join(parent))


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
    return strip_queries(lines[0])[:300] if lines else ""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


