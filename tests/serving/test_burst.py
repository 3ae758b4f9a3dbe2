"""A burst of messages from a fresh account, through the real HTTP server: the risk rises within
the burst. ``/v1/score`` records each event in the online store and reads the sender's features
just after it (``serving.online``), so identical messages score higher as the burst accumulates.

The server (``base_url``, tests/serving/conftest.py) runs uvicorn with ``trained_env``'s champion.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from features.online import OnlineStore
from features.online.local import store_path

FRIENDLY = (
    "Hello, thanks for applying. Could you share a sample of your work here on the platform?",
    "Thanks, I will review your proposal this afternoon.",
    "Great, what is your availability this week?",
)
SCAM = (
    "Hi dear, the job is yours. Add me on WhatsApp +1 555 0134 227 and send the refundable "
    "deposit for the equipment today via gift card, it is urgent."
)
SCAMS = 9  # after the friendly opening, the same scam pitch to a new freelancer every 20 s


def test_a_message_burst_from_a_fresh_account_raises_its_risk_within_the_burst(
    client: httpx.Client, serve_settings
) -> None:
    user = f"u-burst-{uuid.uuid4().hex[:8]}"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    signup = {
        "event_type": "signup",
        "user_id": user,
        "ts": start.isoformat(),
        "role": "client",
        "country": "US",
        "email_domain": "example.com",
        "phone_country": "US",
        "ip": "198.51.100.7",
        "device_id": f"dev-{user}",
    }
    assert client.post("/v1/score", json=signup).status_code == 200
    texts = [*FRIENDLY, *[SCAM] * SCAMS]
    for i in range(len(texts)):  # the recipients exist (own devices and IPs: no shared links)
        target = signup | {
            "user_id": f"u-target-{user}-{i}",
            "role": "freelancer",
            "ip": f"198.51.100.{100 + i}",
            "device_id": f"dev-target-{user}-{i}",
        }
        assert client.post("/v1/events", json=target).status_code == 200
    sent_at = [start + timedelta(minutes=1, seconds=20 * i) for i in range(len(texts))]
    risks = []
    for i, (text, ts) in enumerate(zip(texts, sent_at, strict=True)):
        message = {
            "event_type": "message",
            "user_id": user,
            "ts": ts.isoformat(),
            "recipient_id": f"u-target-{user}-{i}",
            "text": text,
        }
        response = client.post("/v1/score", json=message)
        assert response.status_code == 200, response.text
        risks.append(response.json()["risk"])

    scam_risks = risks[len(FRIENDLY) :]
    # the same message, later in the burst, is riskier: only the account's recorded history differs
    assert scam_risks[-1] > scam_risks[0], risks
    assert max(scam_risks[SCAMS // 2 :]) > scam_risks[0], risks

    # the server recorded every message: the store, read here through its own connection, holds
    # the whole burst as of just after the last message
    store = OnlineStore(store_path(serve_settings))
    features = store.features(user, sent_at[-1] + timedelta(microseconds=1))
    store.close()
    assert features["messages_1h"] == len(texts) and features["recipients_1h"] == len(texts)
    assert features["msg_contact_30d"] == SCAMS
    assert features["msg_flagged_share_30d"] == SCAMS / len(texts)
