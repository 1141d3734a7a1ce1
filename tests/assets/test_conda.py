"""The conda YAML dumper: libyaml (CSafeDumper) only where its bytes equal PyYAML's own, and
environment specs cached by content without changing what they say."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.assets.conda import agrees, dump_yaml
from generator.assets.environment import environment_spec

OPTIONS: dict[str, Any] = {
    "sort_keys": False,
    "default_flow_style": False,
    "allow_unicode": True,
    "width": 4096,
}


def pure(value: Any) -> str:
    return str(yaml.dump(value, Dumper=yaml.SafeDumper, **OPTIONS))


def fast(value: Any) -> str:
    return str(yaml.dump(value, Dumper=yaml.CSafeDumper, **OPTIONS))


KEYS = st.one_of(st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True), st.text(max_size=6))
SCALARS = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
    st.sampled_from(["", " lead", "trail ", "yes", "null", "~", "- x", ": y", "#z", "a\nb", "\t"]),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_dump_yaml_writes_what_pyyaml_writes(value: Any) -> None:
    assert dump_yaml(value) == pure(value)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_libyaml_is_used_only_where_it_agrees(value: Any) -> None:
    if agrees(value):
        assert fast(value) == pure(value)


def test_a_typical_conda_file_takes_the_fast_path() -> None:
    conda = {
        "name": "project_environment",
        "channels": ["conda-forge"],
        "dependencies": ["python=3.10", "pip", {"pip": ["azureml-defaults==1.57.0", "x>=1; y"]}],
    }
    assert agrees(conda)
    assert dump_yaml(conda) == pure(conda) == fast(conda)
    # Text that libyaml quotes differently goes the pure-Python way.
    assert not agrees({"name": "caf\u00e9 \U0001f600"})
    assert not agrees({"": "empty key"})
    assert not agrees("a bare scalar")


def test_cached_specs_are_the_same_and_findings_independent() -> None:
    environment = {
        "name": "env-a",
        "version": "1",
        "environmentVariables": {"A": "1"},  # still a definition, not a reference
    }
    first, found = environment_spec(environment, None)
    found.append(found[0])
    second, again = environment_spec({**environment, "environmentVariables": {"B": "2"}}, None)
    assert first is not None and first.kind == "image"
    assert second == first
    assert len(again) == len(found) - 1
    reference, _ = environment_spec({"name": "env-a", "version": "1"}, None)
    assert reference is not None and reference.kind == "reference"


def test_packages_from_outside_the_public_indexes_are_findings_for_the_reviewer() -> None:
    from generator.assets.conda import conda_yaml

    section = {
        "condaDependencies": {
            "channels": ["conda-forge", "https://user:secret@conda.example.com/main", "acme"],
            "dependencies": [
                "python=3.10",
                "internal::numpy",
                {
                    "pip": [
                        "",
                        "requests==2.32.3",
                        "--extra-index-url https://token@pkgs.example.com/simple",
                        "--index-url=https://mirror.example.com/simple",
                        "git+https://github.com/someone/pkg.git@main",
                        "pkg @ https://example.com/pkg-1.0-py3-none-any.whl",
                        "-e ./local",
                    ]
                },
            ],
        }
    }
    _, _, findings = conda_yaml(section, stack_latest=False)
    sources = [
        f.message.split(" installs packages")[0] for f in findings if f.code == "package-source"
    ]
    assert sources == [
        "the conda channel 'https://***@conda.example.com/main'",  # never the credentials
        "the conda channel 'acme'",
        "the conda channel 'internal'",
        "the pip option '--extra-index-url https://***@pkgs.example.com/simple'",
        "the pip option '--index-url=https://mirror.example.com/simple'",
        "the version-control install 'git+https://github.com/someone/pkg.git@main'",
        "the URL or local install 'pkg @ https://example.com/pkg-1.0-py3-none-any.whl'",
        "the URL or local install '-e ./local'",
    ]
    assert all("secret" not in f.message for f in findings)
    assert {f.level.value for f in findings if f.code == "package-source"} == {"warning"}
    plain = {"condaDependencies": {"channels": ["conda-forge"], "dependencies": ["numpy"]}}
    assert not [f for f in conda_yaml(plain, stack_latest=False)[2] if f.code == "package-source"]
