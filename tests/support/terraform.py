"""Evaluate generated Terraform as Terraform would (tfparse) and read back the ARM bodies."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

DUMMY_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/ws/{kind}/{name}/versions/1"
)


ROLLOUT_VARIABLES = ("traffic", "mirror_traffic")
ROLLOUT_FILE = "rollout.auto.tfvars"


def input_values(module: Path) -> dict[str, Any]:
    """Values for every map input the module declares: a recognisable dummy ARM id per key."""
    import hcl2

    values: dict[str, Any] = {}
    text = (module / "variables.tf").read_text(encoding="utf-8")
    for block in hcl2.loads(text).get("variable", []):
        for name, spec in block.items():
            name = name.strip('"')
            if name in ROLLOUT_VARIABLES:  # their values are the generated rollout file
                continue
            condition = spec["validation"][0]["condition"] if spec.get("validation") else ""
            keys = (
                json.loads(condition[condition.index("[") : condition.index("]") + 1])
                if "[" in condition
                else []
            )
            if name == "endpoint_keys":
                values[name] = {
                    k: {"primaryKey": f"test-primary-{k}", "secondaryKey": f"test-secondary-{k}"}
                    for k in keys
                }
            else:
                kind = name.removesuffix("_ids") + "s"
                values[name] = {
                    k: DUMMY_ID.format(kind=kind, name=k.replace("/", "-")) for k in keys
                }
    return values


# Stand-in for the workspace's default datastore: the data source that finds it is Azure.
DATASTORE = {
    "accountName": "stmlwtest",
    "containerName": "azureml-blobstore-test",
    "endpoint": "core.windows.net",
}
_DATASTORE_LOOKUP = re.compile(r"^(\s*datastore\s*=\s*)one\(.*\)$", re.MULTILINE)


def evaluate(module: Path, values: dict[str, Any] | None = None) -> dict[str, Any]:
    """tfparse's evaluation of `module` with `values` (default: input_values) as a tfvars file.

    The module is evaluated in a copy of its output tree (it reads ../../bundles), with the
    default-datastore lookup answered by `DATASTORE`."""
    import tfparse

    values = input_values(module) if values is None else values
    with tempfile.TemporaryDirectory() as tmp:
        out = module.parent.parent
        if (out / "bundles").is_dir():  # a generated tree: the module reads ../../bundles
            shutil.copytree(out, Path(tmp) / "out")
            copy = Path(tmp) / "out" / module.relative_to(out)
        else:
            copy = Path(tmp) / "module"
            shutil.copytree(module, copy)
        stand_in = "{ " + ", ".join(f'{k} = "{v}"' for k, v in DATASTORE.items()) + " }"
        for tf in copy.glob("*.tf"):  # the lookup lives in assets.tf
            text = tf.read_text(encoding="utf-8")
            if _DATASTORE_LOOKUP.search(text):
                tf.write_text(
                    _DATASTORE_LOOKUP.sub(lambda m: m.group(1) + stand_in, text), encoding="utf-8"
                )
        # tfparse resolves vars_paths relative to the module.
        (copy / "test.tfvars.json").write_text(json.dumps(values), encoding="utf-8")
        # Terraform reads *.auto.tfvars by itself; tfparse must be told.
        paths = [ROLLOUT_FILE] if (copy / ROLLOUT_FILE).exists() else []
        result: dict[str, Any] = tfparse.load_from_path(
            str(copy), vars_paths=[*paths, "test.tfvars.json"]
        )
        return result


def resources(evaluated: dict[str, Any], kind: str = "azapi_resource") -> dict[str, dict[str, Any]]:
    """Evaluated blocks of one resource type by address (e.g. azapi_resource.endpoint_x)."""
    return {block["__tfmeta"]["path"]: block for block in evaluated.get(kind, [])}


def bodies(module: Path, values: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """ARM bodies as Terraform would send them, keyed "endpoint:<name>" / "deployment:<ep>/<name>"
    / "autoscale:<name>" / "traffic:<endpoint>" / "code:<name>/<version>" /
    "environment:<name>/<version>". Each entry is the request body plus
    location, tags and identity where the resource has them."""
    evaluated = evaluate(module, values)
    found: dict[str, dict[str, Any]] = {}
    by_id = {b["id"]: b for b in evaluated.get("azapi_resource", [])}
    for block in evaluated.get("azapi_resource", []):
        body = dict(block.get("body") or {})
        for attr in ("location", "tags"):
            if attr in block:
                body[attr] = block[attr]
        if block.get("identity"):
            identity = block["identity"]
            identity = identity[0] if isinstance(identity, list) else identity
            body["identity"] = {"type": identity["type"]}
        kind = block["type"].split("@")[0]
        if kind.endswith("/onlineEndpoints"):
            found[f"endpoint:{block['name']}"] = body
            if block.get("sensitive_body"):
                found[f"endpoint-secrets:{block['name']}"] = block["sensitive_body"]
        elif kind.endswith("/deployments"):
            parent = block["parent_id"]
            parent_name = (
                by_id[parent]["name"] if isinstance(parent, str) and parent in by_id else "?"
            )
            found[f"deployment:{parent_name}/{block['name']}"] = body
        elif kind.endswith("/versions"):  # codes/versions, environments/versions
            asset = "code" if "/codes/" in kind else "environment"
            found[f"{asset}:{block['parent_id'].rsplit('/', 1)[1]}/{block['name']}"] = body
        else:
            found[f"autoscale:{block['name']}"] = body
    for block in evaluated.get("azapi_resource_action", []):
        kind = block["type"].split("@")[0]
        if block.get("method") == "PUT" and kind.endswith("/versions"):  # an asset registration
            asset = "code" if "/codes/" in kind else "environment"
            *_, name, _, version = block["resource_id"].split("/")
            found[f"{asset}:{name}/{version}"] = dict(block.get("body") or {})
    for block in evaluated.get("azapi_update_resource", []):
        target = by_id.get(block["resource_id"], {})
        found[f"traffic:{target.get('name', '?')}"] = dict(block.get("body") or {})
    return found
