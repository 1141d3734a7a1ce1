"""The HCL encoder: escapes that Terraform evaluates back to the input, fmt-clean layout."""

from __future__ import annotations

import subprocess
import unicodedata
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.render import hcl
from tests.support.terraform import evaluate

HOSTILE = [
    'quote " and \\ backslash',
    "line\nbreak\r\nand\ttab",
    "${var.x} and $${literal} and $$${x}",
    "%{ if true }x%{ endif } %%{",
    "ünïcødé 日本語 🚀",
    "control \x00\x01\x1f\x7f chars",
    "trailing $",
    "trailing %",
    "\u2028 separators \u2029",
    "",
]


def _roundtrip(values: Mapping[str, object], tmp_path: Path) -> dict[str, object]:
    module = tmp_path / "m"
    module.mkdir(exist_ok=True)
    (module / "main.tf").write_text(
        "locals {\n" + hcl.attributes([(hcl.key("v"), hcl.encode(values, 1))], 1) + "\n}\n",
        encoding="utf-8",
    )
    (module / "variables.tf").write_text("", encoding="utf-8")
    result = evaluate(module, {})
    value: dict[str, object] = result["locals"][0]["v"]
    return value


def test_hostile_strings_round_trip_through_terraform(tmp_path: Path) -> None:
    values = {f"k{i}": text for i, text in enumerate(HOSTILE)}
    values.update({text or "empty-key": "key" for text in HOSTILE[:5]})
    assert _roundtrip(values, tmp_path) == {k or "empty-key": v for k, v in values.items()}


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# Terraform keeps every string in NFC (cty), so only NFC text can round-trip; the plan
# normalizes other text and says so (tests/plan/test_build.py).
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=12).map(nfc), st.text(max_size=40).map(nfc), max_size=6
    )
)
def test_generated_strings_round_trip(tmp_path: Path, values: dict[str, str]) -> None:
    assert _roundtrip(dict(values), tmp_path) == values


def test_terraform_holds_strings_in_nfc(tmp_path: Path) -> None:
    decomposed = "e\u0301"
    assert _roundtrip({"v": decomposed}, tmp_path) == {"v": "\u00e9"}


def test_nested_values_and_layout() -> None:
    text = hcl.encode({"b": [1, 2], "a": {"x": True, "long-name": None}, "c": [{"k": 1.5}]})
    assert text == (
        "{\n"
        "  a = {\n"
        '    "long-name" = null\n'
        "    x           = true\n"
        "  }\n"
        "  b = [1, 2]\n"
        "  c = [\n"
        "    {\n"
        "      k = 1.5\n"
        "    },\n"
        "  ]\n"
        "}"
    )


def test_keys_that_are_keywords_are_quoted() -> None:
    assert hcl.key("for") == '"for"'
    assert hcl.key("authMode") == "authMode"
    assert hcl.key("a-b") == '"a-b"'


def test_comments_stay_on_one_line() -> None:
    assert hcl.comment("a\nb\r\tc\x00d") == "a b c d"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.text(max_size=20)),
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(st.text(min_size=1, max_size=15), children, max_size=4),
        ),
        max_leaves=12,
    )
)
def test_any_value_is_fmt_clean(hclfmt: str, tmp_path: Path, value: object) -> None:
    path = tmp_path / "v.tf"
    path.write_text(
        "locals {\n" + hcl.attributes([("v", hcl.encode(value, 1))], 1) + "\n}\n", encoding="utf-8"
    )
    result = subprocess.run(
        [hclfmt, "-require-no-change", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


CLUSTER_KEYS = ["0", "\U0001F3FB", "a\u0301", "\u1100\u1161", "\u0915\u094D\u0937", "🇪🇺", "ünï", "日本"]


def test_keys_that_join_clusters_are_fmt_clean_and_round_trip(hclfmt: str, tmp_path: Path) -> None:
    value = {k: k for k in CLUSTER_KEYS}
    path = tmp_path / "v.tf"
    path.write_text("locals {\n" + hcl.attributes([("v", hcl.encode(value, 1))], 1) + "\n}\n",
                    encoding="utf-8")
    result = subprocess.run([hclfmt, "-require-no-change", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    nfc_value = {nfc(k): nfc(v) for k, v in value.items()}
    assert _roundtrip(value, tmp_path) == nfc_value
    assert '"ünï"' in path.read_text() and '"日本"' in path.read_text()  # plain letters stay readable


def test_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError):
        hcl.encode(object())


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "\udc80 from surrogateescape"])
def test_lone_surrogates_are_refused_never_escaped(text: str) -> None:
    # Terraform refuses \uD800 escapes and no UTF-8 file can hold the character itself.
    with pytest.raises(hcl.InvalidText):
        hcl.string(text)
    with pytest.raises(hcl.InvalidText):
        hcl.key(text)
    with pytest.raises(hcl.InvalidText):
        hcl.encode({"k": [text]})
    assert "\\uD" not in hcl.comment(text) and hcl.comment(text).isprintable()


def test_names_that_differ_only_in_case_never_share_a_label() -> None:
    from generator.plan.model import Deployment, Endpoint
    from generator.render.terraform import check_labels

    def endpoint(name: str, *deployments: str) -> Endpoint:
        return Endpoint(
            name=name,
            service=name,
            properties={"authMode": "Key"},
            tags={},
            deployments=tuple(Deployment(d, {}, {}, {}) for d in deployments),
            traffic={d: 0 for d in deployments},
        )

    check_labels((endpoint("fraud", "blue"), endpoint("fraud-v2", "blue", "green")))
    with pytest.raises(ValueError, match="Terraform label 'endpoint_fraud'"):
        check_labels((endpoint("Fraud", "blue"), endpoint("fraud", "blue")))
    with pytest.raises(ValueError, match="deployment_fraud__blue"):
        check_labels((endpoint("fraud", "blue", "Blue"),))
