"""Command line: parse flags, call the library, print diagnostics, return the exit status.

Exit status: 0 all migrated (warnings allowed), 1 some services not migrated (the rest
written), 2 bad usage, unreadable input or an unusable output folder (nothing written),
3 drift found by --check (4: differences found by `gen-iac verify`). Heavy modules (jinja2, the
renderers, azureml-core for `export`) are imported only once a command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from generator import __version__

if TYPE_CHECKING:
    from generator.pipeline import GenerateResult

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_DRIFT = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it

DESCRIPTION = """\
Turn Azure ML v1 real-time web services (ACI, AKS, AKS endpoints) into v2 online
endpoints as infrastructure-as-code: Terraform (azapi) or Bicep, plus a migration
report (out/MIGRATION.md, out/migration.json) with the new URLs, SKUs, costs, a quota
check and everything that needs a person's attention, and out/SUMMARY.md, a short
version for a pull request. The console prints a summary; -v every finding, -q errors.

Typical use:
  gen-iac export --subscription S --resource-group G --workspace W --out snapshot/
  gen-iac --target terraform --input snapshot/ --out out/
  cd out/terraform/W && terraform init && terraform plan

With no --input, the example snapshot shipped with gen-iac is used.
"""

EPILOG = """\
subcommands:
  gen-iac export ...   read the services of a live workspace into a snapshot
                       (needs: pip install 'gen-iac[export]'; see gen-iac export --help)
  gen-iac smoke BUNDLE [--model-dir DIR] [--request FILE]
                       run a generated bundle under azureml-inference-server-http on
                       127.0.0.1 and send it one request (before apply, in a pipeline)
  gen-iac verify --out DIR [--input SNAPSHOT] [--v2-only] ...
                       after the apply: send the same requests to each v1 service and
                       its v2 endpoint, compare the answers, complete CUTOVER.md (exit 4
                       when any differs; see gen-iac verify --help)
  gen-iac plan-summary PLAN_JSON
                       a saved Terraform plan (terraform show -json) as Markdown for a
                       reviewer: deletions first, traffic old -> new, deployments, sizes

exit status: 0 all migrated, 1 some services not migrated or some entries of the
input not read (the rest written, the report says why), 2 bad usage, input that is
unreadable or no v1 services, or an unusable output folder (nothing written),
3 drift found by --check.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gen-iac",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gen-iac {__version__}")
    parser.add_argument(
        "--target",
        action="append",
        choices=("terraform", "bicep"),
        metavar="{terraform,bicep}",
        help="what to write; repeat for both (default: terraform)",
    )
    parser.add_argument(
        "--input",
        type=Path,
        metavar="SNAPSHOT",
        help="snapshot directory (snapshot.json, keys.json, assets/) or a JSON file "
        "(default: the example snapshot shipped with gen-iac)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("out"),
        metavar="DIR",
        help="output directory (default: ./out)",
    )
    ws = parser.add_argument_group(
        "workspace",
        "needed when the input is a bare service list or an MMS list response; "
        "they override the snapshot's workspace object",
    )
    ws.add_argument("--subscription", metavar="ID", help="subscription id")
    ws.add_argument("--resource-group", metavar="NAME", help="resource group of the workspace")
    ws.add_argument("--workspace", metavar="NAME", help="workspace name")
    ws.add_argument("--location", metavar="REGION", help="workspace region, e.g. westeurope")
    over = parser.add_argument_group("per-service choices")
    over.add_argument(
        "--sku",
        action="append",
        default=[],
        metavar="SERVICE=SIZE",
        help="VM size for a service instead of the one mapped from its CPU and memory "
        "(e.g. --sku my-svc=Standard_DS3_v2); repeatable",
    )
    over.add_argument(
        "--instance-count",
        action="append",
        default=[],
        metavar="SERVICE=N",
        help="instance count for a service; repeatable",
    )
    over.add_argument(
        "--overrides",
        type=Path,
        metavar="FILE",
        help="YAML file of per-service choices: services: {NAME: {instance_type, "
        "instance_count, endpoint_name, request_timeout_ms, endpoint_kind, compute, "
        "deployment_name, initial_traffic, mirror}}; flags win over it",
    )
    k8s = parser.add_argument_group(
        "Kubernetes online endpoints",
        "each flag takes VALUE (every AKS service) or SERVICE=VALUE (one service)",
    )
    k8s.add_argument(
        "--endpoint-kind",
        action="append",
        default=[],
        metavar="[SERVICE=]KIND",
        help="managed (default) or kubernetes: keep AKS services on your own cluster",
    )
    k8s.add_argument(
        "--compute",
        action="append",
        default=[],
        metavar="[SERVICE=]NAME",
        help="the workspace's Kubernetes compute (an attached AKS or Arc cluster with the "
        "Azure ML extension) for kubernetes endpoints",
    )
    rollout = parser.add_argument_group(
        "rollout", "each flag takes VALUE (every service) or SERVICE=VALUE (one service)"
    )
    rollout.add_argument(
        "--deployment-name",
        action="append",
        default=[],
        metavar="[SERVICE=]NAME",
        help="name of the deployment of a single v1 service (default: blue); AKS endpoint "
        "versions keep their names",
    )
    rollout.add_argument(
        "--initial-traffic",
        action="append",
        default=[],
        metavar="[SERVICE=]PCT",
        help="100 (default): the new endpoint serves at once; 0: a dark launch, no live "
        "traffic until you change the traffic map",
    )
    rollout.add_argument(
        "--mirror",
        action="append",
        default=[],
        metavar="[SERVICE=]PCT",
        help="shadow-test an AKS endpoint's treatment version: it gets no live traffic and a "
        "copy of PCT %% (1-50) of the requests (managed endpoints only)",
    )
    parser.add_argument(
        "--layout",
        choices=("workspace", "endpoint"),
        default=None,
        help="Terraform: one root module per workspace, or one per endpoint, each with its "
        "own state, under terraform/<workspace>/<endpoint>/ (default: as the last run into "
        "--out, else workspace)",
    )
    secrets = parser.add_argument_group("secrets")
    secrets.add_argument(
        "--write-keys",
        action="store_true",
        help="write the exported endpoint keys into a git-ignored, mode-0600 file next to the "
        "generated code (by default keys are never written; you pass them at apply time)",
    )
    parser.add_argument(
        "--pipeline",
        action="append",
        choices=("github", "azure-devops"),
        metavar="{github,azure-devops}",
        help="also write CI pipeline definitions under OUT/pipelines/ (plan on pull requests, "
        "approve-then-apply on main, OIDC sign-in); repeat for both",
    )
    parser.add_argument(
        "--retire",
        action="append",
        default=[],
        metavar="NAME=keep|delete",
        help="retire an endpoint (or ENDPOINT/DEPLOYMENT) that gen-iac generated before and "
        "keeps because its service left the snapshot or was refused: keep = stop managing it "
        "(Terraform removed blocks, nothing deleted), delete = drain its traffic, then delete it",
    )
    parser.add_argument(
        "--drop",
        action="append",
        default=[],
        choices=("terraform", "bicep", "github", "azure-devops"),
        metavar="{terraform,bicep,github,azure-devops}",
        help="remove a target's or pipeline's output that an earlier run wrote (without it, "
        "a re-run keeps generating what earlier runs generated)",
    )
    parser.add_argument(
        "--pipeline-branch",
        default="main",
        metavar="BRANCH",
        help="the branch whose pushes deploy and that pull requests target (default: main)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="discard a person's edits of files gen-iac owns (by default they are kept and "
        "reported); files a person owns (bundle code, environment, traffic values) are never "
        "overwritten",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare what would be generated with --out and write nothing: exit 0 when up "
        "to date, 3 when a file gen-iac owns would change (each listed with a short diff)",
    )
    talk = parser.add_mutually_exclusive_group()
    talk.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    talk.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="print every finding, one line each (default: a summary grouped by code)",
    )
    live = parser.add_argument_group("live workspace")
    live.add_argument(
        "--from-workspace",
        action="store_true",
        help="export the workspace given by --subscription/--resource-group/--workspace to a "
        "temporary snapshot first, then generate from it (needs gen-iac[export])",
    )
    live.add_argument(
        "--cloud",
        default="AzureCloud",
        metavar="NAME",
        help="Azure cloud for --from-workspace (default: AzureCloud)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:  # Ctrl-C anywhere: one line; the output is old or new, whole
        with contextlib.suppress(ValueError):  # not the main thread: nothing to change
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C cannot cut the line
        _say(
            "gen-iac: interrupted; the output folder holds its old files or all the new ones, "
            "never a mix (the next run completes a move that was under way)"
        )
        return EXIT_INTERRUPTED


def _say(line: str) -> None:
    """The one place generate prints: every line goes through `console.safe`."""
    from generator.console import safe

    print(safe(line), file=sys.stderr, flush=True)


def _main(args_list: list[str]) -> int:
    if args_list[:1] == ["export"]:
        from generator.export.command import main as export_main

        return export_main(args_list[1:])
    if args_list[:1] == ["plan-summary"]:
        from generator.plan_summary import main as summary_main

        return summary_main(args_list[1:])
    if args_list[:1] == ["smoke"]:
        from generator.smoke import main as smoke_main

        return smoke_main(args_list[1:])
    if args_list[:1] == ["verify"]:
        from generator.verify.command import main as verify_main

        return verify_main(args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    return _generate(args)


def _generate(args: argparse.Namespace) -> int:
    from generator.diagnostics import InputError
    from generator.output import claim
    from generator.places import example_snapshot

    try:
        if args.from_workspace and args.input:
            raise InputError("--from-workspace and --input exclude each other")
        snapshot = None if args.from_workspace else args.input or example_snapshot()
        # The place check and the lock come first, before an export or the planner is even
        # imported: a second run or an unsafe --out is refused at once.
        with claim(args.out, write=not args.check, snapshot=snapshot):
            if args.from_workspace:
                return _generate_from_workspace(args)
            result = _run(args)
    except InputError as exc:
        _say(f"gen-iac: error: {exc}")
        return EXIT_USAGE
    return _report(args, result)


def _report(args: argparse.Namespace, result: GenerateResult) -> int:
    if result.check is not None:
        for line in result.check.lines(result.out):
            _say(line)
        if result.check.drift:
            _say(
                f"gen-iac: --check: {len(result.check.drift)} file(s) in the generated folders "
                f"differ from what gen-iac would write in {result.out}; run gen-iac without "
                "--check (files it does not write: remove them)"
            )
            return EXIT_DRIFT
        if not args.quiet:
            _say(f"gen-iac: --check: {result.out} is up to date")
        return EXIT_OK
    from generator.console import lines

    for line in lines(result, quiet=args.quiet, verbose=args.verbose):
        _say(line)
    return EXIT_PARTIAL if result.plan.incomplete else EXIT_OK


def _run(args: argparse.Namespace) -> GenerateResult:
    """Plan, render and write (or check), with `args.out` already claimed."""
    from generator.pipeline import Options, generate, parse_choices
    from generator.plan.memory import parse_retire

    defaults, per_service = parse_choices(
        {
            "--sku": args.sku,
            "--instance-count": args.instance_count,
            "--endpoint-kind": args.endpoint_kind,
            "--compute": args.compute,
            "--deployment-name": args.deployment_name,
            "--initial-traffic": args.initial_traffic,
            "--mirror": args.mirror,
        }
    )
    options = Options(
        input=args.input,
        out=args.out,
        targets=tuple(dict.fromkeys(args.target or ["terraform"])),
        workspace_flags={
            "subscriptionId": args.subscription,
            "resourceGroup": args.resource_group,
            "name": args.workspace,
            "location": args.location,
        },
        defaults=defaults,
        service_overrides=per_service,
        overrides_file=args.overrides,
        write_keys=args.write_keys,
        force=args.force,
        pipelines=tuple(dict.fromkeys(args.pipeline or [])),
        pipeline_branch=args.pipeline_branch,
        layout=args.layout or "",
        check=args.check,
        retire=parse_retire(args.retire),
        drop=tuple(dict.fromkeys(args.drop)),
    )
    return generate(options, claimed=True)


def _generate_from_workspace(args: argparse.Namespace) -> int:
    """Export to a temporary snapshot, then generate from it; InputError goes to the caller."""
    import tempfile

    from generator.export.command import export_for_generate

    missing = [
        f
        for f, v in (
            ("--subscription", args.subscription),
            ("--resource-group", args.resource_group),
            ("--workspace", args.workspace),
        )
        if not v
    ]
    if missing:
        _say(f"gen-iac: error: --from-workspace needs {', '.join(missing)}")
        return EXIT_USAGE
    with tempfile.TemporaryDirectory(prefix="gen-iac-snapshot-") as tmp:
        snapshot = Path(tmp) / "snapshot"
        status = export_for_generate(
            subscription=args.subscription,
            resource_group=args.resource_group,
            workspace=args.workspace,
            cloud=args.cloud,
            out=snapshot,
            with_keys=args.write_keys,
            quiet=args.quiet,
        )
        if status == EXIT_INTERRUPTED:
            return status
        if status == EXIT_USAGE or not (snapshot / "snapshot.json").exists():
            return EXIT_USAGE
        args.input = snapshot
        generated = _report(args, _run(args))  # --out is claimed by the caller
        return max(status, generated)
