"""`gen-iac verify`: flags in; a table, verify.json, VERIFY.md and CUTOVER.md out; an exit
status.

Exit status: 0 every service agrees (with --v2-only: every request answered), 4 any service
differs, is slower beyond --max-slowdown or fails (no key, no endpoint, an error answer, a
timeout, the deadline), 2 bad usage (a bad flag, no generate output in --out, an unreadable
snapshot, an unknown --service, an unusable --out, no Azure sign-in), 130 interrupted
(nothing written).
Importing this module imports neither requests nor azure-identity (only the calls do).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TextIO

from generator.console import safe
from generator.diagnostics import InputError
from generator.export.client import TokenCredential
from generator.export.progress import Progress
from generator.export.retry import Deadline, RetryPolicy
from generator.verify import report, runner
from generator.verify.azure import CLOUDS, Arm, AzureError, may_carry_secret
from generator.verify.compare import Tolerance
from generator.verify.runner import Job, ServiceResult, job_for
from generator.verify.targets import (
    Target,
    V1Service,
    Workspace,
    no_request_hint,
    read_migration,
    snapshot_services,
    targets,
    v1_secret,
)

PROG = "gen-iac verify"
EXIT_OK, EXIT_USAGE, EXIT_DIFFERS, EXIT_INTERRUPTED = 0, 2, 4, 130
DEFAULT_DEADLINE = 600.0

DESCRIPTION = """\
Prove the v2 endpoints answer like the v1 services they replace, before clients move: for
each migrated service of a generate (--out), send the same requests to the v1 scoring URL and
to the v2 deployment that replaces it, and compare status, media type and JSON body (numbers
within --rtol/--atol). Requests: the bundle's sample-request.json, plus recorded bodies in
--requests DIR/<service>/*.json. Writes verify.json and VERIFY.md into --out and completes
CUTOVER.md with each service's status.

Keys: the v1 key from the snapshot's keys.json (--input; exported with --with-keys) or
GEN_IAC_V1_KEY_<SERVICE> / GEN_IAC_V1_KEY (token-auth services: GEN_IAC_V1_TOKEN_<SERVICE> /
GEN_IAC_V1_TOKEN; <SERVICE> is the name in upper case, other characters as _). The v2 key or
token comes from Azure (ARM listKeys / token, or an Entra token for AADToken endpoints), with
azure-identity's DefaultAzureCredential (az login, managed or workload identity, service
principal variables). No key is printed or written.

Example:
  gen-iac verify --out out/ --input snapshot/
  gen-iac verify --out out/ --v2-only            # after v1 is gone (the pipelines run this)
"""

EPILOG = """\
exit status: 0 every service agrees (one without a request to send is listed, not verified,
and fails nothing), 4 any service differs, is slower or fails, 2 bad usage,
no generate output in --out or no Azure sign-in (nothing written), 130 interrupted.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see {PROG} --help)\n")


def _positive(kind: type, low: float, high: float) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (low <= value <= high) or (isinstance(value, float) and math.isnan(value)):
            raise argparse.ArgumentTypeError(f"{text!r} is outside {low:g}..{high:g}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    from generator.verify.azure import ARM_VARIABLE, CLOUD_VARIABLE

    p = _Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="the --out folder of a generate (migration.json, bundles/, CUTOVER.md)")
    p.add_argument("--input", type=Path, metavar="SNAPSHOT",
                   help="the snapshot of that generate: v1 URLs and auth, keys.json")
    p.add_argument("--v2-only", action="store_true",
                   help="v1 is gone: each request must be answered 2xx by v2 (and equal a "
                   "recorded answer REQUEST.expected.json beside it, when there is one)")
    p.add_argument("--service", action="extend", nargs="+", default=[], metavar="NAME",
                   help="verify only these services (default: every migrated one)")
    p.add_argument("--requests", type=Path, metavar="DIR",
                   help="recorded request bodies: DIR/<service>/*.json, sent after the sample")
    p.add_argument("--max-requests", type=_positive(int, 1, 10_000), default=20, metavar="N",
                   help="requests per service at most (default 20)")
    p.add_argument("--rtol", type=_positive(float, 0, 1), default=1e-5, metavar="X",
                   help="relative tolerance for numbers (default 1e-5)")
    p.add_argument("--atol", type=_positive(float, 0, 1e300), default=1e-8, metavar="Y",
                   help="absolute tolerance for numbers (default 1e-8)")
    p.add_argument("--unordered-lists", action="store_true",
                   help="compare JSON lists as multisets (default: in order, since a "
                   "prediction belongs to its input row)")
    p.add_argument("--concurrency", type=_positive(int, 1, 64), default=4, metavar="N",
                   help="requests in flight at once (default 4)")
    p.add_argument("--timeout", type=_positive(float, 0.01, 3600), default=60.0,
                   metavar="SECONDS", help="per call (default 60)")
    p.add_argument("--retries", type=_positive(int, 0, 10), default=3, metavar="N",
                   help="retries of a call after a connection error, timeout, 408, 429 or 5xx, "
                   "with backoff (default 3)")
    p.add_argument("--deadline", type=_positive(float, 1, 86_400), default=DEFAULT_DEADLINE,
                   metavar="SECONDS", help=f"the whole run (default {DEFAULT_DEADLINE:g}); what "
                   "is not done by then fails")
    p.add_argument("--max-slowdown", type=_positive(float, 0, 1000), default=3.0,
                   metavar="FACTOR", help="a service whose v2 p95 latency is above FACTOR x "
                   "v1's + 250 ms is 'slower' (exit 4); 0: latency is only shown (default 3)")
    p.add_argument("--cloud", default=os.environ.get(CLOUD_VARIABLE) or "AzureCloud",
                   choices=sorted(CLOUDS), metavar="NAME",
                   help=f"Azure cloud ({', '.join(sorted(CLOUDS))}; default {CLOUD_VARIABLE} or "
                   "AzureCloud)")
    p.add_argument("--arm-endpoint", default=os.environ.get(ARM_VARIABLE), metavar="URL",
                   help=f"Resource Manager URL instead of the cloud's (or {ARM_VARIABLE})")
    p.add_argument("--quiet", "-q", action="store_true", help="print the table and errors only")
    return p


def main(
    argv: list[str],
    *,
    credential: TokenCredential | None = None,
    sleep: Callable[[float], None] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Entry of `gen-iac verify`. `credential`, `sleep`, the streams and `env` exist for
    tests (the token boundary, time, what is printed, the key variables)."""
    out_stream, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help: 0, bad usage: 2
        return int(exc.code or 0)
    try:
        return _verify(args, credential, sleep, out_stream, err, os.environ if env is None else env)
    except InputError as exc:
        print(safe(f"{PROG}: error: {_one_line(str(exc))}"), file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing was written", file=err)
        return EXIT_INTERRUPTED


def _verify(
    args: argparse.Namespace,
    credential: TokenCredential | None,
    sleep: Callable[[float], None] | None,
    stdout: TextIO,
    err: TextIO,
    env: Mapping[str, str],
) -> int:
    from generator.output import write_beside
    from generator.render.cutover import CUTOVER

    if args.cloud not in CLOUDS:  # from AZUREML_CURRENT_CLOUD, which argparse does not check
        raise InputError(f"cloud {args.cloud!r}: expected one of {', '.join(sorted(CLOUDS))}")
    arm_base = (args.arm_endpoint or CLOUDS[args.cloud].arm).rstrip("/")
    if not may_carry_secret(arm_base):
        raise InputError(f"--arm-endpoint {arm_base!r}: expected an https URL")
    if args.requests is not None and not args.requests.is_dir():
        raise InputError(f"--requests {args.requests}: no such folder")
    migration = read_migration(args.out)
    snapshot = snapshot_services(args.input) if args.input else None
    chosen = targets(args.out, migration, tuple(args.service), snapshot, args.requests,
                     args.max_requests)
    progress = Progress(err, quiet=args.quiet, prefix=PROG, count_bytes=False)
    if snapshot is None and not args.v2_only:
        progress.info("no --input: v1 URLs come from migration.json, v1 keys from "
                      "GEN_IAC_V1_KEY_<SERVICE> or GEN_IAC_V1_KEY")
    deadline = Deadline(args.deadline, text=f"the verify deadline (--deadline {args.deadline:g} "
                        "s) passed")
    policy = RetryPolicy(attempts=args.retries + 1, base_delay=0.5, max_delay=10.0,
                         max_total_wait=args.deadline, sleep=sleep or time.sleep,
                         deadline=deadline)
    settings = runner.Settings(
        Tolerance(args.rtol, args.atol, not args.unordered_lists), args.v2_only, args.timeout,
        args.concurrency, args.max_slowdown,
    )
    arm = Arm(arm_base, CLOUDS[args.cloud], credential, policy)
    progress.info(f"{len(chosen)} service(s) to verify"
                  + (" (v2 only)" if args.v2_only else " (v1 and v2)"))
    jobs, results = _jobs(chosen, arm, migration.workspace, snapshot, env, args.v2_only)
    progress.start(len(jobs))
    sender = runner.Sender(policy, args.timeout)
    results.update(runner.run(jobs, sender, settings, progress))
    progress.finish()
    ordered = [results[t.service] for t in chosen]
    finished = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    written = report.files(ordered, settings, finished, migration.data)
    for warning in write_beside(args.out, written, CUTOVER):
        progress.info(f"warning: {_one_line(warning)}")
    for line in report.console_lines(ordered):
        print(line, file=stdout)
    passed = report.passed(ordered)
    if not args.quiet:
        print(safe(f"{PROG}: {report.verdict(ordered)}; see {args.out / report.VERIFY_MD}"),
              file=err)
    return EXIT_OK if passed else EXIT_DIFFERS


def _jobs(
    chosen: list[Target],
    arm: Arm,
    workspace: Workspace,
    snapshot: Mapping[str, V1Service] | None,
    env: Mapping[str, str],
    v2_only: bool,
) -> tuple[list[Job], dict[str, ServiceResult]]:
    """What to send for each service (its keys and v2 address found), and the services that
    already failed (no key, no endpoint...), by name. No Azure sign-in stops the run."""
    jobs: list[Job] = []
    failed: dict[str, ServiceResult] = {}  # and the ones without a request
    for t in chosen:
        if not t.problem and not t.requests:
            failed[t.service] = ServiceResult(t, runner.UNSENT, problem=no_request_hint(t))
            continue
        problem = t.problem
        secret = None
        if not problem and not v2_only:
            secret, problem = v1_secret(t, snapshot, env)
            if not problem and not t.v1_url:
                problem = "the v1 scoring URL is unknown"
        if not problem:
            try:
                jobs.append(job_for(t, secret, arm.access(workspace, t.endpoint), v2_only))
                continue
            except AzureError as exc:
                if arm.sign_in_error:  # no service can be verified: one line, exit 2
                    raise InputError(arm.sign_in_error) from None
                problem = str(exc)
        failed[t.service] = ServiceResult(t, "failed", problem=_one_line(problem))
    return jobs, failed


def _one_line(text: str) -> str:
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())
