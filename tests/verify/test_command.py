"""`gen-iac verify` end to end: the churn example's v1 and v2 code under the real inference
server on loopback (tests/verify/conftest.py), ARM stood in at the HTTP boundary."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from generator.pipeline import Options, generate
from generator.verify.command import main
from tests.verify.conftest import SECRETS, V1_KEY, V2_KEY, FakeCredential, Sides

ENV = {"GEN_IAC_V1_KEY_CHURN_ACI": V1_KEY}


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str
    out: Path

    def json(self) -> Any:
        return json.loads((self.out / "verify.json").read_text("utf-8"))

    def service(self, name: str = "churn-aci") -> Any:
        (entry,) = [s for s in self.json()["services"] if s["service"] == name]
        return entry

    def text(self, name: str) -> str:
        return (self.out / name).read_text(encoding="utf-8")


@pytest.fixture
def world(sides: Sides, tmp_path: Path) -> Iterator[Sides]:
    """The shared sides, reset, with a fresh copy of the generate's output."""
    out = tmp_path / "out"
    shutil.copytree(sides.out, out, symlinks=True)
    sides.v2.backend, sides.v2.delay, sides.v2.throttle = sides.ports["same"], 0.0, 0
    sides.v1.delay = 0.0
    sides.v1.seen.clear()
    sides.v2.seen.clear()
    sides.arm.calls.clear()
    yield Sides(sides.snapshot, out, sides.v1, sides.v2, sides.arm, sides.ports)


def verify(world: Sides, *flags: str, env: dict[str, str] | None = None) -> Run:
    stdout, stderr = io.StringIO(), io.StringIO()
    argv = ["--out", str(world.out), "--arm-endpoint", world.arm.url, *flags]
    if "--v2-only" not in flags and "--input" not in flags:
        argv += ["--input", str(world.snapshot)]
    if "--service" not in flags:
        argv += ["--service", "churn-aci"]
    status = main(argv, credential=FakeCredential(), stdout=stdout, stderr=stderr,
                  env=ENV if env is None else env)
    run = Run(status, stdout.getvalue(), stderr.getvalue(), world.out)
    assert_no_secret(run)
    return run


def assert_no_secret(run: Run) -> None:
    """No key or token in what was printed or in any file of --out."""
    texts = [run.stdout, run.stderr]
    for path in run.out.rglob("*"):
        if path.is_file() and not path.is_symlink():
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    for secret in SECRETS:
        for text in texts:
            assert secret not in text


def test_equal_answers_agree_and_complete_cutover(world: Sides) -> None:
    run = verify(world)

    assert run.status == 0, run.stderr + run.stdout
    entry = run.service()
    assert entry["status"] == "agrees"
    assert entry["requests"] == {"sent": 1, "agreed": 1, "differed": 0, "failed": 0}
    assert entry["v2"]["url"] == world.v2.url
    assert run.json()["passed"] is True
    assert "churn-aci" in run.stdout and "agrees" in run.stdout
    # The v2 call named its deployment and carried the key listKeys gave; v1 its own key.
    assert [h.get("azureml-model-deployment") for h in world.v2.seen] == ["blue"]
    assert world.v1.seen[0]["Authorization"] == f"Bearer {V1_KEY}"
    assert world.v2.seen[0]["Authorization"] == f"Bearer {V2_KEY}"
    assert any(c.endswith("/onlineEndpoints/churn-aci/listKeys") for c in world.arm.calls)
    assert "| `churn-aci` | `churn-aci` | agrees | 1/1 |" in run.text("VERIFY.md")
    cutover = run.text("CUTOVER.md")
    assert "Verify: agrees (1 request(s), verify of " in cutover
    # A later generate (or --check) renders the same CUTOVER.md from verify.json.
    check = generate(Options(input=world.snapshot, out=world.out, targets=("terraform",),
                             check=True))
    assert check.check is not None
    assert not check.check.drift, check.check.drift
    again = generate(Options(input=world.snapshot, out=world.out, targets=("terraform",)))
    assert "CUTOVER.md" not in again.written.written + again.written.edited
    assert run.text("CUTOVER.md") == cutover


def test_a_changed_prediction_beyond_tolerance_differs(world: Sides) -> None:
    world.v2.backend = world.ports["changed"]

    run = verify(world)

    assert run.status == 4
    entry = run.service()
    assert entry["status"] == "differs"
    (exchange,) = entry["exchanges"]
    paths = [d["path"] for d in exchange["differences"]]
    assert paths == ["$.probabilities[0]", "$.probabilities[1]"]
    assert "more than atol" in exchange["differences"][0]["why"]
    verify_md = run.text("VERIFY.md")
    assert "## `churn-aci`: differs" in verify_md
    assert "`$.probabilities[0]`" in verify_md
    assert "**differs**" in run.text("CUTOVER.md")
    # The same answers within a wide enough tolerance agree.
    assert verify(world, "--rtol", "0.06").status == 0


def test_a_500_fails_after_the_retries(world: Sides) -> None:
    world.v2.backend = world.ports["broken"]

    run = verify(world, "--retries", "1")

    assert run.status == 4
    entry = run.service()
    assert entry["status"] == "failed"
    assert "HTTP 500, still failing after 2 tries" in str(entry["exchanges"])
    assert len(world.v2.seen) == 2  # retried once
    assert "failed" in run.stdout


def test_a_timeout_fails(world: Sides) -> None:
    world.v2.delay = 3.0

    run = verify(world, "--timeout", "0.5", "--retries", "1")

    assert run.status == 4
    entry = run.service()
    assert entry["status"] == "failed"
    error = entry["exchanges"][0]["error"]
    assert "v2: churn-aci: v2 POST: ReadTimeout" in error and "after 2 tries" in error


def test_a_slow_side_is_reported(world: Sides) -> None:
    world.v2.delay = 0.6

    slow = verify(world)
    assert slow.status == 4
    entry = slow.service()
    assert entry["status"] == "slower"
    assert "--max-slowdown" in str(entry["problem"])
    assert entry["v2"]["latencyMs"]["p95"] >= 600
    assert entry["v1"]["latencyMs"]["p95"] < 300

    shown_only = verify(world, "--max-slowdown", "0")
    assert shown_only.status == 0
    assert shown_only.service()["status"] == "agrees"


def test_a_slow_v1_is_no_failure(world: Sides) -> None:
    world.v1.delay = 0.6
    try:
        run = verify(world)
    finally:
        world.v1.delay = 0.0
    assert run.status == 0, run.stdout
    assert run.service()["status"] == "agrees"


def test_throttling_is_retried(world: Sides) -> None:
    world.v2.throttle = 2

    run = verify(world)

    assert run.status == 0, run.stdout
    assert len(world.v2.seen) == 3


def test_v2_only_checks_answers_and_recorded_ones(world: Sides, tmp_path: Path) -> None:
    run = verify(world, "--v2-only")
    assert run.status == 0, run.stdout + run.stderr
    assert run.service()["status"] == "answers"
    assert run.service()["v1"] is None
    assert world.v1.seen == []
    assert "Verify: v2 answers (1 request(s), v2 only" in run.text("CUTOVER.md")

    recorded = tmp_path / "requests" / "churn-aci"
    recorded.mkdir(parents=True)
    (recorded / "one.json").write_text('{"data": [[2, 89.5, 4]]}', encoding="utf-8")
    (recorded / "one.expected.json").write_text('{"probabilities": [0.5]}', encoding="utf-8")
    differs = verify(world, "--v2-only", "--requests", str(tmp_path / "requests"))
    assert differs.status == 4
    entry = differs.service()
    assert entry["requests"]["sent"] == 2
    assert [e["outcome"] for e in entry["exchanges"]] == ["agrees", "differs"]


def test_recorded_requests_are_bounded(world: Sides, tmp_path: Path) -> None:
    recorded = tmp_path / "requests" / "churn-aci"
    recorded.mkdir(parents=True)
    for i in range(6):
        rows = [[i, 50.0 + i, i % 3]]
        (recorded / f"r{i}.json").write_text(json.dumps({"data": rows}), encoding="utf-8")

    run = verify(world, "--requests", str(tmp_path / "requests"), "--max-requests", "4",
                 "--concurrency", "2")

    assert run.status == 0, run.stdout
    assert run.service()["requests"]["sent"] == 4
    names = [e["request"] for e in run.service()["exchanges"]]
    assert names[0].endswith("sample-request.json") and names[1].endswith("r0.json")


def test_keys_from_the_snapshot(world: Sides, tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshot"
    shutil.copytree(world.snapshot, snapshot)
    keys = snapshot / "keys.json"
    keys.write_text(json.dumps({"churn-aci": {"primaryKey": V1_KEY, "secondaryKey": "x"}}))
    keys.chmod(0o600)

    run = verify(world, "--input", str(snapshot), env={})

    assert run.status == 0, run.stdout + run.stderr
    assert world.v1.seen[0]["Authorization"] == f"Bearer {V1_KEY}"


def test_no_v1_key_fails_that_service_with_what_to_do(world: Sides) -> None:
    run = verify(world, env={})

    assert run.status == 4
    assert "GEN_IAC_V1_KEY_CHURN_ACI" in str(run.service()["problem"])
    assert world.v2.seen == []


def test_a_missing_endpoint_fails_the_service_not_the_run(world: Sides) -> None:
    run = verify(world, "--v2-only", "--service", "churn-aci", "fraud-aks")

    assert run.status == 4
    assert run.service()["status"] == "answers"
    problem = str(run.service("fraud-aks")["problem"])
    assert "reading online endpoint 'fraud-aks': not found (HTTP 404)" in problem
    assert "## `fraud-aks`: failed" in run.text("VERIFY.md")


def test_aml_token_endpoints(world: Sides) -> None:
    world.arm.endpoints["churn-aci"] = (world.v2.url, "AMLToken")
    world.v2.key = "amlTOKEN-5c1f9a77"
    try:
        run = verify(world, "--v2-only")
    finally:
        world.arm.endpoints["churn-aci"] = (world.v2.url, "Key")
        world.v2.key = V2_KEY
    assert run.status == 0, run.stdout
    assert any(c.endswith("/onlineEndpoints/churn-aci/token") for c in world.arm.calls)


def test_bad_usage_is_exit_2(world: Sides, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    err = io.StringIO()
    assert main(["--out", str(empty)], stderr=err) == 2
    assert "migration.json: not found" in err.getvalue()
    assert main(["--out", str(tmp_path / "absent")], stderr=io.StringIO()) == 2
    assert main([], stderr=io.StringIO()) == 2
    err = io.StringIO()
    assert main(["--out", str(world.out), "--service", "nope"], stderr=err) == 2
    assert "--service 'nope': not a migrated service" in err.getvalue()
    err = io.StringIO()
    assert main(["--out", str(world.out), "--arm-endpoint", "http://arm.example.com"],
                stderr=err) == 2
    assert "expected an https URL" in err.getvalue()
    assert not (world.out / "verify.json").exists()


def test_the_cli_entry_runs_verify(world: Sides, capsys: pytest.CaptureFixture[str]) -> None:
    from generator.cli import main as cli_main

    assert cli_main(["verify", "--out", str(world.out / "nowhere")]) == 2
    assert "gen-iac verify: error:" in capsys.readouterr().err


def test_a_committed_bundle_link_is_not_followed(world: Sides, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text('{"data": [[1, 2, 3]]}', encoding="utf-8")
    sample = world.out / "bundles" / "mlw-contoso-prod" / "code" / "churn-aci-blue"
    (sample / "sample-request.json").unlink()
    os.symlink(outside, sample / "sample-request.json")

    run = verify(world)

    assert run.status == 4
    assert "not a regular file" in str(run.service()["problem"]) or "link" in str(
        run.service()["problem"]
    )
    assert world.v2.seen == []


def test_the_deadline_bounds_the_run(world: Sides) -> None:
    world.v2.delay = 5.0

    run = verify(world, "--deadline", "1", "--timeout", "30")

    assert run.status == 4
    error = run.service()["exchanges"][0]["error"]
    assert "the verify deadline (--deadline 1 s) passed" in error


def test_errors_are_one_line_without_secrets_or_queries() -> None:
    from generator.verify.runner import redact
    from generator.verify.targets import Secret

    text = redact("POST https://x.example/score?sig=abc failed:\n key s3cr3t echoed",
                  [Secret("s3cr3t")])
    assert text == "POST https://x.example/score failed: key <redacted> echoed"
    assert "s3cr3t" not in repr(Secret("s3cr3t")) and "s3cr3t" not in str(Secret("s3cr3t"))


class _NoSignIn:
    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise RuntimeError("DefaultAzureCredential failed to retrieve a token\nmore lines")


def test_no_sign_in_is_one_line_and_exit_2(world: Sides) -> None:
    err = io.StringIO()
    status = main(["--out", str(world.out), "--arm-endpoint", world.arm.url, "--v2-only",
                   "--service", "churn-aci"], credential=_NoSignIn(), stderr=err,
                  stdout=io.StringIO(), env={})
    assert status == 2
    lines = [line for line in err.getvalue().splitlines() if "error" in line]
    assert len(lines) == 1 and "cannot get an Azure token" in lines[0] and "az login" in lines[0]
    assert not (world.out / "verify.json").exists()


def test_aad_token_endpoints_get_an_entra_token_for_azure_ml(world: Sides) -> None:
    world.arm.endpoints["churn-aci"] = (world.v2.url, "AADToken")
    world.v2.key = "armTOKEN-e2d4c6a8"  # the fake credential's token, whatever the scope
    credential = FakeCredential()
    try:
        status = main(["--out", str(world.out), "--arm-endpoint", world.arm.url, "--v2-only",
                       "--service", "churn-aci"], credential=credential, stdout=io.StringIO(),
                      stderr=io.StringIO(), env={})
    finally:
        world.arm.endpoints["churn-aci"] = (world.v2.url, "Key")
        world.v2.key = V2_KEY
    assert status == 0
    assert ("https://ml.azure.com/.default",) in credential.scopes
    assert ("https://management.azure.com/.default",) in credential.scopes


def test_a_committed_migration_json_cannot_redirect_the_v1_key(world: Sides) -> None:
    path = world.out / "migration.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    (entry,) = [s for s in data["services"] if s["service"] == "churn-aci"]
    entry["oldScoringUri"] = "http://attacker.example/steal"
    path.write_text(json.dumps(data), encoding="utf-8")

    run = verify(world)  # --input: the v1 side comes from the snapshot

    assert run.status == 0, run.stdout
    assert run.service()["v1"]["url"] == world.v1.url
    assert world.v1.seen[0]["Authorization"] == f"Bearer {V1_KEY}"

    entry["deployments"][0]["bundle"] = "bundles/../../../etc"
    path.write_text(json.dumps(data), encoding="utf-8")
    world.v1.seen.clear()
    refused = verify(world)
    assert refused.status == 4
    assert "is not bundles/<workspace>/code/<key>" in refused.service()["problem"]
    assert world.v1.seen == []


def test_the_command_starts_without_requests_or_azure() -> None:
    import subprocess
    import sys

    code = (
        "import sys, generator.cli, generator.verify.command\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('requests', 'azure')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_service_without_a_request_is_listed_not_failed(world: Sides) -> None:
    run = verify(world, "--v2-only", "--service", "churn-aci", "sentiment-aci")

    assert run.status == 0, run.stdout + run.stderr
    entry = run.service("sentiment-aci")
    assert entry["status"] == "no-request"
    assert "sample-request.json" in entry["problem"]
    assert not any("sentiment-aci" in c for c in world.arm.calls)
    assert "1 service(s) not verified: no request to send" in run.stderr
    assert "`sentiment-aci`: not verified: verify had no request to send" in run.text("CUTOVER.md")


class _Interrupted:
    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise KeyboardInterrupt


def test_ctrl_c_is_one_line_and_130_with_nothing_written(world: Sides) -> None:
    err = io.StringIO()
    status = main(["--out", str(world.out), "--arm-endpoint", world.arm.url, "--v2-only",
                   "--service", "churn-aci"], credential=_Interrupted(), stderr=err,
                  stdout=io.StringIO(), env={})
    assert status == 130
    assert err.getvalue().splitlines()[-1] == "gen-iac verify: interrupted; nothing was written"
    assert not (world.out / "verify.json").exists()


def test_without_azure_identity_the_signed_in_azure_cli_gives_the_token(
    world: Sides, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pipeline signed in with `az login` and gen-iac installed without the extra: the
    token comes from `az account get-access-token` (here a stand-in `az` on PATH)."""
    import sys

    from tests.verify.conftest import ARM_TOKEN

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {tmp_path}/az-calls\n'
        f"echo '{{\"accessToken\": \"{ARM_TOKEN}\", \"expires_on\": 4102444800, "
        "\"tokenType\": \"Bearer\"}'\n",
        encoding="utf-8",
    )
    az.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # import fails: not installed
    out = io.StringIO()
    err = io.StringIO()

    status = main(["--out", str(world.out), "--arm-endpoint", world.arm.url, "--v2-only",
                   "--service", "churn-aci"], stdout=out, stderr=err, env={})

    assert status == 0, err.getvalue()
    calls = (tmp_path / "az-calls").read_text(encoding="utf-8").splitlines()
    assert calls == ["account get-access-token --scope https://management.azure.com/.default "
                     "--output json"]
    assert ARM_TOKEN not in out.getvalue() + err.getvalue()

    az.unlink()
    monkeypatch.setenv("PATH", str(bin_dir))  # no az anywhere
    err = io.StringIO()
    assert main(["--out", str(world.out), "--arm-endpoint", world.arm.url, "--v2-only",
                 "--service", "churn-aci"], stdout=io.StringIO(), stderr=err, env={}) == 2
    assert "needs azure-identity (pip install 'gen-iac[verify]') or the Azure CLI" in err.getvalue()
