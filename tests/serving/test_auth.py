"""API keys and what a production server exposes, through the real server (``prod_url``): several
named keys valid at once, the audit record naming the key used, /metrics and the docs hidden."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from scamguard.settings import Settings
from serving.deps import key_name
from tests.serving.conftest import API_KEY, PROD_KEYS
from tests.serving.factories import event


@pytest.mark.parametrize("name", ["default", *PROD_KEYS])
def test_each_named_key_is_accepted_and_named_in_the_audit_log(
    prod_url: str, prod_settings: Settings, name: str
) -> None:
    key = API_KEY if name == "default" else PROD_KEYS[name]
    event_id = f"evt-{uuid.uuid4().hex}"
    body = event("signup", f"u-key-{uuid.uuid4().hex[:10]}", event_id=event_id)
    response = httpx.post(f"{prod_url}/v1/score", json=body, headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    records = [
        r
        for r in map(json.loads, prod_settings.audit_log.read_text().splitlines())
        if r.get("event_id") == event_id
    ]
    assert [r["api_key"] for r in records] == [name]
    assert all(key not in line for line in prod_settings.audit_log.read_text().splitlines())


@pytest.mark.parametrize("key", [None, "", "wrong", PROD_KEYS["ops"] + "x", PROD_KEYS["ops"][:-1]])
def test_a_missing_or_wrong_key_is_a_401(prod_url: str, key: str | None) -> None:
    headers = {} if key is None else {"X-API-Key": key}
    response = httpx.post(f"{prod_url}/v1/score", json={}, headers=headers)
    assert response.status_code == 401 and response.json()["detail"]


@pytest.mark.parametrize("path", ["/metrics", "/docs", "/redoc", "/openapi.json"])
def test_metrics_and_docs_are_hidden_in_production(prod_url: str, path: str) -> None:
    assert httpx.get(f"{prod_url}{path}").status_code == 404


def test_probes_stay_open_in_production(prod_url: str) -> None:
    assert httpx.get(f"{prod_url}/healthz").status_code == 200
    assert httpx.get(f"{prod_url}/readyz").status_code == 200


def test_key_name_compares_every_key() -> None:
    keys = {"a": "k1", "b": "k2", "c": "k1"}
    assert key_name("k2", keys) == "b"
    assert key_name("k1", keys) == "a"  # the first name of a shared key
    assert key_name("k3", keys) is None
    assert key_name("ünïcode", keys) is None
