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

import functools
import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from generator.assets.conda import conda_yaml
from generator.assets.images import (
    CONDA_FILE,
    CPU_IMAGE,
    DOCKERFILE,
    context_finding,
    from_images,
    image_findings,
    image_python,
    registry_findings,
    single_from,
    user_managed_finding,
    with_conda_steps,
)
from generator.assets.server import python_findings
from generator.assets.values import mapping, text
from generator.diagnostics import Finding, Level

__all__ = ["CONDA_FILE", "DOCKERFILE", "EnvironmentSpec", "environment_spec"]


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
    v1_version: str | None = None  # the v1 environment's version, when the definition has one


def environment_spec(
    environment: dict[str, Any] | None, reference: tuple[str, str] | None
) -> tuple[EnvironmentSpec | None, list[Finding]]:
    """`_environment_spec`, cached: thousands of services share a few environments, and the
    conda rewrite and YAML dump are the costly part. The key is the environment's defining
    content as canonical JSON (the values of environment variables left out: the caller moves
    them; their presence stays, as it tells a definition from a reference)."""
    try:
        defining = (
            {k: None if k == "environmentVariables" else v for k, v in environment.items()}
            if isinstance(environment, dict)
            else environment
        )
        key = json.dumps([defining, reference], sort_keys=True)
    except (TypeError, ValueError):  # not JSON data: compute it uncached
        return _environment_spec(environment, reference)
    spec, findings = _cached_spec(key)
    return spec, list(findings)


@functools.lru_cache(maxsize=4096)
def _cached_spec(key: str) -> tuple[EnvironmentSpec | None, tuple[Finding, ...]]:
    environment, reference = json.loads(key)
    spec, findings = _environment_spec(environment, tuple(reference) if reference else None)
    return spec, tuple(findings)


def _environment_spec(
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
        version = environment.get("version")
        if isinstance(version, (str, int)) and not isinstance(version, bool) and str(version):
            spec = replace(spec, v1_version=str(version))
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
    python_section = mapping(environment.get("python"))
    docker = mapping(environment.get("docker"))
    user_managed = python_section.get("userManagedDependencies") is True
    stack_latest = str(environment.get("inferencingStackVersion") or "").lower() == "latest"
    findings: list[Finding] = []
    conda_file, python = None, None
    if not user_managed:  # v1 ignored the conda spec then, and so does v2
        conda_file, python, conda_findings = conda_yaml(python_section, stack_latest)
        findings += conda_findings
    definition = _Definition(
        text(environment.get("name")), conda_file, python, user_managed, stack_latest
    )
    findings += registry_findings(docker)
    findings += _name_findings(definition.name)
    dockerfile = docker.get("baseDockerfile")
    context = mapping(docker.get("buildContext"))
    if isinstance(dockerfile, str) and dockerfile.strip():
        return _dockerfile_spec(definition, dockerfile, context, findings)
    if context:
        return _context_spec(definition, context, findings)
    image = text(docker.get("baseImage"))
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
        findings += image_findings(image, "environment.docker.baseImage")
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
        findings.append(user_managed_finding([image], definition.stack_latest))
        python = image_python([image])
        findings += python_findings(python, "the image's", "environment.docker.baseImage")
    spec = _spec("image", definition.name, image, definition.conda_file, {}, None, python, "")
    return spec, findings


def _dockerfile_spec(
    definition: _Definition, dockerfile: str, context: dict[str, Any], findings: list[Finding]
) -> tuple[EnvironmentSpec, list[Finding]]:
    """A one-line `FROM` is an image; anything else is a build context around the Dockerfile."""
    field_name = "environment.docker.baseDockerfile"
    images = from_images(dockerfile)
    for image in images:
        findings += image_findings(image, field_name)
    if context:
        findings.append(context_finding(context, with_dockerfile=True))
    only_from = single_from(dockerfile)
    if only_from is not None:  # curated environments look like this
        return _image_spec(definition, only_from, findings)
    # File content is kept byte for byte: it defines the version.
    files = {DOCKERFILE: dockerfile.encode("utf-8")}
    python = definition.python
    if definition.conda_file is not None:
        files[DOCKERFILE] = with_conda_steps(dockerfile).encode("utf-8")
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
        findings.append(user_managed_finding(images, definition.stack_latest))
        python = image_python(images)
        findings += python_findings(python, "the image's", field_name)
    spec = _spec("build", definition.name, None, None, files, DOCKERFILE, python, "")
    return spec, findings


def _context_spec(
    definition: _Definition, context: dict[str, Any], findings: list[Finding]
) -> tuple[EnvironmentSpec, list[Finding]]:
    """A remote build context cannot be fetched: the conda file is all the context gets."""
    findings.append(context_finding(context, with_dockerfile=False))
    conda_file = definition.conda_file
    files = {} if conda_file is None else {CONDA_FILE: conda_file.encode("utf-8")}
    path = text(context.get("dockerfilePath")) or DOCKERFILE
    location = text(context.get("location")) or ""
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
