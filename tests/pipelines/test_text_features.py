"""Batch scoring's ``textmodel_*`` columns (``pipelines.text_features``): the stored document scores,
aggregated at each row's ``as_of``, in the rows' own order; a document at or after ``as_of`` is
ignored."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from features.build import build_scoring_table
from features.online.local import text_scores_path
from features.tables import end_of_data, load_clean_tables
from features.text_scores import TEXT_SCORE_FEATURES, text_documents
from pipelines.text_features import with_text_features
from scamguard.settings import Settings
from tests.conftest import make_settings


def _stored_scores(tables) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    """Every document with a deterministic score in [0, 1) (its text length mod 97, / 97)."""
    docs = text_documents(
        users=tables.users, messages=tables.messages, jobs=tables.jobs, proposals=tables.proposals
    ).collect()
    return docs.select(
        "user_id",
        "ts",
        "kind",
        (pl.col("text").fill_null("").str.len_chars() % 97 / 97).cast(pl.Float64).alias("score"),
    )


@pytest.fixture(scope="module")
def scoring(trained_env: Settings, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tables = load_clean_tables(trained_env)
    as_of = end_of_data(tables) - timedelta(days=3)
    features = build_scoring_table(tables, as_of).sample(fraction=1.0, shuffle=True, seed=3)
    settings = make_settings(tmp_path_factory.mktemp("text_features") / "data")
    return tables, as_of, features, settings


def _write(settings: Settings, scores: pl.DataFrame) -> None:
    path = text_scores_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    scores.write_parquet(path)


def test_stored_scores_give_the_aggregates_in_the_rows_order(scoring) -> None:  # type: ignore[no-untyped-def]
    tables, as_of, features, settings = scoring
    scores = _stored_scores(tables)
    _write(settings, scores)
    out = with_text_features(features, tables, settings, run_id=None)
    assert out["user_id"].to_list() == features["user_id"].to_list()
    # by hand for a few users: the highest score of their messages in the 30 days before as_of
    messages = scores.filter(
        (pl.col("kind") == "message")
        & (pl.col("ts") < as_of)
        & (pl.col("ts") >= as_of - timedelta(days=30))
    )
    expected = messages.group_by("user_id").agg(pl.col("score").max().alias("want"))
    got = out.select("user_id", "textmodel_msg_max_30d").join(expected, on="user_id")
    assert got.height > 10
    gap = float((got["textmodel_msg_max_30d"] - got["want"]).abs().max())  # type: ignore[arg-type]
    assert gap < 1e-12
    assert set(TEXT_SCORE_FEATURES) <= set(out.columns)


def test_a_document_at_or_after_as_of_changes_nothing(scoring) -> None:  # type: ignore[no-untyped-def]
    tables, as_of, features, settings = scoring
    scores = _stored_scores(tables)
    _write(settings, scores)
    before = with_text_features(features, tables, settings, run_id=None)
    user = features["user_id"][0]
    planted = pl.DataFrame(
        {
            "user_id": [user, user],
            "ts": [as_of, as_of + timedelta(hours=1)],
            "kind": ["message", "message"],
            "score": [1.0, 1.0],
        },
        schema=scores.schema,
    )
    _write(settings, pl.concat([scores, planted]))
    after = with_text_features(features, tables, settings, run_id=None)
    assert after.equals(before)
    # and one just before as_of does count
    planted = planted.with_columns(
        pl.lit(as_of - timedelta(seconds=1)).alias("ts").cast(scores.schema["ts"])
    )
    _write(settings, pl.concat([scores, planted]))
    moved = with_text_features(features, tables, settings, run_id=None)
    row = moved.filter(pl.col("user_id") == user)
    assert row["textmodel_msg_max_30d"][0] == 1.0
