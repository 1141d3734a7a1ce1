"""`output.write_beside`: how `gen-iac verify` writes into a generate's folder (confined,
under the lock, all or nothing) without disturbing what the generate owns."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from generator.files import RenderedFile
from generator.output import MANIFEST, OutputError, write_beside
from generator.pipeline import Options, generate


def _generate(out: Path) -> None:
    generate(Options(out=out, targets=("terraform",)))


def test_verify_files_stay_out_of_the_manifest_and_cutover_is_recorded(tmp_path: Path) -> None:
    _generate(tmp_path)
    cutover = (tmp_path / "CUTOVER.md").read_text(encoding="utf-8") + "completed\n"

    warnings = write_beside(
        tmp_path,
        [RenderedFile("verify.json", "{}\n"), RenderedFile("CUTOVER.md", cutover)],
        "CUTOVER.md",
    )

    assert warnings == []
    assert (tmp_path / "verify.json").read_text(encoding="utf-8") == "{}\n"
    assert (tmp_path / "CUTOVER.md").read_text(encoding="utf-8") == cutover
    files = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))["files"]
    assert "verify.json" not in files
    assert files["CUTOVER.md"] == hashlib.sha256(cutover.encode()).hexdigest()
    assert not list(tmp_path.glob(".gen-iac-staging-*"))
    assert not (tmp_path / ".gen-iac-journal.json").exists()
    # The next generate leaves verify's file alone and renders CUTOVER.md as it renders it
    # (here: without the line written above, and no "edited by a person").
    again = generate(Options(out=tmp_path, targets=("terraform",)))
    assert (tmp_path / "verify.json").exists()
    assert "CUTOVER.md" in again.written.written and "CUTOVER.md" not in again.written.edited


def test_a_persons_edit_of_cutover_is_kept(tmp_path: Path) -> None:
    _generate(tmp_path)
    (tmp_path / "CUTOVER.md").write_text("my notes\n", encoding="utf-8")

    warnings = write_beside(tmp_path, [RenderedFile("CUTOVER.md", "new\n")], "CUTOVER.md")

    assert warnings == ["CUTOVER.md: edited by a person; kept as it is"]
    assert (tmp_path / "CUTOVER.md").read_text(encoding="utf-8") == "my notes\n"


def test_no_write_through_a_link_or_outside(tmp_path: Path) -> None:
    _generate(tmp_path / "out")
    target = tmp_path / "elsewhere.json"
    target.write_text("keep\n", encoding="utf-8")
    (tmp_path / "out" / "verify.json").symlink_to(target)

    with pytest.raises(OutputError, match="not a regular file"):
        write_beside(tmp_path / "out", [RenderedFile("verify.json", "{}\n")], "CUTOVER.md")
    assert target.read_text(encoding="utf-8") == "keep\n"
    with pytest.raises(OutputError, match="not a safe relative path"):
        write_beside(tmp_path / "out", [RenderedFile("../x.json", "{}\n")], "CUTOVER.md")
    assert not (tmp_path / "x.json").exists()


def test_a_write_interrupted_after_its_commit_is_completed_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator import output

    _generate(tmp_path)
    cutover = (tmp_path / "CUTOVER.md").read_text(encoding="utf-8") + "completed\n"
    real = output._roll_forward

    def killed(*args: object, **kwargs: object) -> None:
        raise OSError(5, "killed while moving files in")

    monkeypatch.setattr(output, "_roll_forward", killed)
    with pytest.raises(OutputError):
        write_beside(tmp_path, [RenderedFile("verify.json", "{}\n"),
                                RenderedFile("CUTOVER.md", cutover)], "CUTOVER.md")
    assert not (tmp_path / "verify.json").exists()
    monkeypatch.setattr(output, "_roll_forward", real)

    assert output.recover(tmp_path) == []
    assert (tmp_path / "verify.json").read_text(encoding="utf-8") == "{}\n"
    assert (tmp_path / "CUTOVER.md").read_text(encoding="utf-8") == cutover
    files = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))["files"]
    assert files["CUTOVER.md"] == hashlib.sha256(cutover.encode()).hexdigest()
