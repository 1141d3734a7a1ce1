"""Day 2, tried as a new user would: re-running with fewer flags, with a service gone from the
snapshot, with a service refused, and switching --layout each keeps every live endpoint and
split, and says what it did in one line (console, top of SUMMARY.md and MIGRATION.md, and
--check). Retiring is explicit: keep = Terraform `removed` blocks, delete = drained first."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from generator.cli import main as cli_main
from generator.console import lines as console_lines
from generator.pipeline import Options, generate
from tests.conftest import EXAMPLE
from tests.support.terraform import bodies, evaluate, hcl_blocks, resources

WS = "mlw-contoso-prod"


def _snapshot(tmp_path: Path) -> Path:
    snapshot = tmp_path / "snapshot"
    shutil.copytree(EXAMPLE, snapshot)
    return snapshot


def _edit(snapshot: Path, change: Any) -> None:
    path = snapshot / "snapshot.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")


def _without(name: str) -> Any:
    def change(doc: dict[str, Any]) -> None:
        doc["services"] = [s for s in doc["services"] if s["name"] != name]

    return change


def _removed(module: Path) -> dict[str, bool]:
    """`removed` blocks of a module: address -> lifecycle.destroy."""
    text = (module / "removed.tf").read_text(encoding="utf-8")
    found = {}
    for block in hcl2.loads(text)["removed"]:
        address = block["from"].removeprefix("${").removesuffix("}")
        found[address] = block["lifecycle"][0]["destroy"]
    return found


def _declared(module: Path) -> set[str]:
    found = set()
    for path in module.glob("*.tf"):
        for resource in hcl2.loads(path.read_text(encoding="utf-8")).get("resource", []):
            for kind, blocks in resource.items():
                found |= {f"{kind.strip(chr(34))}.{label.strip(chr(34))}" for label in blocks}
    return found


def _splits(path: Path) -> dict[str, dict[str, int]]:
    traffic: dict[str, dict[str, int]] = hcl2.loads(path.read_text(encoding="utf-8"))["traffic"]
    return {k.strip('"'): v for k, v in traffic.items()}


def test_a_service_gone_from_the_snapshot_keeps_its_endpoint_until_retired(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot, out = _snapshot(tmp_path), tmp_path / "out"
    generate(Options(input=snapshot, out=out, targets=("terraform", "bicep")))
    module = out / "terraform" / WS
    main_tf = module / "main.churn-aci.tf"
    before = main_tf.read_text(encoding="utf-8")
    score = out / f"bundles/{WS}/code/churn-aci-blue/score.py"
    assert score.is_file()

    _edit(snapshot, _without("churn-aci"))  # its v1 service was deleted after the cut-over
    result = generate(Options(input=snapshot, out=out, targets=("terraform", "bicep")))

    kept = main_tf.read_text(encoding="utf-8")
    assert "# KEPT: its v1 service churn-aci is no longer in the snapshot." in kept
    # Everything but the header comment is as before: the same resources, the same bodies.
    assert (
        kept.split('resource "azapi_resource"', 1)[1]
        == before.split('resource "azapi_resource"', 1)[1]
    )
    assert score.is_file()  # its bundle stays: the kept code still uploads it
    assert "churn-aci" in _splits(module / "rollout.auto.tfvars")
    assert "churn-aci" in (out / f"bicep/{WS}/traffic.json").read_text(encoding="utf-8")
    line = next(x for x in result.plan.day2.lines() if x.startswith("kept churn-aci"))
    assert "--retire churn-aci=keep" in line and "--retire churn-aci=delete" in line
    for report in ("SUMMARY.md", "MIGRATION.md"):
        text = (out / report).read_text(encoding="utf-8")
        top = text.split("\n## ")[1]  # the first section
        assert top.startswith("Kept and retired: read first") and "churn-aci" in top, report
    assert "kept churn-aci" in "\n".join(console_lines(result))
    # --check says it too, and finds nothing to change.
    code = cli_main(
        [
            "--input",
            str(snapshot),
            "--out",
            str(out),
            "--target",
            "terraform",
            "--target",
            "bicep",
            "--check",
        ]
    )
    assert code == 0
    assert "kept churn-aci: its v1 service churn-aci is no longer" in capsys.readouterr().err

    # Retired with keep: no longer managed, nothing destroyed.
    result = generate(
        Options(
            input=snapshot, out=out, targets=("terraform", "bicep"), retire={"churn-aci": "keep"}
        )
    )
    assert not main_tf.exists()
    removed = _removed(module)
    assert removed == {
        "azapi_resource.endpoint_churn_aci": False,
        "azapi_resource.deployment_churn_aci__blue": False,
        "azapi_update_resource.traffic_churn_aci": False,
        "azapi_resource_action.drain_churn_aci": False,
        "azapi_resource_action.code_churn_aci_blue": False,
        "azurerm_storage_blob.code_churn_aci_blue": False,
        "azapi_resource_action.environment_churn_env_4": False,
    }
    assert not set(removed) & _declared(module)  # Terraform refuses a removed block for these
    assert result.plan.day2.lines()[0].startswith("retired churn-aci: no longer managed")
    assert "retired churn-aci" in (out / "SUMMARY.md").read_text(encoding="utf-8")

    # Later runs keep the removed blocks (a no-op once applied) and say nothing more; the same
    # --retire again is accepted (a script may repeat it).
    again = generate(
        Options(
            input=snapshot, out=out, targets=("terraform", "bicep"), retire={"churn-aci": "keep"}
        )
    )
    assert _removed(module) == removed and not again.plan.day2.lines()


def test_a_retired_endpoint_that_is_deleted_goes_drained(tmp_path: Path) -> None:
    snapshot, out = _snapshot(tmp_path), tmp_path / "out"
    generate(Options(input=snapshot, out=out))
    _edit(snapshot, _without("fraud-aks"))
    result = generate(Options(input=snapshot, out=out, retire={"fraud-aks": "delete"}))
    module = out / "terraform" / WS
    assert not (module / "main.fraud-aks.tf").exists()
    assert not (module / "removed.tf").exists()  # destroyed by the next apply, drain first
    assert result.plan.day2.lines() == [
        "retired fraud-aks: the next Terraform apply moves its traffic away, then deletes it "
        "(a Bicep deployment deletes nothing)"
    ]
    assert "fraud-aks" not in _splits(module / "rollout.auto.tfvars")


def test_the_drain_runs_on_destroy_before_deployments_and_autoscale(tmp_path: Path) -> None:
    out = tmp_path / "out"
    generate(Options(input=EXAMPLE, out=out))
    module = out / "terraform" / WS
    actions = hcl_blocks(module, "azapi_resource_action")
    drain = actions["azapi_resource_action.drain_fraud_aks"]
    assert drain["when"] == '"destroy"' and drain["method"] == '"PUT"'
    # Terraform destroys a resource before what it depends on: the drain goes first.
    assert drain["depends_on"] == [
        "${azapi_update_resource.traffic_fraud_aks}",
        "${azapi_resource.autoscale_fraud_aks__blue}",
    ]

    evaluated = resources(evaluate(module), "azapi_resource_action")
    body = evaluated["azapi_resource_action.drain_ab_endpoint"]["body"]
    endpoint = bodies(module)["endpoint:ab-endpoint"]
    assert body["properties"] == {**endpoint["properties"], "traffic": {}, "mirrorTraffic": {}}
    assert body["location"] == endpoint["location"] and body["tags"] == endpoint["tags"]
    # The traffic step reads a split removed outside Terraform as missing: the plan shows it.
    steps = hcl_blocks(module, "azapi_update_resource")
    assert all(b["ignore_missing_property"] is False for b in steps.values())


def test_a_refused_service_keeps_its_endpoint(tmp_path: Path) -> None:
    snapshot, out = _snapshot(tmp_path), tmp_path / "out"
    generate(Options(input=snapshot, out=out))

    def break_it(doc: dict[str, Any]) -> None:
        next(s for s in doc["services"] if s["name"] == "sentiment-aci")["imageId"] = "img:1"

    _edit(snapshot, break_it)
    result = generate(Options(input=snapshot, out=out))
    assert "sentiment-aci" in {o.service for o in result.not_migrated}
    text = (out / f"terraform/{WS}/main.sentiment-aci.tf").read_text(encoding="utf-8")
    assert (
        "# KEPT: its v1 service sentiment-aci was refused on this run (MIGRATION.md says why)."
        in text
    )
    assert any(x.startswith("kept sentiment-aci: its v1 service") for x in result.plan.day2.lines())


def test_a_deployment_gone_is_kept_at_zero_then_deleted_drained(tmp_path: Path) -> None:
    snapshot, out = _snapshot(tmp_path), tmp_path / "out"
    generate(Options(input=snapshot, out=out))
    module = out / "terraform" / WS
    rollout = module / "rollout.auto.tfvars"

    def drop_b(doc: dict[str, Any]) -> None:
        ab = next(s for s in doc["services"] if s["name"] == "ab-endpoint")
        del ab["versions"]["versionb"]
        ab["versions"]["versiona"]["trafficPercentile"] = 100.0

    _edit(snapshot, drop_b)
    result = generate(Options(input=snapshot, out=out))
    main_tf = (module / "main.ab-endpoint.tf").read_text(encoding="utf-8")
    assert 'resource "azapi_resource" "deployment_ab_endpoint__versionb"' in main_tf
    assert "# KEPT: the v1 service ab-endpoint no longer has it." in main_tf
    # The live split is the person's: it stays until they move it.
    assert _splits(rollout)["ab-endpoint"] == {"versiona": 60, "versionb": 40}
    assert any(x.startswith("kept ab-endpoint/versionb") for x in result.plan.day2.lines())
    rollout.write_text(
        rollout.read_text(encoding="utf-8").replace(
            "versiona = 60, versionb = 40", "versiona = 100, versionb = 0"
        ),
        encoding="utf-8",
    )

    generate(Options(input=snapshot, out=out, retire={"ab-endpoint/versionb": "delete"}))
    main_tf = (module / "main.ab-endpoint.tf").read_text(encoding="utf-8")
    assert "deployment_ab_endpoint__versionb" not in main_tf
    # The traffic step still names it, at 0: Terraform updates it before it deletes the
    # deployment it depended on, so Azure never deletes a deployment that takes traffic.
    step = bodies(module)["traffic:ab-endpoint"]["properties"]
    assert step["traffic"] == {"versiona": 100, "versionb": 0}
    assert step["mirrorTraffic"] == {"versiona": 0, "versionb": 0}


def test_fewer_flags_keep_the_other_outputs(tmp_path: Path) -> None:
    snapshot, out = _snapshot(tmp_path), tmp_path / "out"
    generate(
        Options(input=snapshot, out=out, targets=("terraform", "bicep"), pipelines=("github",))
    )
    kept = {
        p: p.read_bytes()
        for folder in ("bicep", "pipelines")
        for p in sorted((out / folder).rglob("*"))
        if p.is_file()
    }
    assert len(kept) > 5
    result = generate(Options(input=snapshot, out=out))  # no --target bicep, no --pipeline
    assert {p: p.read_bytes() for p in kept} == kept
    assert [x.split(":")[0] for x in result.plan.day2.lines()] == ["kept bicep", "kept github"]

    result = generate(Options(input=snapshot, out=out, drop=("bicep",)))
    # gen-iac's files go; the person's values stay (gen-iac never removes a person's file).
    assert not (out / f"bicep/{WS}/main.bicep").exists() and (out / "pipelines").is_dir()
    assert (out / f"bicep/{WS}/traffic.json").is_file()
    assert "removed bicep: dropped by --drop" in result.plan.day2.lines()


def test_switching_the_layout_keeps_the_traffic_and_hands_the_state_over(
    tmp_path: Path, hclfmt: str
) -> None:
    snapshot, out = _snapshot(tmp_path), tmp_path / "out"
    generate(Options(input=snapshot, out=out))
    root = out / "terraform" / WS
    old = _declared(root)
    rollout = root / "rollout.auto.tfvars"
    # A dark launch: versionb gets everything, and churn-aci takes no traffic yet.
    rollout.write_text(
        rollout.read_text(encoding="utf-8")
        .replace("versiona = 60, versionb = 40", "versiona = 0, versionb = 100")
        .replace('"churn-aci"       = { blue = 100 }', '"churn-aci"       = { blue = 0 }'),
        encoding="utf-8",
    )
    assert '"churn-aci"       = { blue = 0 }' in rollout.read_text(encoding="utf-8")

    result = generate(Options(input=snapshot, out=out, layout="endpoint"))
    assert _splits(root / "ab-endpoint" / "rollout.auto.tfvars") == {
        "ab-endpoint": {"versiona": 0, "versionb": 100}
    }
    assert _splits(root / "churn-aci" / "rollout.auto.tfvars") == {"churn-aci": {"blue": 0}}
    # The new modules import what exists; the old root forgets it, deleting nothing.
    imports = hcl2.loads((root / "fraud-aks" / "imports.tf").read_text(encoding="utf-8"))
    targets = {i["to"].removeprefix("${").removesuffix("}") for i in imports["import"]}
    assert targets == {
        "azapi_resource.endpoint_fraud_aks",
        "azapi_resource.deployment_fraud_aks__blue",
        "azapi_resource.autoscale_fraud_aks__blue",
    }
    removed = _removed(root)
    assert set(removed) == old and not any(removed.values())
    assert (root / "terraform.tf").is_file() and (root / "providers.tf").is_file()
    written = sorted(str(p) for p in root.rglob("*.tf"))
    assert subprocess.run([hclfmt, "-check", *written], capture_output=True).returncode == 0
    switched = [x for x in result.plan.day2.lines() if x.startswith("Terraform layout")]
    assert len(switched) == 1 and "terraform.tf" not in switched[0]

    # And back: the workspace module starts from the person's values again.
    generate(Options(input=snapshot, out=out, layout="workspace"))
    splits = _splits(root / "rollout.auto.tfvars")
    assert splits["ab-endpoint"] == {"versiona": 0, "versionb": 100}
    assert splits["churn-aci"] == {"blue": 0}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda r: r["assets"][0]["properties"].update(
                {"x": {"$": "text", "path": "../../../etc/passwd"}}
            ),
            "is not a relative path inside the bundles",
        ),
        (lambda r: r.update(workspace="other"), "a record of another workspace"),
        (lambda r: r["endpoint"].update(name="bad name!"), "is not a valid endpoint"),
        (lambda r: r["endpoint"]["traffic"].update(blue=1e308), "must map deployments to 0-100"),
        (lambda r: r["assets"][0].update(key="../x"), "is not an asset name"),
    ],
)
def test_a_tampered_record_stops_the_run_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any, expected: str
) -> None:
    snapshot, out = _snapshot(tmp_path), tmp_path / "out"
    generate(Options(input=snapshot, out=out))
    path = out / f"record/{WS}/churn-aci.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    change(record)
    path.write_text(json.dumps(record), encoding="utf-8")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code = cli_main(["--input", str(snapshot), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and expected in err and "churn-aci.json" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_an_instance_type_change_becomes_a_new_deployment_beside_the_old(tmp_path: Path) -> None:
    from generator.sources.overrides import Override

    snapshot, out = _snapshot(tmp_path), tmp_path / "out"
    targets = ("terraform", "bicep")
    generate(Options(input=snapshot, out=out, targets=targets))
    module = out / "terraform" / WS
    rollout = module / "rollout.auto.tfvars"
    bigger = {"fraud-aks": Override(instance_type="Standard_F8s_v2")}

    result = generate(Options(input=snapshot, out=out, targets=targets, service_overrides=bigger))
    found = bodies(module)
    # Never an in-place change Azure refuses: blue stays as it was, green is new beside it.
    assert found["deployment:fraud-aks/blue"]["properties"]["instanceType"] == "Standard_DS2_v2"
    assert found["deployment:fraud-aks/green"]["properties"]["instanceType"] == "Standard_F8s_v2"
    # green scales on its own setting, which targets green.
    blocks = resources(evaluate(module))
    autoscale = blocks["azapi_resource.autoscale_fraud_aks__green"]["body"]["properties"]
    green = blocks["azapi_resource.deployment_fraud_aks__green"]["id"]
    assert autoscale["targetResourceUri"] == green
    assert (
        blocks["azapi_resource.autoscale_fraud_aks__green"]["name"] == "fraud-aks-green-autoscale"
    )
    assert "autoscale:fraud-aks-blue-autoscale" in found
    # The traffic stays where it is until the person moves it (green is listed at 0 by the
    # traffic step).
    assert _splits(rollout)["fraud-aks"] == {"blue": 100}
    assert found["traffic:fraud-aks"]["properties"]["traffic"] == {"blue": 100, "green": 0}
    assert any(
        x.startswith("kept fraud-aks/blue: replaced by green, because instanceType cannot change")
        for x in result.plan.day2.lines()
    )
    bicep = "\n".join(p.read_text(encoding="utf-8") for p in (out / "bicep").rglob("*.bicep"))
    assert "Standard_F8s_v2" in bicep and "Standard_DS2_v2" in bicep

    # The person moves the traffic and retires blue; green carries on under its name.
    rollout.write_text(
        re.sub(
            r'("fraud-aks" +=) \{ blue = 100 \}',
            r"\1 { blue = 0, green = 100 }",
            rollout.read_text(encoding="utf-8"),
        ),
        encoding="utf-8",
    )
    assert _splits(rollout)["fraud-aks"] == {"blue": 0, "green": 100}
    generate(
        Options(
            input=snapshot,
            out=out,
            targets=targets,
            service_overrides=bigger,
            retire={"fraud-aks/blue": "delete"},
        )
    )
    found = bodies(module)
    assert "deployment:fraud-aks/blue" not in found
    assert found["traffic:fraud-aks"]["properties"]["traffic"] == {"blue": 0, "green": 100}
    again = generate(Options(input=snapshot, out=out, targets=targets, service_overrides=bigger))
    assert not again.plan.day2.lines()
    assert set(k for k in bodies(module) if k.startswith("deployment:fraud-aks/")) == {
        "deployment:fraud-aks/green"
    }

    # Back to the old size: another rollout, named blue again.
    back = generate(Options(input=snapshot, out=out, targets=targets))
    assert any(
        x.startswith("kept fraud-aks/green: replaced by blue") for x in back.plan.day2.lines()
    )


def test_a_canary_gets_its_own_code_and_environment(tmp_path: Path) -> None:
    snapshot, out = _snapshot(tmp_path), tmp_path / "out"

    def add_canary(doc: dict[str, Any]) -> None:
        churn = next(s for s in doc["services"] if s["name"] == "churn-aci")
        canary = json.loads(json.dumps(churn))
        canary["name"] = "churn-aci-canary"
        doc["services"].append(canary)

    _edit(snapshot, add_canary)
    shutil.copytree(snapshot / "assets" / "churn-aci", snapshot / "assets" / "churn-aci-canary")
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text("services:\n  churn-aci-canary:\n    own_bundles: [blue]\n")
    generate(Options(input=snapshot, out=out, overrides_file=overrides))
    index = json.loads((out / f"bundles/{WS}/bundles.json").read_text(encoding="utf-8"))
    # Equal content, yet folders of its own: an edit there rolls the canary only.
    assert index["deployments"]["churn-aci/blue"] == {
        "code": "churn-aci-blue",
        "environment": "churn-env-4",
    }
    assert index["deployments"]["churn-aci-canary/blue"] == {
        "code": "churn-aci-canary-blue",
        "environment": "churn-aci-canary-blue",
    }
    module = out / "terraform" / WS
    before = bodies(module)
    score = out / f"bundles/{WS}/code/churn-aci-canary-blue/score.py"
    score.write_bytes(score.read_bytes() + b"# canary fix\n")
    after = bodies(module)

    def code_of(found: dict[str, Any], endpoint: str) -> str:
        return str(
            found[f"deployment:{endpoint}/blue"]["properties"]["codeConfiguration"]["codeId"]
        )

    assert code_of(after, "churn-aci") == code_of(before, "churn-aci")
    assert code_of(after, "churn-aci-canary") != code_of(before, "churn-aci-canary")

    overrides.write_text("services:\n  churn-aci-canary:\n    own_bundles: [green]\n")
    result = generate(Options(input=snapshot, out=tmp_path / "other", overrides_file=overrides))
    assert any(
        d.code == "unknown-deployment" and "'green'" in d.message
        for o in result.plan.outcomes
        for d in o.diagnostics
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--retire", "churn-aci=keep"], "--retire churn-aci: gen-iac generated no such"),
        (["--retire", "churn-aci=later"], "expected ENDPOINT=keep|delete"),
        (["--drop", "bicep"], "--drop bicep: the last run into this folder did not generate it"),
        (["--drop", "terraform"], "--drop terraform: also asked for by --target"),
    ],
)
def test_retiring_or_dropping_what_is_live_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    out = tmp_path / "out"
    generate(Options(input=EXAMPLE, out=out))
    capsys.readouterr()
    # churn-aci is still in the snapshot: retiring it would take a live endpoint away.
    assert cli_main(["--input", str(EXAMPLE), "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def test_an_adopted_endpoint_is_sent_no_keys(tmp_path: Path) -> None:
    from tests.golden import CASES_DIR

    out = tmp_path / "out"
    generate(Options(input=CASES_DIR / "keys" / "input", out=out))
    module = out / "terraform" / "mlw-keys"
    adopted = (module / "main.billing-api.tf").read_text(encoding="utf-8")
    created = (module / "main.search-api.tf").read_text(encoding="utf-8")
    # billing-api exists already (imports.tf): its keys stay as they are, and no write-only
    # body makes azapi plan an update on every plan.
    assert "azapi_resource.endpoint_billing_api" in (module / "imports.tf").read_text()
    assert "sensitive_body =" not in adopted and "sensitive_body_version =" not in adopted
    assert "billing-api" not in (module / "variables.tf").read_text()
    assert 'sensitive_body = try(var.endpoint_keys["search-api"], null)' in created


def test_a_re_run_without_layout_keeps_the_last_layout(tmp_path: Path) -> None:
    out = tmp_path / "out"
    generate(Options(input=EXAMPLE, out=out, layout="endpoint"))
    before = {p: p.read_bytes() for p in (out / "terraform").rglob("*") if p.is_file()}
    result = generate(Options(input=EXAMPLE, out=out))  # --layout forgotten
    assert not result.plan.day2.lines()
    assert {p: p.read_bytes() for p in (out / "terraform").rglob("*") if p.is_file()} == before
    assert generate(Options(input=EXAMPLE, out=tmp_path / "new")).plan.day2.lines() == []
    assert (tmp_path / "new" / "terraform" / WS / "rollout.auto.tfvars").is_file()


def test_reserved_names_are_remembered_under_the_folders_every_renderer_uses(
    tmp_path: Path,
) -> None:
    from tests.conftest import WORKSPACE, aci

    snapshot = tmp_path / "snap"
    snapshot.mkdir()

    def write(names: list[str]) -> None:
        doc = {"workspace": {**WORKSPACE, "name": "con"}, "services": [aci(n) for n in names]}
        (snapshot / "snapshot.json").write_text(json.dumps(doc), encoding="utf-8")

    out = tmp_path / "out"
    write(["nul", "other"])
    generate(Options(input=snapshot, out=out, layout="endpoint"))
    assert (out / "record/con_/nul_.json").is_file()
    write(["other"])
    result = generate(Options(input=snapshot, out=out))  # the layout is remembered too
    assert [x.split(":")[0] for x in result.plan.day2.lines()] == ["kept nul"]
    assert (out / "terraform/con_/nul_/main.nul.tf").is_file()
    generate(Options(input=snapshot, out=out, retire={"nul": "keep"}))
    assert set(_removed(out / "terraform/con_/nul_")) >= {"azapi_resource.endpoint_nul"}


@pytest.mark.parametrize("how", ["keep", "delete"])
def test_the_pipeline_applies_the_hand_over_module_of_a_retired_endpoint(
    tmp_path: Path, how: str
) -> None:
    """With --layout endpoint a retired endpoint's folder becomes a hand-over module; the
    pipeline's matrix must still plan and apply it with its old state, or its removed blocks
    (keep) or its drained delete never run."""
    snapshot, out = _snapshot(tmp_path), tmp_path / "out"
    options = {"layout": "endpoint", "pipelines": ("github",)}
    generate(Options(input=snapshot, out=out, **options))  # type: ignore[arg-type]
    _edit(snapshot, _without("fraud-aks"))
    generate(Options(input=snapshot, out=out, retire={"fraud-aks": how}, **options))  # type: ignore[arg-type]
    module = out / "terraform" / WS / "fraud-aks"
    expected = {"providers.tf", "terraform.tf"} | ({"removed.tf"} if how == "keep" else set())
    assert {p.name for p in module.glob("*.tf")} == expected
    workflow = next((out / "pipelines" / "github").glob("*-terraform.yml"))
    jobs = yaml.safe_load(workflow.read_text(encoding="utf-8"))["jobs"]
    for job in ("plan", "apply"):
        matrix = next(j for name, j in jobs.items() if name.startswith(job))["strategy"]["matrix"]
        endpoints = [entry["endpoint"] for entry in matrix["include"]]
        assert "fraud-aks" in endpoints and "churn-aci" in endpoints, (job, matrix)


def test_a_record_with_a_duplicate_key_stops_the_run_naming_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Records are read by the one strict JSON reader: a committed record whose key appears
    twice (readers disagree on which value counts) is refused, never half-believed."""
    snapshot, out = _snapshot(tmp_path), tmp_path / "out"
    generate(Options(input=snapshot, out=out))
    path = out / f"record/{WS}/churn-aci.json"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("{", '{"assets": [], ', 1), encoding="utf-8")
    code = cli_main(["--input", str(snapshot), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "duplicate key" in err and "churn-aci.json:" in err
