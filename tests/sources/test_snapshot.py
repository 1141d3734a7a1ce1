"""Reading snapshots: accepted shapes, typed fields, and one clear line per problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.diagnostics import InputError, Level
from generator.sources.snapshot import read_snapshot
from tests.conftest import WORKSPACE, SnapshotFactory, aci, aks

FLAGS = {"subscriptionId": "s", "resourceGroup": "g", "name": "w", "location": "West Europe"}


def test_wrapped_list_and_mms_shapes(tmp_path: Path) -> None:
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"workspace": WORKSPACE, "services": [aci()]}))
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps([aci()]))
    mms = tmp_path / "mms.json"
    mms.write_text(json.dumps({"value": [aci()], "nextLink": None}))
    assert [s.name for s in read_snapshot(wrapped).services] == ["svc-aci"]
    for path in (bare, mms):
        snapshot = read_snapshot(path, FLAGS)
        assert [s.name for s in snapshot.services] == ["svc-aci"]
        assert snapshot.workspace.location == "westeurope"  # normalised region name


def test_bare_list_without_workspace_flags_names_the_flags(tmp_path: Path) -> None:
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps([aci()]))
    with pytest.raises(InputError, match=r"bare\.json.*--subscription, --resource-group"):
        read_snapshot(bare)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"snapshot.json:1:2: invalid JSON"),
        ('"a string"', r"expected \{\"workspace\""),
        ('{"services": {}}', r"field 'services': expected a list"),
        ('{"workspace": [], "services": []}', r"field 'workspace': expected an object"),
    ],
)
def test_unreadable_input_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        read_snapshot(path, FLAGS)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_snapshot(tmp_path / "nope.json")


def test_mistyped_field_stops_only_that_service(make_snapshot: SnapshotFactory) -> None:
    bad = aci("bad-one", containerResourceRequirements={"cpu": "two", "memoryInGB": 1})
    snapshot = read_snapshot(make_snapshot([bad, aci("good-one")]))
    assert [s.name for s in snapshot.services] == ["good-one"]
    (error,) = [d for d in snapshot.diagnostics if d.level is Level.ERROR]
    assert error.service == "bad-one"
    assert error.field == "containerResourceRequirements.cpu"
    assert "expected a number, got the string 'two'" in error.line()
    assert "snapshot.json" in error.line()


def test_unknown_keys_are_ignored_and_every_key_is_optional(make_snapshot: SnapshotFactory) -> None:
    snapshot = read_snapshot(make_snapshot([{"name": "minimal", "computeType": "aci", "x": [1]}]))
    (service,) = snapshot.services
    assert (service.compute_type, service.resources, service.kv_tags) == ("ACI", None, {})


def test_non_realtime_services_are_skipped(make_snapshot: SnapshotFactory) -> None:
    mir = {"name": "v2-blue", "computeType": "MIRAMLCOMPUTE"}
    iot = {"name": "edge", "computeType": "IOT"}
    snapshot = read_snapshot(make_snapshot([mir, iot, aks()]))
    assert [s.name for s in snapshot.services] == ["svc-aks"]
    assert {s.name: s.reason for s in snapshot.skipped}[
        "v2-blue"
    ] == "already a v2 managed online deployment"


def test_services_without_name_or_not_objects_and_duplicates(
    make_snapshot: SnapshotFactory,
) -> None:
    snapshot = read_snapshot(
        make_snapshot([{"computeType": "ACI"}, 42, aci("twice"), aci("twice")])
    )
    assert [s.name for s in snapshot.services] == ["twice"]
    codes = sorted((d.service, d.code) for d in snapshot.diagnostics)
    assert codes == [
        ("#0", "invalid-field"),
        ("#1", "invalid-service"),
        ("twice", "duplicate-service"),
    ]


def test_keys_are_read_and_never_shown(make_snapshot: SnapshotFactory) -> None:
    keys = {
        "svc-aci": {"primaryKey": "p-secret-1", "secondaryKey": "s-secret-2"},
        "broken": {"primaryKey": 3},
    }
    snapshot = read_snapshot(make_snapshot([aci()], keys=keys))
    assert snapshot.keys["svc-aci"].primary == "p-secret-1"
    assert "p-secret-1" not in repr(snapshot.keys)
    (warning,) = snapshot.diagnostics
    assert (warning.service, warning.code) == ("broken", "invalid-keys")


def test_world_readable_keys_file_is_flagged(make_snapshot: SnapshotFactory) -> None:
    directory = make_snapshot([aci()], keys={"svc-aci": {"primaryKey": "a", "secondaryKey": "b"}})
    (directory / "keys.json").chmod(0o644)
    codes = [d.code for d in read_snapshot(directory).diagnostics]
    assert codes == ["keys-file-mode"]


def test_aks_endpoint_versions_map_and_variants_array(make_snapshot: SnapshotFactory) -> None:
    versions = {
        "name": "ep",
        "computeType": "AKSENDPOINT",
        "versions": {"b": aks("x", trafficPercentile=40), "a": aks("y", trafficPercentile=60)},
    }
    variants = {
        "name": "ep2",
        "computeType": "AKSENDPOINT",
        "variants": [aks("v1", trafficPercentile=100.0)],
    }
    snapshot = read_snapshot(make_snapshot([versions, variants]))
    by_name = {s.name: s for s in snapshot.services}
    assert [(v.name, v.traffic_percentile) for v in by_name["ep"].versions] == [
        ("y", 60.0),
        ("x", 40.0),
    ]
    assert [v.name for v in by_name["ep2"].versions] == ["v1"]


def test_export_errors_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps({"workspace": WORKSPACE, "services": [aci("partial")], "errors": [
        {"service": "lost", "what": "service", "message": "HTTP 500 after 5 tries"},
        {"service": "partial", "what": "asset score.py", "message": "HTTP 404"},
    ]}))
    snapshot = read_snapshot(path)
    found = {(d.service, d.level, d.code) for d in snapshot.diagnostics}
    assert found == {("lost", Level.ERROR, "export-failed"), ("partial", Level.WARNING, "export-failed")}
    assert [s.name for s in snapshot.services] == ["partial"]
