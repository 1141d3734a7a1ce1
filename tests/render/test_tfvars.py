"""inputs.auto.tfvars belongs to a person: a re-run parses it (python-hcl2) and only appends
commented placeholders for entries it does not have; a file that is not HCL stops the run."""

from __future__ import annotations

import hcl2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.files import UnreadableFile
from generator.render.tfvars import Document, InputsMerge

PLACEHOLDERS = {
    (
        "environment_ids",
        "ep/blue",
    ): '"ep/blue" = "/subscriptions/.../environments/<name>/versions/<version>"',
    (
        "environment_ids",
        "ep/green",
    ): '"ep/green" = "/subscriptions/.../environments/<name>/versions/<version>"',
    ("compute_ids", "ep/blue"): '"ep/blue" = "/subscriptions/.../computes/<name>"',
}
MERGE = InputsMerge(PLACEHOLDERS)


def test_an_entry_counts_only_in_its_own_map() -> None:
    disk = (
        b"environment_ids = {\n"
        b'  "ep/blue" = "/subscriptions/s/environments/e/versions/1"\n'
        b'  # "ep/green" = "/subscriptions/.../environments/<name>/versions/<version>"\n'
        b"}\n"
        b'compute_ids = { "ep/other" = "x" }\n'
    )
    # ep/blue is filled in environment_ids, ep/green is there as a comment, but compute_ids
    # has no ep/blue (before, any mention of "ep/blue" anywhere counted).
    assert MERGE.missing(disk) == (("compute_ids", "ep/blue"),)
    merged = MERGE(disk)
    assert merged.startswith(disk)
    assert b'# compute_ids: "ep/blue" = "/subscriptions/.../computes/<name>"' in merged
    assert _values(merged) == _values(disk)  # the person's values untouched


def test_bom_and_crlf_are_kept() -> None:
    disk = "\ufeffenvironment_ids = {\r\n}\r\n".encode()
    merged = MERGE(disk)
    assert merged.startswith(disk)
    assert b"\n" not in merged.replace(b"\r\n", b"")


@pytest.mark.parametrize(
    ("disk", "where"),
    [
        (b'environment_ids = {\n  "ep/blue" = \n}\n', (2, 15)),
        (b"environment_ids = {}\nenvironment_ids = {}\n", (2, 1)),
        (b"\xc3\x28 = 1\n", (1, 1)),
    ],
)
def test_a_file_that_is_not_hcl_stops_the_merge(disk: bytes, where: tuple[int, int]) -> None:
    with pytest.raises(UnreadableFile) as caught:
        MERGE(disk)
    assert (caught.value.line, caught.value.column) == where


def test_positions_are_lines_and_columns() -> None:
    doc = Document(b'a = 1\r\nb = { "x" = 2 }\n')
    (b,) = [a for a in doc.attributes if a.name == "b"]
    assert doc.position(b.start) == (2, 1)
    assert b.value is not None and [e.key for e in b.value.elements] == ["x"]
    assert doc.position(b.value.elements[0].start) == (2, 7)


# python-hcl2 reads `$${` and `%%{` only when a `}` follows in the string (valid HCL without
# one too), so values here carry `$` and `%` but no brace.
_VALUE = st.text(alphabet="abc/-_:éλ $%'", max_size=12)


def _values(text: bytes) -> dict[str, object]:
    parsed = hcl2.loads(text.decode("utf-8-sig"))
    return {k: v for k, v in parsed.items() if not k.startswith("__")}


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["ep/blue", "ep/green", "other/x"]), _VALUE, max_size=3),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["", "# mine\n", "/* { */\n", "note = <<EOT\n}\nEOT\n"]),
)
def test_the_persons_inputs_survive_any_valid_form(
    values: dict[str, str], nl: str, one_line: bool, bom: bool, prefix: str
) -> None:
    entries = [f'"{k}" = "{v}"' for k, v in values.items()]
    body = (
        "{ " + ", ".join(entries) + " }"
        if one_line
        else "{" + nl + "".join(f"  {e}{nl}" for e in entries) + "}"
    )
    text = prefix.replace("\n", nl) + f"environment_ids = {body}{nl}"
    disk = (("\ufeff" if bom else "") + text).encode()
    merged = MERGE(disk)
    assert merged.startswith(disk)  # the person's bytes, then comments only
    assert _values(merged) == _values(disk)
    filled = set(values)
    assert {key for name, key in MERGE.missing(disk) if name == "environment_ids"} == {
        "ep/blue",
        "ep/green",
    } - filled
