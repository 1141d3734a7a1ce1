from __future__ import annotations

from pathlib import Path

import pytest

from generator.diagnostics import InputError
from generator.sources.overrides import Override, merge_flags, read_overrides


def test_reads_choices_and_flags_win(tmp_path: Path) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(
        "services:\n  a:\n    instance_type: Standard_DS3_v2\n    instance_count: 2\n"
        "  b:\n    endpoint_name: b-new\n    request_timeout_ms: 30000\n"
    )
    read = read_overrides(path)
    assert read["b"] == Override(endpoint_name="b-new", request_timeout_ms=30000)
    merged = merge_flags(
        read, {"a": Override(instance_type="Standard_F4s_v2"), "c": Override(instance_count=3)}
    )
    assert merged["a"] == Override(instance_type="Standard_F4s_v2", instance_count=2)
    assert merged["c"] == Override(instance_count=3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services: [", r"o.yaml:1:12: invalid YAML"),
        ("- a\n", r"expected a mapping with 'services"),
        ("services:\n  a: 3\n", r"service 'a': expected a mapping"),
        ("services:\n  a:\n    cpu: 2\n", r"service 'a': field 'cpu': unknown"),
        (
            "services:\n  a:\n    instance_count: zero\n",
            r"field 'instance_count': expected a whole number",
        ),
        ("services:\n  a:\n    instance_count: 0\n", r"expected a whole number >= 1"),
        ("services:\n  a:\n    endpoint_kind: aks\n", r"'endpoint_kind': expected managed or"),
        ("services:\n  a:\n    initial_traffic: 50\n", r"'initial_traffic': expected 0 or 100"),
        ("services:\n  a:\n    mirror: 51\n", r"'mirror': expected a whole number from 1 to 50"),
        ("services:\n  a:\n    mirror: true\n", r"'mirror': expected a whole number"),
    ],
)
def test_bad_files_get_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_overrides(path)


def test_rollout_and_kubernetes_choices(tmp_path: Path) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(
        "services:\n  a:\n    endpoint_kind: kubernetes\n    compute: k8s\n"
        "    initial_traffic: 0\n    mirror: 10\n    deployment_name: green\n"
    )
    assert read_overrides(path)["a"] == Override(
        endpoint_kind="kubernetes",
        compute="k8s",
        initial_traffic=0,
        mirror=10,
        deployment_name="green",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("instance_type", '"Std\\ud800"'),  # a lone surrogate never reaches an encoder
        ("instance_type", '"Standard DS3"'),
        ("instance_type", '"a\\nb"'),
        ("compute", '"k8s\\u0000"'),
        ("compute", '"../k8s"'),
        ("endpoint_name", '"ep\\udcff"'),
        ("deployment_name", '"g\\u0007reen"'),
    ],
)
def test_choices_must_be_printable_names(tmp_path: Path, field: str, value: str) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(f"services:\n  a:\n    {field}: {value}\n")
    with pytest.raises(InputError, match=f"field '{field}': expected") as caught:
        read_overrides(path)
    str(caught.value).encode("utf-8", "backslashreplace")
    assert "\n" not in str(caught.value)
