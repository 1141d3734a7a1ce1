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
from generator.files import PERSON, RenderedFile
from generator.plan.model import Concat, MigrationPlan
from generator.plan.naming import is_valid_name
from generator.render.templating import environment as _jinja
from generator.render.terraform import stamped_retirements
from generator.smoke import SERVER_REQUIREMENT

SYSTEMS = ("github", "azure-devops")
BASE = "pipelines"
SCRIPTS = f"{BASE}/scripts"
SETTINGS = f"{BASE}/azure-devops/settings.yml"  # the person's Azure Pipelines values
DEFAULT_BRANCH = "main"
# GitHub allows at most 256 jobs per matrix; Azure Pipelines is given the same bound.
MATRIX_LIMIT = 256
APPLY_TIMEOUT_MINUTES = 180  # first deployments build images; azapi's create timeout is 90m
# terraform apply gets an interrupt (SIGINT) this long after it starts, so that it stops
# cleanly and releases the state lock before the job's own timeout kills everything.
APPLY_BUDGET_MINUTES = 150
CHECK_TIMEOUT_MINUTES = 90  # the smoke tests build each bundle's conda environment
PLAN_TIMEOUT_MINUTES = 60
PYTHON_VERSION = "3.12"
# The Terraform both platforms install (the modules need >= 1.11); Azure Pipelines checks the
# download against HashiCorp's SHA256SUMS.
TERRAFORM_VERSION = "1.11.4"
# The Bicep CLI az compiles with (`az bicep install --version`), the newest Azure/bicep release.
BICEP_VERSION = "v0.46.1"
# GitHub Actions by full commit SHA (a tag can be moved), the release in the comment. Read from
# the actions' own repositories (`git rev-parse TAG^{commit}`).
ACTIONS = {
    "checkout": ("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "setup-python": ("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "setup-terraform": (
        "hashicorp/setup-terraform",
        "dfe3c3f87815947d99a8997f908cb6525fc44e9e",
        "v4.0.1",
    ),
    "upload-artifact": (
        "actions/upload-artifact",
        "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f",
        "v7.0.0",
    ),
    "download-artifact": (
        "actions/download-artifact",
        "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c",
        "v8.0.1",
    ),
}
KEYS_SECRET = "GEN_IAC_ENDPOINT_KEYS"  # the pipeline secret holding keys.json, apply only
PLACEHOLDER_KEY = "plan-only-placeholder"  # plans never see the real keys (write-only input)

# The platforms expand these inside any YAML value: data must never contain them.
_EXPRESSION = re.compile(r"\$\{\{|\$\(|\$\[")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_WORKSPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,32}$")
_RESOURCE_GROUP = re.compile(r"^[-\w.()]{0,89}[-\w()]$")
_SUBSCRIPTION = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_FLAG_VALUE = re.compile(r"^[A-Za-z0-9._:/=@+,-]+$")
_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_MODEL = re.compile(
    r"/models/(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)/versions/(?P<version>[A-Za-z0-9._-]+)$"
)


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

    @property
    def folder(self) -> str:
        """The module's own folder (the endpoint's name made safe as a path component)."""
        return PurePosixPath(self.path).name


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
    """The root modules the pipeline plans and applies. With `--layout endpoint` that includes
    the hand-over module of each endpoint retired as a whole: applied with its old state, it
    forgets (keep) or drains and deletes (delete) what it managed."""
    ws = plan.workspace
    if layout == "endpoint":
        live = [(e.name, e.folder) for e in ws.endpoints]
        retired = {
            r.name: r.module.rsplit("/", 1)[1]
            for r in stamped_retirements(plan, layout)
            if "/" not in r.name and r.module.startswith(f"terraform/{ws.folder}/")
        }
        names = {name for name, _ in live}
        return [
            Module(name, f"terraform/{ws.folder}/{folder}", f"gen-iac/{ws.name}/{name}.tfstate")
            for name, folder in live + sorted(i for i in retired.items() if i[0] not in names)
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
    env.filters["ado_str"] = ado_string
    return env


def ado_string(value: str) -> str:
    """An Azure Pipelines expression string literal of a checked name."""
    return "'" + safe_branch(value).replace("'", "''") + "'"


def safe_branch(value: str) -> str:
    if not _BRANCH.fullmatch(value):
        raise PipelineError(f"--pipeline-branch {value!r}: expected a plain branch name")
    return value


def models_of(plan: MigrationPlan) -> list[tuple[str, str, str]]:
    """(code key, model name, version) of every deployment whose model is a registered model
    of this workspace, one per code key (the smoke test runs each code bundle once)."""
    found: dict[str, tuple[str, str, str]] = {}
    for e in plan.workspace.endpoints:
        for d in e.deployments:
            model = d.properties.get("model")
            ref = (
                "".join(p for p in model.parts if isinstance(p, str))
                if isinstance(model, Concat)
                else model
            )
            match = _MODEL.search(ref) if isinstance(ref, str) else None
            if match and d.code and d.code not in found and _FLAG_VALUE.fullmatch(d.code):
                found[d.code] = (d.code, match["name"], match["version"])
    return [found[k] for k in sorted(found)]


def install_requirement(direct_url: dict[str, Any] | None) -> str:
    """How the running gen-iac was installed, as a pip requirement another machine can use
    (PEP 610 `direct_url.json`): a VCS URL at its commit, or an archive URL with its hash.
    A local path or an index install gives "" (nothing portable to record); a URL holding
    credentials is never recorded."""
    if not isinstance(direct_url, dict):
        return ""
    url = direct_url.get("url")
    if not isinstance(url, str) or not re.fullmatch(r"https://[^\s@'\"$]+", url):
        return ""
    vcs = direct_url.get("vcs_info")
    if isinstance(vcs, dict):
        commit = vcs.get("commit_id")
        if vcs.get("vcs") == "git" and isinstance(commit, str) and _COMMIT.fullmatch(commit):
            return f"gen-iac @ git+{url}@{commit}"
        return ""
    archive = direct_url.get("archive_info")
    if isinstance(archive, dict):
        sha = (archive.get("hashes") or {}).get("sha256")
        if isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha):
            return f"gen-iac @ {url}#sha256={sha}"
    return ""


def recorded_install() -> str:
    """`install_requirement` of the gen-iac that runs now."""
    from importlib import metadata

    try:
        raw = metadata.distribution("gen-iac").read_text("direct_url.json")
        return install_requirement(json.loads(raw) if raw else None)
    except (metadata.PackageNotFoundError, ValueError):
        return ""


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
    branch: str = DEFAULT_BRANCH,
    install: str = "",
) -> list[RenderedFile]:
    """Pipeline files for `systems` x `targets`, the scripts they call and a README.

    `flags` are the choice flags of this generate (repeated in `gen-iac --check`), `snapshot`
    and `out` the paths as given (a relative one becomes the pipeline's default),
    `example` true when no --input was given, `branch` the branch that deploys, `install`
    the recorded pip requirement of this gen-iac (`recorded_install`; "" for none)."""
    if not systems:
        return []
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown:
        raise PipelineError(f"--pipeline {unknown[0]}: expected github or azure-devops")
    check_names(plan)
    safe_branch(branch)
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
    if branch != DEFAULT_BRANCH:
        flags = [*flags, ("--pipeline-branch", branch)]
    out_dir = repo_path(out, "out")
    context: dict[str, Any] = {
        "version": __version__,
        "ws": ws,
        "environment_name": f"gen-iac-{ws.name}",
        "branch": branch,
        "layout": layout,
        "matrix": layout == "endpoint",
        "modules": mods,
        "chunks": chunks(mods),
        "matrix_ids": {m.key: matrix_id(m.key, taken) for m in mods if m.key},
        "check_args": command_flags(targets, systems, layout, flags, not example),
        "out_dir": out_dir,
        "snapshot_dir": repo_path(snapshot, "snapshot"),
        "install_recorded": install,
        "server_package": SERVER_REQUIREMENT,  # for bundles smoke-tested without conda
        "keyed": keyed,
        "keys_placeholder": json.dumps(placeholder, sort_keys=True) if keyed else "",
        "keys_secret": KEYS_SECRET,
        "uploads": uploads,
        "timeouts": {
            "apply": APPLY_TIMEOUT_MINUTES,
            "apply_budget": APPLY_BUDGET_MINUTES,
            "check": CHECK_TIMEOUT_MINUTES,
            "plan": PLAN_TIMEOUT_MINUTES,
        },
        "python_version": PYTHON_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "bicep_version": BICEP_VERSION,
        "targets": list(targets),
        "systems": list(systems),
        "scripts": SCRIPTS,
        # Each action as `owner/name@<commit SHA> # <release>`.
        "actions": {k: f"{repo}@{sha} # {tag}" for k, (repo, sha, tag) in ACTIONS.items()},
        "models": models_of(plan),
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
    if "azure-devops" in systems:
        # The values a person sets for Azure Pipelines (pool, service connections, install
        # source, model folder): theirs after the first run, never drift.
        files.append(
            RenderedFile(
                SETTINGS,
                env.get_template("settings.yml.j2").render(context),
                owner=PERSON,
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
        "sh_models": [tuple(shell(v) for v in m) for m in context["models"]],
        "sh_keys_placeholder": shell(context["keys_placeholder"]),
    }
    names = [
        "as-data.sh",
        "az-login.sh",
        "deployment-logs.sh",
        "download-models.sh",
        "install-gen-iac.sh",
        "job-summary.sh",
        "require-protected-environment.sh",
        "smoke-bundles.sh",
        "verify-endpoints.sh",
    ]
    if keyed:
        names.append("stand-in-keys.sh")
    if "bicep" in targets:
        names += ["install-bicep.sh", "wait-deployment.sh"]
    if "terraform" in targets:
        names += ["terraform-apply.sh", "terraform-init.sh", "terraform-plan.sh"]
        if "azure-devops" in systems:
            names.append("install-terraform.sh")
    files += [
        RenderedFile(f"{SCRIPTS}/{n}", env.get_template(f"{n}.j2").render(script_context))
        for n in sorted(names)
    ]
    return files


def pipeline_path(system: str, target: str, workspace: str) -> str:
    return f"{BASE}/{system}/gen-iac-{workspace}-{target}.yml"
