"""Plan -> CI pipeline definitions under `pipelines/`: GitHub Actions and Azure Pipelines.

For each requested system and each target, one pipeline: on a pull request it proves the
committed code is what this snapshot gives (`gen-iac --check`), smoke-tests the scoring code,
and previews the change (Terraform fmt/validate/plan, Bicep upload dry run and what-if) with a
job summary; on main it applies in a protected environment (an approval first), one apply per
workspace at a time, and fetches every deployment's container logs when the apply fails.
Sign-in is workload identity federation (OIDC) only; the v1 keys, when kept, come from the
pipeline's secret store at the apply that sends them, nowhere else.

Shared shell lives in `pipelines/scripts/` (shellcheck-clean files, called with `bash`), so
the YAML steps stay short. Snapshot values reach YAML only through `yaml_string` (a strict
double-quoted scalar that refuses the platforms' expression syntax) or as names checked by
`safe_name`; they reach shell only single-quoted (`shlex.quote`) or through the environment.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from generator import __version__
from generator.diagnostics import InputError
from generator.files import RenderedFile
from generator.plan.model import MigrationPlan
from generator.plan.naming import is_valid_name
from generator.render.templating import environment as _jinja
from generator.smoke import SERVER_REQUIREMENT

SYSTEMS = ("github", "azure-devops")
BASE = "pipelines"
SCRIPTS = f"{BASE}/scripts"
# GitHub allows at most 256 jobs per matrix; Azure Pipelines is given the same bound.
MATRIX_LIMIT = 256
APPLY_TIMEOUT_MINUTES = 180  # first deployments build images; azapi's create timeout is 90m
CHECK_TIMEOUT_MINUTES = 90  # the smoke tests build each bundle's conda environment
PLAN_TIMEOUT_MINUTES = 60
PYTHON_VERSION = "3.12"
TERRAFORM_VERSION = "^1.11.0"  # setup-terraform takes a semver range; the modules need 1.11
KEYS_SECRET = "GEN_IAC_ENDPOINT_KEYS"  # the pipeline secret holding keys.json, apply only
PLACEHOLDER_KEY = "plan-only-placeholder"  # plans never see the real keys (write-only input)

# The platforms expand these inside any YAML value: data must never contain them.
_EXPRESSION = re.compile(r"\$\{\{|\$\(|\$\[")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_WORKSPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,32}$")
_RESOURCE_GROUP = re.compile(r"^[-\w.()]{0,89}[-\w()]$")
_SUBSCRIPTION = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_FLAG_VALUE = re.compile(r"^[A-Za-z0-9._:/=@+,-]+$")


class PipelineError(InputError):
    """A value the pipelines cannot carry safely (exit status 2, nothing written)."""


def yaml_string(value: object) -> str:
    """A YAML double-quoted scalar: printable ASCII as is, everything else escaped; refuses
    lone surrogates and the `${{ }}`, `$( )`, `$[ ]` expression syntax of the platforms."""
    text = str(value)
    if _EXPRESSION.search(text):
        raise PipelineError(f"--pipeline: {text!r} holds pipeline expression syntax")
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif 0xD800 <= code <= 0xDFFF:
            raise PipelineError(f"--pipeline: {text!r} holds a lone surrogate")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def safe_name(value: str) -> str:
    """A name that is the same text in YAML (plain), shell and the platforms' expressions."""
    if not _NAME.fullmatch(value):
        raise PipelineError(f"--pipeline: {value!r} is not a plain name (letters, digits, - and _)")
    return value


def shell(value: str) -> str:
    return shlex.quote(value)


@dataclass(frozen=True)
class Module:
    """A Terraform root module the pipeline plans and applies."""

    key: str  # matrix key: the endpoint name, or "" for the workspace's one module
    path: str  # relative to the output directory
    state_key: str  # blob name of its state in the azurerm backend


def check_names(plan: MigrationPlan) -> None:
    """Every snapshot value the pipelines carry, checked before anything is rendered."""
    ws = plan.workspace
    if not _WORKSPACE.fullmatch(ws.name):
        raise PipelineError(
            f"--pipeline: workspace name {ws.name!r}: expected 3-33 letters, digits, - or _"
        )
    if not _RESOURCE_GROUP.fullmatch(ws.resource_group):
        raise PipelineError(
            f"--pipeline: resource group {ws.resource_group!r}: expected 1-90 letters, digits, "
            "-, _, ., ( or ), not ending in ."
        )
    if not _SUBSCRIPTION.fullmatch(ws.subscription_id):
        raise PipelineError(f"--pipeline: subscription {ws.subscription_id!r}: expected a GUID")
    for e in ws.endpoints:
        for name in (e.name, *(d.name for d in e.deployments)):
            if not is_valid_name(name):
                raise PipelineError(f"--pipeline: endpoint {e.name!r}: invalid name {name!r}")


def command_flags(
    targets: Sequence[str],
    systems: Sequence[str],
    layout: str,
    flags: Sequence[tuple[str, str]],
    snapshot: bool,
) -> str:
    """The flags of this generate, for the pipeline's `gen-iac --check` (shell words)."""
    words: list[str] = []
    if snapshot:
        words.append('--input "$GEN_IAC_SNAPSHOT"')
    words.append('--out "$GEN_IAC_OUT"')
    words += [f"--target {safe_name(t)}" for t in targets]
    words += [f"--pipeline {safe_name(s)}" for s in systems]
    if layout != "workspace":
        words.append(f"--layout {safe_name(layout)}")
    for flag, value in flags:
        if not flag.startswith("--") or not _NAME.fullmatch(flag[2:]):
            raise PipelineError(f"--pipeline: cannot repeat the flag {flag!r} in the pipeline")
        if not _FLAG_VALUE.fullmatch(value) or _EXPRESSION.search(value):
            raise PipelineError(
                f"--pipeline: the value {value!r} of {flag} cannot be repeated in the pipeline; "
                "put it in an --overrides file"
            )
        words.append(f"{flag} {shell(value)}")
    return " ".join(words)


def repo_path(path: object, default: str) -> str:
    """A path as the pipeline sees it, relative to the repository root: the one given when it
    is relative and plain, else the documented default (no absolute path in the output)."""
    text = str(path) if path is not None else ""
    p = PurePosixPath(text)
    if not text or p.is_absolute() or ".." in p.parts or not _FLAG_VALUE.fullmatch(text):
        return default
    return str(p)


def modules(plan: MigrationPlan, layout: str) -> list[Module]:
    ws = plan.workspace
    if layout == "endpoint":
        return [
            Module(e.name, f"terraform/{ws.folder}/{e.folder}", f"gen-iac/{ws.name}/{e.name}.tfstate")
            for e in ws.endpoints
        ]
    return [Module("", f"terraform/{ws.folder}", f"gen-iac/{ws.name}.tfstate")]


def chunks(items: Sequence[Module], size: int = MATRIX_LIMIT) -> list[list[Module]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def matrix_id(name: str, taken: set[str]) -> str:
    """An Azure Pipelines matrix/job identifier for an endpoint name (letters, digits, _)."""
    base = "ep_" + name.lower().replace("-", "_")
    ident, n = base, 1
    while ident in taken:
        n += 1
        ident = f"{base}_{n}"
    taken.add(ident)
    return ident


def environment() -> Any:
    # `{{ }}` and `${{ }}` are the platforms' own syntax: the templates use [= =] and [% %].
    env = _jinja("pipelines").overlay(
        variable_start_string="[=",
        variable_end_string="=]",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
    )
    env.filters = dict(env.filters)
    env.filters["yq"] = yaml_string
    env.filters["name"] = safe_name
    env.filters["sh"] = shell
    return env


def render_pipelines(
    plan: MigrationPlan,
    systems: Sequence[str],
    targets: Sequence[str],
    *,
    layout: str = "workspace",
    flags: Sequence[tuple[str, str]] = (),
    snapshot: object = None,
    out: object = None,
    example: bool = False,
) -> list[RenderedFile]:
    """Pipeline files for `systems` x `targets`, the scripts they call and a README.

    `flags` are the choice flags of this generate (repeated in `gen-iac --check`), `snapshot`
    and `out` the paths as given (a relative one becomes the pipeline's default),
    `example` true when no --input was given."""
    if not systems:
        return []
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown:
        raise PipelineError(f"--pipeline {unknown[0]}: expected github or azure-devops")
    check_names(plan)
    ws = plan.workspace
    env = environment()
    systems = tuple(dict.fromkeys(systems))
    mods = modules(plan, layout)
    taken: set[str] = set()
    keyed = list(ws.keyed_services)
    placeholder = {
        s: {"primaryKey": PLACEHOLDER_KEY, "secondaryKey": PLACEHOLDER_KEY} for s in keyed
    }
    uploads = bool(ws.assets)  # upload-bundles.sh versions every asset folder (and uploads code)
    context: dict[str, Any] = {
        "version": __version__,
        "ws": ws,
        "environment_name": f"gen-iac-{ws.name}",
        "layout": layout,
        "matrix": layout == "endpoint",
        "modules": mods,
        "chunks": chunks(mods),
        "matrix_ids": {m.key: matrix_id(m.key, taken) for m in mods if m.key},
        "check_args": command_flags(targets, systems, layout, flags, not example),
        "out_dir": repo_path(out, "out"),
        "snapshot_dir": repo_path(snapshot, "snapshot"),
        "package": f"gen-iac=={__version__}",
        "server_package": SERVER_REQUIREMENT,  # for bundles smoke-tested without conda
        "keyed": keyed,
        "keys_placeholder": json.dumps(placeholder, sort_keys=True) if keyed else "",
        "keys_secret": KEYS_SECRET,
        "uploads": uploads,
        "timeouts": {
            "apply": APPLY_TIMEOUT_MINUTES,
            "check": CHECK_TIMEOUT_MINUTES,
            "plan": PLAN_TIMEOUT_MINUTES,
        },
        "python_version": PYTHON_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "targets": list(targets),
        "systems": list(systems),
        "scripts": SCRIPTS,
    }
    files: list[RenderedFile] = []
    for system in systems:
        for target in targets:
            files.append(
                RenderedFile(
                    pipeline_path(system, target, ws.name),
                    env.get_template(f"{system}-{target}.yml.j2").render(context),
                )
            )
    files.append(
        RenderedFile(f"{BASE}/README.md", env.get_template("README.md.j2").render(context))
    )
    script_context = {
        **context,
        "deployments": [
            (shell(e.name), shell(d.name)) for e in ws.endpoints for d in e.deployments
        ],
        "sh_ws": shell(ws.name),
        "sh_rg": shell(ws.resource_group),
        "sh_sub": shell(ws.subscription_id),
    }
    names = ["smoke-bundles.sh", "deployment-logs.sh", "job-summary.sh"]
    if "terraform" in targets:
        names.append("terraform-init.sh")
    files += [
        RenderedFile(f"{SCRIPTS}/{n}", env.get_template(f"{n}.j2").render(script_context))
        for n in names
    ]
    return files


def pipeline_path(system: str, target: str, workspace: str) -> str:
    return f"{BASE}/{system}/gen-iac-{workspace}-{target}.yml"
