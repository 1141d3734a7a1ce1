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
    merged = merge_flags(read, {"a": "Standard_F4s_v2"}, {"c": 3})
    assert merged["a"] == Override(instance_type="Standard_F4s_v2", instance_count=2)
    assert merged["c"] == Override(instance_count=3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services: [", r"invalid YAML at line"),
        ("- a\n", r"expected a mapping with 'services"),
        ("services:\n  a: 3\n", r"service 'a': expected a mapping"),
        ("services:\n  a:\n    cpu: 2\n", r"service 'a': field 'cpu': unknown"),
        (
            "services:\n  a:\n    instance_count: zero\n",
            r"field 'instance_count': expected a whole number",
        ),
        ("services:\n  a:\n    instance_count: 0\n", r"expected a whole number >= 1"),
    ],
)
def test_bad_files_get_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_overrides(path)
