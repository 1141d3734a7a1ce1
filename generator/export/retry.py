"""Retries with exponential backoff for one HTTP call, honouring `Retry-After`, within the
export's overall deadline.

The sleep function and the clock are injectable so tests never really wait; the wait of one
call is capped, and no call starts or waits past the deadline, so a throttled workspace fails
in bounded time instead of hanging a pipeline.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from generator.export.redact import strip_queries

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class Response(Protocol):
    """The part of `requests.Response` the retry loop reads."""

    status_code: int

    @property
    def headers(self) -> object: ...


class GaveUp(Exception):
    """A call still failed after all retries; the message says why in one line."""


class DeadlinePassed(GaveUp):
    """The export's overall deadline passed before this call could succeed."""


class Deadline:
    """A run's end: `None` seconds means no deadline. Thread-safe (read-only after init)."""

    def __init__(
        self,
        seconds: float | None,
        clock: Callable[[], float] = time.monotonic,
        text: str | None = None,
    ) -> None:
        self.clock = clock
        self.seconds = seconds
        self.at = None if seconds is None else clock() + seconds
        self.text = text  # what describe() says, for a command other than the export

    def remaining(self) -> float | None:
        return None if self.at is None else self.at - self.clock()

    def passed(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def describe(self) -> str:
        if self.text:
            return self.text
        minutes = (self.seconds or 0) / 60
        return f"the export deadline (--deadline {minutes:g} min) passed"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # tries in all, the first one included
    base_delay: float = 1.0  # seconds before the 2nd try; doubles after each failure
    max_delay: float = 60.0  # no single wait is longer, whatever Retry-After says
    max_total_wait: float = 300.0  # give up when the next wait would pass this budget
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    deadline: Deadline = field(default_factory=lambda: Deadline(None), compare=False)

    def delay(self, failures: int, retry_after: str | None) -> float:
        """Seconds to wait after the `failures`-th failed try."""
        hinted = parse_retry_after(retry_after)
        wanted = hinted if hinted is not None else self.base_delay * 2 ** (failures - 1)
        return max(0.0, min(wanted, self.max_delay))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` is either delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def with_retries(
    call: Callable[[], Response],
    policy: RetryPolicy,
    what: str,
    transient: tuple[type[BaseException], ...] = (),
) -> Response:
    """Run `call` until it answers with a non-retryable status; return that response.

    `transient` are exceptions (timeouts, dropped connections) that are retried like a 503.
    Raises GaveUp once the attempts or the wait budget are spent.
    """
    waited = 0.0
    failures = 0
    deadline = policy.deadline
    problem = ""
    while True:
        if deadline.passed():
            cause = f" (last try: {problem})" if problem else ""
            raise DeadlinePassed(f"{what}: {deadline.describe()}{cause}")
        retry_after: str | None = None
        try:
            response = call()
        except transient as exc:
            problem = f"{type(exc).__name__}: {_first_line(str(exc))}"
        else:
            if response.status_code not in RETRY_STATUS:
                return response
            problem = f"HTTP {response.status_code}"
            retry_after = _header(response, "Retry-After")
        failures += 1
        if failures >= policy.attempts:
            raise GaveUp(f"{what}: {problem}, still failing after {failures} tries")
        pause = policy.delay(failures, retry_after)
        left = deadline.remaining()
        if left is not None and pause >= left:
            raise DeadlinePassed(
                f"{what}: {problem}; {deadline.describe()} before the next try "
                f"(after {failures} tries)"
            )
        if waited + pause > policy.max_total_wait:
            raise GaveUp(
                f"{what}: {problem}; giving up after {failures} tries "
                f"(waiting {pause:.0f}s more would pass the {policy.max_total_wait:.0f}s budget)"
            )
        policy.sleep(pause)
        waited += pause


def _header(response: Response, name: str) -> str | None:
    headers = response.headers
    getter = getattr(headers, "get", None)
    value = getter(name) if callable(getter) else None
    return value if isinstance(value, str) else None


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return strip_queries(line)[:200]
