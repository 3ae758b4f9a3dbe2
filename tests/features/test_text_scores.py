"""``textmodel_*`` features: point in time, windows, one score per distinct text, null semantics.

The scorer here is a plain function (P(scam) from a keyword), so these tests need no torch; the
cross-fitting that feeds real transformer scores is tested in ``tests/models/test_behaviour.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from features.text_scores import (
    DOCUMENT_SCHEMA,
    TEXT_SCORE_DESCRIPTIONS,
    TEXT_SCORE_FEATURES,
    add_text_score_features,
    describe_text_score_feature,
    score_documents,
    text_documents,
    text_score_columns,
)

AS_OF = datetime(2026, 8, 17, tzinfo=UTC)
SCAM = "send the deposit via WhatsApp first"
TS = pl.Datetime("us", "UTC")


def keyword_score(texts: list[str]) -> np.ndarray:
    return np.array([0.9 if "whatsapp" in t.lower() else 0.1 for t in texts])


def _tables(messages: list[tuple[str, datetime, str]]) -> dict[str, pl.LazyFrame]:
    """Two users; ``messages`` are (sender, ts, text)."""
    users = pl.LazyFrame(
        {
            "user_id": ["u1", "u2"],
            "signup_ts": [AS_OF - timedelta(days=40), AS_OF + timedelta(days=1)],
            "profile_text": ["Python developer, 5 years", "Contact me on WhatsApp"],
        },
        schema={"user_id": pl.String, "signup_ts": TS, "profile_text": pl.String},
    )
    msgs = pl.LazyFrame(
        {
            "sender_id": [m[0] for m in messages],
            "ts": [m[1] for m in messages],
            "text": [m[2] for m in messages],
        },
        schema={"sender_id": pl.String, "ts": TS, "text": pl.String},
    )
    jobs = pl.LazyFrame(
        {
            "client_id": ["u1"],
            "ts": [AS_OF - timedelta(days=60)],
            "title": ["Need a React dev"],
            "description": ["Ping me on WhatsApp for details"],
        },
        schema={"client_id": pl.String, "ts": TS, "title": pl.String, "description": pl.String},
    )
    proposals = pl.LazyFrame(
        {"freelancer_id": ["u1"], "ts": [AS_OF - timedelta(days=3)], "cover_text": ["Hi!"]},
        schema={"freelancer_id": pl.String, "ts": TS, "cover_text": pl.String},
    )
    return {"users": users, "messages": msgs, "jobs": jobs, "proposals": proposals}


def _features(messages, as_of=AS_OF, users=("u1", "u2")) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    docs = text_documents(**_tables(messages))
    scored = score_documents(docs, keyword_score)
    spine = pl.LazyFrame(
        {"user_id": list(users), "as_of": [as_of] * len(users)},
        schema={"user_id": pl.String, "as_of": TS},
    )
    out = add_text_score_features(spine, scored=scored.lazy()).collect()
    return {r["user_id"]: r for r in out.iter_rows(named=True)}


BASE = [
    ("u1", AS_OF - timedelta(days=2), "Thanks, milestone funded"),
    ("u1", AS_OF - timedelta(days=1), "See you tomorrow"),
]


def test_a_future_scam_message_is_ignored():
    before = _features(BASE)["u1"]
    planted = BASE + [
        ("u1", AS_OF, SCAM),  # at as_of: not yet happened
        ("u1", AS_OF + timedelta(seconds=1), SCAM),
        ("u1", AS_OF + timedelta(days=3), SCAM),
    ]
    assert _features(planted)["u1"] == before
    assert before["textmodel_msg_max_30d"] == pytest.approx(0.1)
    assert before["textmodel_msg_high_30d"] == 0


def test_a_scam_message_just_before_as_of_counts():
    row = _features(BASE + [("u1", AS_OF - timedelta(seconds=1), SCAM)])["u1"]
    assert row["textmodel_msg_max_30d"] == pytest.approx(0.9)
    assert row["textmodel_msg_mean_30d"] == pytest.approx((0.1 + 0.1 + 0.9) / 3)
    assert row["textmodel_msg_high_30d"] == 1
    assert row["textmodel_max"] == pytest.approx(0.9)


def test_messages_older_than_30_days_leave_the_message_window():
    old = [("u1", AS_OF - timedelta(days=30, seconds=1), SCAM)]
    row = _features(BASE + old)["u1"]
    assert row["textmodel_msg_max_30d"] == pytest.approx(0.1)
    edge = _features(BASE + [("u1", AS_OF - timedelta(days=30), SCAM)])["u1"]
    assert edge["textmodel_msg_max_30d"] == pytest.approx(0.9)  # exactly 30 days: inside


def test_the_message_mean_does_not_depend_on_the_order_of_the_documents():
    # summed in these two orders, the scores differ in the last bit: the mean must not follow row
    # order (a join leaves rows in thread order)
    scores = [0.64, 0.27, 0.04, 0.02]
    rows = [
        {"user_id": "u1", "ts": AS_OF - timedelta(hours=i + 1), "kind": "message", "score": s}
        for i, s in enumerate(scores)
    ]
    spine = pl.LazyFrame(
        {"user_id": ["u1"], "as_of": [AS_OF]}, schema={"user_id": pl.String, "as_of": TS}
    )
    schema = {"user_id": pl.String, "ts": TS, "kind": pl.String, "score": pl.Float64}
    means = {
        add_text_score_features(spine, scored=pl.LazyFrame(order, schema=schema)).collect()[
            "textmodel_msg_mean_30d"
        ][0]
        for order in (rows, rows[::-1])
    }
    assert sum(scores) != sum(scores[::-1])  # the premise
    assert len(means) == 1
    # a user with documents but no message still has no message mean ("no data")
    job = [{"user_id": "u1", "ts": AS_OF - timedelta(days=1), "kind": "job", "score": 0.5}]
    row = add_text_score_features(spine, scored=pl.LazyFrame(job, schema=schema)).collect()
    assert row["textmodel_msg_mean_30d"][0] is None and row["textmodel_job_max"][0] == 0.5


def test_job_posts_count_over_all_history_and_profiles_from_signup():
    rows = _features(BASE)
    u1, u2 = rows["u1"], rows["u2"]
    assert u1["textmodel_job_max"] == pytest.approx(0.9)  # description 60 days ago
    assert u1["textmodel_proposal_max"] == pytest.approx(0.1)
    assert u1["textmodel_profile"] == pytest.approx(0.1)
    assert u1["textmodel_max"] == pytest.approx(0.9)
    # u2 signs up after as_of: no document of any kind yet -> nulls and zero counts
    assert u2["textmodel_profile"] is None and u2["textmodel_max"] is None
    assert u2["textmodel_msg_high_30d"] == 0 and u2["textmodel_proposal_high"] == 0


def test_each_distinct_text_is_scored_once_and_blank_texts_get_no_score() -> None:
    calls: list[list[str]] = []

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return keyword_score(texts)

    docs = pl.DataFrame(
        {
            "user_id": ["a", "b", "c", "d", "e"],
            "ts": [AS_OF] * 5,
            "kind": ["message"] * 5,
            "text": [SCAM, SCAM, "hello", "   ", None],
        },
        schema=DOCUMENT_SCHEMA,
    )
    scored = score_documents(docs, counting)
    assert len(calls) == 1 and sorted(calls[0]) == sorted([SCAM, "hello"])
    assert scored.height == 5
    assert scored["score"].to_list()[:3] == [0.9, 0.9, 0.1]
    assert scored["score"].to_list()[3:] == [None, None]


def test_documents_cover_every_kind_with_jobs_as_title_and_description():
    docs = text_documents(**_tables(BASE)).collect()
    assert docs.schema == DOCUMENT_SCHEMA
    counts = dict(docs.group_by("kind").len().iter_rows())
    assert counts == {"message": 2, "job": 2, "proposal": 1, "profile": 2}


def test_columns_are_prefixed_described_and_typed():
    row = _features(BASE)["u1"]
    features = text_score_columns(list(row))
    assert features == list(TEXT_SCORE_FEATURES)
    assert all(describe_text_score_feature(f) == TEXT_SCORE_DESCRIPTIONS[f] for f in features)
    out = add_text_score_features(
        pl.LazyFrame(
            {"user_id": ["u1"], "as_of": [AS_OF], "keep": [7]}, schema_overrides={"as_of": TS}
        ),
        scored=score_documents(text_documents(**_tables(BASE)), keyword_score).lazy(),
    ).collect()
    assert out["keep"].to_list() == [7]  # other spine columns are kept
    assert all(out.schema[c] in (pl.Float64, pl.Int64) for c in features)
