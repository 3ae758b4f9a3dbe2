"""The feature job on Spark: clean tables in, ``<data_dir>/features/training.parquet`` out.

The same input and output layout as the Polars stage (``scamguard features``); the table is
written as one Parquet file when the data dir is on a local filesystem (``features.spark.io``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from scamguard.settings import Settings

from .build import build_training_table
from .io import write_parquet
from .tables import read_tables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class SparkFeatureRun:
    path: Path
    instants: list[datetime]
    graph_rounds: int  # large-star / small-star rounds of the components


def is_local(spark: SparkSession) -> bool:
    """True when the session runs in local mode (driver and executors in one process)."""
    return (spark.sparkContext.master or "").startswith("local")


def write_training_table(
    spark: SparkSession, settings: Settings, as_of_times: Sequence[datetime] | None = None
) -> SparkFeatureRun:
    """Build the training table on ``spark`` and write it to ``features/training.parquet``."""
    local = is_local(spark)
    tables = read_tables(spark, settings, cache=local)
    built = build_training_table(tables, as_of_times)
    path = write_parquet(built.frame, settings.features_dir / "training.parquet")
    return SparkFeatureRun(path=path, instants=built.instants, graph_rounds=built.graph_rounds)
