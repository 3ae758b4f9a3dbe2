"""The endpoint's view of the online store (``serving.online.OnlineFeatures``): what a scored
event does to its user's features, over the store of ``trained_env``'s mirror."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import polars as pl
import pytest

from features.tables import load_clean_tables
from serving.online import OnlineFeatures
from serving.schemas import LoginEvent, MessageEvent, SignupEvent
from tests.serving.factories import new_user
from tests.serving.test_endpoint import BENIGN_TEXT, SCAM_TEXT


@pytest.fixture(scope="module")
def online(serve_settings) -> OnlineFeatures:
    return OnlineFeatures.load(serve_settings)


def message(
    user_id: str, text: str = BENIGN_TEXT, recipient: str = "u-r1", ts: datetime | None = None
) -> MessageEvent:
    body = {"event_type": "message", "user_id": user_id, "recipient_id": recipient, "text": text}
    return MessageEvent.model_validate(body | ({"ts": ts} if ts else {}))


def _known(value: float | None) -> float:
    """A feature that must have data (None: no data)."""
    assert value is not None
    return value


def test_online_signup_gives_a_fresh_account_row(online: OnlineFeatures) -> None:
    user_id = new_user()
    f = online.features_for(
        SignupEvent(
            event_type="signup",
            user_id=user_id,
            role="client",
            country="US",
            email_domain="mailinator.com",
            phone_country="NG",
            ip="1.2.3.4",
            device_id="d-1",
            profile_text="Urgent: contact me on WhatsApp",
        )
    )
    assert f["account_age_days"] == 0 and f["is_client"] == 1 and f["email_disposable"] == 1
    flags = f["profile_text_flags"]
    assert f["phone_country_mismatch"] == 1 and f["kyc_none"] == 1
    assert flags is not None and flags >= 2
    assert f["messages_30d"] == 0 and f["devices_total"] == 1 and f["new_devices_7d"] == 1
    assert f["job_budget_max"] is None


def test_online_a_burst_of_messages_raises_the_counts_within_the_burst(
    online: OnlineFeatures,
) -> None:
    user_id = new_user()
    counts = [
        online.features_for(message(user_id, SCAM_TEXT, recipient=f"u-r{i}")) for i in range(5)
    ]
    assert [c["messages_1h"] for c in counts] == [1, 2, 3, 4, 5]
    assert [c["recipients_24h"] for c in counts] == [1, 2, 3, 4, 5]
    assert counts[-1]["msg_contact_30d"] == 5 and counts[-1]["msg_multi_flag_30d"] == 5
    assert counts[-1]["msg_flagged_share_30d"] == 1.0


def test_online_a_known_user_starts_from_the_snapshot(
    online: OnlineFeatures, known_user: str, snapshot: pl.DataFrame
) -> None:
    row = snapshot.filter(pl.col("user_id") == known_user).row(0, named=True)
    f = online.features_for(message(known_user, ts=row["as_of"]))
    assert f["messages_30d"] == row["messages_30d"] + 1
    assert f["messages_1h"] == row["messages_1h"] + 1
    assert f["account_age_days"] == pytest.approx(row["account_age_days"])
    assert (
        f["shared_device_users"] == row["shared_device_users"]
    )  # graph features keep their snapshot value


def test_online_a_known_but_inactive_user_starts_from_their_profile(
    online: OnlineFeatures, serve_settings, snapshot: pl.DataFrame
) -> None:
    users = (
        load_clean_tables(serve_settings)
        .users.collect()
        .join(snapshot.select("user_id"), on="user_id", how="anti")
    )
    user = users.row(0, named=True)
    ts = datetime(2030, 1, 1, tzinfo=UTC)
    f = online.features_for(message(user["user_id"], ts=ts))
    assert f["account_age_days"] == pytest.approx((ts - user["signup_ts"]).total_seconds() / 86_400)
    assert f["is_client"] == (user["role"] == "client") and f["kyc_verified"] == (
        user["kyc_status"] == "verified"
    )
    logins = load_clean_tables(serve_settings).logins.collect()
    devices = logins.filter(pl.col("user_id") == user["user_id"])["device_id"].n_unique()
    assert f["messages_30d"] == 1  # the message itself: nothing else in the last 30 days
    assert f["devices_total"] == devices  # the store holds the account's whole login history


def test_online_new_devices_count_only_for_accounts_seen_from_signup(
    online: OnlineFeatures, known_user: str, snapshot: pl.DataFrame
) -> None:
    user_id = new_user()
    online.features_for(
        SignupEvent(
            event_type="signup",
            user_id=user_id,
            role="freelancer",
            country="US",
            email_domain="example.com",
            phone_country="US",
            ip="1.2.3.4",
            device_id="d-1",
        )
    )
    same = online.features_for(
        LoginEvent(event_type="login", user_id=user_id, ip="1.2.3.4", device_id="d-1", country="US")
    )
    new = online.features_for(
        LoginEvent(event_type="login", user_id=user_id, ip="5.6.7.8", device_id="d-2", country="RU")
    )
    assert (
        same["new_devices_7d"],
        new["new_devices_7d"],
        new["new_countries_7d"],
        new["logins_1h"],
    ) == (1, 2, 2, 2)
    ts = datetime(2031, 1, 1, tzinfo=UTC)  # after all history: only these logins are within 7 days
    first, second = (
        online.features_for(
            LoginEvent(
                event_type="login",
                user_id=known_user,
                ip="5.6.7.8",
                device_id=d,
                country="RU",
                ts=ts,
            )
        )
        for d in ("d-new-a", "d-new-b")
    )
    assert (first["new_devices_7d"], second["new_devices_7d"]) == (1, 2)  # known accounts too


def test_online_events_leave_the_window_after_it_ends(online: OnlineFeatures) -> None:
    user_id = new_user()
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    online.features_for(message(user_id, ts=t0))
    later = online.features_for(message(user_id, ts=t0.replace(hour=3)))
    assert later["messages_1h"] == 1 and later["messages_24h"] == 2


def test_online_counts_are_thread_safe(online: OnlineFeatures) -> None:
    user_id, ts = (
        new_user(),
        datetime.now(UTC),
    )  # one instant: every recorded event is inside the windows
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda i: online.features_for(message(user_id, recipient=f"u-r{i}", ts=ts)),
                range(64),
            )
        )
    assert sorted(_known(r["messages_24h"]) for r in results) == list(
        range(1, 65)
    )  # no lost or doubled update
