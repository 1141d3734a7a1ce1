"""The per-user cache (generator.cache), compiled templates and the recorded up-to-date
--check (generator.incremental): whatever is cached, the answer and the bytes are those of a
run without any cache."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import generator.cache
from generator import incremental, pipeline
from generator.cache import NO_CACHE, code_fingerprint, user_cache_dir
from generator.output import CheckResult
from generator.pipeline import Options, generate
from tests.conftest import EXAMPLE, ROOT, aci

SETTLE = 0.25  # s: older than incremental's margin for fine timestamps


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".gen-iac-staging")
    }


def check(options: Options) -> CheckResult:
    result = generate(replace(options, check=True)).check
    assert result is not None
    return result


def uncached_check(options: Options, monkeypatch: pytest.MonkeyPatch) -> CheckResult:
    with monkeypatch.context() as m:
        m.setenv(NO_CACHE, "1")
        return check(options)


def no_planning(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("planned: the recorded check was not used")


@pytest.fixture
def checked(tmp_path: Path, make_snapshot: Any) -> Options:
    """A snapshot generated into out/, settled, and one full --check that recorded it."""
    snapshot = make_snapshot([aci("svc-one", description="first"), aci("svc-two")])
    options = Options(input=snapshot, out=tmp_path / "out", targets=("terraform", "bicep"))
    generate(options)
    time.sleep(SETTLE)
    assert check(options).up_to_date
    return options


def test_an_up_to_date_check_is_answered_from_its_record_without_planning(
    checked: Options, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = uncached_check(checked, monkeypatch)
    monkeypatch.setattr(pipeline, "plan_from", no_planning)
    recalled = check(checked)
    assert recalled == expected
    assert recalled.unchanged and recalled.person  # the lists themselves, not only "no drift"


def test_an_edit_that_keeps_size_and_mtime_is_still_drift(
    checked: Options, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = checked.out / "terraform" / "ws-test" / "main.svc-one.tf"
    before = path.stat()
    data = path.read_bytes()
    edited = data.replace(b"first", b"FIRST")
    assert edited != data and len(edited) == len(data)
    path.write_bytes(edited)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    result = check(checked)
    assert [(d.path, d.change) for d in result.drift] == [
        ("terraform/ws-test/main.svc-one.tf", "edited")
    ]
    assert result == uncached_check(checked, monkeypatch)


def test_an_added_entry_is_no_longer_the_recorded_tree(
    checked: Options, monkeypatch: pytest.MonkeyPatch
) -> None:
    (checked.out / "terraform" / "ws-test" / "extra.tf").write_text("# extra\n")
    memo = incremental.check_memo([checked.input or EXAMPLE], repr(checked), checked.out)
    assert memo is not None
    assert incremental.recall(memo, checked.out) is None
    assert check(checked) == uncached_check(checked, monkeypatch)


def test_a_changed_snapshot_is_checked_in_full(
    checked: Options, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert checked.input is not None
    doc = json.loads((checked.input / "snapshot.json").read_text())
    doc["services"][0]["description"] = "changed"
    (checked.input / "snapshot.json").write_text(json.dumps(doc))
    result = check(checked)
    assert "terraform/ws-test/main.svc-one.tf" in {d.path for d in result.drift}
    assert result == uncached_check(checked, monkeypatch)


def test_the_record_is_kept_outside_out_and_holds_no_file_content(checked: Options) -> None:
    memo = incremental.check_memo([checked.input or EXAMPLE], repr(checked), checked.out)
    assert memo is not None and memo.record.is_file()
    assert not memo.record.is_relative_to(checked.out)
    assert stat.S_IMODE(memo.record.stat().st_mode) == 0o600
    text = memo.record.read_text()
    assert "first" not in text  # paths and stats only, never what the files say


def test_a_template_or_version_change_is_another_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator.render import templating

    before = code_fingerprint()
    copy = tmp_path / "templates"
    shutil.copytree(templating.templates_dir(), copy)
    endpoint = copy / "terraform" / "endpoint.tf.j2"
    endpoint.write_text(endpoint.read_text() + "\n")
    monkeypatch.setattr(templating, "templates_dir", lambda: copy)
    assert code_fingerprint() != before
    monkeypatch.undo()
    assert code_fingerprint() == before
    folder = user_cache_dir("check")
    monkeypatch.setattr(generator.cache, "__version__", "99.0.0")
    assert code_fingerprint() != before
    assert user_cache_dir("check") not in (None, folder)


def test_only_settled_entries_are_trusted() -> None:
    now = 10_000_000_000_000
    old = ["a", "file", 1, 2, 3, 0o644, now - 10**9, now - 10**9 + 123]
    fresh = ["b", "file", 1, 3, 3, 0o644, now - 10**9, now - 10**6]
    whole = ["c", "file", 1, 4, 3, 0o644, now - 10**9, now - 10**9]  # 1 s stamps: wider margin
    assert incremental._settled([old], now)
    assert not incremental._settled([old, fresh], now)
    assert not incremental._settled([whole], now)
    assert incremental._settled([whole], now + 2 * 10**9)


def test_a_check_of_a_fresh_tree_records_nothing(
    tmp_path: Path, make_snapshot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = Options(input=make_snapshot([aci()]), out=tmp_path / "out")
    generate(options)
    # No pause: the files were written within the timestamp margin.
    monkeypatch.setattr(incremental, "FINE_MARGIN_NS", 3600 * 10**9)
    assert check(options).up_to_date
    memo = incremental.check_memo([options.input or EXAMPLE], repr(options), options.out)
    assert memo is not None and not memo.record.exists()


def test_an_unsafe_cache_folder_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    folder = user_cache_dir("check")
    assert folder is not None and stat.S_IMODE(folder.stat().st_mode) == 0o700
    folder.chmod(0o777)
    assert user_cache_dir("check") is None
    folder.chmod(0o700)
    assert user_cache_dir("check") == folder
    monkeypatch.setenv(NO_CACHE, "1")
    assert user_cache_dir("check") is None
    monkeypatch.delenv(NO_CACHE)
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert user_cache_dir("check") is None


def _run(out: Path, env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "generator", "--target", "terraform", "--target", "bicep"]
    done = subprocess.run(
        [*command, "--out", str(out), "-q"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr


def test_compiled_templates_give_the_same_bytes_even_when_broken_or_unwritable(
    tmp_path: Path,
) -> None:
    xdg = tmp_path / "xdg"
    _run(tmp_path / "plain", {NO_CACHE: "1"})
    expected = tree(tmp_path / "plain")
    _run(tmp_path / "cold", {"XDG_CACHE_HOME": str(xdg)})
    compiled = sorted(xdg.rglob("*.cache"))
    assert len(compiled) > 10
    _run(tmp_path / "warm", {"XDG_CACHE_HOME": str(xdg)})
    for entry in compiled:
        entry.write_bytes(b"not bytecode")
    _run(tmp_path / "broken", {"XDG_CACHE_HOME": str(xdg)})
    for folder in {c.parent for c in compiled}:
        for entry in folder.iterdir():
            entry.unlink()
        folder.chmod(0o500)
    try:
        _run(tmp_path / "unwritable", {"XDG_CACHE_HOME": str(xdg)})
    finally:
        for folder in {c.parent for c in compiled}:
            folder.chmod(0o700)
    for name in ("cold", "warm", "broken", "unwritable"):
        assert tree(tmp_path / name) == expected, name


def test_a_snapshot_behind_a_link_is_keyed_by_its_content(
    tmp_path: Path, make_snapshot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = make_snapshot([aci("svc-one", description="first")])
    link = tmp_path / "linked"
    link.symlink_to(real)
    options = Options(input=link, out=tmp_path / "out")
    generate(options)
    time.sleep(SETTLE)
    assert check(options).up_to_date
    doc = json.loads((real / "snapshot.json").read_text())
    doc["services"][0]["description"] = "changed"
    (real / "snapshot.json").write_text(json.dumps(doc))
    result = check(options)
    assert "terraform/ws-test/main.svc-one.tf" in {d.path for d in result.drift}
    assert result == uncached_check(options, monkeypatch)
