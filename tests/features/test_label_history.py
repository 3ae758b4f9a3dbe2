"""The merged label history: precedence between sources and over time, and no label counts before
its decision time (features, the known label, the training target)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from features.build import Tables, attach_target, build_features
from features.labels import label_history, latest_labels
from scamguard.analyst_labels import ANALYST_LABEL_SCHEMA

T0 = datetime(2026, 7, 1, tzinfo=UTC)


def _at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def _analyst(*rows: tuple[str, str, datetime]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"user_id": u, "label": lab, "decided_ts": ts} for u, lab, ts in rows],
        schema={k: ANALYST_LABEL_SCHEMA[k] for k in ("user_id", "label", "decided_ts")},
    ).with_columns(pl.lit(None, ANALYST_LABEL_SCHEMA["first_bad_ts"]).alias("first_bad_ts"))


def _platform(*rows: tuple[str, str, datetime, datetime | None]) -> pl.LazyFrame:
    return pl.LazyFrame(
        [
            {"user_id": u, "label": lab, "decided_ts": ts, "first_bad_ts": fb}
            for u, lab, ts, fb in rows
        ],
        schema={
            "user_id": pl.String,
            "label": pl.String,
            "decided_ts": pl.Datetime("us", "UTC"),
            "first_bad_ts": pl.Datetime("us", "UTC"),
        },
    )


USERS = pl.LazyFrame(
    {"user_id": ["a", "b", "c"], "signup_ts": [_at(0), _at(0), _at(1)]},
    schema={"user_id": pl.String, "signup_ts": pl.Datetime("us", "UTC")},
)


def test_the_latest_label_wins_and_an_analyst_wins_a_tie() -> None:
    history = label_history(
        _platform(("a", "fake_client", _at(10), _at(5)), ("b", "benign", _at(12), None)),
        _analyst(
            ("a", "benign", _at(11)),
            ("b", "payment_fraud", _at(12)),
            ("c", "benign", _at(2)),
            ("c", "fraud_ring", _at(2)),
        ),
        USERS,
    ).collect()
    assert history.height == 6  # every label is kept
    latest = {
        r["user_id"]: r for r in latest_labels(history.lazy()).collect().iter_rows(named=True)
    }
    assert latest["a"]["label"] == "benign" and latest["a"]["source"] == "analyst"
    assert latest["b"]["label"] == "payment_fraud"  # equal time: the analyst's wins
    assert latest["c"]["label"] == "fraud_ring"  # two analysts at one time: the later recorded
    before = latest_labels(history.lazy(), _at(11)).collect()
    assert before.filter(pl.col("user_id") == "a")["label"].item() == "fake_client"
    # an analyst's scam label without first_bad_ts: the whole account's life
    assert latest["b"]["first_bad_ts"] == _at(0)


def test_a_label_counts_only_from_its_decision_time_in_the_target() -> None:
    spine = pl.LazyFrame(
        {"user_id": ["a", "a", "a"], "as_of": [_at(7), _at(14), _at(21)]},
        schema={"user_id": pl.String, "as_of": pl.Datetime("us", "UTC")},
    )
    history = label_history(_platform(), _analyst(("a", "fake_client", _at(14))), USERS)

    def target(**kwargs) -> dict:  # type: ignore[no-untyped-def]
        out = attach_target(spine, history, **kwargs).collect().sort("as_of")
        return dict(zip(out["as_of"].dt.day().to_list(), out["label"].to_list(), strict=True))

    # eventually known: a scam since sign-up, so every snapshot before the decision is positive;
    # the snapshot after it is dropped (the label would have decided it)
    assert target() == {8: 1, 15: 1}
    # labels known by the first snapshot's time: the label does not exist yet
    assert target(known_by=_at(7)) == {8: 0, 15: 0, 22: 0}


@pytest.fixture(scope="module")
def linked(small_world):
    """A user with a neighbour through a shared identifier, unlabelled both, and an instant."""
    from features.graph import identifier_links

    t = small_world.tables
    as_of = t["messages"]["ts"].min() + timedelta(days=28)
    links = (
        identifier_links(
            users=t["users"].lazy(), logins=t["logins"].lazy(), payments=t["payments"].lazy()
        )
        .filter(pl.col("first_ts") < as_of)
        .collect()
    )
    shared = (
        links.group_by("kind", "ident")
        .agg(pl.col("user_id").unique())
        .filter(pl.col("user_id").list.len() == 2)
    )
    labelled = set(t["labels"]["user_id"])
    for a, b in shared["user_id"].to_list():
        if a not in labelled and b not in labelled:
            return dict(t), a, b, as_of
    pytest.skip("no unlabelled pair of linked users")


def test_an_analyst_label_after_as_of_changes_no_feature_and_one_before_does(linked) -> None:
    frames, user, neighbour, as_of = linked
    spine = pl.LazyFrame(
        {"user_id": [user], "as_of": [as_of]},
        schema={"user_id": pl.String, "as_of": pl.Datetime("us", "UTC")},
    )

    def features(*labels: tuple[str, str, datetime]) -> dict:
        history = label_history(frames["labels"].lazy(), _analyst(*labels), frames["users"].lazy())
        tables = Tables.from_frames({**frames, "labels": history})
        return build_features(spine, tables).collect().row(0, named=True)

    base = features()
    assert features((neighbour, "fraud_ring", as_of)) == base  # at as_of: not yet known
    assert features((neighbour, "fraud_ring", as_of + timedelta(days=3))) == base
    known = features((neighbour, "fraud_ring", as_of - timedelta(hours=1)))
    assert known["known_bad_neighbors"] == base["known_bad_neighbors"] + 1
    # a later analyst "benign" clears the neighbour from its decision time on, not before
    cleared = features(
        (neighbour, "fraud_ring", as_of - timedelta(days=2)),
        (neighbour, "benign", as_of - timedelta(hours=1)),
    )
    assert cleared["known_bad_neighbors"] == base["known_bad_neighbors"]
    not_yet = features(
        (neighbour, "fraud_ring", as_of - timedelta(days=2)),
        (neighbour, "benign", as_of + timedelta(hours=1)),
    )
    assert not_yet["known_bad_neighbors"] == base["known_bad_neighbors"] + 1
