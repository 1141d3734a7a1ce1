"""Issue 15 through the real azureml-core/azure-identity/requests code against the local
stand-in: connection resets, mid-body breaks, foreign nextLinks, a 429 storm against the
deadline, a stalled server, token caching, and SAS query strings kept out of messages."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

from generator.export import command
from tests.export.conftest import (
    MMS,
    RECORDINGS,
    RG,
    SUB,
    WS,
    FakeAzure,
    FakeCredential,
    Fault,
)

DEADLINE = "assets/keys past the deadline"
CONTENTINFO = "/artifacts/contentinfo/LocalUpload/b2c3d4e5/score.py"
BLOB = "/blob/azureml/ExperimentRun/dcid.LocalUpload/a1b2c3d4/3f2a9c1e.tar.gz"


class FakeClock:
    """Sleeps advance a virtual offset on top of the real monotonic clock: retries wait no
    real time, yet the deadline sees every wait."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.offset += seconds

    def now(self) -> float:
        return time.monotonic() + self.offset


def run(out: Path, credential: FakeCredential, *extra: str,
        clock: FakeClock | None = None) -> tuple[int, str, FakeClock]:
    clock = clock or FakeClock()
    err = io.StringIO()
    status = command.main(
        ["--subscription", SUB, "--resource-group", RG, "--workspace", WS, "--out", str(out),
         *extra],
        credential=credential, sleep=clock.sleep, clock=clock.now, stream=err,
    )
    return status, err.getvalue(), clock


def snapshot(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "snapshot.json").read_text())
    return data


def test_connection_reset_before_the_answer_is_retried_on_every_kind_of_call(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    # msrest (artifact service), requests (Model Management, ARM) and the blob download
    azure.faults += [Fault(path=CONTENTINFO, drop=True),
                     Fault(path="/listkeys", drop=True, method="POST"),
                     Fault(path=f"{WS}?api-version=2024-10-01", drop=True),
                     Fault(path="/onlineEndpoints?", drop=True),
                     Fault(path=BLOB, drop=True)]
    out = tmp_path / "snap"
    status, err, clock = run(out, credential, "--with-keys")
    assert status == 0, err
    assert clock.sleeps == [1.0] * 5  # one backoff per reset call
    assert (out / "assets" / "aks-churn" / "score.py").read_bytes() == (
        RECORDINGS / "blobs" / "score.py.blob").read_bytes()
    data = snapshot(out)
    assert data["errors"] == []
    assert data["workspace"]["publicNetworkAccess"] == "Enabled"
    assert len(data["onlineEndpoints"]) == 1


def test_a_download_broken_mid_body_resumes_with_range(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    content = bytes(range(256)) * 1024  # 256 KiB: more than one read
    azure.workspaces[WS].blobs["3f2a9c1e.tar.gz.blob"] = content
    azure.faults.append(Fault(path=BLOB, cut_after=150_000))
    out = tmp_path / "snap"
    status, err, clock = run(out, credential)
    assert status == 0, err
    assert (out / "assets" / "aci-iris" / "3f2a9c1e.tar.gz").read_bytes() == content
    gets = [r for r in azure.requests if r.path.endswith("3f2a9c1e.tar.gz") and
            r.path.startswith("/blob/")]
    assert len(gets) == 2
    assert "range" not in gets[0].headers
    offset = int(gets[1].headers["range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < offset <= 150_000  # resumed where the partial file ended, not from 0
    assert clock.sleeps == [1.0]


def test_a_server_that_ignores_range_sends_the_whole_blob_again(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    content = b"x" * 200_000 + b"end"
    azure.workspaces[WS].blobs["3f2a9c1e.tar.gz.blob"] = content
    azure.faults += [Fault(path=BLOB, cut_after=100_000),
                     Fault(path=BLOB, cut_after=None, status=200)]  # see below
    # the second fault answers 200 with its own body: a server that ignores Range
    azure.faults[-1].body = content
    out = tmp_path / "snap"
    status, err, _ = run(out, credential)
    assert status == 0, err
    assert (out / "assets" / "aci-iris" / "3f2a9c1e.tar.gz").read_bytes() == content


def test_a_download_that_keeps_breaking_is_an_error_without_a_sas_query(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    azure.faults.append(Fault(path=BLOB, drop=True, times=-1))
    out = tmp_path / "snap"
    status, err, clock = run(out, credential)
    assert status == 1
    errors = snapshot(out)["errors"]
    assert [(e["service"], e["what"]) for e in errors] == [
        ("aci-iris", "asset 3f2a9c1e.tar.gz")]
    message = errors[0]["message"]
    assert "still failing after 6 tries" in message
    # requests puts the request's path and query (the SAS) into its errors: stripped
    text = (out / "snapshot.json").read_text() + err
    for secret in ("sig=", "sv=2019", "?sv", "se=2024"):
        assert secret not in text
    assert not (out / "assets" / "aci-iris" / "3f2a9c1e.tar.gz").exists()
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_next_link_on_another_host_is_an_error_and_the_listed_services_are_kept(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    page1 = azure.workspaces[WS].pages[0]
    page1["nextLink"] = "https://collector.example.net/services?expand=true&$skipToken=2&sig=x"
    out = tmp_path / "snap"
    status, err, _ = run(out, credential)
    assert status == 1
    data = snapshot(out)
    assert [s["name"] for s in data["services"]] == ["aci-iris", "aks-churn"]
    assert (out / "assets" / "aks-churn" / "score.py").exists()
    [entry] = data["errors"]
    assert entry["service"] == "" and entry["what"] == "services"
    assert "https://collector.example.net" in entry["message"]
    assert "sig=x" not in json.dumps(data) and "sig=x" not in err
    assert "2 item(s) of the pages before were kept" in entry["message"]
    assert "services: listing services: page 2 is on another host" in err
    # never asked the foreign host (the socket guard would have failed the test)
    assert all(r.path.startswith("/") for r in azure.requests)


def test_next_link_over_plain_http_on_the_same_host_is_refused(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    page1 = azure.workspaces[WS].pages[0]
    page1["nextLink"] = page1["nextLink"].replace("https://", "http://")
    status, _, _ = run(tmp_path / "snap", credential)
    assert status == 1
    assert len([r for r in azure.requests if r.path == MMS + "/services"]) == 1


def test_a_429_storm_ends_at_the_deadline_with_one_error_per_service(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    storm = {"Retry-After": "30"}
    body = {"error": {"code": "TooManyRequests", "message": "slow down"}}
    azure.faults += [Fault(path="/artifacts/contentinfo/", status=429, headers=storm,
                           body=body, times=-1),
                     Fault(path="/listkeys", status=429, headers=storm, body=body, times=-1)]
    out = tmp_path / "snap"
    started = time.monotonic()
    status, _, clock = run(out, credential, "--with-keys", "--deadline", "2")
    assert time.monotonic() - started < 10  # no real waiting
    assert status == 1
    data = snapshot(out)
    assert len(data["services"]) == 4  # the payloads are all there
    errors = data["errors"]
    assert [(e["service"], e["what"]) for e in errors] == [
        ("aci-iris", DEADLINE), ("aks-churn", DEADLINE), ("aks-fraud", DEADLINE)]
    for entry in errors:
        assert "the export deadline (--deadline 2 min) passed" in entry["message"]
    assert "asset tmpk2v8a1xq.py" in errors[0]["message"]
    assert "keys" in errors[2]["message"]
    assert all(s == 30.0 for s in clock.sleeps)
    # no retry waited past the deadline: at most 4 rounds of 30 s before 120 s, per thread
    assert len(clock.sleeps) <= 8 * 4
    assert json.loads((out / "keys.json").read_text()) == {}


def test_a_stalled_server_cannot_hang_the_export(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    import threading

    release = threading.Event()
    azure.faults.append(Fault(path="/blob/", hang=release, times=-1))
    out = tmp_path / "snap"
    err = io.StringIO()
    started = time.monotonic()
    try:
        status = command.main(["--subscription", SUB, "--resource-group", RG, "--workspace", WS,
                               "--out", str(out), "--deadline", "0.05"],  # 3 s, real clock
                              credential=credential, sleep=lambda s: None, stream=err)
    finally:
        release.set()
    assert time.monotonic() - started < 12
    assert status == 1
    errors = snapshot(out)["errors"]
    assert {e["service"] for e in errors} == {"aci-iris", "aks-churn", "aks-fraud"}
    assert all(e["what"] == DEADLINE for e in errors)


def test_tokens_are_cached_per_audience(azure: FakeAzure, tmp_path: Path) -> None:
    counted = FakeCredential()
    status, err, _ = run(tmp_path / "snap", counted, "--with-keys")
    assert status == 0, err
    calls = len([r for r in azure.requests if r.authorized])
    assert calls > 15
    assert counted.scopes == [("https://management.core.windows.net//.default",)]


def test_a_token_near_its_expiry_is_renewed(azure: FakeAzure, tmp_path: Path) -> None:
    short = FakeCredential(lifetime=200)  # inside the 5-minute margin: never reused
    status, err, _ = run(tmp_path / "snap", short)
    assert status == 0, err
    authorized = len([r for r in azure.requests if r.authorized])
    assert len(short.scopes) >= authorized  # one per call (plus the up-front check)


def test_login_hint_names_az_cloud_set(azure: FakeAzure, tmp_path: Path) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    status, err, _ = run(tmp_path / "snap", FakeCredential(fail=ClientAuthenticationError("no")))
    assert status == 2
    assert "az cloud set -n NAME" in err and "az login --cloud" not in err
