"""What is already known about a user: their latest label, point in time.

A label (``labels`` table: ``user_id, label, decided_ts``) counts from its decision time: as of
``t`` a user's known label is the latest one decided strictly before ``t``. Reports received after
that decision and before ``t`` are the new evidence that lifts an analyst's benign label (see
``models.overrides``).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

KNOWN_LABEL_SCHEMA = pl.Schema(
    {
        "user_id": pl.String(),
        "label": pl.String(),
        "decided_ts": pl.Datetime("us", "UTC"),
        "reports_since": pl.UInt32(),
    }
)


def known_labels(labels: pl.LazyFrame, reports: pl.LazyFrame, as_of: datetime) -> pl.DataFrame:
    """One row per labelled user as of ``as_of``: the latest label decided strictly before it,
    and the number of reports the user received after that decision and before ``as_of``."""
    latest = (
        labels.filter(pl.col("decided_ts") < as_of)
        .sort("decided_ts", "label")
        .group_by("user_id")
        .agg(pl.col("label").last(), pl.col("decided_ts").last())
    )
    received = reports.filter(pl.col("ts") < as_of).select(
        pl.col("reported_id").alias("user_id"), "ts"
    )
    since = (
        latest.join(received, on="user_id", how="inner")
        .filter(pl.col("ts") > pl.col("decided_ts"))
        .group_by("user_id")
        .agg(pl.len().cast(pl.UInt32).alias("reports_since"))
    )
    return (
        latest.join(since, on="user_id", how="left")
        .with_columns(pl.col("reports_since").fill_null(0))
        .select(KNOWN_LABEL_SCHEMA.names())
        .collect()
        .cast(KNOWN_LABEL_SCHEMA)
        .sort("user_id")
    )
