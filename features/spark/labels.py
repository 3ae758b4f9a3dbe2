"""What is already known about a user as of an instant, on Spark (``features.labels``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def known_labels(labels: DataFrame, reports: DataFrame, as_of: datetime) -> DataFrame:
    """``user_id, label, decided_ts, reports_since``: each labelled user's latest label decided
    strictly before ``as_of`` (ties: the greater label, as the Polars sort's last), and the reports
    they received after that decision and before ``as_of``."""
    from pyspark.sql import functions as F

    latest = (
        labels.filter(F.col("decided_ts") < F.lit(as_of))
        .groupBy("user_id")
        .agg(F.max(F.struct("decided_ts", "label")).alias("_latest"))
        .select("user_id", "_latest.label", "_latest.decided_ts")
    )
    received = reports.filter(F.col("ts") < F.lit(as_of)).select(
        F.col("reported_id").alias("user_id"), "ts"
    )
    since = (
        latest.join(received, on="user_id")
        .filter(F.col("ts") > F.col("decided_ts"))
        .groupBy("user_id")
        .agg(F.count(F.lit(1)).alias("reports_since"))
    )
    return latest.join(since, on="user_id", how="left").select(
        "user_id",
        "label",
        "decided_ts",
        F.coalesce(F.col("reports_since"), F.lit(0).cast("long")).alias("reports_since"),
    )
