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
# The services whose keys an endpoint sends (its sensitive_body reads them).
_KEYS_OF = re.compile(r'var\.endpoint_keys\["([^"\\]+)"\]')
# The first list literal of strings in a validation condition: the keys the input needs.
_STRING_LIST = re.compile(r'\[\s*"(?:[^"\\]|\\.)*"(?:\s*,\s*"(?:[^"\\]|\\.)*")*\s*\]')


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
            listed = _STRING_LIST.search(condition)
            keys = json.loads(listed.group()) if listed else []
            if name == "endpoint_keys":
                keys = sorted(
                    {
                        m
                        for tf in module.glob("main.*.tf")
                        for m in _KEYS_OF.findall(tf.read_text(encoding="utf-8"))
                    }
                )
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
        # A generated tree: the module reads the bundles beside terraform/ (../../bundles, or
        # ../../../bundles for a module per endpoint).
        out = next((p for p in module.parents if (p / "bundles").is_dir()), None)
        if out is not None:
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


def hcl_blocks(module: Path, kind: str = "azapi_resource") -> dict[str, dict[str, Any]]:
    """The blocks of one resource type as written (python-hcl2), by address: what tfparse
    does not evaluate (lifecycle.ignore_changes, references)."""
    import hcl2

    found: dict[str, dict[str, Any]] = {}
    for path in sorted(module.glob("*.tf")):
        for resource in hcl2.loads(path.read_text(encoding="utf-8")).get("resource", []):
            for rtype, blocks in resource.items():
                if rtype.strip('"') != kind:
                    continue
                for label, block in blocks.items():
                    found[f"{kind}.{label.strip(chr(34))}"] = block
    return found


def ignored_paths(block: dict[str, Any]) -> list[str]:
    """lifecycle.ignore_changes of a python-hcl2 block, as dotted paths."""
    lifecycle = (block.get("lifecycle") or [{}])[0]
    return [p.removeprefix("${").removesuffix("}") for p in lifecycle.get("ignore_changes", [])]


def _strip(value: Any) -> Any:
    """An evaluated block without tfparse's bookkeeping (ids, meta)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in ("__tfmeta", "id")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def without_paths(block: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """An evaluated block minus the given dotted paths and tfparse's bookkeeping."""
    found: dict[str, Any] = json.loads(json.dumps(_strip(block)))
    for path in paths:
        *parents, last = path.split(".")
        node: Any = found
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return found


_MISSING = object()


def _at(value: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def ignore_changes(
    prior: dict[str, Any], planned: dict[str, Any], paths: list[str]
) -> dict[str, Any]:
    """`planned` as Terraform plans it under lifecycle.ignore_changes: each ignored path that
    exists in the prior value takes the prior value; a path the prior value does not have is
    not ignored (Terraform's processIgnoreChangesIndividual: "If we're able to follow the same
    path through the prior value, we'll take the value there instead"). Without bookkeeping."""
    old = stripped(prior)
    new = stripped(planned)
    for path in paths:
        parts = path.split(".")
        before, after = _at(old, parts), _at(new, parts)
        if before is _MISSING or after is _MISSING:
            continue  # not in the prior value (or not in config): Terraform does not ignore it
        parent = _at(new, parts[:-1])
        parent[parts[-1]] = before
    return new


def stripped(block: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(json.dumps(_strip(block)))
    return found
