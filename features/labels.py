"""What is known about a user: the merged label history and their latest label, point in time.

Labels come from two sources: the platform's ``labels`` table (reports, chargebacks, the
simulator's investigators; one label per user) and analysts (``scamguard label``, ``POST
/v1/labels``: an append-only store, ``scamguard.analyst_labels``). :func:`label_history` merges
them into one history, ``user_id, label, decided_ts, first_bad_ts, source, seq``.

Precedence: every label counts from its decision time ``decided_ts``, never before. As of ``t`` a
user's known label is the latest one decided strictly before ``t``; at equal decision times an
analyst's label wins over the platform's, and between two analyst labels the one recorded later
wins. ``seq`` is that order (the last row of a user before ``t`` is their known label). Training
(``features.build.attach_target``), batch scoring's known labels and the graph features' known-bad
neighbours all read this one history.

Reports received after a label's decision and before ``t`` are the new evidence that lifts an
analyst's benign label (see ``models.overrides``).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from scamguard.schema import SCAM_TYPOLOGIES

SOURCES = ("platform", "analyst")  # at equal decided_ts, the later source in this tuple wins
LABEL_HISTORY_SCHEMA = pl.Schema(
    {
        "user_id": pl.String(),
        "label": pl.String(),
        "decided_ts": pl.Datetime("us", "UTC"),
        "first_bad_ts": pl.Datetime("us", "UTC"),
        "source": pl.String(),
        "seq": pl.UInt32(),
    }
)


def label_history(
    platform: pl.LazyFrame, analyst: pl.LazyFrame | pl.DataFrame, users: pl.LazyFrame
) -> pl.LazyFrame:
    """The platform's labels and the analysts' (in the order recorded) as one history, in
    precedence order (module docstring), with ``source`` and ``seq``.

    An analyst's scam label without ``first_bad_ts`` takes the earliest one of the user's scam
    labels decided up to it, else the user's sign-up (``users``): the whole account's life.
    """
    columns = ["user_id", "label", "decided_ts", "first_bad_ts"]
    mine = analyst.lazy().select(columns).with_row_index("_recorded")
    theirs = platform.select(columns).with_columns(pl.lit(None, pl.UInt32).alias("_recorded"))
    rank = {s: i for i, s in enumerate(SOURCES)}
    both = pl.concat(
        [
            theirs.with_columns(pl.lit("platform").alias("source")),
            mine.select(*columns, "_recorded", pl.lit("analyst").alias("source")),
        ]
    ).with_columns(pl.col("source").replace_strict(rank, return_dtype=pl.UInt8).alias("_rank"))
    is_scam = pl.col("label").is_in(SCAM_TYPOLOGIES)
    earliest = (
        pl.when(is_scam)
        .then(pl.col("first_bad_ts"))
        .cum_min()
        .forward_fill()
        .over("user_id", order_by="_order")
    )
    signup = users.select("user_id", pl.col("signup_ts").alias("_signup"))
    return (
        both.sort("decided_ts", "_rank", "_recorded", "label", nulls_last=False)
        .with_row_index("_order")
        .join(signup, on="user_id", how="left", maintain_order="left")
        .with_columns(
            pl.when((pl.col("source") == "analyst") & is_scam)
            .then(pl.coalesce("first_bad_ts", earliest, "_signup"))
            .otherwise(pl.col("first_bad_ts"))
            .alias("first_bad_ts")
        )
        .with_columns(pl.col("_order").cast(pl.UInt32).alias("seq"))
        .select(LABEL_HISTORY_SCHEMA.names())
        .cast(LABEL_HISTORY_SCHEMA)  # type: ignore[arg-type]
    )


def ordered_labels(labels: pl.LazyFrame) -> pl.LazyFrame:
    """``labels`` sorted in precedence order with a ``seq`` column: a :func:`label_history` as it
    is, or a bare platform ``labels`` table (one label per user) given one."""
    if "seq" in labels.collect_schema().names():
        return labels.sort("seq")
    return labels.sort("decided_ts", "label").with_row_index("seq")


def latest_labels(labels: pl.LazyFrame, before: datetime | None = None) -> pl.LazyFrame:
    """One row per labelled user: their latest label (every column of ``labels``), among those
    decided strictly before ``before`` (None: all of them)."""
    ordered = ordered_labels(labels)
    if before is not None:
        ordered = ordered.filter(pl.col("decided_ts") < before)
    return ordered.group_by("user_id").agg(pl.all().last())


KNOWN_LABEL_SCHEMA = pl.Schema(
    {
        "user_id": pl.String(),
        "label": pl.String(),
        "decided_ts": pl.Datetime("us", "UTC"),
        "reports_since": pl.UInt32(),
    }
)


def known_labels(labels: pl.LazyFrame, reports: pl.LazyFrame, as_of: datetime) -> pl.DataFrame:
    """One row per labelled user as of ``as_of``: the latest label decided strictly before it (in
    the precedence of :func:`label_history`), and the number of reports the user received after that decision and before ``as_of``."""
    latest = latest_labels(labels, as_of).select("user_id", "label", "decided_ts")
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
