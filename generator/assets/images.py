"""Base images and Dockerfiles: support checks, the Python an image name implies, FROM lines."""

from __future__ import annotations

import re
from typing import Any

from generator.assets.server import SERVER, SUPPORTED_PYTHON
from generator.assets.values import mapping, text
from generator.diagnostics import Finding, Level

CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"
# DEFAULT_GPU_IMAGE of azureml-core 1.61 (core/environment.py), with a floating tag.
GPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04:latest"
CONDA_FILE = "conda.yaml"
DOCKERFILE = "Dockerfile"


def image_findings(image: str, field_name: str) -> list[Finding]:
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


def image_python(images: list[str]) -> tuple[int, int] | None:
    """Python from a curated image name ('...-py38-cpu-inference' -> (3, 8))."""
    for image in images:
        match = re.search(r"(?<![a-z])py(?:thon)?3\.?(\d{1,2})(?!\d)", image.lower())
        if match:
            return 3, int(match.group(1))
    return None


def user_managed_finding(images: list[str], stack_latest: bool) -> Finding:
    curated = any("-inference" in image.lower() for image in images)
    message = (
        "userManagedDependencies is true: no conda file is built, so the image must already "
        f"contain Python with {SERVER} (>= 1.4.1)"
    )
    python = image_python(images)
    if curated and python is not None and python < SUPPORTED_PYTHON:
        # Its server is one its Python can run, older than 1.4.1: see python-out-of-support.
        curated = False
        message += (
            f"; this curated image's Python {python[0]}.{python[1]} cannot run a current one "
            "(see python-out-of-support): pick a newer curated image"
        )
    elif curated:
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


def context_finding(context: dict[str, Any], *, with_dockerfile: bool) -> Finding:
    location = text(context.get("location")) or "(no location)"
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


def registry_findings(docker: dict[str, Any]) -> list[Finding]:
    registry = mapping(docker.get("baseImageRegistry"))
    address = text(registry.get("address"))
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


def from_images(dockerfile: str) -> list[str]:
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


def single_from(dockerfile: str) -> str | None:
    """The image of a Dockerfile that is only `FROM <image>`, else None."""
    instructions = _instructions(dockerfile)
    if len(instructions) != 1 or instructions[0][0] != "FROM":
        return None
    image = _from_image(instructions[0][1])
    return image if image and "$" not in image else None


def with_conda_steps(dockerfile: str) -> str:
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
