"""What is already known about a user as of an instant, on Spark (``features.labels``).

The label history is the one the Polars engine reads (``features.tables.label_history_of``: the
platform's labels and the analysts', one row per label, ``seq`` its precedence). It is small next
to the events (at most a few labels per labelled user), so the driver merges it with the Polars
function itself and hands it to Spark (:func:`read_label_history`); every reader then takes a
user's latest label before an instant as the one with the greatest ``seq`` (``max_by``), so a
later benign label clears an earlier scam one, as in Polars.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from features.labels import LABEL_HISTORY_SCHEMA
from features.tables import label_history_of
from scamguard.analyst_labels import read_analyst_labels
from scamguard.io import scan_table
from scamguard.schema import SCAM_TYPOLOGIES
from scamguard.settings import Settings

from .rows import to_spark

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


def label_history(settings: Settings) -> pl.DataFrame:
    """The merged label history of ``settings`` on the driver (``features.tables``), in
    precedence order. Only the users with an analyst's label are read from ``users`` (their
    sign-up dates the scam labels an analyst gave without ``first_bad_ts``)."""
    analyst = read_analyst_labels(settings)
    users = scan_table(settings.clean_dir, "users").filter(
        pl.col("user_id").is_in(analyst["user_id"].implode())
    )
    platform = scan_table(settings.clean_dir, "labels")
    return label_history_of(platform, users, analyst).collect()


def read_label_history(spark: SparkSession, settings: Settings) -> DataFrame:
    """:func:`label_history` as a Spark DataFrame (``seq`` as a long)."""
    return to_spark(spark, label_history(settings), dict(LABEL_HISTORY_SCHEMA))


def _scam(label: Column) -> Column:
    return label.isin(list(SCAM_TYPOLOGIES))


def bad_at(labels: DataFrame, instants: Sequence[int]) -> DataFrame:
    """``user_id, g, _bad``: 1 where the user's latest label (greatest ``seq``) decided strictly
    before instant ``g`` (microseconds) is a scam typology, 0 where it is not (``features.graph
    .LinkGraph.bad_at``); users labelled after the instant have no row."""
    from pyspark.sql import functions as F

    return (
        labels.select(
            "user_id",
            "seq",
            "label",
            F.unix_micros("decided_ts").alias("_decided"),
            F.posexplode(F.array(*(F.lit(t) for t in instants))).alias("g", "_t"),
        )
        .filter(F.col("_decided") < F.col("_t"))
        .groupBy("user_id", "g")
        .agg(F.max_by("label", "seq").alias("_latest"))
        .select("user_id", "g", _scam(F.col("_latest")).cast("long").alias("_bad"))
    )


def known_labels(labels: DataFrame, reports: DataFrame, as_of: datetime) -> DataFrame:
    """``user_id, label, decided_ts, reports_since``: each labelled user's latest label decided
    strictly before ``as_of`` (by precedence, ``seq``), and the reports they received after that
    decision and before ``as_of``."""
    from pyspark.sql import functions as F

    latest = (
        labels.filter(F.col("decided_ts") < F.lit(as_of))
        .groupBy("user_id")
        .agg(F.max_by(F.struct("label", "decided_ts"), "seq").alias("_latest"))
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
