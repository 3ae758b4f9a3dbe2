"""Batch scoring: every active user scored once; a re-run of the same date replaces, never duplicates."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from features.build import active_spine
from features.tables import load_clean_tables
from pipelines.batch import batch_score, read_scores, score_partition


def test_rerun_of_the_same_date_replaces_its_output(trained_env):
    first = read_scores(trained_env)
    day = first["as_of"][0].date() - timedelta(days=1)
    result = batch_score(trained_env, day)
    again = read_scores(trained_env, day)
    assert again.height == first.height == result.rows
    assert again["user_id"].is_unique().all()
    assert list(score_partition(trained_env, day).parent.glob("*.parquet")) == [
        score_partition(trained_env, day)
    ]


def test_every_user_active_in_the_week_is_scored_with_reasons(trained_env):
    scores = read_scores(trained_env)
    as_of = scores["as_of"][0]
    active = active_spine(load_clean_tables(trained_env), [as_of]).collect()
    assert set(scores["user_id"]) == set(active["user_id"])
    assert scores["risk"].is_between(0, 1).all()
    assert set(scores["decision"].unique()) <= {"allow", "review", "block"}
    top = scores.sort("risk", descending=True).row(0, named=True)
    assert top["reason_1"] is not None and len(top["reasons"]) >= 1


def test_an_earlier_date_is_scored_into_its_own_partition(trained_env):
    latest = read_scores(trained_env)
    earlier = latest["as_of"][0].date() - timedelta(days=8)
    result = batch_score(trained_env, earlier)
    assert score_partition(trained_env, earlier).exists()
    assert result.as_of < latest["as_of"][0]
    assert read_scores(trained_env).height == latest.height  # the latest partition is untouched
    assert pl.read_parquet(score_partition(trained_env, earlier)).height == result.rows


def test_no_user_labelled_a_scammer_before_the_as_of_time_is_allowed(trained_env):
    scores = read_scores(trained_env)
    as_of = scores["as_of"][0]
    labels = load_clean_tables(trained_env).labels.collect()
    known = labels.filter((pl.col("decided_ts") < as_of) & (pl.col("label") != "benign"))
    later = labels.filter((pl.col("decided_ts") >= as_of) & (pl.col("label") != "benign"))
    labelled = scores.join(known, on="user_id")
    assert labelled.height > 0
    assert (labelled["decision"] == "block").all()
    assert (labelled["override"] == "known-scam-label").all()
    for row in labelled.iter_rows(named=True):
        assert row["reasons"][0] == f"labelled {row['label']} on {row['decided_ts'].date()}"
    # a label decided after the as-of time is not known yet: the model alone decides
    assert scores.join(later, on="user_id")["override"].is_null().all()
