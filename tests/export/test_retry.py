from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from generator.export.retry import (
    Deadline,
    DeadlinePassed,
    GaveUp,
    RetryPolicy,
    parse_retry_after,
    with_retries,
)


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


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_no_wait_passes_the_deadline() -> None:
    clock = Clock()
    policy = RetryPolicy(attempts=100, max_total_wait=10_000, sleep=clock.sleep,
                         deadline=Deadline(100, lambda: clock.now))
    with pytest.raises(DeadlinePassed, match=r"HTTP 429; the export deadline \(--deadline "
                       r"1\.66667 min\) passed before the next try \(after 4 tries\)"):
        with_retries(lambda: Answer(429, {"Retry-After": "30"}), policy, "x")
    assert clock.sleeps == [30.0, 30.0, 30.0]  # a 4th wait would end past 100 s


def test_nothing_starts_after_the_deadline() -> None:
    clock = Clock()
    deadline = Deadline(60, lambda: clock.now)
    clock.now += 61
    calls: list[int] = []

    def call() -> Answer:
        calls.append(1)
        return Answer(200)

    with pytest.raises(DeadlinePassed, match="passed"):
        with_retries(call, RetryPolicy(deadline=deadline), "x")
    assert calls == [] and deadline.passed() and Deadline(None).remaining() is None


def test_transient_messages_lose_query_strings() -> None:
    def boom() -> Answer:
        raise ConnectionError("HTTPSConnectionPool(host='h', port=443): Max retries exceeded "
                              "with url: /blob/a.tar.gz?sv=2019&sig=SECRET (Caused by reset)")

    with pytest.raises(GaveUp) as info:
        with_retries(boom, RetryPolicy(attempts=1), "x", (ConnectionError,))
    assert "sig=" not in str(info.value) and "/blob/a.tar.gz (Caused by reset)" in str(info.value)
