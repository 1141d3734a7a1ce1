"""Keep secrets out of messages and snapshot files.

A SAS URL's query string is a credential (`sig=...`): no message the export prints or
records may carry one, whatever URL it is (absolute, or the path that requests and urllib3
put in their errors). Payload values that are SAS URLs (e.g. an image's build log URI) lose
their query before they are written.
"""

from __future__ import annotations

import re
from typing import Any

# A '?' that follows a URL or path character and precedes one starts a query: drop it up to
# the next space, quote or bracket (prose like "why? because" is left alone).
_QUERY = re.compile(r"(?<=[\w/.%~-])\?[^\s'\"<>()\[\]{}]+")
_SAS_URL = re.compile(r"^(https?://[^?#\s]+)\?[^#\s]*\bsig=", re.IGNORECASE)


def strip_queries(text: str) -> str:
    """`text` with the query string of every URL or path removed."""
    return _QUERY.sub("", text)


def strip_sas(value: Any) -> Any:
    """A copy of a JSON value in which every string that is a SAS URL loses its query."""
    if isinstance(value, dict):
        return {k: strip_sas(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_sas(v) for v in value]
    if isinstance(value, str):
        match = _SAS_URL.match(value)
        return match.group(1) if match else value
    return value


_SECRET_KEY = re.compile(r"connectionstring|password|secret|^keys?$|accesskey|sastoken", re.I)


def drop_secret_fields(value: Any) -> Any:
    """A copy of an ARM payload without fields that hold credentials (e.g. a Kubernetes
    compute's relayConnectionString); those are never needed to generate code."""
    if isinstance(value, dict):
        return {k: drop_secret_fields(v) for k, v in value.items() if not _SECRET_KEY.search(k)}
    if isinstance(value, list):
        return [drop_secret_fields(v) for v in value]
    return value
