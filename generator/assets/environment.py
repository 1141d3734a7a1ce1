"""v1 Environment dict -> what a v2 `environments/versions` resource needs.

`environment_spec` reads `environmentImageRequest.environment` (and `environmentReference`) and
returns an `EnvironmentSpec` of one of three kinds:

- "image": `image` plus an optional conda file (YAML text). Most v1 environments end here.
- "build": a Docker build context (`build_files`, `dockerfile_path`), for a real `baseDockerfile`.
- "reference": an environment already registered in the workspace, `(name, version)`.

The conda file is rewritten so that a v2 deployment starts (user-needs P1), as follows.
- v2 adds no serving stack, so `azureml-inference-server-http` is pinned from `SERVER_TABLE`
  for the conda file's Python (the newest row, plus an INFO, when no Python is pinned).
- `azureml-defaults` stays (scripts may still import azureml-core; the lint reports that) and the
  server pin is added next to it, which keeps pip off the releases that crash.
- A pin the user wrote (the server itself, or an `azureml-defaults` too old to allow server
  1.4.1) is never rewritten: it is reported, and nothing that would conflict with it is added.
- Python below 3.9 (the first row) is out of support: WARNING.
- `pip` is added as a conda dependency when missing, because conda installs the pip section
  with it.
- `userManagedDependencies: true` means no conda file: the image must bring the server.

`environmentVariables` are not handled here: the caller moves them to the deployment. Output is
deterministic: the same dict gives the same YAML text and the same version, which is 16 hex of
a sha256 over the defining content (image, conda text, build files). The name and environment
variables are not part of it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from generator.diagnostics import Finding, Level

SERVER = "azureml-inference-server-http"
DEFAULTS = "azureml-defaults"
CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
# DEFAULT_GPU_IMAGE of azureml-core 1.61 (core/environment.py), with a floating tag.
GPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04:latest"
CONDA_FILE = "conda.yaml"
DOCKERFILE = "Dockerfile"

Clause = tuple[str, tuple[int, ...]]  # (operator, release) of one version specifier


@dataclass(frozen=True)
class ServerRelease:
    """One row of the Python -> inference server table."""

    python: tuple[int, int]  # lowest Python it installs on (Requires-Python)
    version: str  # the release the pin resolves to today
    pin: str  # the specifier written to the conda file
    # Direct requirements a user's exact pip pin can collide with (name, specifier).
    requires: tuple[tuple[str, str], ...] = ()

    @property
    def requirement(self) -> str:
        return f"{SERVER}{self.pin}"


# Python -> server, newest first. Evidence: each wheel's METADATA, from
# `pip download azureml-inference-server-http==X --no-deps` (checked 1.5.1, 1.5.0, 1.4.1, 1.4.0,
# 1.3.4, 1.3.0, 1.2.2, 1.0.0, 0.8.4.2, 0.7.7):
#   1.4.0-1.5.1  Requires-Python >=3.9, classifiers 3.9-3.12 (1.4.0 changelog: dropped 3.8)
#   1.3.0-1.3.4  Requires-Python >=3.8, classifiers 3.8-3.12; 1.2.2: >=3.8, 3.8-3.11
#   0.8.4.2      Requires-Python >=3.7;  0.7.7: >=3.6
# Releases up to 1.4.0 run `import azureml.contrib.services.aml_request` when the server starts
# (server/__init__.py `_patch_azureml_contrib_services`; 1.2.2 and 1.3.4 differ only in version
# and a warning). In a Python 3.11 venv, 1.2.2 and 1.3.4 both raised "ModuleNotFoundError: No
# module named 'azureml.contrib'" once azureml-ai-monitoring 1.0.0 (which ships a regular
# azureml/__init__.py) was installed; 1.4.1 ("Remove azureml contrib service local references")
# started. Pinning <1.3 for Python 3.8 (as Azure/azureml-examples PR #4012 does) therefore does not
# avoid the crash; 1.3.4 is used because its dependencies carry the newer security fixes.
SERVER_TABLE: tuple[ServerRelease, ...] = (
    ServerRelease(
        (3, 9),
        "1.5.1",
        "~=1.5.1",
        (
            ("flask", "~=3.1.0"),
            ("flask-cors", "~=6.0.0"),
            ("gunicorn", ">=23.0.0"),
            ("inference-schema", "~=1.8.0"),
            ("opentelemetry-api", "==1.33.0"),
            ("opentelemetry-sdk", "==1.33.0"),
            ("pydantic", "~=2.12.0"),
            ("werkzeug", ">=3.0.3"),
        ),
    ),
    ServerRelease(
        (3, 8),
        "1.3.4",
        "~=1.3.4",
        (
            ("flask", "<=2.3.2"),
            ("flask-cors", "~=5.0.0"),
            ("gunicorn", ">=23.0.0"),
            ("inference-schema", "~=1.8.0"),
            ("opencensus-ext-azure", "~=1.1.0"),
            ("pydantic", "~=2.9.0"),
            ("werkzeug", ">=3.0.3"),
        ),
    ),
    # Out-of-support rows: kept so old environments still resolve; dependencies not checked.
    ServerRelease((3, 7), "0.8.4.2", "~=0.8.4"),
    ServerRelease((3, 6), "0.7.7", "~=0.7.7"),
)
# Below the table's first row every server release carries the azureml.contrib import.
SUPPORTED_PYTHON = SERVER_TABLE[0].python
NEWEST_LISTED_PYTHON = (3, 12)  # newest classifier of 1.5.1
FIXED_SERVER = (1, 4, 1)  # first release without the azureml.contrib import
CONTRIB_CRASH = (
    "import azureml.contrib at start-up, which fails with ModuleNotFoundError once another "
    "package (e.g. azureml-ai-monitoring) installs a regular azureml/__init__.py"
)
# azureml-defaults requires the server at ~=0.8.0 (1.50), ~=1.2.1 (1.57), ~=1.3 (1.58-1.60) and
# ~=1.4 (1.61, 1.62) (wheel METADATA): 1.58 is the first whose range admits 1.4.1 and later.
FIXED_DEFAULTS = (1, 58)


@dataclass(frozen=True)
class EnvironmentSpec:
    kind: str  # "image" | "build" | "reference"
    name: str | None  # v1 environment name (the caller sanitizes it into a v2 asset name)
    image: str | None = None
    conda_file: str | None = None  # YAML text, kind "image" only ("build" has it in build_files)
    build_files: dict[str, bytes] = field(default_factory=dict)  # kind "build": the context
    dockerfile_path: str | None = None
    reference: tuple[str, str] | None = None  # kind "reference": (name, version); "" = unversioned
    version: str = ""  # 16 hex of sha256 over the defining content (image and build kinds)
    python: str | None = None  # detected Python version, "3.8"


def environment_spec(
    environment: dict[str, Any] | None, reference: tuple[str, str] | None
) -> tuple[EnvironmentSpec | None, list[Finding]]:
    """What the v2 environment of a v1 service is, and what changed on the way.

    Precedence: a full definition is rebuilt (even when a reference is also given, so the serving
    stack can be checked and the version is content-derived); else a dict holding only `name` and
    `version` (the SDK's EnvironmentReference test) or `reference` gives kind "reference"; else
    there is no environment: `(None, [no-environment])`. A reference without a version keeps
    version "" and warns: the caller must resolve it or refuse.
    """
    if isinstance(environment, dict) and environment and not _reference_shaped(environment):
        spec, findings = _from_definition(environment)
        if reference is not None:
            findings.append(
                Finding(
                    Level.INFO,
                    "environment-reference-ignored",
                    f"the environment is rebuilt from its recorded definition instead of referencing "
                    f"registered '{_ref_text(reference)}', so its serving stack can be checked",
                    "environmentReference",
                )
            )
        return spec, findings
    refs = [_dict_reference(environment), reference]
    versioned = [r for r in refs if r is not None and r[1]]
    chosen = versioned[0] if versioned else next((r for r in refs if r is not None), None)
    if chosen is not None:
        return _from_reference(chosen)
    return None, [
        Finding(
            Level.WARNING,
            "no-environment",
            "the v1 service records no environment (a no-code or entry-script-only deployment); a "
            "v2 deployment needs one: an image with Python and azureml-inference-server-http, e.g. "
            f"{CPU_IMAGE} with a conda file that lists it, or a curated inference image",
            "environment",
        )
    ]


# --- references ---------------------------------------------------------------------------------


def _reference_shaped(environment: dict[str, Any]) -> bool:
    return all(key in ("name", "version") for key in environment)


def _dict_reference(environment: dict[str, Any] | None) -> tuple[str, str] | None:
    if not isinstance(environment, dict) or not environment:
        return None
    name = environment.get("name")
    if not _reference_shaped(environment) or not isinstance(name, str) or not name:
        return None
    version = environment.get("version")
    return name, "" if version in (None, "") else str(version)


def _ref_text(reference: tuple[str, str]) -> str:
    return f"{reference[0]}:{reference[1]}" if reference[1] else reference[0]


def _from_reference(reference: tuple[str, str]) -> tuple[EnvironmentSpec, list[Finding]]:
    name, version = reference
    findings: list[Finding] = []
    if not version:
        findings.append(
            Finding(
                Level.WARNING,
                "environment-reference-unversioned",
                f"the service refers to registered environment '{name}' without a version (v1 took "
                "the latest); a v2 deployment needs an exact version: set one before deploying",
                "environment.version",
            )
        )
    if name.lower().startswith(("azureml-", "microsoft-")):
        findings.append(
            Finding(
                Level.WARNING,
                "curated-environment-reference",
                f"'{name}' is a v1 curated environment: v2 curated environments live in the "
                "'azureml' registry and many v1 names were retired; pick a current curated "
                "inference environment or an image with azureml-inference-server-http",
                "environment.name",
            )
        )
    else:
        findings.append(
            Finding(
                Level.INFO,
                "environment-reference",
                f"registered environment '{_ref_text(reference)}' is used as is: v1 environments "
                "are visible to v2, but its Python and serving stack were not checked",
                "environment",
            )
        )
    return EnvironmentSpec(kind="reference", name=name, reference=(name, version)), findings


# --- definitions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Definition:
    """What every kind of a full definition shares."""

    name: str | None
    conda_file: str | None  # None when userManagedDependencies is true
    python: tuple[int, int] | None  # from the conda file
    user_managed: bool
    stack_latest: bool  # inferencingStackVersion "latest"


def _from_definition(environment: dict[str, Any]) -> tuple[EnvironmentSpec, list[Finding]]:
    """Kind by what the definition holds: baseDockerfile, else buildContext, else baseImage."""
    python_section = _mapping(environment.get("python"))
    docker = _mapping(environment.get("docker"))
    user_managed = python_section.get("userManagedDependencies") is True
    stack_latest = str(environment.get("inferencingStackVersion") or "").lower() == "latest"
    findings: list[Finding] = []
    conda_file, python = None, None
    if not user_managed:  # v1 ignored the conda spec then, and so does v2
        conda_file, python, conda_findings = _conda_file(python_section, stack_latest)
        findings += conda_findings
    definition = _Definition(
        _text(environment.get("name")), conda_file, python, user_managed, stack_latest
    )
    findings += _registry_findings(docker)
    findings += _name_findings(definition.name)
    dockerfile = docker.get("baseDockerfile")
    context = _mapping(docker.get("buildContext"))
    if isinstance(dockerfile, str) and dockerfile.strip():
        return _dockerfile_spec(definition, dockerfile, context, findings)
    if context:
        return _context_spec(definition, context, findings)
    image = _text(docker.get("baseImage"))
    if image is None:
        image = CPU_IMAGE
        findings.append(
            Finding(
                Level.INFO,
                "default-base-image",
                f"the environment names no base image; the v1 default's ubuntu22.04 successor "
                f"{CPU_IMAGE} is used",
                "environment.docker.baseImage",
            )
        )
    else:
        findings += _image_findings(image, "environment.docker.baseImage")
    return _image_spec(definition, image, findings)


def _name_findings(name: str | None) -> list[Finding]:
    if not name or not name.lower().startswith(("azureml-", "microsoft-")):
        return []
    return [
        Finding(
            Level.INFO,
            "curated-environment-name",
            f"'{name}' starts with a prefix reserved for curated environments; the v2 asset "
            "built from its definition needs another name",
            "environment.name",
        )
    ]


def _image_spec(
    definition: _Definition, image: str, findings: list[Finding]
) -> tuple[EnvironmentSpec, list[Finding]]:
    python = definition.python
    if definition.user_managed:
        findings.append(_user_managed_finding([image], definition.stack_latest))
        python = _image_python([image])
        findings += _python_findings(python, "the image's", "environment.docker.baseImage")
    spec = _spec("image", definition.name, image, definition.conda_file, {}, None, python, "")
    return spec, findings


def _dockerfile_spec(
    definition: _Definition, dockerfile: str, context: dict[str, Any], findings: list[Finding]
) -> tuple[EnvironmentSpec, list[Finding]]:
    """A one-line `FROM` is an image; anything else is a build context around the Dockerfile."""
    field_name = "environment.docker.baseDockerfile"
    images = _from_images(dockerfile)
    for image in images:
        findings += _image_findings(image, field_name)
    if context:
        findings.append(_context_finding(context, with_dockerfile=True))
    only_from = _single_from(dockerfile)
    if only_from is not None:  # curated environments look like this
        return _image_spec(definition, only_from, findings)
    # File content is kept byte for byte: it defines the version.
    files = {DOCKERFILE: dockerfile.encode("utf-8")}
    python = definition.python
    if definition.conda_file is not None:
        files[DOCKERFILE] = _with_conda_steps(dockerfile).encode("utf-8")
        files[CONDA_FILE] = definition.conda_file.encode("utf-8")
        findings.append(
            Finding(
                Level.WARNING,
                "dockerfile-conda-appended",
                "v1 built the conda environment on top of baseDockerfile, a v2 build context "
                "builds only the Dockerfile: conda steps were appended, so the base image must "
                "provide conda",
                field_name,
            )
        )
    else:
        findings.append(_user_managed_finding(images, definition.stack_latest))
        python = _image_python(images)
        findings += _python_findings(python, "the image's", field_name)
    spec = _spec("build", definition.name, None, None, files, DOCKERFILE, python, "")
    return spec, findings


def _context_spec(
    definition: _Definition, context: dict[str, Any], findings: list[Finding]
) -> tuple[EnvironmentSpec, list[Finding]]:
    """A remote build context cannot be fetched: the conda file is all the context gets."""
    findings.append(_context_finding(context, with_dockerfile=False))
    conda_file = definition.conda_file
    files = {} if conda_file is None else {CONDA_FILE: conda_file.encode("utf-8")}
    path = _text(context.get("dockerfilePath")) or DOCKERFILE
    location = _text(context.get("location")) or ""
    spec = _spec("build", definition.name, None, None, files, path, definition.python, location)
    return spec, findings


def _spec(
    kind: str,
    name: str | None,
    image: str | None,
    conda_file: str | None,
    files: dict[str, bytes],
    dockerfile_path: str | None,
    python: tuple[int, int] | None,
    context: str,
) -> EnvironmentSpec:
    """The spec with its content version: same content, same version."""
    content = {
        "kind": kind,
        "image": image,
        "condaFile": conda_file,
        "dockerfilePath": dockerfile_path,
        "files": {path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())},
        "context": context,
    }
    digest = hashlib.sha256(
        json.dumps(content, sort_keys=True, separators=(",", ":")).encode("utf-8")
    ).hexdigest()
    return EnvironmentSpec(
        kind=kind,
        name=name,
        image=image,
        conda_file=conda_file,
        build_files=dict(sorted(files.items())),
        dockerfile_path=dockerfile_path,
        version=digest[:16],
        python=None if python is None else f"{python[0]}.{python[1]}",
    )


# --- conda --------------------------------------------------------------------------------------


def _conda_file(
    python_section: dict[str, Any], stack_latest: bool
) -> tuple[str, tuple[int, int] | None, list[Finding]]:
    """The conda file as YAML text, the Python it pins, and what was changed or is missing."""
    findings: list[Finding] = []
    field_name = "environment.python.condaDependencies"
    base_env = _text(python_section.get("baseCondaEnvironment"))
    if base_env:
        findings.append(
            Finding(
                Level.WARNING,
                "base-conda-environment",
                f"v1 cloned the conda environment '{base_env}' of the base image; v2 builds only "
                "the conda file, so packages that came from that environment must be listed in it",
                "environment.python.baseCondaEnvironment",
            )
        )
    raw = python_section.get("condaDependencies")
    if isinstance(raw, dict):
        spec: dict[str, Any] = copy.deepcopy(raw)
    else:
        conda_path = _text(python_section.get("condaDependenciesFile"))
        spec = {"name": "project_environment", "channels": ["conda-forge"], "dependencies": []}
        findings.append(
            Finding(
                Level.WARNING,
                "conda-file-not-inline" if conda_path else "no-conda-dependencies",
                (
                    f"the payload names the conda file '{conda_path}' but not its content"
                    if conda_path
                    else "the environment has no conda dependencies"
                )
                + "; a minimal conda file with only the inference server was written: add the "
                "model's packages to it",
                "environment.python.condaDependenciesFile" if conda_path else field_name,
            )
        )
    dependencies = spec.get("dependencies")
    if not isinstance(dependencies, list):
        dependencies = []
    python = _conda_python(dependencies)
    sections = [(i, p) for i, d in enumerate(dependencies) if (p := _pip_section(d)) is not None]
    if not sections:
        dependencies.append({"pip": []})
        sections = [(len(dependencies) - 1, [])]
    pip_at, pip_section = sections[0]  # the first pip section gets the server
    pip, server_findings = _ensure_server(pip_section, python, stack_latest)
    findings += server_findings
    dependencies[pip_at] = {**dependencies[pip_at], "pip": pip}
    if not any(_conda_name(d) == "pip" for d in dependencies):
        # conda installs the pip section with the environment's own pip; without it conda warns
        # and may use another interpreter's pip.
        dependencies.insert(pip_at, "pip")
    spec["dependencies"] = dependencies
    return _dump_conda(spec), python, findings


def _pip_section(item: Any) -> list[Any] | None:
    if isinstance(item, dict) and isinstance(item.get("pip"), list):
        return list(item["pip"])
    return None


def _conda_name(item: Any) -> str | None:
    """The package name of a conda match spec ('conda-forge::python=3.8' -> 'python')."""
    if not isinstance(item, str):
        return None
    match = re.match(r"\s*(?:[\w.-]+::)?([A-Za-z0-9_.-]+)", item)
    return match.group(1).lower() if match else None


def _conda_python(dependencies: list[Any]) -> tuple[int, int] | None:
    """The pinned Python ('python=3.8', 'python==3.10.4', 'python 3.9'); ranges count as unknown."""
    for item in dependencies:
        if _conda_name(item) != "python":
            continue
        match = re.match(r"\s*(?:[\w.-]+::)?python\s*(?:==?|\s)\s*(\d+)\.(\d+)", str(item))
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


def _dump_conda(spec: dict[str, Any]) -> str:
    import yaml  # only when an environment is converted: keeps CLI start-up fast

    ordered = {
        key: _sorted_maps(spec[key]) for key in ("name", "channels", "dependencies") if key in spec
    }
    ordered |= {key: _sorted_maps(spec[key]) for key in sorted(spec) if key not in ordered}
    # Lists keep their order (dependency order is meaningful); width avoids folded pip lines.
    return yaml.safe_dump(
        ordered, sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096
    )


def _sorted_maps(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _sorted_maps(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted_maps(v) for v in value]
    return value


# --- the serving stack --------------------------------------------------------------------------


def server_for(python: tuple[int, int] | None) -> ServerRelease | None:
    """The table row for a Python version: the newest release that installs on it."""
    if python is None:
        return SERVER_TABLE[0]
    return next((row for row in SERVER_TABLE if python >= row.python), None)


def _ensure_server(
    pip: list[Any], python: tuple[int, int] | None, stack_latest: bool
) -> tuple[list[Any], list[Finding]]:
    field_name = "environment.python.condaDependencies"
    findings = _python_findings(python, "the conda file's", field_name)
    requirements = {
        name: spec for name, spec in (_pip_requirement(p) for p in pip) if name is not None
    }
    if stack_latest:
        findings.append(
            Finding(
                Level.INFO,
                "inferencing-stack-latest",
                "v1 added the serving stack to this base image at build time "
                "(inferencingStackVersion 'latest'); v2 does not, so the conda file must bring "
                f"{SERVER}",
                "environment.inferencingStackVersion",
            )
        )
    best = server_for(python) or SERVER_TABLE[0]
    if SERVER in requirements:
        spec = requirements[SERVER]
        if _caps_below(spec, FIXED_SERVER) and (python is None or python >= SUPPORTED_PYTHON):
            findings.append(
                Finding(
                    Level.WARNING,
                    "old-inference-server",
                    f"pip pins {SERVER}{spec}: releases before 1.4.1 {CONTRIB_CRASH}; use "
                    f"{best.requirement}",
                    field_name,
                )
            )
        return pip, findings
    if DEFAULTS in requirements and _caps_below(requirements[DEFAULTS], FIXED_DEFAULTS):
        # 1.61 and later need server 1.4+, which needs Python >= 3.9.
        upgrade = (
            f"raise it to {DEFAULTS}>=1.61 or "
            if python is None or python >= SUPPORTED_PYTHON
            else ""
        )
        findings.append(
            Finding(
                Level.WARNING,
                "old-serving-stack",
                f"pip pins {DEFAULTS}{requirements[DEFAULTS]}, which requires {SERVER} below "
                f"1.4.1; those releases {CONTRIB_CRASH}; {upgrade}replace it with "
                f"{best.requirement} (not added: it would conflict with the pin)",
                field_name,
            )
        )
        return pip, findings
    release = server_for(python)
    requirement = release.requirement if release is not None else SERVER
    findings.append(
        Finding(
            Level.INFO,
            "inference-server-added",
            f"added {requirement} to the pip section: v2 images do not bring a serving stack"
            + (
                f" ({DEFAULTS} stays, the pin fixes the server version)"
                if DEFAULTS in requirements
                else ""
            ),
            field_name,
        )
    )
    if release is not None:
        findings += _conflicts(release, requirements)
    return [*pip, requirement], findings


def _conflicts(release: ServerRelease, requirements: dict[str, str]) -> list[Finding]:
    """User pins (`==`) that the added server's own requirements exclude: pip cannot resolve them."""
    findings: list[Finding] = []
    for name, wanted in release.requires:
        pinned = _exact_version(requirements.get(name, ""))
        clauses = _clauses(wanted)
        if pinned is None or clauses is None or _admits(clauses, pinned):
            continue
        findings.append(
            Finding(
                Level.WARNING,
                "server-dependency-conflict",
                f"pip pins {name}{requirements[name]}, but {release.requirement} needs "
                f"{name}{wanted}: the environment build will fail to resolve; relax the pin",
                "environment.python.condaDependencies",
            )
        )
    return findings


def _python_findings(python: tuple[int, int] | None, whose: str, field_name: str) -> list[Finding]:
    if python is None:
        if whose == "the conda file's":
            return [
                Finding(
                    Level.INFO,
                    "python-version-unknown",
                    f"{whose} Python version is not pinned, so conda picks the newest one and the "
                    f"newest server ({SERVER_TABLE[0].requirement}) is used; pin python=3.x for "
                    "reproducible builds",
                    field_name,
                )
            ]
        return []
    text = f"{python[0]}.{python[1]}"
    if python < SUPPORTED_PYTHON:
        release = server_for(python)
        pinned = (
            f"the newest server for it is {release.requirement}, and releases before 1.4.1 "
            f"{CONTRIB_CRASH}"
            if release is not None
            else "no azureml-inference-server-http release supports it"
        )
        return [
            Finding(
                Level.WARNING,
                "python-out-of-support",
                f"{whose} Python {text} is out of support: {SERVER} 1.4 and later require Python "
                f">= 3.9; {pinned}; upgrade Python (the server lists 3.9 to 3.12)",
                field_name,
            )
        ]
    if python > NEWEST_LISTED_PYTHON:
        return [
            Finding(
                Level.INFO,
                "python-untested",
                f"{whose} Python {text} is newer than the versions {SERVER} "
                f"{SERVER_TABLE[0].version} lists (3.9 to 3.12); it installs, but test the "
                "deployment locally first",
                field_name,
            )
        ]
    return []


# --- images and Dockerfiles ---------------------------------------------------------------------


def _image_findings(image: str, field_name: str) -> list[Finding]:
    findings: list[Finding] = []
    lowered = image.lower()
    old_match = re.search(r"ubuntu[:-]?(16|18)\.04", lowered)
    if old_match is not None:
        old = f"ubuntu{old_match.group(1)}.04"
        successor = GPU_IMAGE if "cuda" in lowered or "gpu" in lowered else CPU_IMAGE
        findings.append(
            Finding(
                Level.WARNING,
                "base-image-out-of-support",
                f"base image {image} is built on {old}, which no longer gets security updates; "
                f"move to an ubuntu22.04 image such as {successor}",
                field_name,
            )
        )
    last = image.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    if "@" not in image and tag in ("", "latest"):
        findings.append(
            Finding(
                Level.INFO,
                "floating-base-image",
                f"base image {image} has no fixed tag: an environment version built later may get "
                "a different image; pin a dated tag for reproducible builds",
                field_name,
            )
        )
    return findings


def _image_python(images: list[str]) -> tuple[int, int] | None:
    """Python from a curated image name ('...-py38-cpu-inference' -> (3, 8))."""
    for image in images:
        match = re.search(r"(?<![a-z])py(?:thon)?3\.?(\d{1,2})(?!\d)", image.lower())
        if match:
            return 3, int(match.group(1))
    return None


def _user_managed_finding(images: list[str], stack_latest: bool) -> Finding:
    curated = any("-inference" in image.lower() for image in images)
    message = (
        "userManagedDependencies is true: no conda file is built, so the image must already "
        f"contain Python with {SERVER} (>= 1.4.1)"
    )
    if curated:
        message += "; curated inference images ship it"
    if stack_latest:
        message += (
            "; v1 added the serving stack here (inferencingStackVersion 'latest'), v2 does not"
        )
    return Finding(
        Level.INFO if curated and not stack_latest else Level.WARNING,
        "user-managed-dependencies",
        message,
        "environment.python.userManagedDependencies",
    )


def _context_finding(context: dict[str, Any], *, with_dockerfile: bool) -> Finding:
    location = _text(context.get("location")) or "(no location)"
    what = (
        "files the Dockerfile copies from it are missing"
        if with_dockerfile
        else "only the conda file is in the generated context: add the Dockerfile and its files"
    )
    return Finding(
        Level.WARNING,
        "build-context-unavailable",
        f"the v1 Docker build context at {location} cannot be fetched by the generator; {what}",
        "environment.docker.buildContext",
    )


def _registry_findings(docker: dict[str, Any]) -> list[Finding]:
    registry = _mapping(docker.get("baseImageRegistry"))
    address = _text(registry.get("address"))
    if not address:
        return []
    return [
        Finding(
            Level.WARNING,
            "private-base-image-registry",
            f"the base image comes from {address} with v1 registry credentials; v2 environments "
            "carry none: give the workspace identity AcrPull on it or import the image into the "
            "workspace registry",
            "environment.docker.baseImageRegistry",
        )
    ]


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, comments dropped and continuations joined."""
    joined = re.sub(r"\\[ \t]*\r?\n", " ", dockerfile)
    result: list[tuple[str, str]] = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, rest = stripped.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def _from_image(arguments: str) -> str | None:
    words = [w for w in arguments.split() if not w.startswith("--")]
    return words[0] if words else None


def _from_images(dockerfile: str) -> list[str]:
    stages: set[str] = set()
    images: list[str] = []
    for keyword, arguments in _instructions(dockerfile):
        if keyword != "FROM":
            continue
        image = _from_image(arguments)
        words = arguments.split()
        if len(words) >= 2 and words[-2].upper() == "AS":
            stages.add(words[-1].lower())
        if image and image.lower() not in stages and "$" not in image:
            images.append(image)
    return images


def _single_from(dockerfile: str) -> str | None:
    """The image of a Dockerfile that is only `FROM <image>`, else None."""
    instructions = _instructions(dockerfile)
    if len(instructions) != 1 or instructions[0][0] != "FROM":
        return None
    image = _from_image(instructions[0][1])
    return image if image and "$" not in image else None


def _with_conda_steps(dockerfile: str) -> str:
    prefix = "/azureml-envs/v1-environment"
    return (
        dockerfile.rstrip("\n")
        + "\n\n# Added by gen-iac: v1 built this conda environment on top of the Dockerfile.\n"
        + f"COPY {CONDA_FILE} /azureml-environment-setup/{CONDA_FILE}\n"
        + f"RUN conda env create -p {prefix} -f /azureml-environment-setup/{CONDA_FILE}"
        + " && conda clean -aqy\n"
        + f"ENV PATH={prefix}/bin:$PATH\n"
        + f"ENV AZUREML_CONDA_ENVIRONMENT_PATH={prefix}\n"
    )


# --- pip requirements and version specifiers ----------------------------------------------------


def _pip_requirement(entry: Any) -> tuple[str | None, str]:
    """(normalized name, specifier) of a pip line; options, URLs and paths have no name."""
    if not isinstance(entry, str):
        return None, ""
    text = entry.strip()
    if not text or text.startswith(("-", ".", "/")) or "://" in text.split("@")[0]:
        return None, ""
    match = re.match(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*(.*)", text)
    if match is None:
        return None, ""
    spec = match.group(2).split(";")[0].strip()
    if spec.startswith("@"):
        spec = ""
    return re.sub(r"[-_.]+", "-", match.group(1)).lower(), spec.replace(" ", "")


def _release(text: str) -> tuple[int, ...] | None:
    match = re.match(r"v?(\d+(?:\.\d+)*)", text.strip())
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def _clauses(spec: str) -> list[Clause] | None:
    """A pip specifier as (operator, release) clauses; None if any part is not understood."""
    clauses: list[Clause] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        match = re.match(r"(===|==|~=|!=|>=|<=|>|<)\s*(.+)", part)
        if match is None:
            return None
        op, version = match.groups()
        release = _release(version)
        if release is None:
            return None
        if op == "!=":
            continue  # excludes one version: never decides compatibility here
        if op in ("==", "===") and version.endswith(".*"):
            clauses += [(">=", release), ("<", (*release[:-1], release[-1] + 1))]
        elif op == "~=":
            upper = release[:-1] if len(release) > 1 else release
            clauses += [(">=", release), ("<", (*upper[:-1], upper[-1] + 1))]
        else:
            clauses.append(("==" if op == "===" else op, release))
    return clauses


def _cmp(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    width = max(len(a), len(b))
    pa, pb = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return (pa > pb) - (pa < pb)


def _admits(clauses: list[Clause], version: tuple[int, ...]) -> bool:
    checks = {
        "==": lambda c: c == 0,
        ">=": lambda c: c >= 0,
        "<=": lambda c: c <= 0,
        ">": lambda c: c > 0,
        "<": lambda c: c < 0,
    }
    return all(checks[op](_cmp(version, bound)) for op, bound in clauses)


def _caps_below(spec: str, floor: tuple[int, ...]) -> bool:
    """True when the specifier excludes every version from `floor` on (an old pin)."""
    clauses = _clauses(spec)
    if not clauses:
        return False
    for op, bound in clauses:
        if op == "==" and _cmp(bound, floor) < 0:
            return True
        if op == "<" and _cmp(bound, floor) <= 0:
            return True
        if op == "<=" and _cmp(bound, floor) < 0:
            return True
    return False


def _exact_version(spec: str) -> tuple[int, ...] | None:
    clauses = _clauses(spec)
    if clauses and len(clauses) == 1 and clauses[0][0] == "==":
        return clauses[0][1]
    return None


# --- small readers ------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
