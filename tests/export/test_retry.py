from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from generator.export.retry import GaveUp, RetryPolicy, parse_retry_after, with_retries


@dataclass
class Answer:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_backoff_doubles_and_respects_the_cap() -> None:
    sleeps: list[float] = []
    answers = iter([Answer(502), Answer(503), Answer(429, {"Retry-After": "3"}), Answer(200)])
    policy = RetryPolicy(sleep=sleeps.append)
    assert with_retries(lambda: next(answers), policy, "x").status_code == 200
    assert sleeps == [1.0, 2.0, 3.0]


def test_non_retryable_status_is_returned_at_once() -> None:
    sleeps: list[float] = []
    assert with_retries(lambda: Answer(404), RetryPolicy(sleep=sleeps.append), "x").status_code == 404
    assert sleeps == []


def test_transient_exceptions_are_retried_then_give_up() -> None:
    sleeps: list[float] = []

    def boom() -> Answer:
        raise TimeoutError("read timed out")

    with pytest.raises(GaveUp, match="TimeoutError: read timed out, still failing after 3 tries"):
        with_retries(boom, RetryPolicy(attempts=3, sleep=sleeps.append), "x", (TimeoutError,))
    assert sleeps == [1.0, 2.0]


def test_total_wait_budget() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=100, max_total_wait=10, sleep=sleeps.append)
    with pytest.raises(GaveUp, match="budget"):
        with_retries(lambda: Answer(429, {"Retry-After": "4"}), policy, "listing")
    assert sleeps == [4.0, 4.0]
