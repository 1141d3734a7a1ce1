from __future__ import annotations

import stat
from pathlib import Path

import pytest

from generator.export.writer import SnapshotWriter, UnsafeName, safe_component


def test_nothing_at_out_without_commit(tmp_path: Path) -> None:
    out = tmp_path / "snap"
    with pytest.raises(RuntimeError), SnapshotWriter(out) as writer:
        writer.write_json("snapshot.json", {})
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_commit_replaces_the_old_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "snap"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    with SnapshotWriter(out) as writer:
        writer.write_json("snapshot.json", {"a": 1})
        writer.write_json("keys.json", {}, mode=0o600)
        writer.asset_path("svc", "v1", "x.py").write_text("x")
        writer.commit()
    assert sorted(p.name for p in out.iterdir()) == ["assets", "keys.json", "snapshot.json"]
    assert stat.S_IMODE((out / "keys.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap"]


def test_stale_partial_dirs_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".snap.partial-abc").mkdir()
    with SnapshotWriter(tmp_path / "snap") as writer:
        writer.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap"]


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "..\\x", ".hidden"])
def test_unsafe_names(name: str) -> None:
    with pytest.raises(UnsafeName):
        safe_component(name, "asset id")


def test_safe_name() -> None:
    assert safe_component("3f2a9c1e.tar.gz", "asset id") == "3f2a9c1e.tar.gz"
