"""Through the real server: known labels decide from their decision time, and a scored text says
what the heuristics found in it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.serving.factories import event, new_user

SCAM_TEXT = (
    "Add me on WhatsApp +1 555 0134 227 and send the refundable deposit today, it is urgent!"
)


def _signed_up_at(client: httpx.Client, at: datetime) -> str:
    user_id = new_user()
    body = event("signup", user_id, ts=at.isoformat())
    assert client.post("/v1/events", json=body).status_code == 200
    return user_id


def _label(client: httpx.Client, user_id: str, label: str, at: datetime) -> None:
    body = {"event_type": "label", "user_id": user_id, "label": label, "ts": at.isoformat()}
    response = client.post("/v1/events", json=body)
    assert response.status_code == 200, response.text


def test_a_user_labelled_a_scammer_is_blocked_with_the_label_as_the_reason(
    client: httpx.Client,
) -> None:
    now = datetime.now(UTC)
    user_id = _signed_up_at(client, now - timedelta(hours=2))
    _label(client, user_id, "fake_client", now - timedelta(hours=1))
    response = client.post("/v1/score", json=event("login", user_id, ts=now.isoformat()))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["decision"] == "block"
    assert body["reasons"][0] == f"labelled fake_client on {(now - timedelta(hours=1)).date()}"


def test_a_label_decided_after_the_event_does_not_decide_it(client: httpx.Client) -> None:
    now = datetime.now(UTC)
    user_id = _signed_up_at(client, now - timedelta(hours=2))
    _label(client, user_id, "fake_client", now - timedelta(minutes=1))
    earlier = event("login", user_id, ts=(now - timedelta(hours=1)).isoformat())
    body = client.post("/v1/score", json=earlier).json()
    assert not any(r.startswith("labelled") for r in body["reasons"]), body


def test_a_scored_message_says_what_its_text_trips(client: httpx.Client) -> None:
    user_id = _signed_up_at(client, datetime.now(UTC) - timedelta(minutes=5))
    body = client.post("/v1/score", json=event("message", user_id, text=SCAM_TEXT)).json()
    found = [r for r in body["reasons"] if r.startswith("this message: ")]
    assert len(found) == 1, body["reasons"]
    for words in (
        "a contact handle outside the platform",
        "money or payment words",
        "urgency words",
    ):
        assert words in found[0]
    plain = client.post("/v1/score", json=event("message", user_id, text="Thanks, see you")).json()
    assert not any(r.startswith("this message") for r in plain["reasons"])
