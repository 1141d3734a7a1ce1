"""Command line: parse flags, call the library, print diagnostics, return the exit status.

Exit status: 0 all migrated (warnings allowed), 1 some services not migrated (the rest
written), 2 bad usage, unreadable input or an unusable output folder (nothing written),
3 drift found by --check. Heavy modules (jinja2, the
renderers, azureml-core for `export`) are imported only once a command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generator import __version__

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_DRIFT = 0, 1, 2, 3

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

exit status: 0 all migrated, 1 some services not migrated (the rest written, the
report says why), 2 bad usage, unreadable input or an unusable output folder
(nothing written), 3 drift found by --check.
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
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["export"]:
        from generator.export.command import main as export_main

        return export_main(args_list[1:])
    if args_list[:1] == ["smoke"]:
        from generator.smoke import main as smoke_main

        return smoke_main(args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    return _generate(args)


def _generate(args: argparse.Namespace) -> int:
    from generator.diagnostics import InputError
    from generator.pipeline import Options, generate, parse_choices
    from generator.plan.memory import parse_retire

    try:
        if args.from_workspace:
            return _generate_from_workspace(args)
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
            layout=args.layout or "",
            check=args.check,
            retire=parse_retire(args.retire),
            drop=tuple(dict.fromkeys(args.drop)),
        )
        result = generate(options)
    except InputError as exc:
        print(f"gen-iac: error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    if result.check is not None:
        for line in result.plan.day2.lines():
            print(_one_line(line), file=sys.stderr)
        for line in result.check.lines(result.out):
            print(line, file=sys.stderr)
        if result.check.drift:
            print(
                f"gen-iac: --check: {len(result.check.drift)} file(s) gen-iac owns differ "
                f"from what it would write in {result.out}; run gen-iac without --check",
                file=sys.stderr,
            )
            return EXIT_DRIFT
        if not args.quiet:
            print(f"gen-iac: --check: {result.out} is up to date", file=sys.stderr)
        return EXIT_OK
    for line in result.terminal_lines(quiet=args.quiet, verbose=args.verbose):
        print(line, file=sys.stderr)
    return EXIT_PARTIAL if result.not_migrated else EXIT_OK


def _one_line(text: str) -> str:
    """A message on one line, printable whatever it quotes (no raw control characters or
    invalid text reach the terminal)."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _generate_from_workspace(args: argparse.Namespace) -> int:
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
        print(f"gen-iac: error: --from-workspace needs {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    if args.input:
        print("gen-iac: error: --from-workspace and --input exclude each other", file=sys.stderr)
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
        if status == EXIT_USAGE or not (snapshot / "snapshot.json").exists():
            return EXIT_USAGE
        args.from_workspace = False
        args.input = snapshot
        generated = _generate(args)
        return max(status, generated)
