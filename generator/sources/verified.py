"""What the last `gen-iac verify` found, read back from `--out/verify.json` so that CUTOVER.md
shows each service's verify status on every later generate (and `--check` agrees with the
CUTOVER.md that verify completed).

verify.json lies in `--out`, which a pull request can commit: it is read as untrusted data
(a regular file, not a link, bounded in size), and only a status from a fixed list, a date,
a count and an endpoint name per service are taken from it. Anything else in it, or a file
that cannot be read, counts as "not verified".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator import jsonread
from generator.diagnostics import InputError
from generator.files import NotPlainFile, read_below
from generator.sources.untrusted import safe_component, valid_text

VERIFY_JSON = "verify.json"
STATUSES = ("agrees", "answers", "differs", "slower", "failed", "no-request")
MAX_BYTES = 32 << 20
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Verified:
    """One service's verify status."""

    status: str  # see STATUSES
    endpoint: str  # the endpoint it was verified on (a renamed endpoint is not verified)
    day: str  # YYYY-MM-DD (UTC) of the verify run
    requests: int
    mode: str  # compare | v2-only


def read_verified(out: Path) -> dict[str, Verified]:
    """The verify status of each service, by service name ({} when there is none)."""
    try:
        raw = read_below(out, [VERIFY_JSON], MAX_BYTES)
        data = jsonread.loads(raw, str(out / VERIFY_JSON)) if raw is not None else None
    except (OSError, NotPlainFile, InputError):  # unreadable counts as not verified
        return {}
    return parse_verified(data)


def parse_verified(data: Any) -> dict[str, Verified]:
    if not isinstance(data, dict) or not isinstance(data.get("services"), list):
        return {}
    finished = data.get("finished")
    day = finished[:10] if isinstance(finished, str) and _DAY.match(finished) else ""
    mode = data.get("mode") if data.get("mode") in ("compare", "v2-only") else "compare"
    found: dict[str, Verified] = {}
    for entry in data["services"]:
        if not isinstance(entry, dict):
            continue
        service, endpoint, status = entry.get("service"), entry.get("endpoint"), entry.get("status")
        counts = entry.get("requests")
        sent = counts.get("sent") if isinstance(counts, dict) else None
        if (
            isinstance(service, str)
            and valid_text(service)
            and isinstance(endpoint, str)
            and safe_component(endpoint)
            and status in STATUSES
            and isinstance(sent, int)
            and not isinstance(sent, bool)
            and 0 <= sent < 10**9
        ):
            found[service] = Verified(str(status), endpoint, day, sent, str(mode))
    return found
