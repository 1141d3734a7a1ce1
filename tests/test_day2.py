"""Day 2 end to end: a person edits code, a conda file and the traffic of both targets, the
snapshot changes, gen-iac runs again: every edit is kept byte for byte, the rest follows the
snapshot, new endpoints join the traffic files, and the run is not refused."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from generator.pipeline import Options, generate
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "snapshot"
WS = "mlw-contoso-prod"


def test_edits_survive_a_regeneration_and_the_rest_follows_the_snapshot(tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshot"
    shutil.copytree(EXAMPLE, snapshot)
    out = tmp_path / "out"
    targets = ("terraform", "bicep")
    generate(Options(input=snapshot, out=out, targets=targets))

    score = out / f"bundles/{WS}/code/churn-aci-blue/score.py"
    conda = out / f"bundles/{WS}/environments/churn-env-4/conda.yaml"
    rollout = out / f"terraform/{WS}/rollout.auto.tfvars"
    traffic = out / f"bicep/{WS}/traffic.json"
    score.write_bytes(score.read_bytes() + b"# fixed by a person\n")
    conda.write_bytes(conda.read_bytes().replace(b"numpy", b"numpy>=1.26"))
    rollout.write_bytes(
        rollout.read_bytes().replace(b"versiona = 60, versionb = 40", b"versiona = 90, versionb = 10")
    )
    traffic.write_bytes(
        traffic.read_bytes().replace(
            b'"versiona": 60, "versionb": 40', b'"versiona": 90, "versionb": 10'
        )
    )
    edited = {p: p.read_bytes() for p in (score, conda, rollout, traffic)}
    assert b"numpy>=1.26" in edited[conda] and b"versiona = 90" in edited[rollout]

    # The v1 side moved on: a description changed and a service was added.
    doc = json.loads((snapshot / "snapshot.json").read_text(encoding="utf-8"))
    churn = next(s for s in doc["services"] if s["name"] == "churn-aci")
    churn["description"] = "Churn scoring, re-exported"
    added = json.loads(json.dumps(churn))
    added["name"] = "churn-aci-2"
    doc["services"].append(added)
    (snapshot / "snapshot.json").write_text(json.dumps(doc), encoding="utf-8")
    shutil.copytree(snapshot / "assets" / "churn-aci", snapshot / "assets" / "churn-aci-2")

    result = generate(Options(input=snapshot, out=out, targets=targets))

    assert score.read_bytes() == edited[score] and conda.read_bytes() == edited[conda]
    # The traffic files gain the new endpoint's line; every line the person had stays as is.
    for path in (rollout, traffic):
        now = path.read_bytes().splitlines()
        assert all(line in now for line in edited[path].splitlines()), path
    assert result.not_migrated  # the example's image-based service: exit status 1, not 2
    assert "Churn scoring, re-exported" in (out / f"terraform/{WS}/main.churn-aci.tf").read_text()
    assert (out / f"terraform/{WS}/main.churn-aci-2.tf").is_file()
    rollout_now = rollout.read_text(encoding="utf-8")
    assert re.search(r'\n  "churn-aci-2" += \{ blue = 100 \}\n', rollout_now)
    assert json.loads(traffic.read_text(encoding="utf-8"))["traffic"]["churn-aci-2"] == {
        "blue": 100
    }
    # The new service has the same code as churn-aci, so it shares the folder, and with it
    # the person's fix.
    index = json.loads((out / f"bundles/{WS}/bundles.json").read_text(encoding="utf-8"))
    assert index["deployments"]["churn-aci-2/blue"]["code"] == "churn-aci-blue"
    assert not result.written.edited  # nothing gen-iac owns was edited
    assert set(result.written.written) >= {
        f"terraform/{WS}/main.churn-aci.tf",
        f"terraform/{WS}/rollout.auto.tfvars",
        f"bicep/{WS}/traffic.json",
    }
