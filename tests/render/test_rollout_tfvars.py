"""rollout.auto.tfvars belongs to a person after the first run: a re-run merges new and
removed endpoints into their copy and keeps everything else (pure functions over bytes)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.cli import main
from generator.files import PERSON, UnreadableFile
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
        if isinstance(m, dict) and not k.startswith("__")  # python-hcl2's comments
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


UNREADABLE = [
    (b"\xff\xfe not utf-8 \x00 at all\n", (1, 1), "not UTF-8"),
    (b"traffic = {\n  this is not hcl ${\n", (2, 8), "not valid HCL"),
    (b'traffic = {\n  "${var.x}" = { a = 1 }\n}\n', (2, 3), "not a plain name"),
    (b"traffic = {\n}\ntraffic = {\n}\n", (3, 1), "traffic is set twice (also on line 1)"),
    (b"traffic = {\r\n  ab-test = { control = 1 }\r\n  <<EOF\r\n}\r\n", (3, 4), "not valid HCL"),
    (b"traffic = {\n  a = { b = 1 }\n  a = { b = 2 }\n}\n", (3, 3), "'a' appears twice"),
]


def test_a_file_that_is_not_hcl_stops_the_merge_with_its_line_and_column() -> None:
    for disk, (line, column), what in UNREADABLE:
        with pytest.raises(UnreadableFile) as caught:
            merge(disk, TRAFFIC, MIRROR)
        assert (caught.value.line, caught.value.column) == (line, column), disk
        assert what in caught.value.what, (disk, caught.value.what)
        assert caught.value.at("r.tfvars").startswith(f"r.tfvars:{line}:{column}: ")


def test_an_unreadable_rollout_file_stops_the_run_with_exit_2(
    make_snapshot: SnapshotFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot, out = make_snapshot([aci()]), tmp_path / "out"
    assert main(["--input", str(snapshot), "--out", str(out)]) == 0
    (rollout,) = out.glob("terraform/*/rollout.auto.tfvars")
    rollout.write_bytes(b"traffic = {\n  svc = { blue = 100 \n")
    more = make_snapshot([aci(), aci("svc-two")])
    capsys.readouterr()
    assert main(["--input", str(more), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{rollout}:3:1: not valid HCL" in err
    assert "Traceback" not in err
    assert rollout.read_bytes() == b"traffic = {\n  svc = { blue = 100 \n"


# Valid HCL a person may write; each keeps its values through a merge that adds and removes.
VARIANTS = {
    "two entries on one line": b"traffic = {\n  ab-test = { control = 0, treatment = 100 }, old = { b = 100 }\n}\n",
    "a brace in a comment": b"traffic = {\n  /* { */ ab-test = { control = 0, treatment = 100 } # }\n  old = { b = 100 }\n}\n",
    "CRLF": b"traffic = {\r\n  ab-test = { control = 0, treatment = 100 }\r\n  old = { b = 100 }\r\n}\r\n",
    "BOM": "\ufefftraffic = {\n  ab-test = { control = 0, treatment = 100 }\n}\n".encode(),
    "indented": b"  traffic = {\n    ab-test = { control = 0, treatment = 100 }\n  }\n",
    "heredoc before": b"note = <<EOT\ntraffic = {\n}\nEOT\ntraffic = {\n  ab-test = { control = 0, treatment = 100 }\n}\n",
    "one-line map": b"traffic = { ab-test = { control = 0, treatment = 100 }, old = { b = 100 } }\n",
    "unicode": '# caf\u00e9\ntraffic = {\n  "ab-test" = { control = 0, treatment = 100 }\n  "\u00e9t\u00e9" = { x = 100 }\n}\n'.encode(),
    "multi-line entry, commas": b"traffic = {\n  ab-test = {\n    control   = 0\n    treatment = 100\n  },\n  old = { b = 100 },\n}\n",
    "colons": b"traffic = {\n  ab-test: { control: 0, treatment: 100 }\n}\n",
    "closing brace after an entry": b"traffic = {\n  old = { b = 100 }\n  ab-test = { control = 0, treatment = 100 } }\n",
    "comment lines and blanks": b"# mine\n\ntraffic = { # the split\n\n  // dark\n  ab-test = { control = 0, treatment = 100 }\n\n}\n",
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_valid_form_keeps_the_persons_values(name: str) -> None:
    disk = VARIANTS[name]
    planned = {"ab-test": {"control": 100, "treatment": 0}, "new-one": {"blue": 100}}
    merged = merge(disk, planned, MIRROR)
    text = merged.decode("utf-8-sig")
    parsed = _parse(text)
    assert parsed["traffic"] == {
        "ab-test": {"control": 0, "treatment": 100},  # the person's dark launch stays dark
        "new-one": {"blue": 100},
    }, text
    assert parsed["mirror_traffic"] == MIRROR
    assert merged.startswith("\ufeff".encode()) == disk.startswith("\ufeff".encode())
    if b"\r\n" in disk:
        assert b"\n" not in merged.replace(b"\r\n", b"")
    # Every line of the person's that names no removed endpoint is still there (the blanks
    # before an `=` aside: the new key realigns a run as terraform fmt does).
    lines = [" ".join(line.split()) for line in text.splitlines()]
    for line in disk.decode("utf-8-sig").splitlines():
        if "old" not in line and "\u00e9t\u00e9" not in line and line.strip():
            if name == "closing brace after an entry":  # the new entry goes before the brace
                line = line.removesuffix(" }")
            assert any(" ".join(line.split()) in kept for kept in lines), (name, line)


@pytest.mark.parametrize(
    "line",
    [
        "# " + "x" * 300_000,
        'note = "' + "y" * 300_000 + '"',
        "traffic = {" + " " * 300_000 + "ab-test = { control = 1, treatment = 99 } }",
    ],
    ids=["comment", "string", "blanks"],
)
def test_a_300_kb_line_is_read_in_linear_time(line: str) -> None:
    disk = (line + "\n" + render(TRAFFIC, MIRROR).replace("traffic = ", "other = ", 1)).encode()
    started = time.perf_counter()
    merge(disk, TRAFFIC, MIRROR)
    assert time.perf_counter() - started < 2.0


def test_the_generated_file_is_the_persons(make_snapshot: SnapshotFactory, tmp_path: Path) -> None:
    result = generate(Options(input=make_snapshot([aci()]), out=tmp_path / "out"))
    (rollout,) = [
        f for f in render_terraform(result.plan) if f.path.endswith("/rollout.auto.tfvars")
    ]
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


# --- property: any valid HCL a person writes keeps their values ------------------------------

_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8).map(
    lambda s: "e" + s
)
_UNICODE_NAME = st.text(alphabet="abcéüßλ日本-", min_size=1, max_size=6).map(lambda s: "u" + s)
_SPLIT = st.dictionaries(
    st.sampled_from(["blue", "green", "canary", "v1"]), st.integers(0, 100), min_size=1
)
_COMMENT = st.sampled_from(["# note {", "// dark launch }", "/* { */", "/* a\nb } */", "# é 日本"])


@st.composite
def _person_file(draw: st.DrawFn) -> tuple[bytes, dict[str, dict[str, int]], str]:
    """A valid rollout file in some form a person may write, its traffic values, and the
    value of a heredoc attribute beside it."""
    names = draw(st.lists(st.one_of(_NAME, _UNICODE_NAME), min_size=0, max_size=6, unique=True))
    values = {n: draw(_SPLIT) for n in names}
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    pad = draw(st.sampled_from(["", " ", "  ", "\t"]))
    heredoc = draw(st.text(alphabet="abc {}=#\"'", max_size=20)).replace("EOT", "")
    out = [draw(st.sampled_from(["", "# mine" + nl, "/* top */" + nl]))]
    out.append(f"note = <<EOT{nl}{heredoc}{nl}EOT{nl}")
    one_line = draw(st.booleans())
    entries = []
    for name in names:
        key = name if name.isascii() and draw(st.booleans()) else f'"{name}"'
        sep = draw(st.sampled_from([" = ", "=", ": ", " =  "]))
        split = values[name]
        inner = ", ".join(f"{d} = {v}" for d, v in split.items())
        if not one_line and draw(st.booleans()):
            inner_lines = nl.join(f"{pad}    {d} = {v}" for d, v in split.items())
            value = f"{{{nl}{inner_lines}{nl}{pad}  }}"
        else:
            value = f"{{ {inner} }}"
        entries.append(f"{key}{sep}{value}")
    if one_line:
        body = "{ " + ", ".join(entries) + " }" if entries else "{}"
    else:
        parts = []
        for entry in entries:
            comment = draw(st.one_of(st.none(), _COMMENT))
            lead = f"{comment} " if comment and comment.startswith("/*") else ""
            tail = f" {comment}" if comment and not lead and "\n" not in comment else ""
            joiner = "," if draw(st.booleans()) else ""
            parts.append(f"{pad}  {lead.replace(chr(10), nl)}{entry}{joiner}{tail}{nl}")
            if draw(st.booleans()):
                parts.append(nl)
        body = "{" + nl + "".join(parts) + pad + "}"
    out.append(f"{pad}traffic = {body}{nl}")
    bom = "\ufeff" if draw(st.booleans()) else ""
    return (bom + "".join(out)).encode(), values, heredoc


@settings(max_examples=150, deadline=None)
@given(_person_file(), st.data())
def test_the_persons_values_survive_any_valid_form(
    person: tuple[bytes, dict[str, dict[str, int]], str], data: st.DataObject
) -> None:
    disk, values, heredoc = person
    assert heredoc in disk.decode("utf-8-sig")
    kept = data.draw(st.lists(st.sampled_from(sorted(values)), unique=True)) if values else []
    new = data.draw(st.lists(_NAME.map(lambda s: "n" + s), unique=True, max_size=3))
    planned = {name: {"blue": 100} for name in [*kept, *new]}
    merged = merge(disk, planned, {})
    assert changes(disk, planned, {}).unparsed == ()  # merged, not left to the person
    # Read back with python-hcl2's own reading (not the merge's), after Terraform's decoding.
    parsed = hcl2.loads(merged.decode("utf-8-sig"))
    traffic = {k.strip('"'): v for k, v in parsed["traffic"].items()}
    assert set(traffic) == set(planned)
    for name in kept:
        assert traffic[name] == values[name]  # the person's split, never the generated one
    for name in new:
        assert traffic[name] == {"blue": 100}
    assert merged.startswith(b"\xef\xbb\xbf") == disk.startswith(b"\xef\xbb\xbf")
    assert (
        merged.decode("utf-8-sig").split("traffic")[0]
        == disk.decode("utf-8-sig").split("traffic")[0]
    )
    assert merge(merged, planned, {}) == merged  # a second run changes nothing
    assert heredoc in parsed["note"]
