"""Spark against Polars on the small simulated marketplace of ``trained_env``: the same training
table (every feature; counts exactly, floats to 1e-9 relative, the same nulls and rows) and the
same batch scores (risk to 1e-9, the same decisions, reasons and overrides)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as scipy_components

from features.build import FEATURE_COLUMNS
from features.spark.build import build_training_table, to_polars
from features.spark.graph import connected_components
from features.spark.tables import read_clean_tables
from pipelines.batch import batch_score
from pipelines.spark_batch import batch_score_spark
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


def test_spark_training_table_equals_the_polars_one(spark, trained_env, training_table):
    built = build_training_table(read_clean_tables(spark, trained_env.clean_dir, cache=True))
    table = to_polars(built.frame)
    assert table.columns == training_table.columns
    assert table.schema == training_table.schema  # to_polars restores the Polars dtypes
    # same rows in the same order (as_of, user_id), then every cell
    assert table.select("user_id", "as_of").equals(training_table.select("user_id", "as_of"))
    assert mismatches(training_table, table, ["label", "typology", "split", *FEATURE_COLUMNS]) == {}
    assert built.graph_rounds >= 1


def _scoring_settings(trained_env: Settings, where: Path) -> Settings:
    """Settings writing under ``where`` that read ``trained_env``'s clean tables and registry."""
    where.mkdir(parents=True)
    (where / "clean").symlink_to(trained_env.clean_dir.resolve())
    return Settings(data_dir=where, api_key="test-key", mlflow_uri=trained_env.tracking_uri)


def test_spark_batch_scores_equal_the_polars_ones(spark, trained_env, tmp_path):
    expected = batch_score(_scoring_settings(trained_env, tmp_path / "polars"))
    result = batch_score_spark(_scoring_settings(trained_env, tmp_path / "spark"), spark)
    assert (result.date, result.rows, result.decisions, result.model_version) == (
        expected.date,
        expected.rows,
        expected.decisions,
        expected.model_version,
    )
    polars_scores, spark_scores = pl.read_parquet(expected.path), pl.read_parquet(result.path)
    assert spark_scores.schema == polars_scores.schema
    assert spark_scores["user_id"].equals(polars_scores["user_id"])
    assert mismatches(polars_scores, spark_scores, ["risk"]) == {}
    same = ["decision", "reason_1", "reason_2", "reason_3", "reasons", "override", "model_version"]
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
