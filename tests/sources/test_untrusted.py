"""A snapshot is untrusted: asset reads stay inside its assets/ folder, hostile values are
per-service errors, whole-file problems are one line (exit 2). Checked against the file
system outside the snapshot and outside --out."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from generator.diagnostics import Diagnostic, InputError, Level
from generator.pipeline import GenerateResult, Options, generate
from tests.conftest import WORKSPACE, SnapshotFactory, aci

SECRET = b"TOP-SECRET-9f2c\n"


def with_code(name: str, asset_id: str = "score.py", **fields: Any) -> dict[str, Any]:
    request = {
        "assets": [{"id": asset_id, "mimeType": "application/octet-stream", "unpack": False}],
        "environment": {"name": "env-a", "version": "1"},
    }
    return aci(name, environmentImageRequest=request, **fields)


def add_asset(snapshot: Path, *parts: str, data: bytes = b"def init():\n    pass\n") -> Path:
    path = snapshot.joinpath("assets", *parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def run(snapshot: Path, out: Path) -> GenerateResult:
    return generate(Options(input=snapshot, out=out, targets=("terraform", "bicep")))


def status(result: GenerateResult) -> dict[str, str]:
    return {o.service: o.status for o in result.plan.outcomes}


def codes(result: GenerateResult, service: str) -> set[str]:
    (outcome,) = [o for o in result.plan.outcomes if o.service == service]
    return {d.code for d in outcome.diagnostics}


def errors(result: GenerateResult, service: str) -> list[Diagnostic]:
    (outcome,) = [o for o in result.plan.outcomes if o.service == service]
    return [d for d in outcome.diagnostics if d.level is Level.ERROR]


def no_secret_anywhere(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            assert SECRET.strip() not in path.read_bytes(), path


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside the snapshot that a hostile snapshot would like copied into a bundle."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret").write_bytes(SECRET)
    return folder / "secret"


def test_a_plain_asset_is_read(make_snapshot: SnapshotFactory, tmp_path: Path) -> None:
    snapshot = make_snapshot([with_code("svc-a")])
    add_asset(snapshot, "svc-a", "score.py", data=b"# the code\n")
    result = run(snapshot, tmp_path / "out")
    assert status(result) == {"svc-a": "migrated"}
    bundle = tmp_path / "out/bundles/ws-test/code/svc-a-blue/score.py"
    assert bundle.read_bytes() == b"# the code\n"


@pytest.mark.parametrize("how", ["absolute", "dotdot"])
def test_a_service_name_that_is_a_path_reads_nothing_outside(
    make_snapshot: SnapshotFactory, tmp_path: Path, secret: Path, how: str
) -> None:
    name = str(secret.parent) if how == "absolute" else "../../outside"
    snapshot = make_snapshot([with_code(name, "secret"), with_code("svc-ok")])
    add_asset(snapshot, "svc-ok", "score.py")
    assert (snapshot / "assets" / name / "secret").read_bytes() == SECRET  # the attack's path
    result = run(snapshot, tmp_path / "out")
    assert status(result) == {name: "not-migrated", "svc-ok": "migrated"}
    assert "unsafe-asset" in codes(result, name)
    no_secret_anywhere(tmp_path / "out")


def test_proc_self_environ_is_never_read(make_snapshot: SnapshotFactory, tmp_path: Path) -> None:
    snapshot = make_snapshot([with_code("/proc/self", "environ"), with_code("svc-ok")])
    add_asset(snapshot, "svc-ok", "score.py")
    result = run(snapshot, tmp_path / "out")
    assert status(result)["/proc/self"] == "not-migrated"
    marker = os.environ.get("PATH", "").encode()
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file() and marker:
            assert b"PATH=" + marker not in path.read_bytes()


@pytest.mark.parametrize(
    "asset_id", ["../../../outside/secret", "/etc/hostname", "a\x00b", ".hidden", "x" * 300]
)
def test_hostile_asset_ids_are_refused(
    make_snapshot: SnapshotFactory, tmp_path: Path, secret: Path, asset_id: str
) -> None:
    if asset_id.startswith("/"):
        asset_id = str(secret)
    snapshot = make_snapshot([with_code("svc-bad", asset_id), with_code("svc-ok")])
    add_asset(snapshot, "svc-ok", "score.py")
    (snapshot / "assets" / "svc-bad").mkdir()
    result = run(snapshot, tmp_path / "out")
    assert status(result) == {"svc-bad": "not-migrated", "svc-ok": "migrated"}
    assert "unsafe-asset" in codes(result, "svc-bad")
    no_secret_anywhere(tmp_path / "out")


def test_a_symlinked_asset_file_is_refused(
    make_snapshot: SnapshotFactory, tmp_path: Path, secret: Path
) -> None:
    snapshot = make_snapshot([with_code("svc-link"), with_code("svc-ok")])
    add_asset(snapshot, "svc-ok", "score.py")
    (snapshot / "assets/svc-link").mkdir()
    (snapshot / "assets/svc-link/score.py").symlink_to(secret)
    result = run(snapshot, tmp_path / "out")
    assert status(result) == {"svc-link": "not-migrated", "svc-ok": "migrated"}
    (line,) = [d.line() for d in errors(result, "svc-link")]
    assert "symbolic link" in line and "assets/svc-link/score.py" in line
    no_secret_anywhere(tmp_path / "out")


def test_a_symlinked_service_folder_is_refused(
    make_snapshot: SnapshotFactory, tmp_path: Path, secret: Path
) -> None:
    snapshot = make_snapshot([with_code("svc-link", "secret")])
    (snapshot / "assets").mkdir()
    (snapshot / "assets/svc-link").symlink_to(secret.parent)
    result = run(snapshot, tmp_path / "out")
    assert status(result) == {"svc-link": "not-migrated"}
    no_secret_anywhere(tmp_path / "out")


def test_a_fifo_asset_is_refused_without_blocking(
    make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    snapshot = make_snapshot([with_code("svc-fifo")])
    (snapshot / "assets/svc-fifo").mkdir(parents=True)
    os.mkfifo(snapshot / "assets/svc-fifo/score.py")
    result = run(snapshot, tmp_path / "out")
    assert status(result) == {"svc-fifo": "not-migrated"}
    assert "unsafe-asset" in codes(result, "svc-fifo")


def test_an_aks_endpoint_version_name_cannot_climb_out(
    make_snapshot: SnapshotFactory, tmp_path: Path, secret: Path
) -> None:
    version = with_code("x", "secret", computeType="AKS")
    del version["name"]  # the versions map key names it
    endpoint = {
        "name": "ep-hostile",
        "computeType": "AKSENDPOINT",
        "versions": {"../../../outside": version},
    }
    snapshot = make_snapshot([endpoint])
    (snapshot / "assets/ep-hostile").mkdir(parents=True)
    result = run(snapshot, tmp_path / "out")
    assert status(result) == {"ep-hostile": "not-migrated"}
    no_secret_anywhere(tmp_path / "out")


def test_a_symlinked_assets_folder_is_one_error(
    make_snapshot: SnapshotFactory, tmp_path: Path, secret: Path
) -> None:
    snapshot = make_snapshot([with_code("svc-a", "secret")])
    (snapshot / "assets").symlink_to(secret.parent)
    with pytest.raises(InputError, match="symbolic link"):
        run(snapshot, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_json_file_uses_the_assets_folder_beside_it(
    make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    snapshot = make_snapshot([with_code("svc-a")])
    add_asset(snapshot, "svc-a", "score.py", data=b"# beside\n")
    run(snapshot / "snapshot.json", tmp_path / "out")
    code = tmp_path / "out/bundles/ws-test/code/svc-a-blue/score.py"
    assert code.read_bytes() == b"# beside\n"


# --- values ---------------------------------------------------------------------------------


def write_raw(tmp_path: Path, services_json: str, workspace: dict[str, Any] | None = None) -> Path:
    folder = tmp_path / "raw"
    folder.mkdir(exist_ok=True)
    text = f'{{"workspace": {json.dumps(workspace or WORKSPACE)}, "services": [{services_json}]}}'
    (folder / "snapshot.json").write_text(text, encoding="utf-8")
    return folder


GOOD = json.dumps(aci("svc-ok"))


@pytest.mark.parametrize(
    ("fragment", "field"),
    [
        ('"containerResourceRequirements": {"cpu": NaN, "memoryInGB": 1}', "cpu"),
        ('"containerResourceRequirements": {"cpu": Infinity, "memoryInGB": 1}', "cpu"),
        ('"containerResourceRequirements": {"cpu": 1, "memoryInGB": -Infinity}', "memoryInGB"),
        ('"containerResourceRequirements": {"cpu": 1e999, "memoryInGB": 1}', "cpu"),
        ('"numReplicas": 1' + "0" * 40, "numReplicas"),
        ('"description": "bad \\ud800 text"', "description"),
        ('"kvTags": {"\\udc00": "x"}', "kvTags"),
        ('"environmentImageRequest": {"environment": {"x": [1, 2, NaN]}}', "x[2]"),
    ],
)
def test_extreme_values_are_per_service_errors(tmp_path: Path, fragment: str, field: str) -> None:
    bad = '{"name": "svc-bad", "computeType": "ACI", ' + fragment + "}"
    result = run(write_raw(tmp_path, f"{GOOD}, {bad}"), tmp_path / "out")
    assert status(result) == {"svc-ok": "migrated", "svc-bad": "not-migrated"}
    (line,) = [d.line() for d in errors(result, "svc-bad")]
    assert field in line and "\n" not in line
    line.encode("utf-8")  # printable whatever the input held
    assert (tmp_path / "out/terraform/ws-test/main.svc-ok.tf").exists()
    for path in (tmp_path / "out").rglob("*"):
        if path.suffix in {".tf", ".bicep", ".bicepparam"}:  # no surrogate escape in code
            assert b"ud800" not in path.read_bytes().lower(), path


def test_a_service_whose_name_is_invalid_text_is_named_by_position(tmp_path: Path) -> None:
    bad = '{"name": "svc-\\ud800", "computeType": "ACI"}'
    result = run(write_raw(tmp_path, f"{GOOD}, {bad}"), tmp_path / "out")
    assert status(result) == {"svc-ok": "migrated", "#1": "not-migrated"}
    (tmp_path / "out/MIGRATION.md").read_text(encoding="utf-8")


def test_large_but_finite_values_are_clamped_not_fatal(tmp_path: Path) -> None:
    bad = json.dumps(aci("svc-slow", computeType="ACI", scoringTimeoutMs=1e308))
    result = run(write_raw(tmp_path, f"{GOOD}, {bad}"), tmp_path / "out")
    assert "svc-slow" in status(result)


def test_a_300_character_name_gets_a_valid_endpoint(tmp_path: Path) -> None:
    long_name = "a" * 300
    result = run(write_raw(tmp_path, json.dumps(aci(long_name))), tmp_path / "out")
    (outcome,) = result.plan.outcomes
    assert outcome.status == "migrated" and outcome.endpoint and len(outcome.endpoint) <= 32


@pytest.mark.parametrize("depth", [100, 1000, 100000])
def test_deep_nesting_is_one_line(tmp_path: Path, depth: int) -> None:
    deep = '{"name": "svc-deep", "x": ' + "[" * depth + "]" * depth + "}"
    with pytest.raises(InputError, match="nested") as caught:
        run(write_raw(tmp_path, f"{GOOD}, {deep}"), tmp_path / "out")
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("name", "../escape"),
        ("name", "ws\nrm -rf /"),
        ("name", "/abs"),
        ("name", "x" * 40),
        ("resourceGroup", "rg-\ud800"),
        ("resourceGroup", "rg/providers/Microsoft.Storage"),
        ("resourceGroup", "rg."),
        ("subscriptionId", "sub/../other"),
        ("location", "west europe/x"),
        ("location", "west\x00europe"),
    ],
)
def test_a_hostile_workspace_is_one_line(tmp_path: Path, key: str, value: str) -> None:
    workspace = {**WORKSPACE, key: value}
    folder = tmp_path / "ws"
    folder.mkdir()
    doc = json.dumps({"workspace": workspace, "services": [aci()]})
    (folder / "snapshot.json").write_text(doc, encoding="utf-8")
    with pytest.raises(InputError, match=f"workspace.{key}") as caught:
        run(folder, tmp_path / "out")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "escape").exists()


def test_names_equal_apart_from_case_give_one_endpoint(
    make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    result = run(make_snapshot([aci("svc-a"), aci("SVC-A")]), tmp_path / "out")
    assert status(result) == {"svc-a": "migrated", "SVC-A": "not-migrated"}
    assert "duplicate-endpoint" in codes(result, "SVC-A")
    terraform = (tmp_path / "out/terraform/ws-test").glob("main.*.tf")
    assert [p.name for p in terraform] == ["main.svc-a.tf"]


@pytest.mark.parametrize("name", ["snapshot.json", "keys.json"])
def test_snapshot_files_that_are_links_are_one_error(
    make_snapshot: SnapshotFactory, tmp_path: Path, name: str
) -> None:
    snapshot = make_snapshot([aci("svc-a")])
    elsewhere = tmp_path / "elsewhere.json"
    if name == "snapshot.json":
        os.replace(snapshot / "snapshot.json", elsewhere)
    else:
        elsewhere.write_text(json.dumps({"svc-a": {"primaryKey": "p", "secondaryKey": "s"}}))
    (snapshot / name).symlink_to(elsewhere)
    with pytest.raises(InputError, match="symbolic link"):
        run(snapshot, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_hard_linked_asset_is_refused(
    make_snapshot: SnapshotFactory, tmp_path: Path, secret: Path
) -> None:
    snapshot = make_snapshot([with_code("svc-link"), with_code("svc-ok")])
    add_asset(snapshot, "svc-ok", "score.py")
    (snapshot / "assets/svc-link").mkdir()
    os.link(secret, snapshot / "assets/svc-link/score.py")
    result = run(snapshot, tmp_path / "out")
    assert status(result) == {"svc-link": "not-migrated", "svc-ok": "migrated"}
    assert "hard link" in errors(result, "svc-link")[0].message
    no_secret_anywhere(tmp_path / "out")


def test_an_archive_member_no_file_can_be_named_after_fails_that_service_only(
    tmp_path: Path,
) -> None:
    import io
    import shutil
    import tarfile

    snapshot = tmp_path / "snapshot"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "snapshot", snapshot)
    archive = snapshot / "assets" / "churn-aci" / "7d3e9a1c.tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(archive) as old, tarfile.open(fileobj=buffer, mode="w:gz") as new:
        for info in old.getmembers():
            data = old.extractfile(info) if info.isfile() else None
            new.addfile(info, data)
        evil = tarfile.TarInfo("src/a\nb.py")
        evil.size = 2
        new.addfile(evil, io.BytesIO(b"x\n"))
    archive.write_bytes(buffer.getvalue())
    result = run(snapshot, tmp_path / "out")
    (churn,) = [o for o in result.plan.outcomes if o.service == "churn-aci"]
    assert any("control character in its name" in d.message for d in churn.diagnostics)
    assert status(result)["fraud-aks"] == "migrated"
    assert (tmp_path / "out/terraform/mlw-contoso-prod/main.fraud-aks.tf").is_file()
    assert not list((tmp_path / "out").rglob("a\nb.py"))
