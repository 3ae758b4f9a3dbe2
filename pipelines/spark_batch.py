"""Batch scoring on Spark: ``pipelines.batch`` past one machine, with the registered champion.

The same job as ``pipelines.batch.batch_score``, the same outputs, each replaced whole by a
re-run of the same date:

* ``<data_dir>/features/snapshots/date=D/features.parquet``: features as of midnight (UTC) after
  ``D`` for every user active in the 7 days before it, by the Spark evaluator of the feature specs
  (``features.spark``); written first, then read back to score, so the features are computed once;
* ``<data_dir>/scores/date=D/scores.parquet``: the champion's risk, decision and reasons through
  ``mlflow.pyfunc.spark_udf`` (the registered pyfunc itself, on the executors; its signature
  declares every input double, so the features are cast first), ``model_decision``, then the
  rules of ``settings.rules_path`` and the known labels of the merged label history, applied per
  partition by the Polars functions ``models.rules.apply_rule_hits`` and
  ``models.overrides.apply_known_labels``;
* one ``batch`` record in the audit log (``engine: spark``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from features.event_rows import day_events
from features.spark.build import build_scoring_table, data_window, feature_dtypes
from features.spark.io import write_parquet
from features.spark.jobs import is_local
from features.spark.labels import known_labels
from features.spark.rows import polars_map, to_spark
from features.spark.tables import read_tables
from features.tables import end_of_day, load_clean_tables
from models.overrides import apply_known_labels
from models.rules import RuleSet, apply_rule_hits, batch_hits, load_rules
from scamguard import tracking
from scamguard.audit import append_audit
from scamguard.schema import TS
from scamguard.settings import Settings

from .batch import BatchResult, feature_snapshot_path, score_partition

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

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
    "model_decision": pl.String(),
    "override": pl.String(),
    "rules": pl.List(pl.String()),
}
_HITS_SCHEMA: dict[str, pl.DataType] = {"user_id": pl.String(), "_rules": pl.List(pl.String())}


def _decide(rules: RuleSet) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """The per-batch step after the model (``pipelines.batch.score_day``): ``model_decision``,
    the rules that fired (``_rules``, null: none) by ``models.rules.apply_rule_hits``, then the
    known label columns (null: none) by ``models.overrides.apply_known_labels``."""

    def decide(frame: pl.DataFrame) -> pl.DataFrame:
        hits = frame.filter(pl.col("_rules").is_not_null()).select(
            "user_id", pl.col("_rules").alias("rules")
        )
        known = (
            frame.filter(pl.col("_label").is_not_null()).select("user_id", *_KNOWN).rename(_KNOWN)
        )
        scored = frame.drop("_rules", *_KNOWN).with_columns(
            pl.col("decision").alias("model_decision")
        )
        out = apply_rule_hits(scored, hits, rules)
        return apply_known_labels(out, known).select(*_SCORED_SCHEMA)

    return decide


def rule_hits(
    spark: SparkSession, settings: Settings, rules: RuleSet, features: DataFrame, as_of: datetime
) -> DataFrame:
    """``user_id, _rules``: the rules that fired for each scored user (``models.rules
    .batch_hits`` on the driver, over the day's events before ``as_of`` and the features the
    rules name), as a Spark DataFrame.

    Scale limit: the driver holds the day's events (``features.event_rows.day_events``, read by
    Polars from the clean tables) and one row per scored user of the named feature columns; a day
    of a 50M-user marketplace is a few GB, past which the hits need a partitioned join instead.
    """
    hits = pl.DataFrame(schema={"user_id": pl.String(), "rules": pl.List(pl.String())})
    if rules.rules:
        wanted = sorted({f for r in rules.rules for f in r.when.features})
        dtypes = feature_dtypes()
        found = pl.from_arrow(features.select("user_id", *wanted).toArrow())
        assert isinstance(found, pl.DataFrame)
        found = found.with_columns(pl.col(c).cast(dtypes[c]) for c in wanted if c in dtypes)
        tables = load_clean_tables(settings, analyst_labels=False)
        events = day_events(tables, as_of - timedelta(days=1), as_of)
        hits = batch_hits(rules, found, events)
    return to_spark(spark, hits.rename({"rules": "_rules"}), _HITS_SCHEMA)


def batch_score_spark(
    settings: Settings, spark: SparkSession, day: date | None = None
) -> BatchResult:
    """Score every user active in the 7 days before the end of ``day`` (default: the last day of
    the data) with the `champion`, on ``spark``."""
    from pyspark.sql import functions as F

    rules = load_rules(settings.rules_path)  # a bad file fails before anything is written
    local = is_local(spark)
    tables = read_tables(spark, settings, cache=local)
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
    hits = rule_hits(spark, settings, rules, features, as_of)
    out = polars_map(
        scored.join(hits, on="user_id", how="left").join(known, on="user_id", how="left"),
        _decide(rules),
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
            "rules": {"file": rules.source, "ids": [r.id for r in rules.rules]},
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
