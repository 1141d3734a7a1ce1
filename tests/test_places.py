"""The one check of where a command may write a whole folder (generate and export share it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.places import unsafe_place


def test_places_that_are_refused_and_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    snapshot = tmp_path / "snap"
    (snapshot / "assets").mkdir(parents=True)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("x\n")
    (tmp_path / "file").write_text("x\n")
    mine = {tmp_path / "checkout": "gen-iac's own checkout"}
    cases = {
        Path("/"): "is the file-system root",
        tmp_path / "home": "is the home folder",
        tmp_path / "checkout": "is gen-iac's own checkout",
        tmp_path / "home/../checkout": "is gen-iac's own checkout",
        snapshot: "is inside",
        snapshot / "assets/out": "is inside",
        theirs: "non-empty folder without M",
        tmp_path / "file": "exists and is not a folder",
    }
    for out, why in cases.items():
        problem = unsafe_place(out, marker="M", protected=mine, inside=[snapshot])
        assert problem is not None and why in problem, (out, problem)
        assert "\n" not in problem


def test_places_that_may_be_written(tmp_path: Path) -> None:
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "M").write_text("")
    (ours / "x.tf").write_text("")
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(ours)
    for out in (ours, tmp_path / "empty", tmp_path / "new/deeper", tmp_path / "link"):
        assert unsafe_place(out, marker="M", inside=[tmp_path / "snap"]) is None, out
    # The marker must be a file, not a folder of that name.
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake/M").mkdir()
    assert unsafe_place(tmp_path / "fake", marker="M") is not None
