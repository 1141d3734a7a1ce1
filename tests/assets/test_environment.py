"""v1 Environment dicts -> v2 environment specs: each rule, the conda YAML, and determinism."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from generator.assets.environment import CONDA_FILE, DOCKERFILE, EnvironmentSpec, environment_spec
from generator.assets.images import CPU_IMAGE, GPU_IMAGE
from generator.assets.server import SERVER_TABLE, server_for
from generator.diagnostics import Finding, Level

IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:20240709.v1"
CURATED = "mcr.microsoft.com/azureml/minimal-ubuntu20.04-py38-cpu-inference:latest"


def env(
    pip: list[str] | None = None,
    python: str | None = "python=3.10",
    *,
    image: str | None = IMAGE,
    user_managed: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """A v1 environment dict shaped like `Environment._serialize_to_dict` output."""
    dependencies: list[Any] = [python] if python else []
    if pip is not None:
        dependencies.append({"pip": pip})
    result: dict[str, Any] = {
        "name": "churn-env",
        "version": "4",
        "environmentVariables": {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"},
        "python": {
            "userManagedDependencies": user_managed,
            "interpreterPath": "python",
            "condaDependenciesFile": None,
            "baseCondaEnvironment": None,
            "condaDependencies": {
                "name": "project_environment",
                "dependencies": dependencies,
                "channels": ["conda-forge"],
            },
        },
        "docker": {
            "enabled": False,
            "baseImage": image,
            "baseDockerfile": None,
            "buildContext": None,
            "baseImageRegistry": {"address": None, "username": None, "password": None},
        },
        "inferencingStackVersion": None,
    }
    result.update(extra)
    return result


def convert(
    environment: dict[str, Any] | None, reference: tuple[str, str] | None = None
) -> tuple[EnvironmentSpec, list[Finding]]:
    spec, findings = environment_spec(environment, reference)
    assert spec is not None
    return spec, findings


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def level(findings: list[Finding], code: str) -> Level:
    (match,) = [f for f in findings if f.code == code]
    return match.level


def conda(spec: EnvironmentSpec) -> dict[str, Any]:
    assert spec.conda_file is not None
    loaded = yaml.safe_load(spec.conda_file)
    assert isinstance(loaded, dict)
    return loaded


def pip_of(spec: EnvironmentSpec) -> list[str]:
    (section,) = [d for d in conda(spec)["dependencies"] if isinstance(d, dict)]
    pip = section["pip"]
    assert isinstance(pip, list)
    return pip


# --- no environment and references ---------------------------------------------------------------


def test_missing_environment_warns_with_what_v2_needs() -> None:
    spec, findings = environment_spec(None, None)
    assert spec is None
    assert codes(findings) == ["no-environment"]
    assert findings[0].level is Level.WARNING
    assert "azureml-inference-server-http" in findings[0].message


def test_name_and_version_dict_is_a_reference() -> None:
    spec, findings = convert({"name": "recs-inference", "version": "11"})
    assert (spec.kind, spec.reference, spec.name) == (
        "reference",
        ("recs-inference", "11"),
        "recs-inference",
    )
    assert (spec.conda_file, spec.image, spec.version) == (None, None, "")
    assert codes(findings) == ["environment-reference"]
    assert findings[0].level is Level.INFO


def test_explicit_reference_without_environment() -> None:
    spec, _ = convert(None, ("shared-env", "3"))
    assert (spec.kind, spec.reference) == ("reference", ("shared-env", "3"))


def test_unversioned_reference_warns_and_stays_a_reference() -> None:
    spec, findings = convert({"name": "recs-inference", "version": None})
    assert (spec.kind, spec.reference) == ("reference", ("recs-inference", ""))
    assert level(findings, "environment-reference-unversioned") is Level.WARNING


def test_versioned_reference_beats_unversioned_dict() -> None:
    spec, findings = convert({"name": "recs-inference"}, ("recs-inference", "12"))
    assert spec.reference == ("recs-inference", "12")
    assert "environment-reference-unversioned" not in codes(findings)


def test_curated_reference_warns() -> None:
    spec, findings = convert({"name": "AzureML-Minimal", "version": "40"})
    assert spec.kind == "reference"
    assert codes(findings) == ["curated-environment-reference"]
    assert findings[0].level is Level.WARNING


def test_definition_wins_over_reference() -> None:
    spec, findings = convert(env(["scikit-learn==1.3.2"]), ("churn-env", "4"))
    assert spec.kind == "image"
    assert level(findings, "environment-reference-ignored") is Level.INFO


# --- image kind and the serving stack -------------------------------------------------------------


def test_image_kind_adds_the_server_and_pip() -> None:
    spec, findings = convert(env(["scikit-learn==1.3.2", "joblib==1.3.2"]))
    assert (spec.kind, spec.image, spec.name, spec.python) == ("image", IMAGE, "churn-env", "3.10")
    assert spec.build_files == {} and spec.dockerfile_path is None and spec.reference is None
    assert conda(spec) == {
        "name": "project_environment",
        "channels": ["conda-forge"],
        "dependencies": [
            "python=3.10",
            "pip",
            {
                "pip": [
                    "scikit-learn==1.3.2",
                    "joblib==1.3.2",
                    "azureml-inference-server-http~=1.5.1",
                ]
            },
        ],
    }
    assert list(conda(spec)) == ["name", "channels", "dependencies"]  # conventional order
    assert codes(findings) == ["inference-server-added"]
    assert findings[0].level is Level.INFO


def test_missing_pip_section_is_created() -> None:
    spec, _ = convert(env(None, "python=3.11"))
    assert conda(spec)["dependencies"] == [
        "python=3.11",
        "pip",
        {"pip": ["azureml-inference-server-http~=1.5.1"]},
    ]


def test_existing_conda_pip_is_not_duplicated() -> None:
    environment = env(["numpy"])
    environment["python"]["condaDependencies"]["dependencies"].insert(1, "pip=23.3")
    spec, _ = convert(environment)
    strings = [d for d in conda(spec)["dependencies"] if isinstance(d, str)]
    assert strings == ["python=3.10", "pip=23.3"]


@pytest.mark.parametrize(
    ("python", "expected", "shown"),
    [
        ("python=3.12", "azureml-inference-server-http~=1.5.1", "3.12"),
        ("python==3.9.18", "azureml-inference-server-http~=1.5.1", "3.9"),
        ("conda-forge::python=3.10", "azureml-inference-server-http~=1.5.1", "3.10"),
        ("python 3.11", "azureml-inference-server-http~=1.5.1", "3.11"),
        ("python=3.8.13", "azureml-inference-server-http~=1.3.4", "3.8"),
        ("python=3.7", "azureml-inference-server-http~=0.8.4", "3.7"),
        ("python=3.6.2", "azureml-inference-server-http~=0.7.7", "3.6"),
    ],
)
def test_server_follows_the_python_version(python: str, expected: str, shown: str) -> None:
    spec, _ = convert(env(["numpy"], python))
    assert pip_of(spec)[-1] == expected
    assert spec.python == shown


def test_python_38_is_out_of_support() -> None:
    _, findings = convert(env(["numpy"], "python=3.8"))
    assert level(findings, "python-out-of-support") is Level.WARNING
    message = next(f.message for f in findings if f.code == "python-out-of-support")
    assert "~=1.3.4" in message and "azureml.contrib" in message


def test_python_39_is_supported() -> None:
    _, findings = convert(env(["numpy"], "python=3.9"))
    assert "python-out-of-support" not in codes(findings)


def test_python_too_old_for_any_server() -> None:
    spec, findings = convert(env(["numpy"], "python=3.5"))
    assert pip_of(spec)[-1] == "azureml-inference-server-http"
    message = next(f.message for f in findings if f.code == "python-out-of-support")
    assert "no azureml-inference-server-http release supports it" in message


def test_unknown_python_uses_the_newest_server() -> None:
    spec, findings = convert(env(["numpy"], None))
    assert spec.python is None
    assert pip_of(spec)[-1] == SERVER_TABLE[0].requirement
    assert level(findings, "python-version-unknown") is Level.INFO


def test_python_range_counts_as_unknown() -> None:
    spec, findings = convert(env(["numpy"], "python>=3.8"))
    assert spec.python is None
    assert "python-version-unknown" in codes(findings)


def test_python_newer_than_the_server_lists() -> None:
    _, findings = convert(env(["numpy"], "python=3.13"))
    assert level(findings, "python-untested") is Level.INFO


def test_server_table_is_newest_first() -> None:
    floors = [row.python for row in SERVER_TABLE]
    assert floors == sorted(floors, reverse=True)
    assert server_for((3, 10)) is SERVER_TABLE[0]
    assert server_for((3, 8)) == SERVER_TABLE[1]
    assert server_for((2, 7)) is None


def test_unpinned_azureml_defaults_stays_and_server_is_pinned() -> None:
    spec, findings = convert(env(["azureml-defaults", "numpy"]))
    assert pip_of(spec) == ["azureml-defaults", "numpy", "azureml-inference-server-http~=1.5.1"]
    assert "azureml-defaults stays" in next(
        f.message for f in findings if f.code == "inference-server-added"
    )


@pytest.mark.parametrize(
    "pin", ["==1.57.0", "~=1.57.0", "<1.58", "<=1.57.2", "==1.57.*", "==1.50.0", " == 1.44.0"]
)
def test_old_azureml_defaults_pin_warns_and_adds_nothing(pin: str) -> None:
    spec, findings = convert(env([f"azureml-defaults{pin}", "numpy"]))
    assert pip_of(spec) == [f"azureml-defaults{pin}", "numpy"]
    assert level(findings, "old-serving-stack") is Level.WARNING
    assert "inference-server-added" not in codes(findings)


@pytest.mark.parametrize("pin", ["==1.58.0", "==1.62.0", ">=1.40", "~=1.60", "[async]>=1.0"])
def test_recent_or_open_azureml_defaults_pin_gets_the_server(pin: str) -> None:
    spec, findings = convert(env([f"azureml-defaults{pin}"]))
    assert pip_of(spec)[-1] == "azureml-inference-server-http~=1.5.1"
    assert "old-serving-stack" not in codes(findings)


def test_old_defaults_on_python_38_does_not_suggest_161() -> None:
    _, findings = convert(env(["azureml-defaults==1.57.0"], "python=3.8"))
    message = next(f.message for f in findings if f.code == "old-serving-stack")
    assert ">=1.61" not in message and "~=1.3.4" in message


def test_explicit_server_is_kept() -> None:
    spec, findings = convert(env(["azureml_inference_server_http~=1.5"]))
    assert pip_of(spec) == ["azureml_inference_server_http~=1.5"]
    assert codes(findings) == []


@pytest.mark.parametrize("pin", ["==1.3.4", "==1.4.0", "<1.4", "~=1.2.1"])
def test_explicit_old_server_warns(pin: str) -> None:
    spec, findings = convert(env([f"azureml-inference-server-http{pin}"]))
    assert pip_of(spec) == [f"azureml-inference-server-http{pin}"]
    assert level(findings, "old-inference-server") is Level.WARNING


def test_old_server_on_python_38_is_covered_by_the_python_warning() -> None:
    _, findings = convert(env(["azureml-inference-server-http==1.3.4"], "python=3.8"))
    assert codes(findings) == ["python-out-of-support"]


def test_pins_the_added_server_excludes_are_reported() -> None:
    _, findings = convert(
        env(["inference-schema[numpy-support]==1.7.1", "Flask==1.1.2", "pydantic==2.12.3"])
    )
    conflicts = [f.message for f in findings if f.code == "server-dependency-conflict"]
    assert len(conflicts) == 2
    assert "flask==1.1.2" in conflicts[0] and "flask~=3.1.0" in conflicts[0]
    assert "inference-schema==1.7.1" in conflicts[1]


def test_pip_options_and_urls_are_kept_and_not_packages() -> None:
    pip = [
        "--extra-index-url https://pypi.example.org/simple",
        "git+https://github.com/org/azureml-defaults.git",
        "https://example.org/wheels/pkg-1.0-py3-none-any.whl",
        "numpy==1.26.4",
    ]
    spec, _ = convert(env(pip))
    assert pip_of(spec) == [*pip, "azureml-inference-server-http~=1.5.1"]


def test_inferencing_stack_latest_is_noted() -> None:
    spec, findings = convert(env(["numpy"], inferencingStackVersion="latest"))
    assert level(findings, "inferencing-stack-latest") is Level.INFO
    assert pip_of(spec)[-1] == "azureml-inference-server-http~=1.5.1"


# --- conda sources ---------------------------------------------------------------------------------


def test_conda_file_named_but_not_inline() -> None:
    environment = env()
    environment["python"]["condaDependencies"] = None
    environment["python"]["condaDependenciesFile"] = "myenv.yml"
    spec, findings = convert(environment)
    assert level(findings, "conda-file-not-inline") is Level.WARNING
    assert "myenv.yml" in findings[0].message
    assert conda(spec)["dependencies"] == [
        "pip",
        {"pip": ["azureml-inference-server-http~=1.5.1"]},
    ]


def test_no_conda_dependencies_at_all() -> None:
    environment = env()
    del environment["python"]["condaDependencies"]
    spec, findings = convert(environment)
    assert "no-conda-dependencies" in codes(findings)
    assert pip_of(spec) == ["azureml-inference-server-http~=1.5.1"]


def test_base_conda_environment_warns() -> None:
    environment = env(["numpy"])
    environment["python"]["baseCondaEnvironment"] = "base"
    _, findings = convert(environment)
    assert level(findings, "base-conda-environment") is Level.WARNING


def test_other_conda_keys_follow_in_sorted_order() -> None:
    environment = env(["numpy"])
    environment["python"]["condaDependencies"]["variables"] = {"B": "2", "A": "1"}
    environment["python"]["condaDependencies"]["prefix"] = "/opt/env"
    spec, _ = convert(environment)
    assert spec.conda_file is not None
    assert list(conda(spec)) == ["name", "channels", "dependencies", "prefix", "variables"]
    assert spec.conda_file.index("A: '1'") < spec.conda_file.index("B: '2'")


# --- images -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "successor"),
    [
        ("mcr.microsoft.com/azureml/openmpi3.1.2-ubuntu18.04:20210615.v1", CPU_IMAGE),
        ("mcr.microsoft.com/azureml/base:intelmpi2018.3-ubuntu16.04", CPU_IMAGE),
        (
            "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.1-cudnn8-ubuntu18.04:20220516.v1",
            GPU_IMAGE,
        ),
    ],
)
def test_old_ubuntu_base_image_warns(image: str, successor: str) -> None:
    spec, findings = convert(env(["numpy"], image=image))
    assert spec.image == image  # suggested, not replaced
    assert level(findings, "base-image-out-of-support") is Level.WARNING
    assert successor in next(f.message for f in findings if f.code == "base-image-out-of-support")


def test_floating_tag_is_noted_and_dated_tag_is_not() -> None:
    _, floating = convert(
        env(["numpy"], image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04")
    )
    _, latest = convert(env(["numpy"], image="myregistry.azurecr.io:5000/base:latest"))
    _, dated = convert(env(["numpy"], image="myregistry.azurecr.io:5000/base:20240101"))
    assert level(floating, "floating-base-image") is Level.INFO
    assert "floating-base-image" in codes(latest)
    assert "floating-base-image" not in codes(dated)


def test_missing_base_image_uses_the_default() -> None:
    spec, findings = convert(env(["numpy"], image=None))
    assert spec.image == CPU_IMAGE
    assert "default-base-image" in codes(findings)


def test_private_registry_warns_without_leaking_the_password() -> None:
    environment = env(["numpy"])
    environment["docker"]["baseImageRegistry"] = {
        "address": "myacr.azurecr.io",
        "username": "myacr",
        "password": "s3cr3t-value",
    }
    _, findings = convert(environment)
    assert level(findings, "private-base-image-registry") is Level.WARNING
    assert all("s3cr3t-value" not in f.message for f in findings)


def test_user_managed_curated_image_has_no_conda_file() -> None:
    spec, findings = convert(
        env(["azureml-defaults"], "python=3.10", image=CURATED, user_managed=True)
    )
    assert (spec.kind, spec.image, spec.conda_file) == ("image", CURATED, None)
    assert spec.python == "3.8"  # from the image name, not the ignored conda spec
    # The two findings agree: a py38 image cannot run a current server, so it does not "ship" one.
    assert level(findings, "user-managed-dependencies") is Level.WARNING
    (managed,) = [f for f in findings if f.code == "user-managed-dependencies"]
    assert "ship" not in managed.message and "Python 3.8 cannot run a current one" in managed.message
    assert level(findings, "python-out-of-support") is Level.WARNING


def test_user_managed_current_curated_image_ships_the_server() -> None:
    image = "mcr.microsoft.com/azureml/minimal-py312-inference:20250101.v1"
    _, findings = convert(env(image=image, user_managed=True))
    assert level(findings, "user-managed-dependencies") is Level.INFO
    (managed,) = [f for f in findings if f.code == "user-managed-dependencies"]
    assert "curated inference images ship it" in managed.message


def test_user_managed_plain_image_warns() -> None:
    spec, findings = convert(env(image="myacr.azurecr.io/scoring:1.2", user_managed=True))
    assert spec.conda_file is None and spec.python is None
    assert level(findings, "user-managed-dependencies") is Level.WARNING
    assert "inference-server-added" not in codes(findings)


def test_curated_definition_name_is_noted() -> None:
    _, findings = convert(env(["numpy"], name="AzureML-sklearn-1.0"))
    assert level(findings, "curated-environment-name") is Level.INFO


# --- Dockerfiles and build contexts -----------------------------------------------------------------


def dockerfile_env(text: str, *, user_managed: bool = False) -> dict[str, Any]:
    environment = env(["numpy"], image=None, user_managed=user_managed)
    environment["docker"]["baseDockerfile"] = text
    return environment


def test_one_line_from_dockerfile_is_an_image() -> None:
    text = "# curated\nFROM mcr.microsoft.com/azureml/sklearn-1.5-ubuntu22.04-py39-cpu-inference:20240901.v1\n"
    spec, findings = convert(dockerfile_env(text, user_managed=True))
    assert spec.kind == "image"
    assert (
        spec.image
        == "mcr.microsoft.com/azureml/sklearn-1.5-ubuntu22.04-py39-cpu-inference:20240901.v1"
    )
    assert spec.python == "3.9"
    assert codes(findings) == ["user-managed-dependencies"]


def test_one_line_from_with_conda_keeps_the_conda_file() -> None:
    spec, _ = convert(dockerfile_env("FROM --platform=linux/amd64 python:3.10-slim AS base"))
    assert (spec.kind, spec.image) == ("image", "python:3.10-slim")
    assert pip_of(spec)[-1] == "azureml-inference-server-http~=1.5.1"


def test_dockerfile_build_appends_conda_steps() -> None:
    text = "FROM mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:20240709.v1\nRUN apt-get update && \\\n    apt-get install -y libgomp1\n"
    spec, findings = convert(dockerfile_env(text))
    # v2 takes image (+ condaFile) or build: the conda file travels in the context only.
    assert (spec.kind, spec.image, spec.conda_file) == ("build", None, None)
    assert spec.dockerfile_path == DOCKERFILE
    assert list(spec.build_files) == [DOCKERFILE, CONDA_FILE]  # sorted by path
    dockerfile = spec.build_files[DOCKERFILE].decode()
    assert dockerfile.startswith(text.rstrip("\n"))
    assert f"COPY {CONDA_FILE} " in dockerfile and "conda env create" in dockerfile
    assert yaml.safe_load(spec.build_files[CONDA_FILE])["dependencies"] == [
        "python=3.10",
        "pip",
        {"pip": ["numpy", "azureml-inference-server-http~=1.5.1"]},
    ]
    assert spec.python == "3.10"
    assert level(findings, "dockerfile-conda-appended") is Level.WARNING


def test_user_managed_dockerfile_is_copied_as_is() -> None:
    text = "FROM ubuntu:18.04\nRUN pip install azureml-inference-server-http\n"
    spec, findings = convert(dockerfile_env(text, user_managed=True))
    assert spec.kind == "build"
    assert spec.build_files == {DOCKERFILE: text.encode()}
    assert spec.conda_file is None
    assert "user-managed-dependencies" in codes(findings)
    assert "base-image-out-of-support" in codes(findings)  # Docker Hub's ubuntu:18.04 too


def test_dockerfile_from_old_azureml_image_warns() -> None:
    text = "FROM mcr.microsoft.com/azureml/openmpi3.1.2-ubuntu18.04:20210615.v1\nRUN echo hi\n"
    _, findings = convert(dockerfile_env(text))
    assert "base-image-out-of-support" in codes(findings)


def test_build_context_cannot_be_fetched() -> None:
    environment = env(["numpy"], image=None)
    environment["docker"]["buildContext"] = {
        "locationType": "StorageAccount",
        "location": "https://acct.blob.core.windows.net/ctx/",
        "dockerfilePath": "docker/Dockerfile",
    }
    spec, findings = convert(environment)
    assert (spec.kind, spec.dockerfile_path) == ("build", "docker/Dockerfile")
    assert list(spec.build_files) == [CONDA_FILE]
    assert level(findings, "build-context-unavailable") is Level.WARNING
    assert "https://acct.blob.core.windows.net/ctx/" in findings[-1].message


# --- determinism and versions --------------------------------------------------------------------


def test_same_input_same_bytes_and_input_untouched() -> None:
    environment = env(["azureml-defaults", "numpy"], None)
    before = copy.deepcopy(environment)
    first, first_findings = convert(environment)
    second, second_findings = convert(copy.deepcopy(environment))
    assert environment == before
    assert first == second and first_findings == second_findings
    assert len(first.version) == 16 and int(first.version, 16) >= 0


def test_key_order_of_the_input_does_not_matter() -> None:
    environment = env(["numpy"])
    shuffled = dict(reversed(list(environment.items())))
    shuffled["python"] = dict(reversed(list(environment["python"].items())))
    shuffled["python"]["condaDependencies"] = dict(
        reversed(list(environment["python"]["condaDependencies"].items()))
    )
    assert convert(shuffled)[0] == convert(environment)[0]


def test_version_changes_with_content() -> None:
    base = convert(env(["numpy==1.26.4"]))[0].version
    assert convert(env(["numpy==1.26.3"]))[0].version != base
    assert convert(env(["numpy==1.26.4"], image=CPU_IMAGE))[0].version != base
    assert convert(env(["numpy==1.26.4"], "python=3.11"))[0].version != base


def test_version_ignores_name_and_environment_variables() -> None:
    base = convert(env(["numpy"]))[0].version
    other = env(["numpy"], name="renamed", environmentVariables={"LOG_LEVEL": "debug"})
    assert convert(other)[0].version == base


def test_image_and_build_versions_differ() -> None:
    text = "FROM mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:20240709.v1\nRUN echo hi\n"
    build = convert(dockerfile_env(text))[0]
    assert build.version != convert(env(["numpy"]))[0].version
    changed = convert(dockerfile_env(text.replace("hi", "ho")))[0]
    assert changed.version != build.version
