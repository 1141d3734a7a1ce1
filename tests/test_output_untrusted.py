"""What gen-iac keeps in --out is untrusted: a pull request can commit a journal, a staging
folder (or a link in its place) and any manifest. Each attack of the second red-team round is
replayed here against a real git checkout where it matters (the files a clone writes, never
hand-made hard links), and refused or kept safe."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from generator.files import PERSON, RenderedFile
from generator.output import JOURNAL, MANIFEST, check_tree, recover, write_tree

GIT_ENV = {
    "GIT_AUTHOR_NAME": "attacker",
    "GIT_AUTHOR_EMAIL": "a@example.com",
    "GIT_COMMITTER_NAME": "attacker",
    "GIT_COMMITTER_EMAIL": "a@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "core.hooksPath=.git/hooks", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={**os.environ, **GIT_ENV},
    )


def committed(tmp_path: Path, plant: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    """A pull request's tree, pushed and cloned afresh: the clone is what a CI job or a
    colleague gets (`plant`: path -> bytes; `links`: path -> link target)."""
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q")
    for path, data in plant.items():
        (origin / path).parent.mkdir(parents=True, exist_ok=True)
        (origin / path).write_bytes(data)
    for path, target in (links or {}).items():
        (origin / path).parent.mkdir(parents=True, exist_ok=True)
        (origin / path).symlink_to(target)
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "pull request")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    return clone


def journal(staging: str, ops: list[list[str]]) -> bytes:
    return json.dumps({"ops": ops, "staging": staging, "version": 2}).encode()


STAGING = ".gen-iac-staging-0123456789abcdef"
HOOK = b"#!/bin/sh\ntouch /tmp/pwned\n"


# --- 1. a committed journal ------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [".git/hooks/pre-commit", "terraform/ws/main.tf", "pipelines/github/x.yml"],
)
def test_a_committed_journal_and_staging_folder_are_never_replayed(
    tmp_path: Path, target: str
) -> None:
    """--out at a repository root: the journal names its staging folder, the staged file's
    hash is right, even the staging folder's own copy of the journal is there; but git never
    checks out one file under two names, so this machine did not stage it."""
    text = journal(STAGING, [["put", "0", target, sha(HOOK)]])
    clone = committed(
        tmp_path, {JOURNAL: text, f"{STAGING}/journal": text, f"{STAGING}/0": HOOK}
    )
    result = write_tree(clone, [RenderedFile("terraform/ws/main.tf", "x\n")])
    assert not (clone / ".git/hooks/pre-commit").exists()
    assert not (clone / "pipelines").exists()
    assert (clone / "terraform/ws/main.tf").read_bytes() == b"x\n"
    assert any("journal of an interrupted run ignored" in w for w in result.warnings)
    assert not (clone / JOURNAL).exists() and not (clone / STAGING).exists()


def test_a_committed_journal_never_deletes_a_persons_file(tmp_path: Path) -> None:
    mine = b'traffic = { "svc" = { blue = 10, green = 90 } }\n'
    text = journal(STAGING, [["del", "terraform/ws/rollout.auto.tfvars", sha(mine)]])
    clone = committed(
        tmp_path,
        {JOURNAL: text, f"{STAGING}/journal": text, "terraform/ws/rollout.auto.tfvars": mine},
    )
    warnings = recover(clone)
    assert (clone / "terraform/ws/rollout.auto.tfvars").read_bytes() == mine
    assert len(warnings) == 1 and "never followed" in warnings[0]


def test_a_staging_folder_committed_as_a_link_moves_nothing_in(tmp_path: Path) -> None:
    """The staging folder is a link to a folder outside --out: "recovery" would have moved
    the files there into --out, deleting them where they were."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "0").write_bytes(b"someone's data\n")
    text = journal(STAGING, [["put", "0", "terraform/stolen.tf", sha(b"someone's data\n")]])
    clone = committed(tmp_path, {JOURNAL: text}, links={STAGING: str(outside)})
    assert (clone / STAGING).is_symlink()
    warnings = recover(clone)
    assert (outside / "0").read_bytes() == b"someone's data\n"
    assert not (clone / "terraform").exists()
    assert len(warnings) == 1 and not os.path.lexists(clone / STAGING)


def test_a_staged_file_changed_after_the_commit_point_is_not_moved_in(tmp_path: Path) -> None:
    """A run of this machine was interrupted; a pull then changed one staged file (the
    journal, untouched, still has its link): only what was staged moves in."""
    staging = tmp_path / STAGING
    staging.mkdir()
    (staging / "0").write_bytes(b"staged\n")
    (staging / "1").write_bytes(b"changed later\n")
    ops = [["put", "0", "a.tf", sha(b"staged\n")], ["put", "1", "b.tf", sha(b"staged b\n")]]
    (staging / "journal").write_bytes(journal(STAGING, ops))
    os.link(staging / "journal", tmp_path / JOURNAL)
    warnings = recover(tmp_path)
    assert (tmp_path / "a.tf").read_bytes() == b"staged\n"
    assert not (tmp_path / "b.tf").exists()
    assert len(warnings) == 1 and "was changed" in warnings[0]


def test_a_staged_link_is_never_moved_in(tmp_path: Path) -> None:
    staging = tmp_path / STAGING
    staging.mkdir()
    secret = tmp_path.parent / "secret.txt"
    secret.write_bytes(b"secret\n")
    (staging / "0").symlink_to(secret)
    (staging / "journal").write_bytes(journal(STAGING, [["put", "0", "a.tf", sha(b"secret\n")]]))
    os.link(staging / "journal", tmp_path / JOURNAL)
    warnings = recover(tmp_path)
    assert not os.path.lexists(tmp_path / "a.tf") and secret.read_bytes() == b"secret\n"
    assert len(warnings) == 1


@pytest.mark.parametrize(
    "text",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"version": 2, "staging": "' + b"9" * 5000 + b'"}',
        b'{"version": 2, "ops": [' + b"9" * 5000 + b"]}",
        b"\xff\xfe garbage",
        b'{"version": 2, "staging": ".gen-iac-staging-x", "ops": [["put"]]}',
    ],
)
def test_a_garbage_journal_is_one_warning(tmp_path: Path, text: bytes) -> None:
    (tmp_path / JOURNAL).write_bytes(text)
    warnings = recover(tmp_path)
    assert len(warnings) == 1 and "journal" in warnings[0]
    assert not (tmp_path / JOURNAL).exists()


def test_a_journal_committed_as_a_folder_or_a_link_is_removed_not_followed(
    tmp_path: Path,
) -> None:
    outside = tmp_path.parent / "outside-journal"
    outside.write_text(journal(STAGING, [["put", "0", "a.tf", sha(b"a")]]).decode())
    for kind in ("folder", "link"):
        if kind == "folder":
            (tmp_path / JOURNAL / "x").mkdir(parents=True)
        else:
            (tmp_path / JOURNAL).symlink_to(outside)
        assert len(recover(tmp_path)) == 1
        assert not os.path.lexists(tmp_path / JOURNAL) and outside.is_file()
        assert write_tree(tmp_path, [RenderedFile("terraform/a.tf", "a\n")]).warnings == []


# --- 2. a committed manifest -----------------------------------------------------------------


def forge(out: Path, entries: dict[str, object]) -> None:
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"].update(entries)
    (out / MANIFEST).write_text(json.dumps(manifest))


def test_forged_hashes_never_reset_a_persons_files(tmp_path: Path) -> None:
    """The attack of the red-team round, 3 of 3 edits lost: only hashes in the manifest
    changed (to the hashes of the person's edited files), then a re-run with new content."""
    out = tmp_path / "out"

    def rollout(names: list[str]) -> RenderedFile:
        def merge(disk: bytes) -> bytes:
            mine = dict(line.split(" = ") for line in disk.decode().splitlines())
            return "".join(f"{n} = {mine.get(n, '100')}\n" for n in names).encode()

        text = "".join(f"{n} = 100\n" for n in names)
        return RenderedFile("terraform/ws/rollout.auto.tfvars", text, owner=PERSON, merge=merge)

    code = "bundles/ws/code/svc-blue/score.py"
    write_tree(out, [rollout(["a"]), RenderedFile(code, "v1\n", owner=PERSON)])
    edits = {
        "terraform/ws/rollout.auto.tfvars": b"a = 0\n",
        code: b"v1 fixed by a person\n",
    }
    for path, data in edits.items():
        (out / path).write_bytes(data)
    forge(
        out,
        {path: {"sha256": sha(data), "owner": PERSON} for path, data in edits.items()},
    )
    result = write_tree(out, [rollout(["a", "b"]), RenderedFile(code, "v2\n", owner=PERSON)])
    assert (out / code).read_bytes() == b"v1 fixed by a person\n"
    assert (out / "terraform/ws/rollout.auto.tfvars").read_bytes() == b"a = 0\nb = 100\n"
    assert code in result.kept


def test_forged_entries_never_delete_files_people_added(tmp_path: Path) -> None:
    """--out at a repository root: the manifest claims, with the right hashes, files that
    people and tools added, in and outside the generated folders."""
    added = {
        ".github/workflows/ci.yml": b"on: push\n",
        "src/app.py": b"print('mine')\n",
        "README.md": b"# my repo\n",
        "terraform/ws/.terraform.lock.hcl": b'provider "x" {}\n',
        "terraform/ws/.terraform/terraform.tfstate": b"{}\n",
    }
    clone = committed(tmp_path, added)
    (clone / MANIFEST).write_text(
        json.dumps({"files": {p: sha(d) for p, d in added.items()}, "version": 2})
    )
    result = write_tree(clone, [RenderedFile("terraform/ws/main.tf", "x\n")])
    for path, data in added.items():
        assert (clone / path).read_bytes() == data, path
    assert result.removed == []
    assert (clone / ".git/HEAD").is_file()


def test_a_manifest_naming_git_metadata_is_ignored(tmp_path: Path) -> None:
    clone = committed(tmp_path, {"a.txt": b"a\n"})
    config = (clone / ".git/config").read_bytes()
    (clone / MANIFEST).write_text(
        json.dumps({"files": {".git/config": sha(config), ".GIT/config": sha(config)}})
    )
    result = write_tree(clone, [RenderedFile("terraform/ws/main.tf", "x\n")])
    assert (clone / ".git/config").read_bytes() == config
    assert len([w for w in result.warnings if "outside the output folder" in w]) == 2


@pytest.mark.parametrize(
    "text",
    [
        b'{"files": ' * 50_000 + b"{}" + b"}" * 50_000,
        b'{"files": {"a.tf": ' + b"9" * 5000 + b"}}",
        b'{"files": {"a.tf": {"sha256": 1e999, "rendered": [[[]]], "owner": {}}}}',
        b"\x00\xff not json",
        b'{"files": "terraform"}',
    ],
)
def test_a_garbage_manifest_is_a_warning_never_a_traceback(tmp_path: Path, text: bytes) -> None:
    (tmp_path / "terraform").mkdir()
    (tmp_path / MANIFEST).write_bytes(text)
    result = write_tree(tmp_path, [RenderedFile("terraform/a.tf", "a\n")])
    assert result.written == ["terraform/a.tf"]
    assert check_tree(tmp_path, [RenderedFile("terraform/a.tf", "a\n")]).up_to_date


# --- 3. --check is complete ------------------------------------------------------------------

MODULE = "terraform/ws"
FILES = [
    RenderedFile(f"{MODULE}/main.tf", "main\n"),
    RenderedFile(f"{MODULE}/rollout.auto.tfvars", "a = 100\n", owner=PERSON),
    RenderedFile("bundles/ws/code/svc-blue/score.py", "v1\n", owner=PERSON),
    RenderedFile("bundles/ws/bundles.json", "{}\n"),
    RenderedFile("MIGRATION.md", "report\n"),
]


@pytest.mark.parametrize(
    ("path", "change"),
    [
        (f"{MODULE}/evil.tf", "added"),
        (f"{MODULE}/main_override.tf", "added"),
        (f"{MODULE}/sub/module.tf", "added"),
        ("bundles/ws/code/svc-blue/extra.py", "added"),
        ("bundles/ws/code/svc-blue/.git/config", "added"),
        ("bundles/ws/environments/e/conda.yaml", "added"),
        ("bicep/ws/main.bicep", "added"),  # a generated folder this run does not write
        (f"{MODULE}/.terraform.lock.hcl/x", "added"),  # the allowed name, as a folder
    ],
)
def test_check_lists_every_file_gen_iac_does_not_write(
    tmp_path: Path, path: str, change: str
) -> None:
    write_tree(tmp_path, FILES)
    assert check_tree(tmp_path, FILES).up_to_date
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text('data "external" "x" { program = ["sh"] }\n')
    result = check_tree(tmp_path, FILES)
    assert [(d.path, d.change, d.diff) for d in result.drift] == [(path, change, ())]
    assert f"drift: {tmp_path / path}: not written by gen-iac" in result.lines(tmp_path)[0]


@pytest.mark.parametrize(
    "path",
    [
        "bundles/ws/code/svc-blue/data",  # a new link in a bundle
        "bundles/ws/code/svc-blue/score.py",  # a person's file replaced by a link
        f"{MODULE}/main.tf",  # gen-iac's file replaced by a link
        f"{MODULE}/.terraform",  # the allowed folder, as a link
        "bundles/ws/.venv",
        "bundles",  # a whole generated folder
    ],
)
def test_check_reports_every_symbolic_link(tmp_path: Path, path: str) -> None:
    write_tree(tmp_path, FILES)
    target = tmp_path.parent / "elsewhere"
    target.mkdir(exist_ok=True)
    if os.path.lexists(tmp_path / path):
        if (tmp_path / path).is_dir():
            subprocess.run(["rm", "-r", str(tmp_path / path)], check=True)
        else:
            (tmp_path / path).unlink()
    (tmp_path / path).symlink_to(target)
    drift = check_tree(tmp_path, FILES).drift
    assert [(d.path, d.change) for d in drift if d.path == path] == [(path, "link")]


def test_check_allows_the_few_files_tools_add_and_the_persons_files(tmp_path: Path) -> None:
    write_tree(tmp_path, FILES)
    (tmp_path / MODULE / ".terraform/providers").mkdir(parents=True)
    (tmp_path / MODULE / ".terraform/providers/p.tf").write_text("anything\n")
    (tmp_path / MODULE / ".terraform.lock.hcl").write_text('provider "x" {}\n')
    (tmp_path / "bundles/ws/.venv/bin").mkdir(parents=True)
    (tmp_path / "bundles/ws/.venv/bin/python").write_text("")
    (tmp_path / "bundles/ws/code/svc-blue/score.py").write_text("fixed by a person\n")
    (tmp_path / MODULE / "rollout.auto.tfvars").write_text("a = 10\n")
    (tmp_path / "README.md").write_text("the repository's own files are not gen-iac's\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src/app.py").write_text("")
    assert check_tree(tmp_path, FILES).up_to_date
    # The allow-list holds in Terraform root modules (and bundles/<ws>/) only.
    (tmp_path / "bundles/ws/.terraform.lock.hcl").write_text("")
    (tmp_path / "bundles/ws/code/svc-blue/.venv").mkdir()
    (tmp_path / "bundles/ws/code/svc-blue/.venv/x").write_text("")
    assert [d.path for d in check_tree(tmp_path, FILES).drift] == [
        "bundles/ws/.terraform.lock.hcl",
        "bundles/ws/code/svc-blue/.venv/x",
    ]


def test_check_never_prints_keys(tmp_path: Path) -> None:
    keys = RenderedFile(f"{MODULE}/keys.auto.tfvars.json", '{"key": "s3cr3t-old"}\n', secret=True)
    write_tree(tmp_path, [*FILES, keys])
    changed = RenderedFile(keys.path, '{"key": "s3cr3t-new"}\n', secret=True)
    for files in ([*FILES, changed], FILES):  # a key changed; then --write-keys dropped
        result = check_tree(tmp_path, files)
        assert result.drift and "s3cr3t" not in "\n".join(result.lines(tmp_path))
    (tmp_path / keys.path).unlink()
    result = check_tree(tmp_path, [*FILES, changed])  # a key file gen-iac would write
    assert result.drift and "s3cr3t" not in "\n".join(result.lines(tmp_path))


def test_without_hard_links_a_run_still_writes_but_its_journal_is_never_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file-system call is the test double (a file system without hard links cannot be
    mounted here): the run is committed and completed; a journal it would leave behind after
    a crash cannot be proven, so the next run ignores it rather than trust it."""
    import errno

    def no_links(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    result = write_tree(tmp_path, [RenderedFile("terraform/a.tf", "a\n")])
    assert result.written == ["terraform/a.tf"] and not (tmp_path / JOURNAL).exists()
    monkeypatch.undo()
    text = journal(STAGING, [["put", "0", "terraform/b.tf", sha(b"b\n")]])
    (tmp_path / STAGING).mkdir()
    (tmp_path / STAGING / "0").write_bytes(b"b\n")
    (tmp_path / STAGING / "journal").write_bytes(text)
    (tmp_path / JOURNAL).write_bytes(text)  # a copy, as the fallback writes it
    warnings = recover(tmp_path)
    assert not (tmp_path / "terraform/b.tf").exists()
    assert len(warnings) == 1 and "--force" in warnings[0]
