"""Keyed pseudonyms of personal data, and the settings that hold the keys."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pydantic import ValidationError

from scamguard.privacy import PERSONAL_FIELDS, pseudonym, pseudonymise
from scamguard.settings import Settings


def test_a_pseudonym_is_the_truncated_hmac_under_the_key() -> None:
    expected = hmac.new(b"k1", b"203.0.113.7", hashlib.sha256).hexdigest()[:16]
    assert pseudonym("203.0.113.7", "k1") == "h:" + expected
    assert pseudonym("203.0.113.7", "k1") == pseudonym("203.0.113.7", "k1")
    assert pseudonym("203.0.113.7", "k2") != pseudonym("203.0.113.7", "k1")
    assert pseudonym(None, "k1") is None


def test_pseudonymise_replaces_only_the_personal_fields() -> None:
    record = {"ip": "203.0.113.7", "text": "call me", "amount_usd": 5.0, "job_id": "j1"}
    out = pseudonymise(record, "k")
    assert out["ip"] == pseudonym("203.0.113.7", "k") and out["text"] == pseudonym("call me", "k")
    assert (out["amount_usd"], out["job_id"]) == (5.0, "j1")
    assert {"ip", "device_id", "email_domain", "instrument_id", "text"} <= PERSONAL_FIELDS


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"api_key": "dev-key", "pii_key": "real-pii-0123"}, "SCAMGUARD_API_KEY"),
        ({"api_key": "real-api-0123", "pii_key": "dev-pii-key"}, "SCAMGUARD_PII_KEY"),
        (
            {"api_key": "real", "pii_key": "real-pii", "api_keys": {"ops": "changeme"}},
            "SCAMGUARD_API_KEYS['ops']",
        ),
    ],
)
def test_placeholder_keys_are_refused_outside_development(fields: dict, names: str) -> None:
    with pytest.raises(ValidationError, match=names.replace("[", r"\[")):
        Settings(environment="production", **fields)
    Settings(environment="development", **fields)  # accepted in development


def test_named_keys_come_from_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAMGUARD_API_KEYS", '{"ops": "k-ops", "partner-a": "k-a"}')
    settings = Settings(api_key="k-default")
    assert settings.endpoint_keys == {"default": "k-default", "ops": "k-ops", "partner-a": "k-a"}


def test_metrics_and_docs_are_exposed_by_default_only_in_development() -> None:
    dev = Settings()
    prod = Settings(environment="production", api_key="real-api", pii_key="real-pii")
    assert (dev.metrics_exposed, dev.docs_exposed) == (True, True)
    assert (prod.metrics_exposed, prod.docs_exposed) == (False, False)
    opened = prod.model_copy(update={"expose_metrics": True})
    assert (opened.metrics_exposed, opened.docs_exposed) == (True, False)
