"""Point-in-time correctness: nothing at or after ``as_of`` changes a feature; windows are exact."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from features.build import Tables, build_features, build_training_table
from features.catalog import KEY_COLUMNS


def _spine(user_id: str, as_of) -> pl.LazyFrame:  # type: ignore[no-untyped-def]
    return pl.LazyFrame(
        {"user_id": [user_id], "as_of": [as_of]},
        schema={"user_id": pl.String, "as_of": pl.Datetime("us", "UTC")},
    )


def _features(frames: dict[str, pl.DataFrame], user_id: str, as_of) -> dict:  # type: ignore[no-untyped-def]
    return (
        build_features(_spine(user_id, as_of), Tables.from_frames(frames))
        .collect()
        .row(0, named=True)
    )


def _append(frames: dict[str, pl.DataFrame], table: str, row: dict) -> dict[str, pl.DataFrame]:
    out = dict(frames)
    out[table] = pl.concat([frames[table], pl.DataFrame([row], schema=frames[table].schema)])
    return out


@pytest.fixture(scope="module")
def case(small_world):
    """A user with messages, linked to someone, and a mid-history ``as_of``."""
    t = small_world.tables
    as_of = t["messages"]["ts"].min() + timedelta(days=21)
    active = (
        t["messages"]
        .filter(pl.col("ts") < as_of)["sender_id"]
        .value_counts()
        .sort("count", descending=True)
    )
    user = active["sender_id"][0]
    return dict(t), user, as_of


def test_future_events_and_labels_are_ignored(case):
    frames, user, as_of = case
    before = _features(frames, user, as_of)
    other = frames["users"]["user_id"].filter(frames["users"]["user_id"] != user)[0]
    device = frames["users"].filter(pl.col("user_id") == user)["signup_device_id"][0]
    planted = frames
    for at in (as_of, as_of + timedelta(seconds=1), as_of + timedelta(days=2)):
        planted = _append(
            planted,
            "messages",
            {
                "message_id": f"m-future-{at}",
                "sender_id": user,
                "recipient_id": other,
                "job_id": None,
                "ts": at,
                "text": "URGENT send the deposit via WhatsApp +1 555 0100 http://bit.ly/x",
            },
        )
        planted = _append(
            planted,
            "logins",
            {
                "login_id": f"l-future-{at}",
                "user_id": user,
                "ts": at,
                "ip": "9.9.9.9",
                "device_id": "dev-new",
                "country": "ZZ",
                "success": True,
            },
        )
        planted = _append(
            planted,
            "reports",
            {
                "report_id": f"r-future-{at}",
                "reporter_id": other,
                "reported_id": user,
                "ts": at,
                "reason": "spam",
            },
        )
        planted = _append(
            planted,
            "payments",
            {
                "payment_id": f"p-future-{at}",
                "payer_id": user,
                "payee_id": other,
                "ts": at,
                "amount_usd": 999.0,
                "instrument_id": "pi_shared",
                "kind": "chargeback",
            },
        )
        # a neighbour sharing the user's device, labelled a scammer: but only after as_of
        planted = _append(
            planted,
            "logins",
            {
                "login_id": f"l-n-{at}",
                "user_id": other,
                "ts": at,
                "ip": "8.8.8.8",
                "device_id": device,
                "country": "US",
                "success": True,
            },
        )
    planted = _append(
        planted,
        "labels",
        {
            "user_id": other,
            "label": "fraud_ring",
            "decided_ts": as_of + timedelta(hours=1),
            "first_bad_ts": as_of - timedelta(days=30),
        },
    )
    after = _features(planted, user, as_of)
    assert after == before


def test_a_planted_past_event_does_change_features(case):
    """The same kind of planting, one second *before* as_of, moves the features (the test above can fail)."""
    frames, user, as_of = case
    before = _features(frames, user, as_of)
    other = frames["users"]["user_id"].filter(frames["users"]["user_id"] != user)[0]
    planted = _append(
        frames,
        "messages",
        {
            "message_id": "m-past",
            "sender_id": user,
            "recipient_id": other,
            "job_id": None,
            "ts": as_of - timedelta(seconds=1),
            "text": "URGENT send the deposit via WhatsApp +1 555 0100",
        },
    )
    after = _features(planted, user, as_of)
    assert after["messages_1h"] == before["messages_1h"] + 1
    assert after["msg_money_30d"] == before["msg_money_30d"] + 1


def test_window_boundaries_are_half_open(case):
    frames, user, as_of = case
    before = _features(frames, user, as_of)
    other = frames["users"]["user_id"].filter(frames["users"]["user_id"] != user)[0]
    on_edge = _append(
        frames,
        "messages",
        {
            "message_id": "m-edge",
            "sender_id": user,
            "recipient_id": other,
            "job_id": None,
            "ts": as_of - timedelta(days=7),
            "text": "hello",
        },
    )
    edge = _features(on_edge, user, as_of)
    assert (
        edge["messages_7d"] == before["messages_7d"] + 1
    )  # exactly 7 days before: inside [as_of - 7d, as_of)
    assert edge["messages_24h"] == before["messages_24h"]
    outside = _append(
        frames,
        "messages",
        {
            "message_id": "m-out",
            "sender_id": user,
            "recipient_id": other,
            "job_id": None,
            "ts": as_of - timedelta(days=7, microseconds=1),
            "text": "hello",
        },
    )
    assert _features(outside, user, as_of)["messages_7d"] == before["messages_7d"]


def test_known_bad_neighbours_count_only_labels_decided_before_as_of(case):
    frames, user, as_of = case
    base = _features(frames, user, as_of)
    device = frames["users"].filter(pl.col("user_id") == user)["signup_device_id"][0]
    others = frames["users"].filter(pl.col("user_id") != user)["user_id"]
    other = next(u for u in others if u not in set(frames["labels"]["user_id"]))
    linked = _append(
        frames,
        "logins",
        {
            "login_id": "l-link",
            "user_id": other,
            "ts": as_of - timedelta(days=3),
            "ip": "7.7.7.7",
            "device_id": device,
            "country": "US",
            "success": True,
        },
    )
    labelled_late = _append(
        linked,
        "labels",
        {
            "user_id": other,
            "label": "fraud_ring",
            "decided_ts": as_of,
            "first_bad_ts": as_of - timedelta(days=5),
        },
    )
    labelled_early = _append(
        linked,
        "labels",
        {
            "user_id": other,
            "label": "fraud_ring",
            "decided_ts": as_of - timedelta(days=1),
            "first_bad_ts": as_of - timedelta(days=5),
        },
    )
    assert _features(linked, user, as_of)["shared_device_users"] == base["shared_device_users"] + 1
    assert (
        _features(labelled_late, user, as_of)["known_bad_neighbors"] == base["known_bad_neighbors"]
    )
    assert (
        _features(labelled_early, user, as_of)["known_bad_neighbors"]
        == base["known_bad_neighbors"] + 1
    )


def test_training_table_contract_and_time_split(small_world):
    table = build_training_table(Tables.from_frames(small_world.tables))
    assert tuple(table.columns[:4]) == KEY_COLUMNS[:4] and "split" in table.columns
    assert table.select("user_id", "as_of").is_duplicated().sum() == 0
    spans = table.group_by("split").agg(
        pl.col("as_of").min().alias("lo"), pl.col("as_of").max().alias("hi")
    )
    span = {r["split"]: (r["lo"], r["hi"]) for r in spans.iter_rows(named=True)}
    assert span["train"][1] < span["valid"][0] <= span["valid"][1] < span["test"][0]
    assert table["label"].sum() > 0
    assert set(table.filter(pl.col("label") == 0)["typology"].unique()) == {"benign"}
