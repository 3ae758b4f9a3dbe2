"""No raw personal data in the audit log or the server's logs, through the real (production) server.

Unique canaries (a message text, an email domain, an IP, a device id, a payment instrument, a
profile text) go in through every path that could log them: scored events, recorded events,
refused bodies (422), an investigation and an unhandled error whose message quotes the body.
Then neither the audit log nor anything the server logged (every logger, DEBUG and up) holds
any of them, and the audit record still finds the decisions by user id, with the personal
fields as keyed pseudonyms.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest

from scamguard.privacy import pseudonym
from scamguard.settings import Settings
from tests.serving.conftest import API_KEY, COUNTERPART, COUNTERPART_SIGNUP, PII_KEY

LOGGERS = ("", "scamguard", "uvicorn", "uvicorn.error", "uvicorn.access", "fastapi", "starlette")
CLIENT_LOGGERS = ("httpx", "httpcore")  # the test's own HTTP client, not the server


@pytest.fixture
def server_log() -> Iterator[io.StringIO]:
    """Everything the server logs while the test runs (it runs in a thread of this process; the
    test's own HTTP client's records are left out)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    handler.addFilter(lambda record: not record.name.startswith(CLIENT_LOGGERS))
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        yield buffer
    finally:
        logging.getLogger().removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _post(url: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, headers={"X-API-Key": API_KEY}, timeout=60)


def test_canaries_reach_neither_the_audit_log_nor_the_server_logs(
    prod_url: str, prod_settings: Settings, server_log: io.StringIO
) -> None:
    tag = uuid.uuid4().hex[:12]
    canary = {
        "text": f"canary-text-{tag} send the deposit via WhatsApp today, urgent",
        "email_domain": f"canary-{tag}.example",
        "ip": f"2001:db8::{tag[:4]}:{tag[4:8]}",
        "device_id": f"dev-canary-{tag}",
        "instrument_id": f"pi-canary-{tag}",
        "profile_text": f"canary-profile-{tag}",
    }
    user_id, at = f"u-pii-{tag}", "2026-01-02T00:00:00Z"
    signup = {
        "event_type": "signup",
        "user_id": user_id,
        "ts": at,
        "role": "client",
        "country": "US",
        "phone_country": "US",
        **{k: canary[k] for k in ("email_domain", "ip", "device_id", "profile_text")},
    }
    other = {"event_type": "signup", "user_id": COUNTERPART, "ts": at, **COUNTERPART_SIGNUP}
    assert _post(prod_url, "/v1/events", other).status_code in (200, 409)
    scored = [
        _post(prod_url, "/v1/score", signup),
        _post(
            prod_url,
            "/v1/score",
            {"event_type": "login", "user_id": user_id, "ip": canary["ip"], "country": "US"}
            | {"device_id": canary["device_id"]},
        ),
        _post(
            prod_url,
            "/v1/score",
            {"event_type": "message", "user_id": user_id, "recipient_id": COUNTERPART}
            | {"text": canary["text"]},
        ),
        _post(
            prod_url,
            "/v1/score",
            {"event_type": "payment", "user_id": user_id, "payee_id": COUNTERPART}
            | {"amount_usd": 90.0, "instrument_id": canary["instrument_id"], "kind": "charge"},
        ),
    ]
    assert [r.status_code for r in scored] == [200] * 4, [r.text for r in scored]
    # refused bodies, an investigation, and a failure whose message quotes the body
    refused = _post(prod_url, "/v1/score", {**signup, "ip": f"not-an-ip-{canary['device_id']}"})
    assert refused.status_code == 422
    assert _post(prod_url, "/v1/events", {**signup, "extra": canary["text"]}).status_code == 422
    assert _post(prod_url, "/v1/investigate", {"user_id": user_id}).status_code == 200
    failed = _post(prod_url, "/v1/test-fail", {"text": canary["text"]})
    assert failed.status_code == 500 and canary["text"] not in failed.text

    audit = prod_settings.audit_log.read_text()
    logged = server_log.getvalue()
    for name, value in canary.items():
        assert value not in audit, f"the {name} canary is in the audit log"
        assert value not in logged, f"the {name} canary is in the server log"
    assert tag not in logged
    assert "127.0.0.1" not in logged  # the client, pseudonymised in the request log
    assert f"client={pseudonym('127.0.0.1', PII_KEY)}" in logged
    assert "unhandled ValueError in POST /v1/test-fail" in logged

    # an analyst finds the decisions by user id; the personal fields are keyed pseudonyms
    records = [r for r in map(json.loads, audit.splitlines()) if r.get("user_id") == user_id]
    online = {r["event_type"]: r for r in records if r["kind"] == "online"}
    assert set(online) == {"signup", "login", "message", "payment"}
    assert online["login"]["event"]["ip"] == pseudonym(canary["ip"], PII_KEY)
    assert online["signup"]["event"]["email_domain"] == pseudonym(canary["email_domain"], PII_KEY)
    assert online["payment"]["event"]["instrument_id"].startswith("h:")
    assert online["payment"]["event"]["amount_usd"] == 90.0
    assert online["message"]["event"]["text"] == pseudonym(canary["text"], PII_KEY)
    assert any("this message:" in reason for reason in online["message"]["reasons"])
    assert any(r["kind"] == "investigation" for r in records)
