"""`gen-iac export`: flags in, snapshot out, one line per problem, an exit status.

Importing this module must not import azureml-core or azure-identity (the generator runs
without the `export` extra): client.py imports them inside functions.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TextIO

from generator.export.client import (
    AuthFailed,
    AzureMLClient,
    CallFailed,
    MissingExtra,
    Target,
    TokenCredential,
    WorkspaceUnavailable,
)
from generator.export.progress import Progress
from generator.export.retry import RetryPolicy
from generator.export.runner import EXIT_USAGE, Selection, export

COMPUTE_TYPES = ("ACI", "AKS", "AKSENDPOINT")
TAG = re.compile(r"^[^=,]+(=[^,]*)?$")

DESCRIPTION = """\
Read the v1 real-time web services (ACI, AKS, AKS endpoints) of a live Azure ML workspace
into a snapshot directory that `gen-iac --input SNAPSHOT_DIR` turns into Terraform or Bicep.

The snapshot holds:
  snapshot.json          the workspace and the raw Model Management service payloads,
                         plus "errors" for anything that could not be exported
  assets/<service>/...   each service's scoring code exactly as stored (a source directory
                         stays a .tar.gz); AKS endpoints: assets/<endpoint>/<version>/...
  keys.json              only with --with-keys: the services' keys, file mode 0600

Sign-in uses azure-identity's DefaultAzureCredential: `az login`, a managed identity,
workload identity (OIDC), or a service principal in AZURE_TENANT_ID, AZURE_CLIENT_ID and
AZURE_CLIENT_SECRET. It needs read access to the workspace (e.g. the Reader role; with
--with-keys, a role that may list service keys, e.g. AzureML Data Scientist).

Example:
  gen-iac export --subscription 00000000-0000-0000-0000-000000000000 \\
      --resource-group rg-ml --workspace ws-prod --out snapshot/
  gen-iac --target terraform --input snapshot/ --out out/
"""

EPILOG = """\
needs: pip install 'gen-iac[export]' (azureml-core and azure-identity)

exit status: 0 everything exported, 1 some services, assets or keys failed (the rest is
exported and snapshot.json lists them under "errors"), 2 bad usage, sign-in failure or an
unreadable workspace (nothing written; an existing snapshot at --out is left as it was).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gen-iac export", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ws = parser.add_argument_group("workspace (required)")
    ws.add_argument("--subscription", required=True, metavar="ID", help="subscription id")
    ws.add_argument("--resource-group", required=True, metavar="NAME",
                    help="resource group of the workspace")
    ws.add_argument("--workspace", required=True, metavar="NAME", help="workspace name")
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
    parser.add_argument("--out", required=True, type=Path, metavar="SNAPSHOT_DIR",
                        help="snapshot directory to write (replaced only once the export is complete)")
    parser.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    return parser


def main(argv: list[str], *, credential: TokenCredential | None = None,
         sleep: Callable[[float], None] | None = None, stream: TextIO | None = None) -> int:
    """Entry of `gen-iac export`. `credential`, `sleep` and `stream` exist for tests."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    err = stream or sys.stderr
    bad = [t for t in args.tag if not TAG.match(t)]
    if bad:
        print(f"gen-iac export: error: --tag {bad[0]!r}: expected KEY or KEY=VALUE without commas",
              file=err)
        return EXIT_USAGE
    selection = Selection(tuple(dict.fromkeys(args.service)), args.compute_type, tuple(args.tag))
    return run(
        Target(args.subscription, args.resource_group, args.workspace, args.cloud),
        args.out, selection, args.with_keys, args.quiet, credential=credential, sleep=sleep,
        stream=err,
    )


def export_for_generate(subscription: str, resource_group: str, workspace: str, cloud: str,
                        out: Path, with_keys: bool, quiet: bool) -> int:
    """Export every service to `out` (a path that does not exist yet) for --from-workspace."""
    return run(Target(subscription, resource_group, workspace, cloud), out, Selection(),
               with_keys, quiet)


def run(target: Target, out: Path, selection: Selection, with_keys: bool, quiet: bool, *,
        credential: TokenCredential | None = None, sleep: Callable[[float], None] | None = None,
        stream: TextIO | None = None) -> int:
    progress = Progress(stream or sys.stderr, quiet=quiet)
    problem = _check_out(out)
    if problem:
        progress.error(problem)
        return EXIT_USAGE
    policy = RetryPolicy(sleep=sleep) if sleep else RetryPolicy()
    client = AzureMLClient(target, credential=credential, policy=policy)
    try:
        with _sigterm_as_interrupt():
            result = export(client, out, selection, with_keys, progress)
    except (MissingExtra, AuthFailed, WorkspaceUnavailable) as exc:
        progress.finish()
        progress.error(str(exc))
        return EXIT_USAGE
    except CallFailed as exc:
        progress.finish()
        progress.error(f"{exc}; nothing was written")
        return EXIT_USAGE
    except KeyboardInterrupt:
        progress.finish()
        progress.error(f"interrupted; nothing was written to {out}")
        return 130
    except OSError as exc:
        progress.finish()
        progress.error(f"cannot write the snapshot to {out}: {exc.strerror or exc}")
        return EXIT_USAGE
    for entry in result.errors:
        progress.error(f"service {entry['service']!r}: {entry['what']}: {entry['message']}")
    progress.info(
        f"wrote {out}: {result.exported} service(s)"
        + (f", {len(result.errors)} problem(s) listed under \"errors\" in snapshot.json"
           if result.errors else "")
        + ("; keys.json holds secrets, keep it out of version control" if with_keys else "")
    )
    return result.status


def _check_out(out: Path) -> str | None:
    """Refuse to replace something that is not a snapshot: --out is replaced as a whole."""
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            return f"--out {out} exists and is not a directory; choose another path"
        if any(out.iterdir()) and not (out / "snapshot.json").is_file():
            return (f"--out {out} is a non-empty directory without snapshot.json; it would be "
                    "replaced, so choose an empty or new directory")
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
