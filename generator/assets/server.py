"""The Python -> azureml-inference-server-http table and the checks that pin the server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.assets.requirements import (
    admits,
    caps_below,
    exact_version,
    parse_clauses,
    pip_requirement,
)
from generator.diagnostics import Finding, Level

SERVER = "azureml-inference-server-http"
DEFAULTS = "azureml-defaults"


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


def server_for(python: tuple[int, int] | None) -> ServerRelease | None:
    """The table row for a Python version: the newest release that installs on it."""
    if python is None:
        return SERVER_TABLE[0]
    return next((row for row in SERVER_TABLE if python >= row.python), None)


def ensure_server(
    pip: list[Any], python: tuple[int, int] | None, stack_latest: bool
) -> tuple[list[Any], list[Finding]]:
    field_name = "environment.python.condaDependencies"
    findings = python_findings(python, "the conda file's", field_name)
    requirements = {
        name: spec for name, spec in (pip_requirement(p) for p in pip) if name is not None
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
        if caps_below(spec, FIXED_SERVER) and (python is None or python >= SUPPORTED_PYTHON):
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
    if DEFAULTS in requirements and caps_below(requirements[DEFAULTS], FIXED_DEFAULTS):
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
        pinned = exact_version(requirements.get(name, ""))
        clauses = parse_clauses(wanted)
        if pinned is None or clauses is None or admits(clauses, pinned):
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


def python_findings(python: tuple[int, int] | None, whose: str, field_name: str) -> list[Finding]:
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
