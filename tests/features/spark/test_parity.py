"""Spark against Polars on the small simulated marketplace of ``trained_env``, with analysts'
labels that reverse platform labels and a rules file (``relabelled``): the same training table
(every feature; counts exactly, floats to 1e-9 relative, the same nulls and rows) and the same
batch scores (risk to 1e-9, the same model decisions, rules, decisions, reasons and overrides).
One Spark session and one trained world serve every test."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as scipy_components

from features.build import FEATURE_COLUMNS
from features.build import build_training_table as build_polars_table
from features.spark.build import build_training_table, to_polars
from features.spark.graph import connected_components
from features.spark.tables import read_tables
from features.tables import end_of_data, load_clean_tables
from pipelines.batch import batch_score
from pipelines.spark_batch import batch_score_spark
from scamguard.analyst_labels import AnalystLabel, append_analyst_label
from scamguard.schema import SCAM_TYPOLOGIES
from scamguard.settings import Settings


def mismatches(expected: pl.DataFrame, actual: pl.DataFrame, columns: list[str]) -> dict[str, int]:
    """Cells that differ per column: numbers to 1e-9 relative, others exactly; nulls must match."""
    out = {}
    for c in columns:
        a, b = expected[c], actual[c]
        if a.dtype.is_numeric():
            a, b = a.cast(pl.Float64), b.cast(pl.Float64)
            same = (a - b).abs() <= 1e-9 * b.abs().clip(lower_bound=1.0)
        else:
            same = a == b
        same = same.fill_null(False) | (a.is_null() & b.is_null())
        if not same.all():
            out[c] = int((~same).sum())
    return out


RULES = """
rules:
  - id: linked-review
    owner: trust-ops
    note: shares identifiers with several users
    action: review
    when:
      features: {linked_users: {gte: 3}}
  - id: busy-message-block
    owner: trust-ops
    note: messages many recipients in a day
    action: block
    when:
      event_types: [message]
      features: {recipients_24h: {gte: 4}}
"""


@pytest.fixture(scope="module")
def relabelled(trained_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """``trained_env``'s clean tables and registry under a data dir of its own, where analysts
    (through the store ``scamguard label`` writes) cleared 15 scam-labelled users with a benign
    label a week after their scam one, and labelled 15 unlabelled active users scam (some with
    ``first_bad_ts``, one at the very instant of a platform label); and with a rules file."""
    where = tmp_path_factory.mktemp("relabelled") / "data"
    where.mkdir(parents=True)
    (where / "clean").symlink_to(trained_env.clean_dir.resolve())
    (where / "rules.yaml").write_text(RULES)
    settings = Settings(data_dir=where, api_key="test-key", mlflow_uri=trained_env.tracking_uri)
    tables = load_clean_tables(settings, analyst_labels=False)
    labels = tables.labels.collect().sort("user_id")
    scams = labels.filter(pl.col("label").is_in(SCAM_TYPOLOGIES)).head(15)
    for row in scams.iter_rows(named=True):
        ts = row["decided_ts"] + timedelta(days=7)
        append_analyst_label(
            settings, AnalystLabel(user_id=row["user_id"], label="benign", ts=ts, analyst="ana")
        )
    lo, hi = end_of_data(tables) - timedelta(days=35), end_of_data(tables) - timedelta(days=2)
    active = (
        tables.users.filter(pl.col("signup_ts") < lo)
        .join(labels.lazy(), on="user_id", how="anti")
        .select("user_id", "signup_ts")
        .sort("user_id")
        .collect()
        .head(15)
    )
    for i, row in enumerate(active.iter_rows(named=True)):
        ts = lo + (hi - lo) * i / 15
        first = row["signup_ts"] + timedelta(days=1) if i % 2 else None
        # the first one at the very time of a platform label: the analyst's wins the tie
        ts = labels["decided_ts"][0] if i == 0 else ts
        append_analyst_label(
            settings,
            AnalystLabel(
                user_id=row["user_id"],
                label=SCAM_TYPOLOGIES[i % len(SCAM_TYPOLOGIES)],
                ts=ts,
                first_bad_ts=first,
                analyst="bob",
            ),
        )
    return settings


def test_spark_training_table_equals_the_polars_one(spark, relabelled, training_table):
    expected = build_polars_table(load_clean_tables(relabelled))
    # the analysts' labels change the table (targets, dropped rows, known-bad neighbours)
    assert not expected.equals(training_table)
    built = build_training_table(read_tables(spark, relabelled, cache=True))
    table = to_polars(built.frame)
    assert table.columns == expected.columns
    assert table.schema == expected.schema  # to_polars restores the Polars dtypes
    # same rows in the same order (as_of, user_id), then every cell
    assert table.select("user_id", "as_of").equals(expected.select("user_id", "as_of"))
    assert mismatches(expected, table, ["label", "typology", "split", *FEATURE_COLUMNS]) == {}
    assert built.graph_rounds >= 1


def _scoring_settings(settings: Settings, where: Path) -> Settings:
    """Settings writing under ``where`` that read ``settings``' clean tables, analyst labels,
    rules and registry."""
    where.mkdir(parents=True)
    for name in ("clean", "labels", "rules.yaml"):
        if (settings.data_dir / name).exists():
            (where / name).symlink_to((settings.data_dir / name).resolve())
    return Settings(data_dir=where, api_key="test-key", mlflow_uri=settings.tracking_uri)


def test_spark_batch_scores_equal_the_polars_ones(spark, relabelled, tmp_path):
    expected = batch_score(_scoring_settings(relabelled, tmp_path / "polars"))
    result = batch_score_spark(_scoring_settings(relabelled, tmp_path / "spark"), spark)
    assert (result.date, result.rows, result.decisions, result.model_version) == (
        expected.date,
        expected.rows,
        expected.decisions,
        expected.model_version,
    )
    polars_scores, spark_scores = pl.read_parquet(expected.path), pl.read_parquet(result.path)
    # the rules fired, decided some users and the known labels others
    overrides = polars_scores["override"].drop_nulls()
    assert polars_scores["rules"].list.len().sum() > 0
    assert overrides.str.starts_with("rule:").any() and (~overrides.str.starts_with("rule:")).any()
    assert spark_scores.schema == polars_scores.schema
    assert spark_scores["user_id"].equals(polars_scores["user_id"])
    assert mismatches(polars_scores, spark_scores, ["risk"]) == {}
    same = ["decision", "model_decision", "rules", "reason_1", "reason_2", "reason_3", "reasons"]
    same += ["override", "model_version"]
    assert spark_scores.select(same).equals(polars_scores.select(same))
    # the features scored were written beside the scores, as the Polars job writes them
    snapshots = [
        pl.read_parquet(next((tmp_path / e / "features" / "snapshots").glob("*/features.parquet")))
        for e in ("polars", "spark")
    ]
    assert mismatches(snapshots[0], snapshots[1], FEATURE_COLUMNS) == {}


@pytest.mark.parametrize("seed", [0])
def test_large_star_small_star_finds_scipys_components(spark, seed):
    """Two graphs (keys g = 0, 1): random sparse edges plus a long path, which plain min-label
    propagation would need its length in rounds to cross."""
    rng = np.random.default_rng(seed)
    n, frames = 400, []
    for g in (0, 1):
        a, b = rng.integers(0, n, 300), rng.integers(0, n, 300)
        path = np.arange(100 * g, 100 * g + 120)
        a, b = np.concatenate([a, path[:-1]]), np.concatenate([b, path[1:]])
        frames.append(pl.DataFrame({"g": g, "a": a, "b": b}))
    edges = pl.concat(frames)
    found = connected_components(spark.createDataFrame(edges.to_pandas()))
    labels = pl.from_arrow(found.labels.toArrow())
    for g in (0, 1):
        e = edges.filter(pl.col("g") == g)
        graph = coo_matrix((np.ones(e.height), (e["a"], e["b"])), shape=(n, n))
        _, truth = scipy_components(graph, directed=False)
        mine = labels.filter(pl.col("g") == g).sort("node")
        nodes = mine["node"].to_numpy()
        assert set(nodes) == set(
            e.filter(pl.col("a") != pl.col("b"))[["a", "b"]].to_numpy().ravel()
        )
        # the same partition: each found label is the smallest node of its scipy component
        smallest = pl.DataFrame({"node": np.arange(n), "c": truth}).with_columns(
            pl.col("node").min().over("c").alias("root")
        )
        joined = mine.join(smallest, on="node")
        assert (joined["label"] == joined["root"]).all()
    assert found.rounds < 12
