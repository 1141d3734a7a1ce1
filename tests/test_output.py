"""The writer: confined to --out, all or nothing, one run at a time, keeps a person's edits,
and knows who owns which file (day 2)."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.files import PERSON, RenderedFile
from generator.output import (
    JOURNAL,
    MANIFEST,
    OutputBusy,
    OutputError,
    check_tree,
    recover,
    write_tree,
)


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def snapshot_of(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every entry under root with its bytes, mode and mtime: proof that nothing changed."""
    found: dict[str, tuple[bytes, int, int]] = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        data = p.read_bytes() if p.is_file() and not p.is_symlink() else b""
        found[str(p.relative_to(root))] = (data, st.st_mode, st.st_mtime_ns)
    return found


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- basics ---------------------------------------------------------------------------------


def test_rerun_with_same_files_changes_nothing(tmp_path: Path) -> None:
    files = [RenderedFile("a/x.tf", "x\n"), RenderedFile("b.md", "b\n")]
    first = write_tree(tmp_path, files)
    assert first.written == ["a/x.tf", "b.md"]
    before = snapshot_of(tmp_path)
    second = write_tree(tmp_path, files)
    assert (second.written, second.unchanged) == ([], ["a/x.tf", "b.md"])
    assert snapshot_of(tmp_path) == before  # the manifest is not even rewritten


def test_files_are_consumed_as_they_come(tmp_path: Path) -> None:
    """The writer takes an iterator and stages each file before asking for the next."""
    staged_before_next: list[bool] = []

    def files() -> Iterator[RenderedFile]:
        for n in range(3):
            if n:
                stagings = [p for p in tmp_path.iterdir() if p.name.startswith(".gen-iac-staging")]
                staged_before_next.append(len(list(stagings[0].iterdir())) == n)
            yield RenderedFile(f"f{n}.tf", f"{n}\n")

    write_tree(tmp_path, files())
    assert staged_before_next == [True, True]
    assert tree(tmp_path).keys() == {"f0.tf", "f1.tf", "f2.tf", MANIFEST}


def test_obsolete_files_are_removed_unless_edited(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        [
            RenderedFile("terraform/d/old.tf", "1\n"),
            RenderedFile("terraform/d/edited.tf", "2\n"),
            RenderedFile("bicep/e/gone.tf", "4\n"),
            RenderedFile("keep.tf", "3\n"),
        ],
    )
    (tmp_path / "terraform/d/edited.tf").write_text("changed\n")
    result = write_tree(tmp_path, [RenderedFile("keep.tf", "3\n")])
    assert result.removed == ["bicep/e/gone.tf", "terraform/d/old.tf"]
    assert result.kept_edited == ["terraform/d/edited.tf"]
    assert tree(tmp_path).keys() == {"terraform/d/edited.tf", "keep.tf", MANIFEST}
    assert not (tmp_path / "bicep").exists()  # emptied folders go too


def test_a_failure_before_the_commit_point_leaves_the_old_tree(tmp_path: Path) -> None:
    write_tree(tmp_path, [RenderedFile("a.tf", "old a\n"), RenderedFile("b.tf", "old b\n")])
    before = snapshot_of(tmp_path)

    def failing() -> Iterator[RenderedFile]:
        yield RenderedFile("a.tf", "new a\n")
        raise RuntimeError("a renderer failed")

    with pytest.raises(RuntimeError):
        write_tree(tmp_path, failing())
    assert snapshot_of(tmp_path) == before  # no staging folder left either


def test_secret_files_are_private(tmp_path: Path) -> None:
    write_tree(tmp_path, [RenderedFile("k.json", "{}\n", secret=True), RenderedFile("p.tf", "p\n")])
    assert (tmp_path / "k.json").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "p.tf").stat().st_mode & 0o777 == 0o644


# --- a person's edits (day 2) ---------------------------------------------------------------


def test_an_edit_of_a_generated_file_is_kept_reported_and_never_stops_the_rest(
    tmp_path: Path,
) -> None:
    write_tree(tmp_path, [RenderedFile("x.tf", "old\n"), RenderedFile("y.tf", "old y\n")])
    (tmp_path / "x.tf").write_text("edited by a person\n")
    result = write_tree(
        tmp_path,
        [
            RenderedFile("x.tf", "new\n"),
            RenderedFile("y.tf", "new y\n"),
            RenderedFile("z.tf", "z\n"),
        ],
    )
    assert result.edited == ["x.tf"]
    assert result.written == ["y.tf", "z.tf"]
    assert (tmp_path / "x.tf").read_text() == "edited by a person\n"
    assert (tmp_path / "y.tf").read_text() == "new y\n"
    # Still an edit on the next run (the manifest does not adopt the person's bytes)...
    assert write_tree(tmp_path, [RenderedFile("x.tf", "newer\n")]).edited == ["x.tf"]
    # ...until --force discards it.
    forced = write_tree(tmp_path, [RenderedFile("x.tf", "newer\n")], force=True)
    assert (forced.written, forced.edited) == (["x.tf"], [])
    assert (tmp_path / "x.tf").read_text() == "newer\n"


def test_a_foreign_file_where_gen_iac_writes_is_kept_and_reported(tmp_path: Path) -> None:
    (tmp_path / "backend.tf").write_text("mine\n")
    (tmp_path / "x.tf").write_text("someone else's\n")
    result = write_tree(tmp_path, [RenderedFile("x.tf", "gen\n"), RenderedFile("y.tf", "y\n")])
    assert (result.edited, result.written) == (["x.tf"], ["y.tf"])
    assert (tmp_path / "x.tf").read_text() == "someone else's\n"
    assert (tmp_path / "backend.tf").read_text() == "mine\n"
    # Never removed later either: it was never gen-iac's.
    result = write_tree(tmp_path, [RenderedFile("y.tf", "y\n")])
    assert result.kept_edited == ["x.tf"] and (tmp_path / "x.tf").exists()


def test_person_files_are_written_once_then_kept(tmp_path: Path) -> None:
    code = RenderedFile("code/score.py", "v1\n", owner=PERSON)
    assert write_tree(tmp_path, [code]).written == ["code/score.py"]
    (tmp_path / "code/score.py").write_text("fixed by a person\n")
    # The snapshot's own content changed, but the person edited the file: kept, reported.
    result = write_tree(tmp_path, [RenderedFile("code/score.py", "v2\n", owner=PERSON)])
    assert (result.written, result.kept) == ([], ["code/score.py"])
    assert (tmp_path / "code/score.py").read_text() == "fixed by a person\n"
    # --force discards edits of gen-iac's files only; a person's file stays theirs.
    write_tree(tmp_path, [RenderedFile("code/score.py", "v3\n", owner=PERSON)], force=True)
    assert (tmp_path / "code/score.py").read_text() == "fixed by a person\n"
    # Deleted by the person: written again.
    (tmp_path / "code/score.py").unlink()
    write_tree(tmp_path, [RenderedFile("code/score.py", "v3\n", owner=PERSON)])
    assert (tmp_path / "code/score.py").read_text() == "v3\n"


def test_a_persons_file_is_never_replaced_once_it_exists(tmp_path: Path) -> None:
    """Whether nobody edited it would rest on the manifest's word, which a pull request can
    forge: so a changed snapshot content is reported, the file stays."""
    write_tree(tmp_path, [RenderedFile("env/conda.yaml", "a\n", owner=PERSON)])
    result = write_tree(tmp_path, [RenderedFile("env/conda.yaml", "b\n", owner=PERSON)])
    assert (result.written, result.kept) == ([], ["env/conda.yaml"])
    assert (tmp_path / "env/conda.yaml").read_text() == "a\n"
    # Unchanged snapshot content: nothing happens, whatever the disk holds.
    (tmp_path / "env/conda.yaml").write_text("mine\n")
    result = write_tree(tmp_path, [RenderedFile("env/conda.yaml", "b\n", owner=PERSON)])
    assert (result.written, result.kept, result.unchanged) == ([], [], ["env/conda.yaml"])
    assert (tmp_path / "env/conda.yaml").read_text() == "mine\n"
    # Removed by the person: the snapshot's content is written again.
    (tmp_path / "env/conda.yaml").unlink()
    assert write_tree(tmp_path, [RenderedFile("env/conda.yaml", "b\n", owner=PERSON)]).written
    assert (tmp_path / "env/conda.yaml").read_text() == "b\n"


def test_a_person_file_with_merge_keeps_their_choices_and_takes_new_structure(
    tmp_path: Path,
) -> None:
    def values(*names: str) -> str:
        return "".join(f"{n} = 100\n" for n in names)

    def merge_for(*names: str) -> RenderedFile:
        def merge(disk: bytes) -> bytes:
            mine = dict(line.split(" = ") for line in disk.decode().splitlines())
            return "".join(f"{n} = {mine.get(n, '100')}\n" for n in names).encode()

        return RenderedFile("rollout.auto.tfvars", values(*names), owner=PERSON, merge=merge)

    write_tree(tmp_path, [merge_for("a")])
    (tmp_path / "rollout.auto.tfvars").write_text("a = 40\n")
    # Unchanged snapshot content: merge is not even asked.
    assert write_tree(tmp_path, [merge_for("a")]).unchanged == ["rollout.auto.tfvars"]
    result = write_tree(tmp_path, [merge_for("a", "b")])  # a new endpoint
    assert result.written == ["rollout.auto.tfvars"]
    assert (tmp_path / "rollout.auto.tfvars").read_text() == "a = 40\nb = 100\n"
    # Still the person's: a later change of gen-iac's content merges again, never overwrites.
    write_tree(tmp_path, [merge_for("b")])
    assert (tmp_path / "rollout.auto.tfvars").read_text() == "b = 100\n"
    (tmp_path / "rollout.auto.tfvars").write_text("b = 7\n")
    write_tree(tmp_path, [merge_for("b", "c")])
    assert (tmp_path / "rollout.auto.tfvars").read_text() == "b = 7\nc = 100\n"


def test_a_merge_that_fails_keeps_the_file_and_says_so(tmp_path: Path) -> None:
    def broken(disk: bytes) -> bytes:
        raise ValueError("cannot parse line 1")

    write_tree(tmp_path, [RenderedFile("t.tfvars", "a\n", owner=PERSON, merge=broken)])
    (tmp_path / "t.tfvars").write_text("garbage\n")
    result = write_tree(
        tmp_path,
        [RenderedFile("t.tfvars", "b\n", owner=PERSON, merge=broken), RenderedFile("o.tf", "o\n")],
    )
    assert result.kept == ["t.tfvars"] and result.written == ["o.tf"]
    assert any("cannot parse line 1" in w for w in result.warnings)
    assert (tmp_path / "t.tfvars").read_text() == "garbage\n"


# --- confinement ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "../escape.tf",
        "a/../../escape.tf",
        "/tmp/abs.tf",
        "a//b.tf",
        "a/./b.tf",
        "a\\b.tf",
        "a\x00b.tf",
        "a\nb.tf",
        "\ud800.tf",
        "x" * 256,
        "",
        MANIFEST,
        ".gen-iac-staging-x/f",
    ],
)
def test_unsafe_paths_are_refused_and_nothing_is_written(tmp_path: Path, path: str) -> None:
    out = tmp_path / "out"
    write_tree(out, [RenderedFile("a.tf", "old\n")])
    before, outside = snapshot_of(out), sorted(tmp_path.iterdir())
    with pytest.raises(OutputError, match="not a safe relative path"):
        write_tree(out, [RenderedFile("a.tf", "new\n"), RenderedFile(path, "x\n")])
    assert snapshot_of(out) == before
    assert sorted(tmp_path.iterdir()) == outside
    assert not Path("/tmp/abs.tf").exists()


def test_names_equal_apart_from_case_are_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="same name apart from case"):
        write_tree(tmp_path, [RenderedFile("a/X.tf", "1\n"), RenderedFile("a/x.tf", "2\n")])
    assert list(tmp_path.iterdir()) == []


def test_manifest_entries_outside_out_are_ignored_with_a_warning(tmp_path: Path) -> None:
    out = tmp_path / "out"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    digest = sha(b"precious\n")
    write_tree(out, [RenderedFile("terraform/a.tf", "a\n")])
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"].update(
        {"../victim.txt": digest, str(victim): digest, "a/../../victim.txt": {"sha256": digest}}
    )
    (out / MANIFEST).write_text(json.dumps(manifest))
    result = write_tree(out, [RenderedFile("b.tf", "b\n")])
    assert victim.read_text() == "precious\n"
    assert len([w for w in result.warnings if "outside the output folder" in w]) == 3
    assert result.removed == ["terraform/a.tf"]
    assert "../victim.txt" not in (out / MANIFEST).read_text()


def test_a_symlinked_folder_inside_out_is_never_written_through(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    (out / "terraform").symlink_to(elsewhere)
    with pytest.raises(OutputError, match="symbolic link"):
        write_tree(out, [RenderedFile("terraform/main.tf", "x\n"), RenderedFile("a.md", "a\n")])
    assert list(elsewhere.iterdir()) == []
    assert not (out / "a.md").exists()


def test_symlinked_files_are_neither_followed_nor_removed_through(tmp_path: Path) -> None:
    out, target = tmp_path / "out", tmp_path / "target.txt"
    target.write_text("outside\n")
    write_tree(out, [RenderedFile("x.tf", "x\n"), RenderedFile("gone.tf", "g\n")])
    (out / "x.tf").unlink()
    (out / "x.tf").symlink_to(target)
    (out / "gone.tf").unlink()
    (out / "gone.tf").symlink_to(target)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"]["gone.tf"] = {"sha256": sha(b"outside\n")}  # matches the link's target
    (out / MANIFEST).write_text(json.dumps(manifest))
    result = write_tree(out, [RenderedFile("x.tf", "new\n")])
    assert result.edited == ["x.tf"]  # a link is not gen-iac's file: kept and reported
    assert result.kept_edited == ["gone.tf"]
    assert target.read_text() == "outside\n" and (out / "gone.tf").is_symlink()
    write_tree(out, [RenderedFile("x.tf", "new\n")], force=True)
    assert target.read_text() == "outside\n"  # the link itself is replaced, not its target
    assert not (out / "x.tf").is_symlink() and (out / "x.tf").read_text() == "new\n"


# --- unusable output folders: one error, old tree intact ------------------------------------


def test_out_that_is_a_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("not a folder\n")
    with pytest.raises(OutputError, match="not a folder"):
        write_tree(out, [RenderedFile("a.tf", "a\n")])
    with pytest.raises(OutputError, match="cannot create the output folder: Not a directory"):
        write_tree(out / "sub", [RenderedFile("a.tf", "a\n")])
    assert out.read_text() == "not a folder\n"


def test_a_folder_where_a_file_goes_and_a_file_where_a_folder_goes(tmp_path: Path) -> None:
    write_tree(tmp_path, [RenderedFile("a.tf", "a\n")])
    (tmp_path / "MIGRATION.md").mkdir()
    before = snapshot_of(tmp_path)
    with pytest.raises(OutputError, match="a folder stands where"):
        write_tree(tmp_path, [RenderedFile("a.tf", "new\n"), RenderedFile("MIGRATION.md", "m\n")])
    assert snapshot_of(tmp_path) == before
    (tmp_path / "terraform").write_text("a file\n")
    before = snapshot_of(tmp_path)
    with pytest.raises(OutputError, match="a file stands where"):
        write_tree(tmp_path, [RenderedFile("a.tf", "new\n"), RenderedFile("terraform/x.tf", "")])
    assert snapshot_of(tmp_path) == before


def test_an_obsolete_file_of_ours_may_become_a_folder(tmp_path: Path) -> None:
    write_tree(tmp_path, [RenderedFile("a", "file\n")])
    write_tree(tmp_path, [RenderedFile("a/b.tf", "b\n")])
    assert tree(tmp_path).keys() == {"a/b.tf", MANIFEST}


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_failing_file_system_is_one_error_and_the_old_tree_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """The file-system call is the test double (a full or read-only disk cannot be made
    here without root-only mounts): the third file staged fails."""
    write_tree(tmp_path, [RenderedFile("a.tf", "old a\n"), RenderedFile("b.tf", "old b\n")])
    before = snapshot_of(tmp_path)
    real_open = os.open
    calls = {"n": 0}

    def failing_open(path: object, flags: int, *args: object, **kw: object) -> int:
        if ".gen-iac-staging-" in str(path) and flags & os.O_CREAT:
            calls["n"] += 1
            if calls["n"] == 3:
                raise OSError(code, os.strerror(code))
        return real_open(path, flags, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", failing_open)
    files = [RenderedFile(f"{n}.tf", f"{n}\n") for n in "abcd"]
    with pytest.raises(OutputError) as caught:
        write_tree(tmp_path, files)
    monkeypatch.undo()
    assert "\n" not in str(caught.value) and os.strerror(code) in str(caught.value)
    assert snapshot_of(tmp_path) == before


def test_an_impossible_out_path_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="cannot create the output folder"):
        write_tree(tmp_path / "a\x00b", [RenderedFile("a.tf", "a\n")])
    assert list(tmp_path.iterdir()) == []


# --- atomic, recoverable, exclusive ---------------------------------------------------------


def test_a_crash_while_moving_files_in_is_completed_by_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the commit point (the journal), the next run rolls the tree forward."""
    old = [RenderedFile(f"d/{n}.tf", f"old {n}\n") for n in range(6)] + [
        RenderedFile("terraform/gone.tf", "g\n")
    ]
    new = [RenderedFile(f"d/{n}.tf", f"new {n}\n") for n in range(6)] + [
        RenderedFile("e/added.tf", "added\n")
    ]
    write_tree(tmp_path, old)
    real_replace = os.replace
    calls = {"n": 0}

    def dying_replace(src: object, dst: object) -> None:
        if str(dst).endswith(".tf"):
            calls["n"] += 1
            if calls["n"] == 3:
                raise OSError(errno.EIO, "killed here")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", dying_replace)
    with pytest.raises(OutputError, match="the next run completes it"):
        write_tree(tmp_path, new)
    monkeypatch.undo()
    assert (tmp_path / JOURNAL).exists()  # committed, half moved in
    assert recover(tmp_path) == []
    fresh = tmp_path.parent / "fresh"
    write_tree(fresh, new)
    assert tree(tmp_path) == tree(fresh)
    assert not [
        p for p in tmp_path.iterdir() if p.name.startswith(".gen-iac-") and p.name != MANIFEST
    ]


def test_stale_staging_folders_are_removed_by_the_next_run(tmp_path: Path) -> None:
    write_tree(tmp_path, [RenderedFile("a.tf", "a\n")])
    stale = tmp_path / ".gen-iac-staging-dead"
    stale.mkdir()
    (stale / "0").write_text("half\n")
    result = write_tree(tmp_path, [RenderedFile("a.tf", "a\n")])
    assert result.unchanged == ["a.tf"] and not stale.exists()


def test_a_second_run_into_the_same_folder_stops(tmp_path: Path) -> None:
    write_tree(tmp_path, [RenderedFile("a.tf", "a\n")])
    before = snapshot_of(tmp_path)
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # what a running gen-iac holds
        with pytest.raises(OutputBusy, match="another gen-iac run"):
            write_tree(tmp_path, [RenderedFile("a.tf", "b\n")])
        with pytest.raises(OutputBusy):
            check_tree(tmp_path, [RenderedFile("a.tf", "b\n")])
    finally:
        os.close(fd)
    assert snapshot_of(tmp_path) == before


# --- --check --------------------------------------------------------------------------------


def test_check_up_to_date_drift_and_a_persons_edit(tmp_path: Path) -> None:
    files = [
        RenderedFile("main.tf", "a\nb\nc\n"),
        RenderedFile("terraform/gone.tf", "g\n"),
        RenderedFile("code/score.py", "v1\n", owner=PERSON),
    ]
    write_tree(tmp_path, files)
    before = snapshot_of(tmp_path)
    assert check_tree(tmp_path, files).up_to_date
    (tmp_path / "code/score.py").write_text("a person's fix\n")  # a person's file: not drift
    assert check_tree(tmp_path, files).up_to_date
    before = snapshot_of(tmp_path)
    result = check_tree(
        tmp_path,
        [
            RenderedFile("main.tf", "a\nB\nc\n"),
            RenderedFile("new.tf", "n\n"),
            RenderedFile("code/score.py", "v2\n", owner=PERSON),
        ],
    )
    assert [(d.path, d.change) for d in result.drift] == [
        ("main.tf", "changed"),
        ("new.tf", "missing"),
        ("terraform/gone.tf", "obsolete"),
    ]
    main = result.drift[0]
    assert "-b" in main.diff and "+B" in main.diff
    assert snapshot_of(tmp_path) == before  # nothing written, not even a lock or a manifest


def test_check_counts_an_edited_generated_file_and_bounds_the_diff(tmp_path: Path) -> None:
    write_tree(tmp_path, [RenderedFile("main.tf", "x\n")])
    (tmp_path / "main.tf").write_text("".join(f"line {n}\n" for n in range(200)))
    (result,) = check_tree(tmp_path, [RenderedFile("main.tf", "x\n")]).drift
    assert result.change == "edited"
    assert len(result.diff) <= 21 and result.diff[-1].startswith("... ")


def test_check_of_a_missing_folder_creates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "nothing-yet"
    result = check_tree(out, [RenderedFile("a.tf", "a\n")])
    assert [d.change for d in result.drift] == ["missing"]
    assert not out.exists()


def test_a_file_and_a_folder_of_the_same_name_are_refused_before_anything_moves(
    tmp_path: Path,
) -> None:
    for files in (
        [RenderedFile("a", "1\n"), RenderedFile("a/b.tf", "2\n")],
        [RenderedFile("a/b.tf", "2\n"), RenderedFile("a", "1\n")],
    ):
        with pytest.raises(OutputError, match="both a file and a folder"):
            write_tree(tmp_path, files)
        assert list(tmp_path.iterdir()) == []


def interrupted(out: Path, staged: dict[str, bytes], ops: list[list[str]]) -> Path:
    """What a run killed right after its commit point leaves: a staging folder and the
    journal, a hard link of the staging folder's own copy (made here as the writer does)."""
    staging = out / ".gen-iac-staging-0123456789abcdef"
    staging.mkdir(parents=True)
    for name, data in staged.items():
        (staging / name).write_bytes(data)
    text = json.dumps({"ops": ops, "staging": staging.name, "version": 2})
    (staging / "journal").write_text(text)
    os.link(staging / "journal", out / JOURNAL)
    return staging


def test_recovery_skips_what_something_else_now_blocks(tmp_path: Path) -> None:
    """A journal whose rename is blocked (a folder made by hand in between) is completed as
    far as it goes, with a warning, instead of blocking every later run."""
    ops = [["put", "0", "a.tf", sha(b"new a\n")], ["put", "1", "b.tf", sha(b"new b\n")]]
    staging = interrupted(tmp_path, {"0": b"new a\n", "1": b"new b\n"}, ops)
    (tmp_path / "b.tf").mkdir()
    warnings = recover(tmp_path)
    assert (tmp_path / "a.tf").read_text() == "new a\n"
    assert len(warnings) == 1 and "b.tf" in warnings[0]
    assert not (tmp_path / JOURNAL).exists() and not staging.exists()


@pytest.mark.parametrize(
    "journal",
    [
        {"ops": [["put", "0", "../escape.tf"]], "staging": ".gen-iac-staging-x"},
        {"ops": [["del", "/etc/hostname", "x"]], "staging": ".gen-iac-staging-x"},
        {"ops": [["put", "../../x", "a.tf"]], "staging": "../elsewhere"},
        {"ops": [["put", "../../../victim", "stolen.tf"]], "staging": ".gen-iac-staging-x"},
        ["not", "an", "object"],
    ],
)
def test_a_tampered_journal_is_ignored_not_followed(tmp_path: Path, journal: object) -> None:
    (tmp_path / JOURNAL).write_text(json.dumps(journal))
    warnings = recover(tmp_path)
    assert len(warnings) == 1 and "journal" in warnings[0]
    assert not (tmp_path / JOURNAL).exists()
    assert not (tmp_path.parent / "escape.tf").exists() and not (tmp_path / "stolen.tf").exists()
