"""The v2 conda file of a v1 environment: the serving stack pinned, dumped as stable YAML."""

from __future__ import annotations

import copy
import functools
import math
import re
from typing import Any

from generator.assets.server import ensure_server
from generator.assets.values import text
from generator.diagnostics import Finding, Level


def conda_yaml(
    python_section: dict[str, Any], stack_latest: bool
) -> tuple[str, tuple[int, int] | None, list[Finding]]:
    """The conda file as YAML text, the Python it pins, and what was changed or is missing."""
    findings: list[Finding] = []
    field_name = "environment.python.condaDependencies"
    base_env = text(python_section.get("baseCondaEnvironment"))
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
        conda_path = text(python_section.get("condaDependenciesFile"))
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
    findings += supply_chain(spec.get("channels"), dependencies)
    python = _conda_python(dependencies)
    sections = [(i, p) for i, d in enumerate(dependencies) if (p := _pip_section(d)) is not None]
    if not sections:
        dependencies.append({"pip": []})
        sections = [(len(dependencies) - 1, [])]
    pip_at, pip_section = sections[0]  # the first pip section gets the server
    pip, server_findings = ensure_server(pip_section, python, stack_latest)
    findings += server_findings
    dependencies[pip_at] = {**dependencies[pip_at], "pip": pip}
    if not any(_conda_name(d) == "pip" for d in dependencies):
        # conda installs the pip section with the environment's own pip; without it conda warns
        # and may use another interpreter's pip.
        dependencies.insert(pip_at, "pip")
    spec["dependencies"] = dependencies
    return _dump_conda(spec), python, findings


# Channels anyone can read about: Anaconda's own and the large community ones. Anything else
# (a URL, a file path, an organisation's name) is where a reviewer must look.
KNOWN_CHANNELS = frozenset(
    {
        "defaults",
        "conda-forge",
        "anaconda",
        "main",
        "free",
        "r",
        "msys2",
        "pytorch",
        "nvidia",
        "bioconda",
    }
)
_PIP_INDEX_OPTIONS = (
    "--extra-index-url",
    "--index-url",
    "-i",
    "--find-links",
    "-f",
    "--trusted-host",
)
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def supply_chain(channels: Any, dependencies: list[Any]) -> list[Finding]:
    """Where packages come from besides the public indexes: custom conda channels, pip index
    options, git and URL installs. Findings for the report (a reviewer must see them), not
    errors: private mirrors are common and legitimate."""
    field = "environment.python.condaDependencies"
    found: list[str] = []
    named = [c for c in channels if isinstance(c, str)] if isinstance(channels, list) else []
    named += [d.split("::", 1)[0].strip() for d in dependencies if isinstance(d, str) and "::" in d]
    for channel in dict.fromkeys(named):
        if channel.strip().lower() not in KNOWN_CHANNELS:
            found.append(f"the conda channel {_shown(channel)}")
    for section in (p for d in dependencies if (p := _pip_section(d)) is not None):
        for item in (i.strip() for i in section if isinstance(i, str)):
            lowered = item.lower()
            words = lowered.split("=", 1)[0].split()
            if words and words[0] in _PIP_INDEX_OPTIONS:
                found.append(f"the pip option {_shown(item)}")
            elif lowered.startswith(("git+", "hg+", "svn+", "bzr+")) or "@ git+" in lowered:
                found.append(f"the version-control install {_shown(item)}")
            elif "://" in lowered or lowered.startswith(("file:", "-e ", "--editable")):
                found.append(f"the URL or local install {_shown(item)}")
    return [
        Finding(
            Level.WARNING,
            "package-source",
            f"{what} installs packages from outside the public indexes: check that source "
            "before building the environment (the image build runs its code)",
            field,
        )
        for what in found
    ]


def _shown(value: str) -> str:
    """A source as it may appear in the report: credentials in a URL hidden, length bounded."""
    value = _CREDENTIALS.sub("***@", value)
    return repr(value if len(value) <= 120 else value[:117] + "...")


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
    ordered = {
        key: _sorted_maps(spec[key]) for key in ("name", "channels", "dependencies") if key in spec
    }
    ordered |= {key: _sorted_maps(spec[key]) for key in sorted(spec) if key not in ordered}
    return dump_yaml(ordered)


def dump_yaml(value: Any) -> str:
    """Block-style YAML, lists in their order, no folded lines (width), unicode as is.

    libyaml's emitter (CSafeDumper) is several times faster than PyYAML's own but picks
    other quoting for some text (empty or complex keys, NEL, line and paragraph separators,
    characters outside the BMP, bare scalars); it is used only where both give the same bytes
    (`agrees`: simple keys and printable ASCII text, what conda files hold), else PyYAML's.
    """
    import yaml  # only when an environment is converted: keeps CLI start-up fast

    fast = _fast_dumper()
    dumper = fast if fast is not None and agrees(value) else yaml.SafeDumper
    return yaml.dump(
        value,
        Dumper=dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,
    )


@functools.cache
def _fast_dumper() -> Any:
    try:
        from yaml import CSafeDumper
    except ImportError:  # PyYAML built without libyaml
        return None
    return CSafeDumper


_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_.-]+")
_PLAIN_TEXT = re.compile(r"[\t\n\x20-\x7e]*")


def agrees(value: Any) -> bool:
    """Whether libyaml's emitter writes `value` as PyYAML's does: a mapping or list (a bare
    scalar gets a document-end marker from one of them) of plain values."""
    return isinstance(value, (dict, list)) and _plain(value)


def _plain(value: Any) -> bool:
    if isinstance(value, str):
        return _PLAIN_TEXT.fullmatch(value) is not None
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and _SIMPLE_KEY.fullmatch(k) is not None and _plain(v)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (bool, int))


def _sorted_maps(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _sorted_maps(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted_maps(v) for v in value]
    return value
