"""Read what the last run remembered in --out (`record/`, see generator.plan.memory) and, when
the Terraform layout changes, the person's traffic values of the last layout.

Everything in --out is untrusted like a snapshot (a pull request can commit it): reads stay
inside `--out/record/` and the rollout files, follow no symbolic link, are bounded in size,
and every value is checked. A record that cannot be read stops the run with one line (exit
2): dropping it would let an endpoint that only the record keeps disappear.

It reads back output and yields plan records, so it sits beside output.py, above the
sources -> plan -> render flow, not in `sources/` (which never imports the plan).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from generator import jsonread
from generator.diagnostics import InputError
from generator.files import NotPlainFile, path_component, read_below
from generator.plan.memory import (
    FOLDER,
    RUN_FILE,
    EndpointRecord,
    Memory,
    RecordError,
    decode_record,
    decode_run,
    record_path,
)
from generator.sources.untrusted import safe_component, shown

MAX_RECORD_BYTES = 4 * 1024 * 1024
ROLLOUT_FILE = "rollout.auto.tfvars"  # the Terraform traffic values, a person's file


def _read(out: Path, relative: str) -> bytes | None:
    """A regular file below `out` (None when absent); no symbolic link on the way."""
    try:
        return read_below(out, relative.split("/"), MAX_RECORD_BYTES)
    except NotPlainFile as exc:
        raise InputError(str(exc)) from None


def _json(out: Path, relative: str) -> Any:
    """The strict reader's value (duplicate keys, depth, huge integers refused); NaN and
    infinities pass it and are refused by decode_record like any out-of-range number."""
    data = _read(out, relative)
    return None if data is None else jsonread.loads(data, str(out / relative))


def read_memory(out: Path, workspace: str, layout: str) -> Memory:
    """What the last run into `out` generated for `workspace` (empty on a first run); with
    the person's traffic when `layout` ("" = unchanged) differs from the last run's."""
    if not out.is_dir():
        return Memory()
    run = _json(out, RUN_FILE)
    try:
        memory = decode_run(run, str(out / RUN_FILE)) if run is not None else Memory()
    except RecordError as exc:
        raise InputError(_fix(exc)) from None
    endpoints: dict[str, EndpointRecord] = {}
    folder = out / FOLDER / path_component(workspace)
    if safe_component(workspace) and _read_dir(folder):
        for entry in sorted(os.listdir(folder)):
            if not entry.endswith(".json"):
                continue
            relative = f"{FOLDER}/{path_component(workspace)}/{entry}"
            try:
                record = decode_record(_json(out, relative), str(out / relative), workspace)
            except RecordError as exc:
                raise InputError(_fix(exc)) from None
            if record_path(workspace, record.endpoint.name) != relative:
                raise InputError(f"{out / relative}: names endpoint {record.endpoint.name}")
            endpoints[record.endpoint.name.lower()] = record
    traffic = {}
    if memory.layout and layout and memory.layout != layout:
        traffic = _rollout_values(out, workspace, memory.layout, list(endpoints.values()))
    return Memory(
        memory.targets, memory.pipelines, memory.layout, memory.retired, endpoints, traffic
    )


def _read_dir(folder: Path) -> bool:
    try:
        mode = os.lstat(folder).st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(mode) or not stat.S_ISDIR(mode):
        raise InputError(f"{folder}: not a plain folder")
    return True


def _fix(exc: RecordError) -> str:
    return (
        f"{shown(str(exc))}; gen-iac wrote it to remember what it generated: restore it from "
        "version control, or remove the file to forget that endpoint"
    )


def _rollout_values(
    out: Path, workspace: str, layout: str, records: list[EndpointRecord]
) -> dict[str, tuple[dict[str, int], dict[str, int]]]:
    """The person's traffic and mirror values in the rollout files of `layout`, by endpoint."""
    base = f"terraform/{path_component(workspace)}"
    if layout == "workspace":
        files = [f"{base}/{ROLLOUT_FILE}"]
    else:
        files = [f"{base}/{r.endpoint.folder}/{ROLLOUT_FILE}" for r in records]
    found: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
    for relative in files:
        data = _read(out, relative)
        if data is None:
            continue
        traffic, mirror = _splits(data, str(out / relative))
        for endpoint, split in traffic.items():
            found[endpoint] = (split, mirror.get(endpoint, {}))
    return found


def _splits(data: bytes, where: str) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """`traffic` and `mirror_traffic` of a rollout file, read by python-hcl2; values that are
    not whole percentages are refused with one line."""
    import hcl2

    try:
        parsed = hcl2.loads(data.decode("utf-8"))
    except Exception as exc:  # the parser's own errors: one line, never a traceback
        raise InputError(
            f"{where}: cannot read the traffic values ({shown(str(exc))[:120]}); fix the "
            "file, or switch the layout back"
        ) from None
    result: list[dict[str, dict[str, int]]] = []
    for name in ("traffic", "mirror_traffic"):
        block = parsed.get(name, {}) if isinstance(parsed, dict) else {}
        splits: dict[str, dict[str, int]] = {}
        for endpoint, split in (block if isinstance(block, dict) else {}).items():
            if not isinstance(split, dict):
                raise InputError(f"{where}: {name}: {shown(str(endpoint))!r} is not a map")
            values: dict[str, int] = {}
            for deployment, percent in split.items():
                if (
                    isinstance(percent, bool)
                    or not isinstance(percent, int)
                    or not 0 <= percent <= 100
                ):
                    raise InputError(
                        f"{where}: {name}: {shown(_unquote(endpoint))}/{shown(_unquote(deployment))}"
                        ": expected a whole percentage"
                    )
                values[_unquote(deployment)] = percent
            splits[_unquote(endpoint)] = values
        result.append(splits)
    return result[0], result[1]


def _unquote(key: Any) -> str:
    """python-hcl2 keeps the quotes of a quoted key."""
    text = str(key)
    return json.loads(text) if len(text) >= 2 and text[0] == text[-1] == '"' else text
