"""Property: whatever a snapshot's service holds (any field of a realistic payload replaced by
another type, an extreme number or a hostile string), gen-iac ends with its documented exit
status and no traceback, the other services are written, every generated file still parses
(hclfmt, pycep, JSON, YAML) and the strings arrive as they were (read back with tfparse and
the Bicep read-back).

CI runs GEN_IAC_FUZZ_EXAMPLES (default 100) derandomized examples; a longer local run:
`GEN_IAC_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz.py`.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import shutil
import subprocess
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from generator.cli import main
from tests.conftest import EXAMPLE, WORKSPACE, aci, aks
from tests.support import bicep as bicep_support
from tests.support import terraform as terraform_support

EXAMPLES = int(os.environ.get("GEN_IAC_FUZZ_EXAMPLES", "100"))
REFERENCE = "zz-reference"
BASES: list[dict[str, Any]] = [
    *json.loads((EXAMPLE / "snapshot.json").read_text(encoding="utf-8"))["services"],
    aci("svc-aci", description="plain", kvTags={"team": "a"}),
    aks("svc-aks", description="plain", kvTags={"team": "b"}),
]

HOSTILE_TEXT = [
    "",
    " ",
    "../../etc/passwd",
    "/proc/self",
    "a/b",
    "a\\b",
    "x\x00y",
    "line\nbreak",
    "cr\rlf",
    "tab\there",
    "${var.x}",
    "%{ if true }x%{ endif }",
    "$${x}",
    "${{ secrets.X }}",
    "$(id)",
    "`id`",
    "'; rm -rf / #",
    '"; echo pwned; "',
    "<script>alert(1)</script>",
    "<!-- x -->",
    "| a | b |",
    "# heading",
    "```",
    "[x](javascript:alert(1))",
    "\u202eevil",
    "e\u0301",  # not NFC
    "\ufeffbom",
    "\u0e33",  # SARA AM
    "\ud800",
    "a\udfffb",
    "x" * 300,
    "\U0001f600" * 5,
    "null",
    "true",
    "1e999",
]
EXTREME_NUMBERS = [
    float("nan"),
    float("inf"),
    float("-inf"),
    1e308,
    -1e308,
    5e-324,
    2**53 + 1,
    10**30,
    -(10**30),
    0,
    -1,
    0.5,
    2**31,
]


def nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


values = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.sampled_from(EXTREME_NUMBERS),
    st.sampled_from([None, True, False, [], {}, nested(5), nested(30), {"a": {"b": [1]}}]),
    st.text(max_size=12),
    st.integers(),
    st.floats(),
    st.lists(st.sampled_from(HOSTILE_TEXT), max_size=3),
    st.dictionaries(st.sampled_from(HOSTILE_TEXT), st.sampled_from(HOSTILE_TEXT), max_size=3),
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def put(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return doc


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    service: Any = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        places = paths(service)
        if draw(st.booleans()) and isinstance(service, dict):  # a field people read back
            key = draw(st.sampled_from(["description", "kvTags", "name"]))
            text = draw(st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=20)))
            value: Any = (
                {draw(st.sampled_from(["k", "team", "a b"])): text} if key == "kvTags" else text
            )
            service[key] = value
            continue
        path = draw(st.sampled_from(places[1:] or places))
        service = put(service, path, copy.deepcopy(draw(values)))  # never a shared value
    return service  # type: ignore[no-any-return]


def run_cli(snapshot: Path, out: Path) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(
            ["--target", "terraform", "--target", "bicep", "--input", str(snapshot),
             "--out", str(out), "-q"]
        )  # fmt: skip
    return code, err.getvalue()


def nfc(value: Any) -> Any:
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="GEN_IAC_FUZZ_RANDOM" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(service=mutated())
def test_any_service_payload(service: Any, hclfmt: str) -> None:
    with tempfile.TemporaryDirectory(prefix="gen-iac-fuzz-") as tmp:
        snapshot = Path(tmp) / "snapshot"
        snapshot.mkdir()
        shutil.copytree(EXAMPLE / "assets", snapshot / "assets")
        doc = {"workspace": WORKSPACE, "services": [aci(REFERENCE), service]}
        (snapshot / "snapshot.json").write_text(json.dumps(doc), encoding="utf-8")
        out = Path(tmp) / "out"
        code, err = run_cli(snapshot, out)  # an exception here is the traceback we forbid

        assert code in (0, 1), err
        for line in err.splitlines():
            line.encode("utf-8")
            assert line.isprintable(), line
        report = json.loads((out / "migration.json").read_text(encoding="utf-8"))
        statuses = {s["service"]: s["status"] for s in report["services"]}
        assert statuses.get(REFERENCE) == "migrated", statuses
        assert code == (1 if "not-migrated" in statuses.values() else 0), (code, statuses)
        event(f"exit {code}")
        assert (out / f"terraform/ws-test/main.{REFERENCE}.tf").exists()
        assert f"'{REFERENCE}'" in (out / "bicep/ws-test/main.bicep").read_text(encoding="utf-8")

        generated = [p for p in out.rglob("*") if p.is_file()]
        tf = [p for p in generated if p.suffix == ".tf"]
        for flag in ("-check", "-require-no-change"):
            check = subprocess.run([hclfmt, flag, *map(str, tf)], capture_output=True, text=True)
            assert check.returncode == 0, check.stderr
        for path in generated:
            text = path.read_bytes()
            if path.suffix in {".tf", ".bicep", ".bicepparam"}:
                assert b"\\ud8" not in text.lower() and b"\\udc" not in text.lower(), path
            if path.suffix == ".bicep":
                assert bicep_support.parse(path), path
            elif path.suffix == ".json":
                json.loads(text)
            elif path.suffix in {".yaml", ".yml"}:
                yaml.safe_load(text)

        # Strings round-trip: what the service says arrives in both targets' bodies.
        migrated = [e for e, s in statuses.items() if s == "migrated" and e != REFERENCE]
        if migrated and isinstance(service, dict):
            (name,) = migrated
            (entry,) = [s for s in report["services"] if s["service"] == name]
            endpoint = entry.get("endpoint") or name
            description = service.get("description")
            tags = service.get("kvTags")
            wanted: dict[str, Any] = {}
            if isinstance(description, str) and description:
                wanted["description"] = nfc(description)
            if isinstance(tags, dict):
                wanted["tags"] = {nfc(k): nfc(v) for k, v in tags.items()}
            if wanted:
                event("strings read back from both targets")
                module = out / "terraform/ws-test"
                for bodies in (
                    terraform_support.bodies(module),
                    bicep_support.bodies(out / "bicep/ws-test"),
                ):
                    body = bodies[f"endpoint:{endpoint}"]
                    if "description" in wanted:
                        assert body["properties"].get("description") == wanted["description"]
                    if "tags" in wanted:
                        assert (body.get("tags") or {}) == wanted["tags"]
