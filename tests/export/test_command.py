"""End to end: `gen-iac export` against the recorded Azure, through real azureml-core."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest

from generator.export import command
from generator.sources.snapshot import read_snapshot
from tests.export.conftest import RECORDINGS, RG, SUB, WS, FakeAzure, FakeCredential, Fault

KEY_VALUES = [v for keys in json.loads((RECORDINGS / "mms_listkeys.json").read_text()).values()
              for v in keys.values()]


def run(out: Path, credential: FakeCredential, *extra: str) -> tuple[int, str, list[float]]:
    sleeps: list[float] = []
    err = io.StringIO()
    status = command.main(
        ["--subscription", SUB, "--resource-group", RG, "--workspace", WS, "--out", str(out), *extra],
        credential=credential, sleep=sleeps.append, stream=err,
    )
    return status, err.getvalue(), sleeps


def test_exports_every_service_with_assets(azure: FakeAzure, credential: FakeCredential,
                                           tmp_path: Path) -> None:
    out = tmp_path / "snap"
    status, err, sleeps = run(out, credential)
    assert status == 0, err
    data = json.loads((out / "snapshot.json").read_text())
    expected = (azure.recording("mms_services_page1.json")["value"]
                + azure.recording("mms_services_page2.json")["value"])
    assert data["services"] == expected  # raw payloads, both pages, MIRAMLCOMPUTE included
    workspace = data["workspace"]
    computes = workspace.pop("computes")
    assert workspace == {"subscriptionId": SUB, "resourceGroup": RG, "name": WS,
                         "location": "westeurope", "publicNetworkAccess": "Enabled",
                         "v1LegacyMode": False, "privateEndpointConnections": [],
                         "managedNetwork": {"isolationMode": "Disabled",
                                            "status": {"status": "Inactive", "sparkReady": False}}}
    # attached AKS and Kubernetes computes only (not the AmlCompute cluster), raw ARM
    recorded = {c["name"]: c for c in azure.recording("arm_computes.json")["value"]}
    assert sorted(computes) == ["aks-inference", "k8s-prod"]
    assert computes["aks-inference"] == recorded["aks-inference"]
    assert computes["k8s-prod"]["properties"]["properties"]["namespace"] == "azureml"
    # ... without the credential the Kubernetes compute carries
    assert "relayConnectionString" not in computes["k8s-prod"]["properties"]["properties"]
    assert "SharedAccessKey" not in (out / "snapshot.json").read_text()
    # the existing v2 endpoints with their deployments, raw ARM
    endpoints = azure.recording("arm_online_endpoints.json")
    assert data["onlineEndpoints"] == [{**endpoints["endpoints"][0],
                                        "deployments": endpoints["deployments"]["credit-v2"]}]
    assert data["errors"] == []
    assert sleeps == []
    blobs = RECORDINGS / "blobs"
    for rel, blob in [("aci-iris/tmpk2v8a1xq.py", "tmpk2v8a1xq.py"),
                      ("aci-iris/3f2a9c1e.tar.gz", "3f2a9c1e.tar.gz"),
                      ("aks-churn/score.py", "score.py"),
                      ("aks-fraud/fraud-v1/7e6d5c4b.tar.gz", "7e6d5c4b.tar.gz"),
                      ("aks-fraud/fraud-v2/tmpf00dcafe.py", "tmpf00dcafe.py")]:
        assert (out / "assets" / rel).read_bytes() == (blobs / f"{blob}.blob").read_bytes(), rel
    assert not (out / "assets" / "blue-7f3c").exists()  # v2 deployments: nothing to fetch
    assert not (out / "keys.json").exists()
    # paging: the second page came from nextLink
    lists = [r for r in azure.requests if r.path.endswith("/services") and r.method == "GET"]
    assert len(lists) == 2
    assert lists[0].query["expand"] == ["true"] and "$skipToken" in lists[1].query
    # the SAS download carries no bearer token; every Azure call does
    assert all(not r.authorized for r in azure.requests if r.path.startswith("/blob/"))
    assert all(r.authorized for r in azure.requests if r.path.startswith("/modelmanagement/"))
    assert credential.scopes[0] == ("https://management.core.windows.net//.default",)
    snapshot = read_snapshot(out)
    assert [s.name for s in snapshot.services] == ["aci-iris", "aks-churn", "aks-fraud"]
    assert [s.name for s in snapshot.skipped] == ["blue-7f3c"]
    assert snapshot.keys == {}
    assert snapshot.assets_dir == out / "assets"
    assert not [p for p in tmp_path.iterdir() if p.name != "snap"]  # no temp dir left
    _assert_no_keys(out, err)


def test_with_keys_writes_a_private_keys_file(azure: FakeAzure, credential: FakeCredential,
                                              tmp_path: Path) -> None:
    out = tmp_path / "snap"
    status, err, _ = run(out, credential, "--with-keys")
    assert status == 0, err
    keys_file = out / "keys.json"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert json.loads(keys_file.read_text()) == azure.recording("mms_listkeys.json")
    assert read_snapshot(out).keys["aks-fraud"].primary == KEY_VALUES[4]
    _assert_no_keys(out, err, allowed=keys_file)


def _assert_no_keys(out: Path, output: str, allowed: Path | None = None) -> None:
    for path in out.rglob("*"):
        if path.is_file() and path != allowed:
            content = path.read_bytes()
            for key in KEY_VALUES:
                assert key.encode() not in content, f"key found in {path}"
    for key in KEY_VALUES:
        assert key not in output


def test_429_waits_as_long_as_retry_after_says(azure: FakeAzure, credential: FakeCredential,
                                               tmp_path: Path) -> None:
    azure.faults.append(Fault(path="/services?expand=true&$skipToken", status=429,
                              headers={"Retry-After": "7"},
                              body={"error": {"code": "TooManyRequests", "message": "slow down"}}))
    status, err, sleeps = run(tmp_path / "snap", credential)
    assert status == 0, err
    assert sleeps == [7.0]
    assert len(json.loads((tmp_path / "snap" / "snapshot.json").read_text())["services"]) == 4


def test_500_then_success_backs_off(azure: FakeAzure, credential: FakeCredential,
                                    tmp_path: Path) -> None:
    azure.faults.append(Fault(path="/artifacts/contentinfo/LocalUpload/b2c3d4e5/score.py",
                              status=500, times=2))
    status, err, sleeps = run(tmp_path / "snap", credential)
    assert status == 0, err
    assert sleeps == [1.0, 2.0]  # exponential
    assert (tmp_path / "snap" / "assets" / "aks-churn" / "score.py").exists()


def test_dropped_connection_is_retried(azure: FakeAzure, credential: FakeCredential,
                                       tmp_path: Path) -> None:
    azure.faults.append(Fault(path="/blob/azureml/ExperimentRun/dcid.LocalUpload/a1b2c3d4/3f2a9c1e",
                              drop=True))
    status, err, sleeps = run(tmp_path / "snap", credential)
    assert status == 0, err
    assert sleeps == [1.0]
    assert (tmp_path / "snap" / "assets" / "aci-iris" / "3f2a9c1e.tar.gz").read_bytes() == (
        RECORDINGS / "blobs" / "3f2a9c1e.tar.gz.blob").read_bytes()


def test_permanent_404_asset_is_recorded_and_the_rest_exported(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    azure.faults.append(Fault(path="/artifacts/contentinfo/LocalUpload/b2c3d4e5/score.py",
                              status=404, times=-1,
                              body={"error": {"code": "NotFound", "message": "not found"}}))
    out = tmp_path / "snap"
    status, err, sleeps = run(out, credential)
    assert status == 1
    data = json.loads((out / "snapshot.json").read_text())
    assert len(data["errors"]) == 1
    entry = data["errors"][0]
    assert (entry["service"], entry["what"]) == ("aks-churn", "asset score.py")
    assert "404" in entry["message"]
    assert sleeps == []  # a 404 is not retried
    assert "service 'aks-churn': asset score.py" in err and "Traceback" not in err
    assert not (out / "assets" / "aks-churn" / "score.py").exists()
    assert (out / "assets" / "aks-churn" / "tmp9x8w7v6u.py").exists()
    assert (out / "assets" / "aci-iris" / "3f2a9c1e.tar.gz").exists()
    assert len(read_snapshot(out).services) == 3


def test_throttling_past_the_budget_gives_up_on_that_asset(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    azure.faults.append(Fault(path="/artifacts/contentinfo/LocalUpload/a1b2c3d4/tmpk2v8a1xq.py",
                              status=503, times=-1, headers={"Retry-After": "120"}))
    status, _, sleeps = run(tmp_path / "snap", credential)
    assert status == 1
    assert sleeps == [60.0] * 5  # each wait capped at 60 s, 5 retries = 300 s budget
    data = json.loads((tmp_path / "snap" / "snapshot.json").read_text())
    assert [e["what"] for e in data["errors"]] == ["asset tmpk2v8a1xq.py"]


def test_token_failure_is_one_clear_line(azure: FakeAzure, tmp_path: Path) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    failing = FakeCredential(fail=ClientAuthenticationError(
        "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
        "Attempted credentials:\n\tEnvironmentCredential: not configured"))
    out = tmp_path / "snap"
    status, err, _ = run(out, failing)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "az login" in lines[0] and "AZURE_CLIENT_ID" in lines[0]
    assert "managed identity" in lines[0] and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert azure.requests == []


def test_unknown_workspace_exits_2(azure: FakeAzure, credential: FakeCredential,
                                   tmp_path: Path) -> None:
    err = io.StringIO()
    status = command.main(["--subscription", SUB, "--resource-group", RG, "--workspace", "nope",
                           "--out", str(tmp_path / "snap")], credential=credential, stream=err)
    assert status == 2
    assert "cannot read workspace 'nope'" in err.getvalue()
    assert len(err.getvalue().strip().splitlines()) == 1
    assert not (tmp_path / "snap").exists()


def test_sovereign_cloud_uses_its_arm_audience(azure: FakeAzure, credential: FakeCredential,
                                               tmp_path: Path) -> None:
    status, err, _ = run(tmp_path / "snap", credential, "--cloud", "AzureChinaCloud",
                         "--compute-type", "aci")
    assert status == 0, err
    assert credential.scopes[0] == ("https://management.core.chinacloudapi.cn//.default",)
    lists = [r for r in azure.requests if r.path.endswith("/services")]
    assert lists[0].query["computeType"] == ["ACI"]
    services = json.loads((tmp_path / "snap" / "snapshot.json").read_text())["services"]
    assert [s["name"] for s in services] == ["aci-iris"]


def test_unknown_cloud_exits_2(azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    status, err, _ = run(tmp_path / "snap", credential, "--cloud", "AzureMoonCloud")
    assert status == 2
    assert "unknown cloud 'AzureMoonCloud'" in err and "AzureChinaCloud" in err


def test_service_and_tag_selection(azure: FakeAzure, credential: FakeCredential,
                                   tmp_path: Path) -> None:
    status, _, _ = run(tmp_path / "snap", credential, "--service", "aks-fraud",
                         "--service", "ghost", "--tag", "team=risk", "--with-keys")
    assert status == 1
    data = json.loads((tmp_path / "snap" / "snapshot.json").read_text())
    assert [s["name"] for s in data["services"]] == ["aks-fraud"]
    assert [(e["service"], e["what"]) for e in data["errors"]] == [("ghost", "service")]
    assert list(json.loads((tmp_path / "snap" / "keys.json").read_text())) == ["aks-fraud"]
    first = next(r for r in azure.requests if r.path.endswith("/services"))
    assert first.query["tags"] == ["team=risk"]


def test_existing_snapshot_is_replaced_only_when_complete(
        azure: FakeAzure, credential: FakeCredential, tmp_path: Path) -> None:
    out = tmp_path / "snap"
    out.mkdir()
    (out / "snapshot.json").write_text('{"old": true}')
    from azure.core.exceptions import ClientAuthenticationError

    assert run(out, FakeCredential(fail=ClientAuthenticationError("expired")))[0] == 2
    assert (out / "snapshot.json").read_text() == '{"old": true}'
    assert run(out, credential)[0] == 0
    assert "services" in json.loads((out / "snapshot.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap"]


def test_refuses_to_replace_a_directory_that_is_not_a_snapshot(
        credential: FakeCredential, tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    status, err, _ = run(tmp_path, credential)
    assert status == 2 and "without snapshot.json" in err
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert command.main(["--workspace", "w"]) == 2
    assert command.main(["--subscription", "s", "--resource-group", "g", "--workspace", "w",
                         "--out", "x", "--tag", "a,b"], stream=io.StringIO()) == 2


def test_export_for_generate(azure: FakeAzure, credential: FakeCredential, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.export import client

    # The token boundary only: DefaultAzureCredential would need Azure AD.
    monkeypatch.setattr(client, "_default_credential", lambda login: credential)
    out = tmp_path / "tmp-snapshot"
    assert command.export_for_generate(SUB, RG, WS, "AzureCloud", out, False, True) == 0
    assert len(read_snapshot(out).services) == 3
