"""Send each service's requests to v1 and to v2 and judge the answers.

Bounded: at most `concurrency` requests in flight (a pool of worker threads; the two sides of
one request go one after the other, so neither competes with the other for the same slot),
each call at most `timeout` seconds, the whole run within the deadline. Each call is retried
like the export's calls (connection errors, timeouts, 408, 429, 5xx, Retry-After) with the
export's retry loop; what still fails is that request's failure, never the run's. The v2
request names its deployment (`azureml-model-deployment`), so a dark launch (no live traffic
yet) is verified too and a split never mixes two deployments' answers.

Error texts are redacted: no query string, and no key or token even if a server echoed one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from generator.console import fit
from generator.export.progress import Progress
from generator.export.redact import strip_queries
from generator.export.retry import GaveUp, RetryPolicy, with_retries
from generator.verify.azure import V2Access
from generator.verify.compare import (
    Answer,
    Difference,
    Tolerance,
    compare,
    compare_bodies,
    percentile,
)
from generator.verify.targets import Request, Secret, Target

MAX_ANSWER_BYTES = 16 << 20
SLOW_SLACK = 0.25  # seconds v2's p95 may exceed max_slowdown x v1's before it counts as slower
DEPLOYMENT_HEADER = "azureml-model-deployment"
PASSING = ("agrees", "answers")  # the other statuses: differs, slower, failed, no-request
# A service with no request to send is not verified, and says so everywhere, but fails no
# run: a pipeline's check after every apply must not stay red until someone records requests.
UNSENT = "no-request"


@dataclass(frozen=True)
class Settings:
    tolerance: Tolerance = field(default_factory=Tolerance)
    v2_only: bool = False
    timeout: float = 60.0
    concurrency: int = 4
    max_slowdown: float = 3.0  # 0: latency is shown, never judged
    differences: int = 5  # shown per request


@dataclass(frozen=True)
class Call:
    """One side's answer to one request, or why there is none."""

    answer: Answer | None
    error: str = ""


@dataclass(frozen=True)
class Exchange:
    request: str
    v1: Call | None  # None with --v2-only
    v2: Call
    differences: tuple[Difference, ...] = ()

    @property
    def outcome(self) -> str:
        if self.v2.answer is None or (self.v1 is not None and self.v1.answer is None):
            return "failed"
        return "differs" if self.differences else "agrees"

    def problem(self) -> str:
        """One line: why it failed, or its first difference."""
        for side, call in (("v1", self.v1), ("v2", self.v2)):
            if call is not None and call.answer is None:
                return f"{side}: {call.error}"
        return self.differences[0].line() if self.differences else ""


@dataclass(frozen=True)
class Side:
    url: str
    headers: dict[str, str]

    def __repr__(self) -> str:  # headers hold the key
        return f"Side({self.url!r}, <headers redacted>)"


@dataclass(frozen=True)
class ServiceResult:
    target: Target
    status: str  # agrees | answers (v2 only) | differs | slower | failed | no-request
    exchanges: tuple[Exchange, ...] = ()
    problem: str = ""  # why the service could not be verified, or why it is slower
    v2_url: str | None = None
    v2_auth: str | None = None

    def latencies(self, side: str) -> list[float]:
        calls = [e.v1 if side == "v1" else e.v2 for e in self.exchanges]
        return [c.answer.seconds for c in calls if c is not None and c.answer is not None]

    def p(self, side: str, q: float) -> float | None:
        return percentile(self.latencies(side), q)

    def count(self, outcome: str) -> int:
        return sum(e.outcome == outcome for e in self.exchanges)


@dataclass(frozen=True)
class Job:
    target: Target
    v1: Side | None
    v2: Side
    secrets: tuple[Secret, ...]
    access: V2Access


def job_for(target: Target, v1_secret: Secret | None, access: V2Access, v2_only: bool) -> Job:
    """The two addresses and header sets of a service (the keys stay in the headers)."""
    base = {"Content-Type": "application/json", "Accept": "application/json"}
    v1 = None
    if not v2_only and target.v1_url:
        v1_headers = dict(base)
        if v1_secret is not None:
            v1_headers["Authorization"] = f"Bearer {v1_secret.value}"
        v1 = Side(target.v1_url, v1_headers)
    v2_headers = {**base, "Authorization": f"Bearer {access.secret.value}",
                  DEPLOYMENT_HEADER: target.deployment}
    v2 = Side(access.scoring_uri, v2_headers)
    known = tuple(s for s in (v1_secret, access.secret) if s is not None)
    return Job(target, v1, v2, known, access)


class Sender:
    """POSTs with retries, one requests session per thread."""

    def __init__(self, policy: RetryPolicy, timeout: float) -> None:
        self.policy = policy
        self.timeout = timeout
        self.cancelled = threading.Event()
        self._local = threading.local()

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = self._local.session = requests.Session()
        return session

    def post(self, side: Side, body: bytes, what: str, secrets: Iterable[Secret]) -> Call:
        import requests

        timings: list[float] = []
        session = self._session()

        def attempt() -> Any:
            if self.cancelled.is_set():
                raise _Cancelled()
            left = self.policy.deadline.remaining()
            read = self.timeout if left is None else max(0.1, min(self.timeout, left))
            start = time.perf_counter()
            response = session.post(
                side.url, data=body, headers=side.headers, timeout=(min(10.0, read), read),
                stream=True, allow_redirects=False,  # a redirect must not carry the key
            )
            try:
                content = _read_capped(response)
            finally:
                response.close()
            timings.append(time.perf_counter() - start)
            return _Response(response.status_code, response.headers, content)

        try:
            result: Any = with_retries(
                attempt, self.policy, what, (requests.ConnectionError, requests.Timeout)
            )
        except GaveUp as exc:
            return Call(None, redact(str(exc), secrets))
        except _Cancelled:
            return Call(None, "cancelled")
        except (requests.RequestException, ValueError) as exc:  # e.g. an invalid URL
            return Call(None, redact(f"{what}: {type(exc).__name__}: {exc}", secrets))
        answer = Answer(result.status_code, str(result.headers.get("Content-Type") or ""),
                        result.content, timings[-1])
        return Call(answer)


class _Cancelled(Exception):
    pass


@dataclass(frozen=True)
class _Response:
    status_code: int
    headers: Any
    content: bytes


class AnswerTooLarge(ValueError):
    pass


def _read_capped(response: Any) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=65536):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise AnswerTooLarge(f"the answer is larger than {MAX_ANSWER_BYTES >> 20} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def redact(text: str, secrets: Iterable[Secret]) -> str:
    """One line without a query string or any of `secrets`."""
    line = " ".join(text.split())
    for secret in secrets:
        if secret.value:
            line = line.replace(secret.value, "<redacted>")
    return strip_queries(line)[:400]


def exchange(job: Job, request: Request, sender: Sender, settings: Settings) -> Exchange:
    service = job.target.service
    v1 = None
    if job.v1 is not None:
        v1 = sender.post(job.v1, request.body, f"{service}: v1 POST", job.secrets)
    v2 = sender.post(job.v2, request.body, f"{service}: v2 POST", job.secrets)
    differences: list[Difference] = []
    limit = settings.differences
    if v1 is not None and v1.answer is not None and v2.answer is not None:
        differences = compare(v1.answer, v2.answer, settings.tolerance, limit)
        if not differences and not v1.answer.ok and v1.answer.status >= 500:
            # Equal 5xx answers prove nothing about v2.
            v2 = Call(None, f"both sides answered {v1.answer.status}")
    elif v1 is None and v2.answer is not None:
        answer = v2.answer
        if not answer.ok:
            v2 = Call(None, f"v2 answered {answer.status}")
        elif request.expected is not None:
            differences = compare_bodies(request.expected, answer.body, settings.tolerance, limit)
    return Exchange(request.name, v1, v2, tuple(differences))


def judge(target: Target, exchanges: list[Exchange], settings: Settings,
          access: V2Access | None) -> ServiceResult:
    done = ServiceResult(target, "", tuple(exchanges), "",
                         access.scoring_uri if access else None,
                         access.auth_mode if access else None)
    if any(e.outcome == "failed" for e in exchanges):
        status = "failed"
    elif any(e.outcome == "differs" for e in exchanges):
        status = "differs"
    else:
        status = "answers" if settings.v2_only else "agrees"
    problem = ""
    if status == "agrees" and settings.max_slowdown > 0:
        v1, v2 = done.p("v1", 95), done.p("v2", 95)
        if v1 is not None and v2 is not None and v2 > settings.max_slowdown * v1 + SLOW_SLACK:
            status = "slower"
            problem = (
                f"v2 p95 {v2 * 1000:.0f} ms is more than {settings.max_slowdown:g} x v1's "
                f"{v1 * 1000:.0f} ms (+{SLOW_SLACK * 1000:.0f} ms): clients tuned to v1's "
                "latency may time out (--max-slowdown)"
            )
    return ServiceResult(target, status, tuple(exchanges), problem, done.v2_url, done.v2_auth)


def run(jobs: list[Job], sender: Sender, settings: Settings,
        progress: Progress) -> dict[str, ServiceResult]:
    """Every job's requests through a bounded pool; the results by service."""
    results: dict[str, ServiceResult] = {}
    pending: dict[str, list[Exchange | None]] = {
        j.target.service: [None] * len(j.target.requests) for j in jobs
    }
    queue = iter([(j, i, r) for j in jobs for i, r in enumerate(j.target.requests)])
    pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="verify")
    futures: dict[Future[Exchange], tuple[Job, int]] = {}

    def submit(count: int) -> None:
        # Lazily: a deadline or Ctrl-C stops what was never started.
        for job, i, request in _take(queue, count):
            futures[pool.submit(exchange, job, request, sender, settings)] = (job, i)

    try:
        submit(settings.concurrency * 2)
        while futures:
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in done:
                job, i = futures.pop(future)
                service = job.target.service
                slots = pending[service]
                slots[i] = future.result()
                if all(e is not None for e in slots):
                    result = judge(job.target, [e for e in slots if e is not None], settings,
                                   job.access)
                    results[service] = result
                    progress.step(fit(f"{service}: {result.status}"))
                submit(1)
    except BaseException:
        sender.cancelled.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


def _take(queue: Any, count: int) -> list[tuple[Job, int, Request]]:
    taken = []
    for _ in range(count):
        item = next(queue, None)
        if item is None:
            break
        taken.append(item)
    return taken
