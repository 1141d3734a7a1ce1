"""rollout.auto.tfvars belongs to a person after the first run: a re-run merges new and
removed endpoints into their copy and keeps everything else (pure functions over bytes)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from generator.files import PERSON
from generator.pipeline import Options, generate
from generator.render import rollout_tfvars
from generator.render.rollout_tfvars import RolloutMerge, changes, merge, render
from generator.render.terraform import render_terraform
from tests.conftest import SnapshotFactory, aci

TRAFFIC = {"ab-test": {"control": 70, "treatment": 30}, "svc-one": {"blue": 100}}
MIRROR = {"ab-test": {"control": 0, "treatment": 0}}


def _parse(text: str) -> dict[str, Any]:
    import hcl2

    parsed: dict[str, Any] = hcl2.loads(text)
    return {
        k: {ep.strip('"'): v for ep, v in m.items()}
        for k, m in parsed.items()
        if not k.startswith("__")  # python-hcl2's comments
    }


def _fmt_clean(hclfmt: str, tmp_path: Path, text: str) -> None:
    path = tmp_path / "rollout.tf"  # hclfmt formats by content; .tf for clarity
    path.write_text(text, encoding="utf-8")
    check = subprocess.run([hclfmt, "-check", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr + check.stdout


def test_a_fresh_file_is_what_merge_keeps() -> None:
    fresh = render(TRAFFIC, MIRROR).encode()
    assert merge(fresh, TRAFFIC, MIRROR) == fresh
    assert not changes(fresh, TRAFFIC, MIRROR).any
    assert _parse(fresh.decode()) == {"traffic": TRAFFIC, "mirror_traffic": MIRROR}


def test_a_persons_split_is_kept_byte_for_byte() -> None:
    edited = (
        render(TRAFFIC, MIRROR)
        .replace("{ control = 70, treatment = 30 }", "{ control = 10, treatment = 90 } # canary")
        .encode()
    )
    assert merge(edited, TRAFFIC, MIRROR) == edited


def test_new_endpoints_get_their_initial_split_and_removed_ones_go(
    hclfmt: str, tmp_path: Path
) -> None:
    disk = (
        render(TRAFFIC, MIRROR)
        .replace("{ control = 70, treatment = 30 }", "{ control = 10, treatment = 90 }")
        .replace("# Review traffic", "# Our note.\n# Review traffic")
    )
    planned = {"ab-test": TRAFFIC["ab-test"], "a-new-one": {"blue": 0}, "zz-last": {"v1": 100}}
    mirror = {**MIRROR, "zz-last": {"v1": 0}}
    merged = merge(disk.encode(), planned, mirror).decode()
    assert _parse(merged) == {
        "traffic": {
            "a-new-one": {"blue": 0},
            "ab-test": {"control": 10, "treatment": 90},  # the person's values
            "zz-last": {"v1": 100},
        },
        "mirror_traffic": {"ab-test": {"control": 0, "treatment": 0}, "zz-last": {"v1": 0}},
    }
    assert "# Our note." in merged
    assert changes(disk.encode(), planned, mirror) == rollout_tfvars.RolloutChanges(
        added=("a-new-one", "zz-last"), removed=("svc-one",)
    )
    assert RolloutMerge(planned, mirror).report("r.tfvars", disk.encode()) == [
        "r.tfvars: added endpoint a-new-one with its initial split",
        "r.tfvars: added endpoint zz-last with its initial split",
        "r.tfvars: removed endpoint svc-one (it no longer exists)",
    ]
    _fmt_clean(hclfmt, tmp_path, merged)


def test_a_kept_line_naming_a_retired_deployment_is_reported() -> None:
    disk = render(TRAFFIC, MIRROR).encode()
    planned = {"ab-test": {"control": 100}, "svc-one": {"blue": 100}}
    found = changes(disk, planned, {})
    assert found.stale == ("ab-test/treatment",)
    assert "names deployment treatment that no longer exists" in found.lines("r")[-1]
    assert found.removed == ("ab-test",)  # from mirror_traffic: ab-test can no longer mirror
    merged = merge(disk, planned, {}).decode()
    # The line stays: Terraform's precondition tells the person to move its traffic first.
    assert "ab-test" in _parse(merged)["traffic"]
    assert _parse(merged)["mirror_traffic"] == {}


def test_multi_line_entries_and_quoted_keys_are_read() -> None:
    disk = (
        b"traffic = {\n"
        b'  "ab-test" = {\n'
        b"    control   = 50\n"
        b"    treatment = 50\n"
        b"  }\n"
        b"  svc-one: { blue = 100 }\n"
        b"}\n"
    )
    planned = {"ab-test": TRAFFIC["ab-test"], "svc-one": {"blue": 100}, "svc-two": {"b": 100}}
    merged = merge(disk, planned, {}).decode()
    parsed = _parse(merged)
    assert parsed["traffic"]["ab-test"] == {"control": 50, "treatment": 50}
    assert parsed["traffic"]["svc-two"] == {"b": 100}
    assert parsed["mirror_traffic"] == {}  # the missing map is added
    assert changes(disk, planned, {}).added == ("svc-two",)


HOSTILE = [
    b"\xff\xfe not utf-8 \x00 at all\n",
    b"traffic = {\n  this is not hcl ${\n",  # never closed
    b'traffic = {\n  "${var.x}" = { a = 1 }\n}\n',  # a template key
    b"traffic = { a = { b = 100 } }\n",  # one-line map
    b"traffic = {\n}\ntraffic = {\n}\n",  # defined twice
    b"traffic = {\r\n  ab-test = { control = 1 }\r\n  <<EOF\r\n}\r\n",  # CRLF and junk
    b"",
]


def test_hostile_content_never_breaks_the_merge() -> None:
    for disk in HOSTILE:
        merged = merge(disk, TRAFFIC, MIRROR)
        found = changes(disk, TRAFFIC, MIRROR)
        # What the merge cannot read it keeps: every original line is still there, or was an
        # entry of a removed endpoint.
        kept = merged.split(b"\n")
        for line in disk.replace(b"\r\n", b"\n").split(b"\n"):
            if line.strip() and b"ab-test" not in line:
                assert line.rstrip(b"\r") in [k.rstrip(b"\r") for k in kept], (disk, line)
        assert isinstance(found.unparsed, tuple)
    never_closed = changes(HOSTILE[1], TRAFFIC, MIRROR)
    assert never_closed.unparsed == ("line 1: traffic = {", "line 2: this is not hcl ${")
    # The person's broken map is left alone, not doubled: only the missing mirror map is added.
    assert merge(HOSTILE[1], TRAFFIC, MIRROR).count(b"traffic = {") == 2
    assert changes(HOSTILE[3], TRAFFIC, MIRROR).unparsed == (
        "line 1: traffic = { a = { b = 100 } }",
    )
    crlf = merge(HOSTILE[5], TRAFFIC, MIRROR)
    assert b"\r\n" in crlf and b"\n" not in crlf.replace(b"\r\n", b"")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_any_bytes_around_the_file_survive(prefix: bytes, suffix: bytes) -> None:
    disk = prefix + b"\n" + render(TRAFFIC, MIRROR).encode() + b"\n" + suffix
    merged = merge(disk, {"svc-one": {"blue": 100}}, {})
    assert isinstance(merged, bytes)
    changes(disk, {"svc-one": {"blue": 100}}, {})
    if prefix and b"traffic" not in prefix and b"\r" not in prefix + suffix:
        assert merged.startswith(prefix)


def test_the_generated_file_is_the_persons(make_snapshot: SnapshotFactory, tmp_path: Path) -> None:
    result = generate(Options(input=make_snapshot([aci()]), out=tmp_path / "out"))
    (rollout,) = [f for f in render_terraform(result.plan) if f.path.endswith("/rollout.auto.tfvars")]
    assert rollout.owner == PERSON
    assert isinstance(rollout.merge, RolloutMerge)
    edited = rollout.text.replace("{ blue = 100 }", "{ blue = 0 }").encode()
    assert rollout.merge(edited) == edited


def test_an_empty_map_grows_when_an_endpoint_can_mirror() -> None:
    disk = render({"svc-one": {"blue": 100}}, {}).encode()
    assert b"mirror_traffic = {}\n" in disk
    merged = merge(disk, TRAFFIC, MIRROR).decode()
    assert _parse(merged) == {"traffic": TRAFFIC, "mirror_traffic": MIRROR}
    assert changes(disk, TRAFFIC, MIRROR).added == ("ab-test",)
