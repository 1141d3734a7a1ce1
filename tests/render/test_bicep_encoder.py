"""The Bicep encoder: every escape, hostile strings, keys, layout; round trips through
pycep-parser and the read-back decoder."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.render import bicep_encoder as enc
from tests.support.bicep import Evaluator, decode_key, expression, parse_text

HOSTILE = [
    "",
    "plain",
    "it's",
    "'",
    "''",
    "'''",
    "x'''y",
    "back\\slash",
    "ends with backslash\\",
    "\\",
    "\\\\",
    "\\'",
    "'\\",
    "${var.secret}",
    "$${literal}",
    "\\${x}",
    "$",
    "${",
    "{}",
    "%{ if true }x%{ endif }",
    "line\nbreak",
    "cr\rlf\r\n",
    "tab\there",
    "nul\x00bell\x07esc\x1bdel\x7f",
    "c1\x85\x9f",
    "sep\u2028para\u2029",
    "ünïcødé 日本語 ключ",
    "astral \U0001d518 \U0001f600",
    "Says \"hi\" \\ back\\slash\nnew line, ${var.secret} %{ if true }x%{ endif } 'single' $${literal}",
    "// not a comment",
    "/* not a comment */",
    "${'",
    "${a'b}",
    "x${'}' y",
    "${${}}",
    "}${",
    "'${\n}'",
    "${\u00fc\U0001f600'}",
    "quote ' then ${ then \\ then \n then 日本",
]


def roundtrip(literal: str) -> Any:
    """Parse `var x = <literal>` with pycep and evaluate it with the read-back evaluator."""
    parsed = parse_text(f"var x = {literal}\nvar y = 'after'\n")
    assert Evaluator({})(parsed["variables"]["y"]["value"]) == "after"
    return Evaluator({})(parsed["variables"]["x"]["value"])


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("a'b", "'a\\'b'"),
        ("a\\b", "'a\\\\b'"),
        ("${x}", "'\\u{24}{x}'"),
        ("$${x}", "'$\\u{24}{x}'"),
        ("${'", "'\\u{24}{\\''"),
        ("a\nb", "'a\\nb'"),
        ("a\rb", "'a\\rb'"),
        ("a\tb", "'a\\tb'"),
        ("a\x01b", "'a\\u{1}b'"),
        ("a\x7fb", "'a\\u{7F}b'"),
        ("a\u2028b", "'a\\u{2028}b'"),
        ("a\\", "'a\\u{5C}'"),
        ("a\\\\", "'a\\\\\\u{5C}'"),
        ("%{x}", "'%{x}'"),
        ("ü", "'ü'"),
    ],
)
def test_every_escape(raw: str, encoded: str) -> None:
    assert enc.string(raw) == encoded


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_round_trip(text: str) -> None:
    assert roundtrip(enc.string(text)) == text


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_keys_round_trip(text: str) -> None:
    value = {text: text, "plain": 1}
    assert roundtrip(enc.encode(value)) == value


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_side_by_side_in_one_file(text: str) -> None:
    """pycep lexes a whole file: a `${` followed by a quote used to run a string on into the
    next one on the line (a key and its value, two arguments). Every string stays data."""
    value = {text: [text, {text: text}], "k": enc.Raw(f"union({{ a: {enc.string(text)} }}, {{}})")}
    literal = enc.encode(value)
    assert "\\${" not in literal and "${" not in literal
    parsed = parse_text(f"var x = {literal}\nvar y = {enc.string(text)}\nvar z = 'after'\n")
    variables = parsed["variables"]
    assert Evaluator({})(variables["z"]["value"]) == "after"
    assert Evaluator({})(variables["y"]["value"]) == text
    assert Evaluator({})(variables["x"]["value"]) == {
        text: [text, {text: text}],
        "k": {"a": text},
    }


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="${}'\\\nab ü", max_size=12))
def test_strings_of_bicep_syntax_round_trip_in_keys_and_values(text: str) -> None:
    assert roundtrip(enc.encode({text: text, "n": [text]})) == {text: text, "n": [text]}


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_any_string_round_trips(text: str) -> None:
    assert roundtrip(enc.string(text)) == text


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_any_json_value_round_trips(value: Any) -> None:
    assert roundtrip(enc.encode(value)) == value


def test_keys_bare_only_when_identifiers() -> None:
    assert enc.key("team") == "team"
    assert enc.key("_x1") == "_x1"
    assert enc.key("cost-center") == "'cost-center'"
    assert enc.key("1abc") == "'1abc'"
    assert enc.key("a b") == "'a b'"
    assert enc.key("") == "''"
    assert enc.key("ключ") == "'ключ'"
    for word in ("true", "false", "null"):
        assert enc.key(word) == f"'{word}'"
    assert decode_key(enc.key("multi\nline")) == "multi\nline"


def test_layout_is_bicep_format() -> None:
    value: dict[str, Any] = {"b": [1, {"c": True}], "a": {}, "e": [], "d": None}
    assert enc.encode(value, 1) == (
        "{\n"
        "    a: {}\n"
        "    b: [\n"
        "      1\n"
        "      {\n"
        "        c: true\n"
        "      }\n"
        "    ]\n"
        "    d: null\n"
        "    e: []\n"
        "  }"
    )


def test_numbers() -> None:
    assert enc.encode(3) == "3"
    assert enc.encode(-3) == "-3"
    assert enc.encode(0.5) == "json('0.5')"
    assert roundtrip(enc.encode(-3)) == -3
    assert roundtrip(enc.encode(0.5)) == 0.5
    with pytest.raises(ValueError):
        enc.encode(float("nan"))


def test_raw_and_expressions() -> None:
    assert enc.encode({"a": enc.Raw("workspace.id")}) == "{\n  a: workspace.id\n}"
    assert enc.encode(object(), expr=lambda v: "x") == "x"
    with pytest.raises(TypeError):
        enc.encode(object())


@pytest.mark.parametrize("text", HOSTILE)
def test_templates_round_trip(text: str) -> None:
    literal = enc.template([enc.Raw("ws.id"), text, enc.Raw("ids['a/b']"), text])
    assert Evaluator({"ws": {"id": "/W"}, "ids": {"a/b": "/I"}})(expression(literal)) == (
        f"/W{text}/I{text}"
    )


def test_comment_is_one_safe_line() -> None:
    assert enc.comment("a\nb\tc\x00d  e") == "a b c d e"
    assert "'''" not in enc.comment("x ''' y '''' z")


def test_camel() -> None:
    assert enc.camel("endpoint", "churn-aci") == "endpointChurnAci"
    assert enc.camel("code_ids") == "codeIds"
    assert enc.camel("deployment", "a-b", "blue") == "deploymentABBlue"
    assert enc.camel("9lives") == "x9lives"


def test_a_trailing_newline_is_not_an_identifier() -> None:
    from generator.render import bicep_encoder

    assert bicep_encoder.key("A\n") == "'A\\n'"
    assert not bicep_encoder.identifier("A\n")
