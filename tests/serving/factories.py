"""Request bodies for the endpoint tests: one valid event of each type, fresh users, signups."""

from __future__ import annotations

import uuid

import httpx

from tests.serving.conftest import COUNTERPART

FIELDS: dict[str, dict] = {
    "signup": {
        "role": "freelancer",
        "country": "US",
        "email_domain": "example.com",
        "phone_country": "US",
        "ip": "10.9.8.7",
        "device_id": "dev-test",
        "kyc_status": "none",
        "profile_text": "Python developer.",
    },
    "login": {"ip": "10.9.8.7", "device_id": "dev-test", "country": "US", "success": True},
    "job_post": {
        "job_id": "j-test-1",
        "title": "Build a landing page",
        "description": "A small landing page.",
        "budget_usd": 500.0,
        "category": "web_dev",
    },
    "proposal": {
        "job_id": "j-test-1",
        "bid_usd": 300.0,
        "cover_text": "Hi, I built a similar page last month.",
    },
    "message": {
        "recipient_id": COUNTERPART,
        "text": "Thanks, I have sent the files through the platform.",
    },
    "payment": {
        "payee_id": COUNTERPART,
        "amount_usd": 250.0,
        "instrument_id": "card-test",
        "kind": "charge",
    },
}
"""Valid fields of each event type (the counterpart is ``COUNTERPART``, signed up by the
``client`` fixture)."""


def new_user() -> str:
    return f"u-new-{uuid.uuid4().hex[:10]}"


def event(event_type: str, user_id: str, **overrides: object) -> dict:
    return {"event_type": event_type, "user_id": user_id, **FIELDS[event_type], **overrides}


def signed_up(client: httpx.Client, **overrides: object) -> str:
    """A new user, signed up now through ``POST /v1/events`` (every other event needs one)."""
    user_id = new_user()
    response = client.post("/v1/events", json=event("signup", user_id, **overrides))
    assert response.status_code == 200, response.text
    return user_id
