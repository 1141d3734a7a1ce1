"""Several workspaces in one run, --list, --out checked up front, and a snapshot whose bytes
do not depend on how many downloads run at once."""

from __future__ import annotations

import copy
import io
import json
import random
from pathlib import Path

import pytest

from generator.export import command
from generator.export.client import AzureMLClient, Target, TokenCache
from generator.export.progress import Progress
from generator.export.runner import Selection, export
from tests.export.conftest import RG, SUB, WS, FakeAzure, FakeCredential, Fault


def second_workspace(azure: FakeAzure, name: str = "ws-second") -> None:
    data = copy.deepcopy(azure.workspaces[WS])
    data.arm["name"] = name
    data.arm["id"] = data.arm["id"].replace(WS, name)
    data.arm["properties"]["publicNetworkAccess"] = "Disabled"
    data.pages = [{"value": [copy.deepcopy(data.pages[0]["value"][1])]}]  # aks-churn only
    azure.add_workspace(name, data)


def main(argv: list[str], credential: FakeCredential) -> tuple[int, str, str]:
    err, out = io.StringIO(), io.StringIO()
    status = command.main(argv, credential=credential, sleep=lambda s: None, stream=err,
                          stdout=out)
    return status, err.getvalue(), out.getvalue()


def test_two_workspaces_each_get_a_snapshot_folder(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    second_workspace(azure)
    out = tmp_path / "snapshots"
    status, err, _ = main(["--subscription", SUB, "--resource-group", RG, "--workspace", WS,
                           "--workspace", "ws-second", "--out", str(out)], credential)
    assert status == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["ws-legacy", "ws-second"]
    first = json.loads((out / WS / "snapshot.json").read_text())
    second = json.loads((out / "ws-second" / "snapshot.json").read_text())
    assert len(first["services"]) == 4
    assert [s["name"] for s in second["services"]] == ["aks-churn"]
    assert second["workspace"]["name"] == "ws-second"
    assert second["workspace"]["publicNetworkAccess"] == "Disabled"
    assert (out / "ws-second" / "assets" / "aks-churn" / "score.py").exists()
    assert len(credential.scopes) == 1  # one token for both workspaces
    assert "ws-second: wrote" in err


def test_a_yaml_list_of_workspaces(azure: FakeAzure, credential: FakeCredential,
                                   tmp_path: Path) -> None:
    second_workspace(azure)
    listing = tmp_path / "workspaces.yaml"
    listing.write_text(f"- subscription: {SUB}\n  resourceGroup: {RG}\n  workspace: {WS}\n"
                       f"- {{subscription: '{SUB}', resourceGroup: {RG}, workspace: ws-second,"
                       " cloud: AzureCloud}\n")
    out = tmp_path / "snapshots"
    status, err, _ = main(["--workspaces", str(listing), "--out", str(out)], credential)
    assert status == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["ws-legacy", "ws-second"]


def test_one_unreadable_workspace_does_not_stop_the_others(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    out = tmp_path / "snapshots"
    status, err, _ = main(["--subscription", SUB, "--resource-group", RG, "--workspace",
                           "ws-missing", "--workspace", WS, "--out", str(out)], credential)
    assert status == 2
    assert "ws-missing: cannot read workspace 'ws-missing'" in err
    assert sorted(p.name for p in out.iterdir()) == [WS]


@pytest.mark.parametrize("text, message", [
    ("- {subscription: s, workspace: w}\n", "entry 1: field 'resourceGroup'"),
    ("{}\n", "expected a list"),
    ("- [\n", "not valid YAML"),
])
def test_a_bad_workspaces_file_is_one_line(azure: FakeAzure, credential: FakeCredential,
                                           tmp_path: Path, text: str, message: str) -> None:
    listing = tmp_path / "w.yaml"
    listing.write_text(text)
    status, err, _ = main(["--workspaces", str(listing), "--out", str(tmp_path / "o")],
                          credential)
    assert status == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert azure.requests == []


def test_same_workspace_name_in_two_resource_groups(tmp_path: Path) -> None:
    targets = [Target(SUB, "rg-a", "ws"), Target(SUB, "rg-b", "ws"), Target(SUB, "rg-a", "other")]
    found = command.plan_destinations(targets, tmp_path / "out")
    assert [p.name for _, p in found] == ["rg-a.ws", "rg-b.ws", "other"]


def test_list_prints_what_would_be_exported_and_downloads_nothing(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    status, err, out = main(["--subscription", SUB, "--resource-group", RG, "--workspace", WS,
                             "--list", "--with-keys"], credential)
    assert status == 0, err
    assert out.splitlines() == [
        f"{WS}\taci-iris\tACI\t2 asset(s), keys",
        f"{WS}\taks-churn\tAKS\t2 asset(s), keys",
        f"{WS}\taks-fraud\tAKSENDPOINT\t4 asset(s), 2 version(s), keys",
        f"{WS}\tblue-7f3c\tMIRAMLCOMPUTE\tskipped",
    ]
    assert "3 service(s) would be exported, 1 skipped" in err
    assert not [r for r in azure.requests if "/blob/" in r.path or "contentinfo" in r.path
                or "listkeys" in r.path]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", [".", "..", "~"])
def test_out_that_would_replace_the_working_folder_is_refused_up_front(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path))
    status, err, _ = main(["--subscription", SUB, "--resource-group", RG, "--workspace", WS,
                           "--out", str(Path(where).expanduser())], credential)
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and "name a new folder" in err
    assert azure.requests == [] and credential.scopes == []


def test_out_under_a_file_is_refused_up_front(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    status, err, _ = main(["--subscription", SUB, "--resource-group", RG, "--workspace",
                           WS, "--out", str(tmp_path / "notes.txt" / "snap")], credential)
    assert status == 2 and "cannot write in" in err
    assert azure.requests == []


def test_several_workspaces_refuse_a_snapshot_as_out(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    (tmp_path / "snap").mkdir()
    (tmp_path / "snap" / "snapshot.json").write_text("{}")
    status, err, _ = main(["--subscription", SUB, "--resource-group", RG, "--workspace", WS,
                           "--workspace", "b", "--out", str(tmp_path / "snap")], credential)
    assert status == 2 and "with several workspaces" in err
    assert azure.requests == []


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_parallel_downloads_write_the_same_bytes_as_one_at_a_time(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    # shuffle the completion order: every answer waits a random few milliseconds
    rng = random.Random(7)
    azure.jitter = lambda: rng.uniform(0.0, 0.03)
    azure.faults += [Fault(path="/contentinfo/LocalUpload/c3d4e5f6/7e6d5c4b.tar.gz",
                           status=404, times=-1),
                     Fault(path="/services/aci-iris/listkeys", status=403, times=1)]
    trees = []
    for workers in (1, 8):
        azure.faults[1].times = 1
        out = tmp_path / f"snap-{workers}"
        client = AzureMLClient(Target(SUB, RG, WS), tokens=TokenCache(credential))
        result = export(client, out, Selection(), True, Progress(io.StringIO()),
                        workers=workers)
        assert result.status == 1
        trees.append(_tree(out))
    assert trees[0] == trees[1]
    errors = json.loads(trees[1]["snapshot.json"])["errors"]
    assert [(e["service"], e["what"]) for e in errors] == [
        ("aci-iris", "keys"), ("aks-fraud", "asset 7e6d5c4b.tar.gz")]


def test_workspaces_left_at_the_deadline_are_reported(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    from tests.export.test_resilience import FakeClock

    second_workspace(azure)
    clock = FakeClock()

    def slow_answer() -> float:  # every answer takes a (virtual) second
        clock.offset += 1.0
        return 0.0

    azure.jitter = slow_answer
    err = io.StringIO()
    status = command.main(["--subscription", SUB, "--resource-group", RG, "--workspace", WS,
                           "--workspace", "ws-second", "--out", str(tmp_path / "o"),
                           "--deadline", "0.25"],  # 15 answers: past the listing of ws-legacy
                          credential=credential, sleep=clock.sleep, stream=err, clock=clock.now)
    assert status == 1
    text = err.getvalue()
    assert "ws-second: not exported: the export deadline (--deadline 0.25 min) passed" in text
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [WS]
    errors = json.loads((tmp_path / "o" / WS / "snapshot.json").read_text())["errors"]
    assert errors and {e["what"] for e in errors} == {"assets/keys past the deadline"}
