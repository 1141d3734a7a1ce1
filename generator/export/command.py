"""`gen-iac export`: flags in, snapshot(s) out, one line per problem, an exit status.

Importing this module must not import azureml-core or azure-identity (the generator runs
without the `export` extra): client.py imports them inside functions.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from generator.export.client import (
    AuthFailed,
    AzureMLClient,
    CallFailed,
    ListingStopped,
    MissingExtra,
    Target,
    TokenCache,
    TokenCredential,
    WorkspaceUnavailable,
)
from generator.export.progress import Progress
from generator.export.redact import strip_queries
from generator.export.retry import Deadline, RetryPolicy
from generator.export.runner import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    EXPORTED_TYPES,
    Result,
    Selection,
    _assets,
    _versions,
    export,
)
from generator.export.writer import UnsafeName, safe_component
from generator.places import unsafe_place

COMPUTE_TYPES = ("ACI", "AKS", "AKSENDPOINT")
TAG = re.compile(r"^[^=,]+(=[^,]*)?$")
DEFAULT_DEADLINE_MINUTES = 60.0

DESCRIPTION = """\
Read the v1 real-time web services (ACI, AKS, AKS endpoints) of a live Azure ML workspace
into a snapshot directory that `gen-iac --input SNAPSHOT_DIR` turns into Terraform or Bicep.

The snapshot holds:
  snapshot.json          the workspace (with its network settings and attached AKS/Kubernetes
                         computes), the raw Model Management service payloads, the existing
                         v2 online endpoints ("onlineEndpoints"), and "errors" for anything
                         that could not be read
  assets/<service>/...   each service's scoring code exactly as stored (a source directory
                         stays a .tar.gz); AKS endpoints: assets/<endpoint>/<version>/...
  keys.json              only with --with-keys: the services' keys, file mode 0600

Several workspaces: repeat --workspace (same subscription and resource group) or list them in
a YAML file (--workspaces FILE); each gets its own snapshot folder under --out.

Sign-in uses azure-identity's DefaultAzureCredential: `az login` (for a sovereign cloud first
`az cloud set -n NAME`), a managed identity, workload identity (OIDC), or a service principal
in AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET. It needs read access to the
workspace (e.g. the Reader role; with --with-keys, a role that may list service keys, e.g.
AzureML Data Scientist).

Example:
  gen-iac export --subscription 00000000-0000-0000-0000-000000000000 \\
      --resource-group rg-ml --workspace ws-prod --out snapshot/
  gen-iac --target terraform --input snapshot/ --out out/
"""

EPILOG = """\
--workspaces FILE (YAML):
  - subscription: 00000000-0000-0000-0000-000000000000
    resourceGroup: rg-ml
    workspace: ws-prod
    cloud: AzureCloud          # optional
  - {subscription: ..., resourceGroup: rg-dev, workspace: ws-dev}

needs: pip install 'gen-iac[export]' (azureml-core and azure-identity)

exit status: 0 everything exported, 1 something could not be read (the rest is exported and
snapshot.json lists it under "errors"; this includes the workspace's network settings, which
are never guessed), 2 bad usage, an unusable --out, sign-in failure or an unreadable workspace
(nothing written for it; an existing snapshot at --out is left as it was).
"""


class UsageError(Exception):
    """One line, exit 2, nothing downloaded."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gen-iac export", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ws = parser.add_argument_group("workspace(s)")
    ws.add_argument("--subscription", metavar="ID", help="subscription id")
    ws.add_argument("--resource-group", metavar="NAME", help="resource group of the workspace")
    ws.add_argument("--workspace", action="append", default=[], metavar="NAME",
                    help="workspace name; repeat for several workspaces of that resource group")
    ws.add_argument("--workspaces", type=Path, metavar="FILE",
                    help="YAML list of {subscription, resourceGroup, workspace[, cloud]}")
    ws.add_argument("--cloud", default="AzureCloud", metavar="NAME",
                    help="AzureCloud (default), AzureChinaCloud or AzureUSGovernment")
    pick = parser.add_argument_group("which services (default: all)")
    pick.add_argument("--service", action="append", default=[], metavar="NAME",
                      help="export only this service; repeatable")
    pick.add_argument("--compute-type", type=str.upper, choices=COMPUTE_TYPES,
                      metavar="{ACI,AKS,AKSENDPOINT}", help="export only services of this type")
    pick.add_argument("--tag", action="append", default=[], metavar="KEY[=VALUE]",
                      help="export only services with this tag (and value); repeatable, all must match")
    parser.add_argument("--with-keys", action="store_true",
                        help="also save the services' keys in keys.json (mode 0600), so the new "
                        "endpoints can keep them; without it no key is read")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="snapshot directory to write (replaced only once the export is "
                        "complete); with several workspaces, the folder that gets one snapshot "
                        "folder per workspace")
    parser.add_argument("--list", action="store_true",
                        help="print the services that would be exported, download nothing")
    parser.add_argument("--deadline", type=_minutes, default=DEFAULT_DEADLINE_MINUTES,
                        metavar="MINUTES",
                        help=f"stop retrying and starting downloads after this long (default "
                        f"{DEFAULT_DEADLINE_MINUTES:g}); what is left is listed under \"errors\"")
    parser.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    return parser


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected minutes, got {text!r}") from None
    if not (value > 0 and value < 100_000):
        raise argparse.ArgumentTypeError(f"expected minutes > 0, got {text!r}")
    return value


def main(argv: list[str], *, credential: TokenCredential | None = None,
         sleep: Callable[[float], None] | None = None, stream: TextIO | None = None,
         clock: Callable[[], float] | None = None, stdout: TextIO | None = None) -> int:
    """Entry of `gen-iac export`. `credential`, `sleep`, `clock` and the streams exist for
    tests (the token boundary and time)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    err = stream or sys.stderr
    try:
        targets = _targets(args)
        bad = [t for t in args.tag if not TAG.match(t)]
        if bad:
            raise UsageError(f"--tag {bad[0]!r}: expected KEY or KEY=VALUE without commas")
        if not args.list and args.out is None:
            raise UsageError("--out DIR is required (or --list to only show what would be "
                             "exported)")
        destinations = None if args.list else plan_destinations(targets, args.out)
    except UsageError as exc:
        print(f"gen-iac export: error: {exc}", file=err)
        return EXIT_USAGE
    selection = Selection(tuple(dict.fromkeys(args.service)), args.compute_type, tuple(args.tag))
    session = Session(credential, sleep, clock, args.deadline * 60)
    if destinations is None:
        return list_services(targets, selection, args.with_keys, session, err,
                             stdout or sys.stdout)
    return run_all(destinations, selection, args.with_keys, args.quiet, session, err)


class Session:
    """What the workspaces of one run share: the token cache, the deadline, the retry policy."""

    def __init__(self, credential: TokenCredential | None,
                 sleep: Callable[[float], None] | None, clock: Callable[[], float] | None,
                 deadline_seconds: float | None) -> None:
        self.tokens = TokenCache(credential)
        self.deadline = Deadline(deadline_seconds, clock or time.monotonic)
        self.policy = RetryPolicy(sleep=sleep or time.sleep, deadline=self.deadline)

    def client(self, target: Target) -> AzureMLClient:
        return AzureMLClient(target, policy=self.policy, tokens=self.tokens)


def export_for_generate(subscription: str, resource_group: str, workspace: str, cloud: str,
                        out: Path, with_keys: bool, quiet: bool) -> int:
    """Export every service to `out` (a path that does not exist yet) for --from-workspace."""
    session = Session(None, None, None, DEFAULT_DEADLINE_MINUTES * 60)
    return run(Target(subscription, resource_group, workspace, cloud), out, Selection(),
               with_keys, quiet, session=session)


def run_all(destinations: list[tuple[Target, Path]], selection: Selection, with_keys: bool,
            quiet: bool, session: Session, stream: TextIO) -> int:
    status = EXIT_OK
    several = len(destinations) > 1
    for number, (target, out) in enumerate(destinations):
        label = f"{target.workspace}: " if several else ""
        if session.deadline.passed():
            Progress(stream).error(f"{label}not exported: {session.deadline.describe()}")
            status = max(status, EXIT_PARTIAL)
            continue
        code = run(target, out, selection, with_keys, quiet, session=session, stream=stream,
                   label=label)
        status = max(status, code)
        if code == EXIT_USAGE and session.tokens.failed:
            for skipped, _ in destinations[number + 1:]:
                Progress(stream).error(f"{skipped.workspace}: not exported: no Azure token")
            break
    return status


def run(target: Target, out: Path, selection: Selection, with_keys: bool, quiet: bool, *,
        session: Session | None = None, credential: TokenCredential | None = None,
        sleep: Callable[[float], None] | None = None, stream: TextIO | None = None,
        label: str = "") -> int:
    session = session or Session(credential, sleep, None, DEFAULT_DEADLINE_MINUTES * 60)
    progress = Progress(stream or sys.stderr, quiet=quiet)
    problem = check_out(out)
    if problem:
        progress.error(label + problem)
        return EXIT_USAGE
    client = session.client(target)
    try:
        with _sigterm_as_interrupt():
            result = export(client, out, selection, with_keys, progress, session.deadline)
    except (MissingExtra, AuthFailed, WorkspaceUnavailable) as exc:
        progress.finish()
        progress.error(label + str(exc))
        return EXIT_USAGE
    except CallFailed as exc:
        progress.finish()
        progress.error(f"{label}{exc}; nothing was written")
        return EXIT_USAGE
    except KeyboardInterrupt:
        progress.finish()
        progress.error(f"{label}interrupted; nothing was written to {out}")
        return 130
    except OSError as exc:
        progress.finish()
        progress.error(f"{label}cannot write the snapshot to {out}: {exc.strerror or exc}")
        return EXIT_USAGE
    for entry in result.errors:
        progress.error(label + error_line(entry))
    progress.info(_summary(label, out, result, with_keys))
    return result.status


def error_line(entry: dict[str, str]) -> str:
    where = f"service {entry['service']!r}: " if entry.get("service") else ""
    return strip_queries(f"{where}{entry['what']}: {entry['message']}")


def _summary(label: str, out: Path, result: Result, with_keys: bool) -> str:
    from generator.export.progress import human_bytes

    return (
        f"{label}wrote {out}: {result.exported} service(s), {human_bytes(result.bytes)} of assets"
        + (f", {len(result.errors)} problem(s) listed under \"errors\" in snapshot.json"
           if result.errors else "")
        + ("; keys.json holds secrets, keep it out of version control" if with_keys else "")
    )


def list_services(targets: list[Target], selection: Selection, with_keys: bool,
                  session: Session, err: TextIO, out: TextIO) -> int:
    """--list: one line per service that would be exported; nothing is downloaded."""
    status = EXIT_OK
    progress = Progress(err)
    for target in targets:
        client = session.client(target)
        try:
            client.connect()
            try:
                services = client.list_services(selection.compute_type, selection.tags)
            except ListingStopped as exc:
                services = exc.items
                progress.error(f"{target.workspace}: {exc}")
                status = max(status, EXIT_PARTIAL)
        except (MissingExtra, AuthFailed, WorkspaceUnavailable, CallFailed) as exc:
            progress.error(f"{target.workspace}: {exc}")
            status = EXIT_USAGE
            continue
        chosen = [s for s in services if selection.matches(s)]
        for service in chosen:
            out.write(_list_line(target, service, with_keys) + "\n")
        for name in selection.names:
            if not any(s.get("name") == name for s in chosen):
                progress.error(f"{target.workspace}: service {name!r}: no such service")
                status = max(status, EXIT_PARTIAL)
        exported = sum(str(s.get("computeType", "")).upper() in EXPORTED_TYPES for s in chosen)
        progress.info(f"{target.workspace}: {exported} service(s) would be exported, "
                      f"{len(chosen) - exported} skipped (not v1 real-time services)")
    out.flush()
    return status


def _list_line(target: Target, service: dict[str, Any], with_keys: bool) -> str:
    name = str(service.get("name"))
    kind = str(service.get("computeType", "")).upper()
    if kind not in EXPORTED_TYPES:
        return f"{target.workspace}\t{name}\t{kind or '-'}\tskipped"
    units = [v for _, v in _versions(service)] if kind == "AKSENDPOINT" else [service]
    assets = sum(len(_assets(unit)) for unit in units)
    notes = [f"{assets} asset(s)"]
    if kind == "AKSENDPOINT":
        notes.append(f"{len(units)} version(s)")
    if service.get("imageId"):
        notes.append("image-based")
    if with_keys and service.get("authEnabled") is True:
        notes.append("keys")
    return f"{target.workspace}\t{name}\t{kind}\t{', '.join(notes)}"


def _targets(args: argparse.Namespace) -> list[Target]:
    targets: list[Target] = []
    if args.workspaces is not None:
        targets.extend(read_workspaces_file(args.workspaces, args.cloud))
    if args.workspace:
        missing = [flag for flag, value in (("--subscription", args.subscription),
                                            ("--resource-group", args.resource_group))
                   if not value]
        if missing:
            raise UsageError(f"--workspace needs {' and '.join(missing)}")
        targets.extend(Target(args.subscription, args.resource_group, name, args.cloud)
                       for name in args.workspace)
    if not targets:
        raise UsageError("name the workspace: --subscription ID --resource-group NAME "
                         "--workspace NAME, or --workspaces FILE")
    unique = list(dict.fromkeys(targets))
    return unique


def read_workspaces_file(path: Path, cloud: str) -> list[Target]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--workspaces {path}: cannot read: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UsageError(f"--workspaces {path}: not valid YAML: "
                         f"{str(exc).splitlines()[0]}") from None
    if not isinstance(data, list) or not data:
        raise UsageError(f"--workspaces {path}: expected a list of {{subscription, "
                         "resourceGroup, workspace}} entries")
    targets = []
    for index, entry in enumerate(data, 1):
        if not isinstance(entry, dict):
            raise UsageError(f"--workspaces {path}: entry {index}: expected a mapping")
        values = {}
        for key, names in (("subscription", ("subscription", "subscriptionId")),
                           ("resource_group", ("resourceGroup", "resource_group",
                                               "resource-group")),
                           ("workspace", ("workspace", "name")),
                           ("cloud", ("cloud",))):
            value = next((entry[n] for n in names if n in entry), None)
            if value is None and key == "cloud":
                value = cloud
            if not isinstance(value, str) or not value.strip():
                raise UsageError(f"--workspaces {path}: entry {index}: field {names[0]!r}: "
                                 "expected a non-empty string")
            values[key] = value.strip()
        targets.append(Target(values["subscription"], values["resource_group"],
                              values["workspace"], values["cloud"]))
    return targets


def plan_destinations(targets: list[Target], out: Path) -> list[tuple[Target, Path]]:
    """One target: --out is its snapshot. Several: --out/<workspace> each (with the resource
    group, then the subscription, in front when names repeat). Checked before any download."""
    if len(targets) == 1:
        problem = check_out(out)
        if problem:
            raise UsageError(problem)
        return [(targets[0], out)]
    if out.is_file() or (out.is_dir() and (out / "snapshot.json").exists()):
        raise UsageError(f"--out {out} is a snapshot or a file; with several workspaces it must "
                         "be a folder for their snapshot folders")
    names: list[str] = []
    for target in targets:
        level = next((n for n in range(3)
                      if sum(_key(t, n).lower() == _key(target, n).lower() for t in targets) == 1),
                     2)
        try:
            names.append(safe_component(_key(target, level), "workspace folder name"))
        except UnsafeName as exc:
            raise UsageError(str(exc)) from None
    found = []
    for target, name in zip(targets, names, strict=True):
        destination = out / name
        problem = check_out(destination)
        if problem:
            raise UsageError(problem)
        found.append((target, destination))
    return found


def _key(target: Target, level: int) -> str:
    """The workspace name, with its resource group (level 1) and subscription (2) in front."""
    parts = [target.subscription, target.resource_group, target.workspace][2 - level:]
    return ".".join(parts)


def check_out(out: Path) -> str | None:
    """Refuse, before any download, a --out that cannot or must not be replaced as a whole."""
    try:
        cwd = Path.cwd()
    except OSError as exc:
        return f"--out {out}: cannot resolve the path ({exc})"
    protected = dict.fromkeys(cwd.parents, "a parent of the current folder")
    protected[cwd] = "the current folder"
    problem = unsafe_place(out, marker="snapshot.json", protected=protected, example="snapshot")
    if problem:
        return problem
    parent = out.resolve().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"--out {out}: cannot write in {parent}"
    return None


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A CI job cancelled with SIGTERM unwinds like Ctrl-C, so the temporary dir is removed."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
