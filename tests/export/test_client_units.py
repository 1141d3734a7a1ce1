"""Pure parts of the client and the redaction of secrets."""

from __future__ import annotations

from typing import Any

import pytest

from generator.export.client import TOKEN_MARGIN, TokenCache, follows
from generator.export.redact import drop_secret_fields, strip_queries, strip_sas

MMS = "https://westeurope.api.azureml.ms/modelmanagement/v1.0/subscriptions/s"


@pytest.mark.parametrize(("link", "home", "same_domain", "ok"), [
    (MMS + "/services?$skipToken=2", MMS, True, True),
    ("https://westeurope.api.azureml.ms:443/x", MMS, True, True),
    ("https://northeurope.api.azureml.ms/x", MMS, True, True),  # same cloud, regional host
    ("http://westeurope.api.azureml.ms/x", MMS, True, False),  # not https
    ("https://evil.example.net/x", MMS, True, False),
    ("https://api.azureml.ms.evil.net/x", MMS, True, False),
    ("https://westeurope.api.azureml.ms:8443/x", MMS, True, False),
    ("https://other.management.azure.com/x", "https://management.azure.com/", True, False),
    ("https://northeurope.api.azureml.ms/x", MMS, False, False),  # ARM: its own host only
    ("https://127.0.0.1:9/x", "https://127.0.0.1:8/x", True, False),
    ("https://127.0.0.1:8/y", "https://127.0.0.1:8/x", True, True),
    ("//westeurope.api.azureml.ms/x", MMS, True, False),
])
def test_which_next_links_are_followed(link: str, home: str, same_domain: bool,
                                       ok: bool) -> None:
    assert follows(link, home, same_domain) is ok


def test_strip_queries_in_messages() -> None:
    text = ("GET https://st.blob.core.windows.net/c/a.py?sv=1&sig=S%3D failed; url: "
            "/blob/b.tar.gz?se=2&sig=T (reset). Why? because")
    assert strip_queries(text) == ("GET https://st.blob.core.windows.net/c/a.py failed; url: "
                                   "/blob/b.tar.gz (reset). Why? because")


def test_strip_sas_in_payloads_keeps_other_queries() -> None:
    payload = {"a": ["https://st.blob.core.windows.net/l.log?sv=1&sr=b&sig=X&se=2"],
               "b": "https://management.azure.com/op?api-version=2025-12-01", "c": 3}
    assert strip_sas(payload) == {"a": ["https://st.blob.core.windows.net/l.log"],
                                  "b": payload["b"], "c": 3}


def test_drop_secret_fields() -> None:
    raw = {"properties": {"relayConnectionString": "Endpoint=...", "namespace": "ml",
                          "nested": [{"adminPassword": "p", "keys": {}, "name": "x"}]}}
    assert drop_secret_fields(raw) == {"properties": {"namespace": "ml",
                                                      "nested": [{"name": "x"}]}}


class Token:
    def __init__(self, token: str, expires_on: float) -> None:
        self.token, self.expires_on = token, expires_on


class Credential:
    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.calls: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Token:
        self.calls.append(scopes)
        return Token(f"t{len(self.calls)}", self.clock[0] + 3600)


def test_token_cache_renews_near_expiry_per_audience() -> None:
    now = [1000.0]
    credential = Credential(now)
    cache = TokenCache(credential, clock=lambda: now[0])
    arm, aml = ("https://management.core.windows.net//.default",), ("https://ml.azure.com/.default",)
    assert [cache.get(arm), cache.get(arm), cache.get(aml)] == ["t1", "t1", "t2"]
    now[0] += 3600 - TOKEN_MARGIN - 1
    assert cache.get(arm) == "t1"
    now[0] += 2
    assert cache.get(arm) == "t3"
    assert credential.calls == [arm, aml, arm]
