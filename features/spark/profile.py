"""Profile features on Spark: ``features.profile`` for many (user, as_of) rows.

The static features are ``features.profile.profile_rows`` itself, applied to the users table's
partitions (``features.spark.rows.profiles``). The two that depend on ``as_of``:

- ``account_age_days``: whole seconds from sign-up to ``as_of``, truncated toward zero, / 86 400;
- ``profile_text_copies``: other users with the identical non-empty profile text who signed up
  strictly before ``as_of``: sign-ups per (text, first instant after them), carried forward over
  the instants (``carry_forward``), minus the user themself. Rows per text are at most one per
  instant, so a text shared by many accounts makes no hot partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from features.profile import PROFILE_FEATURES, SECONDS_PER_DAY
from scamguard.schema import TABLES

from .aggregates import KEYS, carry_forward, instant_index
from .rows import profiles

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

US_PER_SECOND = 1_000_000


def add_profile_features(
    spine: DataFrame, *, users: DataFrame, instants: Sequence[int]
) -> DataFrame:
    """``spine`` (``user_id``, ``g``, ``as_of`` in microseconds; other columns kept) plus
    ``PROFILE_FEATURES``. A user missing from ``users`` gets nulls and 0 copies."""
    from pyspark.sql import functions as F

    rows = profiles(users, TABLES["users"].schema).cache()
    static = rows.drop("profile_text")
    # whole seconds truncated toward zero (integral ``div``), as Polars' ``dt.total_seconds``
    seconds = F.expr(f"cast((as_of - signup_ts) div {US_PER_SECOND} as long)")
    with_static = spine.join(static, on="user_id", how="left").withColumn(
        "account_age_days", seconds.cast("double") / F.lit(float(SECONDS_PER_DAY))
    )

    texts = rows.filter(F.length("profile_text") > 0).select("user_id", "profile_text", "signup_ts")
    signups = (
        texts.withColumn("g", instant_index(F.col("signup_ts"), instants))
        .filter(F.col("g") < len(instants))
        .groupBy("profile_text", "g")
        .agg(F.count(F.lit(1)).alias("_before"))
    )
    probes = spine.select(*KEYS, "as_of").distinct().join(texts, on="user_id")
    before = carry_forward(
        signups,
        probes.select("profile_text", "g").distinct(),
        {"_before": "sum"},
        by="profile_text",
    )
    copies = probes.join(before, on=["profile_text", "g"], how="left").select(
        *KEYS,
        (
            F.coalesce(F.col("_before"), F.lit(0))
            - (F.col("signup_ts") < F.col("as_of")).cast("long")
        ).alias("profile_text_copies"),
    )
    out = with_static.drop("signup_ts").join(copies, on=list(KEYS), how="left")
    return out.withColumn(
        "profile_text_copies", F.coalesce(F.col("profile_text_copies"), F.lit(0).cast("long"))
    ).select(*spine.columns, *PROFILE_FEATURES)
