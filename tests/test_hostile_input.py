"""Issue 21, part B: every hostile input gives its documented exit status and one line per
problem (file, service, field, what was expected), never a traceback; one broken service never
stops the others. One test per attack class."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from generator.cli import main
from tests.conftest import WORKSPACE, aci, aks

HUGE = "9" * 5000  # past Python's int <-> str conversion limit


def _write(directory: Path, text: str, keys: str | None = None) -> Path:
    directory.mkdir()
    (directory / "snapshot.json").write_text(text, encoding="utf-8")
    if keys is not None:
        (directory / "keys.json").write_text(keys, encoding="utf-8")
        (directory / "keys.json").chmod(0o600)
    return directory


def _doc(*services: dict[str, Any], workspace: dict[str, Any] | None = None) -> str:
    return json.dumps({"workspace": workspace or WORKSPACE, "services": list(services)})


def _run(
    snapshot: Path, out: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--input", str(snapshot), "--out", str(out), "-v", *extra])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text
    return code, text


def _replace(text: str, marker: str, raw: str) -> str:
    assert json.dumps(marker) in text
    return text.replace(json.dumps(marker), raw)


@pytest.mark.parametrize(
    "field", ["numReplicas", "maxQueueWaitMs", "scoringTimeoutMs", "description"]
)
def test_a_5000_digit_integer_in_a_service_is_that_services_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str
) -> None:
    text = _replace(_doc(aks("bad", **{field: "@@"}), aci("good")), "@@", HUGE)
    code, out = _run(_write(tmp_path / "s", text), tmp_path / "out", capsys)
    assert code == 1
    assert "'bad'" in out and "5000 digits" in out
    assert (tmp_path / "out" / "terraform" / "ws-test" / "main.good.tf").exists()


@pytest.mark.parametrize("field", ["numReplicas", "maxQueueWaitMs"])
def test_1e308_is_a_diagnostic_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str
) -> None:
    text = _replace(_doc(aks("bad", **{field: "@@"}), aci("good")), "@@", "1e308")
    code, out = _run(_write(tmp_path / "s", text), tmp_path / "out", capsys)
    assert code in (0, 1)
    assert "'bad'" in out and field in out
    assert (tmp_path / "out" / "terraform" / "ws-test" / "main.good.tf").exists()


def test_a_5000_digit_integer_in_keys_json_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = '{"good": {"primaryKey": ' + HUGE + ', "secondaryKey": "b"}}'
    code, out = _run(_write(tmp_path / "s", _doc(aci("good")), keys), tmp_path / "out", capsys)
    assert code in (0, 1)
    assert "keys.json" in out


@pytest.mark.parametrize(
    "key", ["subscriptionId", "resourceGroup", "name", "location", "publicNetworkAccess"]
)
def test_a_lone_surrogate_in_a_workspace_field_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    workspace = {**WORKSPACE, key: "@@"}
    text = _replace(_doc(aci("good"), workspace=workspace), "@@", '"a\\ud800b"')
    code, out = _run(_write(tmp_path / "s", text), tmp_path / "out", capsys)
    assert code == 2
    assert f"workspace.{key}" in out


def test_a_lone_surrogate_in_any_service_field_is_that_services_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service = aks("bad", description="@@", kvTags={"@@": "@@"})
    text = _doc(service, aci("good")).replace('"@@"', '"x\\udfffy"')
    code, out = _run(_write(tmp_path / "s", text), tmp_path / "out", capsys)
    assert code == 1
    assert "'bad'" in out and "lone surrogate" in out


def test_deep_nesting_is_one_line_with_its_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = _replace(_doc(aci("good", properties="@@")), "@@", "[" * 5000 + "]" * 5000)
    code, out = _run(_write(tmp_path / "s", text), tmp_path / "out", capsys)
    assert code == 2
    assert "snapshot.json:1:" in out and "nested deeper than 64 levels" in out


def test_a_duplicate_key_is_an_error_naming_the_key_and_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = {**WORKSPACE, "publicNetworkAccess": "Disabled"}
    text = _doc(aci("good"), workspace=workspace).replace(
        '"publicNetworkAccess": "Disabled"',
        '"publicNetworkAccess": "Disabled",\n "publicNetworkAccess": "Enabled"',
    )
    code, out = _run(_write(tmp_path / "s", text), tmp_path / "out", capsys)
    assert code == 2
    assert "snapshot.json:2:2: duplicate key 'publicNetworkAccess'" in out
    assert not (tmp_path / "out").exists()


def test_a_byte_order_mark_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snapshot = tmp_path / "s"
    snapshot.mkdir()
    (snapshot / "snapshot.json").write_bytes(b"\xef\xbb\xbf" + _doc(aci("good")).encode())
    code, _ = _run(snapshot, tmp_path / "out", capsys)
    assert code in (0, 1)


def test_overrides_with_huge_numbers_deep_nesting_or_duplicates_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = _write(tmp_path / "s", _doc(aci("good")))
    cases = {
        "huge": f"services:\n  good:\n    instance_count: {HUGE}\n",
        "deep": "services:\n  good: " + "[" * 5000 + "]" * 5000 + "\n",
        "duplicate": "services:\n  good:\n    instance_count: 1\n    instance_count: 3\n",
    }
    for name, text in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        code, out = _run(snapshot, tmp_path / f"out-{name}", capsys, "--overrides", str(path))
        assert code == 2, (name, out)
        assert str(path) in out, (name, out)
    assert "instance_count" in out and "twice" in out


def test_a_duplicate_key_in_keys_json_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = '{"good": {"primaryKey": "a", "secondaryKey": "b"},\n "good": {"primaryKey": "c"}}'
    code, out = _run(_write(tmp_path / "s", _doc(aci("good")), keys), tmp_path / "out", capsys)
    assert code == 2
    assert "keys.json:2:2: duplicate key 'good'" in out
    assert "secondaryKey" not in out and '"a"' not in out  # never a key's value
