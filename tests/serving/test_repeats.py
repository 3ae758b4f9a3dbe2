"""At-least-once delivery over real HTTP: an event sent twice with the same ``event_id`` is counted
once, and the repeat gets the first answer back."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from features.online.local import store_path
from scamguard.settings import Settings
from tests.serving.factories import event, signed_up


def _ledger_rows(settings: Settings, user_id: str, kind: str) -> int:
    """Rows of ``kind`` for ``user_id`` in the server's store (read-only, beside the server)."""
    db = sqlite3.connect(f"file:{store_path(settings)}?mode=ro", uri=True)
    try:
        (n,) = db.execute(
            "SELECT COUNT(*) FROM ledger WHERE user_id = ? AND kind = ?", (user_id, kind)
        ).fetchone()
    finally:
        db.close()
    return int(n)


def _audit_records(settings: Settings, event_id: str) -> list[dict]:
    lines = settings.audit_log.read_text().splitlines() if settings.audit_log.exists() else []
    return [r for r in map(json.loads, lines) if r.get("event_id") == event_id]


def _login(user_id: str, event_id: str, ts: datetime) -> dict:
    return event("login", user_id, event_id=event_id, ts=ts.isoformat())


def test_a_repeated_login_is_counted_once_and_answered_the_same(
    client: httpx.Client, serve_settings: Settings
) -> None:
    user_id = signed_up(client)
    ts = datetime.now(UTC)
    event_id = f"evt-{uuid.uuid4().hex}"
    first = client.post("/v1/score", json=_login(user_id, event_id, ts))
    assert first.status_code == 200, first.text
    assert _ledger_rows(serve_settings, user_id, "login") == 1

    again = client.post("/v1/score", json=_login(user_id, event_id, ts))
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert _ledger_rows(serve_settings, user_id, "login") == 1
    assert len(_audit_records(serve_settings, event_id)) == 1  # one decision, one record

    # a new event id is a new login: counted, and the user's login counts rise
    other = client.post("/v1/score", json=_login(user_id, f"evt-{uuid.uuid4().hex}", ts))
    assert other.status_code == 200, other.text
    assert _ledger_rows(serve_settings, user_id, "login") == 2


def test_a_repeat_gets_the_first_answer_even_if_the_user_changed_since(
    client: httpx.Client, serve_settings: Settings
) -> None:
    user_id = signed_up(client)
    ts = datetime.now(UTC)
    event_id = f"evt-{uuid.uuid4().hex}"
    first = client.post("/v1/score", json=_login(user_id, event_id, ts)).json()
    for _ in range(3):  # more logins from new devices move the user's features
        more = _login(user_id, f"evt-{uuid.uuid4().hex}", ts + timedelta(seconds=1))
        more["device_id"] = f"dev-{uuid.uuid4().hex[:8]}"
        assert client.post("/v1/score", json=more).status_code == 200
    assert client.post("/v1/score", json=_login(user_id, event_id, ts)).json() == first


def test_an_event_recorded_then_scored_with_the_same_id_is_counted_once(
    client: httpx.Client, serve_settings: Settings
) -> None:
    user_id = signed_up(client)
    ts = datetime.now(UTC)
    event_id = f"evt-{uuid.uuid4().hex}"
    recorded = client.post("/v1/events", json=_login(user_id, event_id, ts))
    assert recorded.status_code == 200, recorded.text
    assert client.post("/v1/events", json=_login(user_id, event_id, ts)).json() == recorded.json()
    scored = client.post("/v1/score", json=_login(user_id, event_id, ts))
    assert scored.status_code == 200, scored.text
    assert client.post("/v1/score", json=_login(user_id, event_id, ts)).json() == scored.json()
    assert _ledger_rows(serve_settings, user_id, "login") == 1


def test_a_repeated_signup_gets_its_first_answer_and_a_new_one_is_a_conflict(
    client: httpx.Client,
) -> None:
    user_id = f"u-rep-{uuid.uuid4().hex[:10]}"
    body = event("signup", user_id, event_id=f"evt-{uuid.uuid4().hex}")
    first = client.post("/v1/score", json=body)
    assert first.status_code == 200, first.text
    assert client.post("/v1/score", json=body).json() == first.json()
    fresh = client.post("/v1/score", json={**body, "event_id": f"evt-{uuid.uuid4().hex}"})
    assert fresh.status_code == 409


def test_repeats_are_counted_in_the_metrics(client: httpx.Client) -> None:
    user_id = signed_up(client)
    body = _login(user_id, f"evt-{uuid.uuid4().hex}", datetime.now(UTC))
    for _ in range(2):
        client.post("/v1/score", json=body)
    text = client.get("/metrics").text
    assert 'scamguard_repeated_events_total{route="/v1/score"}' in text
