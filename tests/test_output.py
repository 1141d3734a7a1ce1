"""The writer: owns only its files, keeps a person's edits, never leaves half a tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.files import RenderedFile
from generator.output import MANIFEST, OutputConflict, write_tree


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_rerun_with_same_files_changes_nothing(tmp_path: Path) -> None:
    files = [RenderedFile("a/x.tf", "x\n"), RenderedFile("b.md", "b\n")]
    first = write_tree(tmp_path, files)
    assert sorted(first.written) == ["a/x.tf", "b.md"]
    mtime = (tmp_path / "a/x.tf").stat().st_mtime_ns
    second = write_tree(tmp_path, files)
    assert (second.written, sorted(second.unchanged)) == ([], ["a/x.tf", "b.md"])
    assert (tmp_path / "a/x.tf").stat().st_mtime_ns == mtime


def test_edited_files_are_not_overwritten_without_force(tmp_path: Path) -> None:
    write_tree(tmp_path, [RenderedFile("x.tf", "old\n")])
    (tmp_path / "x.tf").write_text("edited by a person\n")
    with pytest.raises(OutputConflict, match=r"x\.tf \(edited since gen-iac wrote it\).*--force"):
        write_tree(tmp_path, [RenderedFile("x.tf", "new\n"), RenderedFile("y.tf", "y\n")])
    assert (tmp_path / "x.tf").read_text() == "edited by a person\n"
    assert not (tmp_path / "y.tf").exists()  # nothing written at all
    write_tree(tmp_path, [RenderedFile("x.tf", "new\n")], force=True)
    assert (tmp_path / "x.tf").read_text() == "new\n"


def test_foreign_files_are_kept_and_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "backend.tf").write_text("mine\n")
    (tmp_path / "x.tf").write_text("someone else's\n")
    with pytest.raises(OutputConflict, match="not written by gen-iac"):
        write_tree(tmp_path, [RenderedFile("x.tf", "gen\n")])
    write_tree(tmp_path, [RenderedFile("y.tf", "gen\n")])
    assert (tmp_path / "backend.tf").read_text() == "mine\n"


def test_obsolete_files_are_removed_unless_edited(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        [
            RenderedFile("d/old.tf", "1\n"),
            RenderedFile("d/edited.tf", "2\n"),
            RenderedFile("keep.tf", "3\n"),
        ],
    )
    (tmp_path / "d/edited.tf").write_text("changed\n")
    result = write_tree(tmp_path, [RenderedFile("keep.tf", "3\n")])
    assert result.removed == ["d/old.tf"]
    assert result.kept_edited == ["d/edited.tf"]
    assert tree(tmp_path).keys() == {"d/edited.tf", "keep.tf", MANIFEST}


def test_a_failure_before_the_commit_point_leaves_the_old_tree(tmp_path: Path) -> None:
    write_tree(tmp_path, [RenderedFile("a.tf", "old a\n"), RenderedFile("b.tf", "old b\n")])
    before = tree(tmp_path)
    unencodable = "\ud800"  # a lone surrogate cannot be written as UTF-8
    with pytest.raises(UnicodeEncodeError):
        write_tree(tmp_path, [RenderedFile("a.tf", "new a\n"), RenderedFile("b.tf", unencodable)])
    assert tree(tmp_path) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".gen-iac-staging")]


def test_secret_files_are_private(tmp_path: Path) -> None:
    write_tree(tmp_path, [RenderedFile("k.json", "{}\n", secret=True), RenderedFile("p.tf", "p\n")])
    assert (tmp_path / "k.json").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "p.tf").stat().st_mode & 0o777 == 0o644
