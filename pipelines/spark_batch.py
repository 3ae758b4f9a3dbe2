"""Batch scoring on Spark: ``pipelines.batch`` past one machine, with the registered champion.

The same job as ``pipelines.batch.batch_score``, the same outputs, each replaced whole by a
re-run of the same date:

* ``<data_dir>/features/snapshots/date=D/features.parquet``: features as of midnight (UTC) after
  ``D`` for every user active in the 7 days before it, by the Spark evaluator of the feature specs
  (``features.spark``); written first, then read back to score, so the features are computed once;
* ``<data_dir>/scores/date=D/scores.parquet``: the champion's risk, decision and reasons through
  ``mlflow.pyfunc.spark_udf`` (the registered pyfunc itself, on the executors; its signature
  declares every input double, so the features are cast first), then the known labels
  (``models.overrides.apply_known_labels``, applied per partition);
* one ``batch`` record in the audit log (``engine: spark``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import polars as pl

from features.spark.build import build_scoring_table, data_window
from features.spark.io import write_parquet
from features.spark.jobs import is_local
from features.spark.labels import known_labels
from features.spark.rows import polars_map
from features.spark.tables import read_clean_tables
from features.tables import end_of_day
from models.overrides import apply_known_labels
from scamguard import tracking
from scamguard.audit import append_audit
from scamguard.schema import TS
from scamguard.settings import Settings

from .batch import BatchResult, feature_snapshot_path, score_partition

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# the pyfunc's outputs (models.pyfunc.OUTPUT_COLUMNS) as a Spark struct
SCORE_TYPE = (
    "risk double, decision string, reason_1 string, reason_2 string, reason_3 string, "
    "reasons array<string>"
)
_REASONS = ("reason_1", "reason_2", "reason_3")
_KNOWN = {"_label": "label", "_decided_ts": "decided_ts", "_reports_since": "reports_since"}
_SCORED_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "as_of": TS,
    "risk": pl.Float64(),
    "decision": pl.String(),
    "reason_1": pl.String(),
    "reason_2": pl.String(),
    "reason_3": pl.String(),
    "reasons": pl.List(pl.String()),
    "override": pl.String(),
}


def _apply_known(frame: pl.DataFrame) -> pl.DataFrame:
    """One batch of scored rows, each with its known label columns (null: none), through
    ``models.overrides.apply_known_labels``."""
    known = frame.filter(pl.col("_label").is_not_null()).select("user_id", *_KNOWN).rename(_KNOWN)
    scored = frame.drop(*_KNOWN)
    return apply_known_labels(scored, known).select(*_SCORED_SCHEMA)


def batch_score_spark(
    settings: Settings, spark: SparkSession, day: date | None = None
) -> BatchResult:
    """Score every user active in the 7 days before the end of ``day`` (default: the last day of
    the data) with the `champion`, on ``spark``."""
    from pyspark.sql import functions as F

    local = is_local(spark)
    tables = read_clean_tables(spark, settings.clean_dir, cache=local)
    day = day or data_window(tables)[1].date()
    as_of = end_of_day(day)
    version = tracking.resolve_alias(
        settings, settings.risk_model_name, "champion", hint="run `scamguard train` first"
    )
    snapshot = write_parquet(
        build_scoring_table(tables, as_of).frame,
        feature_snapshot_path(settings, day),
        single_file=local,
    )
    features = spark.read.parquet(str(snapshot))
    udf, inputs = tracking.spark_udf(settings, spark, version, result_type=SCORE_TYPE)
    model_input = F.struct(*(F.col(c).cast("double").alias(c) for c in inputs))
    scored = features.select("user_id", "as_of", udf(model_input).alias("_score")).select(
        "user_id",
        "as_of",
        *(F.col(f"_score.{c}").alias(c) for c in ("risk", "decision")),
        # spark_udf turns every value of a string output into a string: a missing reason
        # (fewer than three) arrives as "None"; no feature has that name
        *(F.nullif(F.col(f"_score.{c}"), F.lit("None")).alias(c) for c in _REASONS),
        F.col("_score.reasons").alias("reasons"),
    )
    known = known_labels(tables.labels, tables.reports, as_of).select(
        "user_id", *(F.col(v).alias(k) for k, v in _KNOWN.items())
    )
    out = polars_map(
        scored.join(known, on="user_id", how="left"),
        _apply_known,
        _SCORED_SCHEMA,
    ).select(
        *_SCORED_SCHEMA,
        F.lit(version.version).alias("model_version"),
        F.lit(datetime.now(UTC)).alias("scored_at"),
    )
    path = write_parquet(out.orderBy("user_id"), score_partition(settings, day), single_file=local)
    decisions = {
        r["decision"]: r["count"]
        for r in spark.read.parquet(str(path)).groupBy("decision").count().collect()
    }
    rows = sum(decisions.values())
    append_audit(
        settings,
        {
            "kind": "batch",
            "engine": "spark",
            "run": uuid.uuid4().hex,
            "date": day.isoformat(),
            "rows": rows,
            "decisions": decisions,
            "model_version": version.version,
            "path": str(path),
        },
    )
    return BatchResult(
        date=day,
        as_of=as_of,
        rows=rows,
        decisions=decisions,
        model_version=version.version,
        path=path,
    )
