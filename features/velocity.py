"""Velocity features: activity counts over sliding windows strictly before ``as_of``.

A window ``w`` covers events with ``as_of - w <= ts < as_of``. An event exactly ``w`` before
``as_of`` is inside the window; an event at ``as_of`` itself is not (it has not happened yet).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
EVENT_KINDS = ("message", "job", "proposal", "payment", "login", "failed_login")


def actor_events(
    *,
    messages: pl.LazyFrame,
    jobs: pl.LazyFrame,
    proposals: pl.LazyFrame,
    payments: pl.LazyFrame,
    logins: pl.LazyFrame,
) -> pl.LazyFrame:
    """One row per action a user took: ``user_id, ts, kind, counterparty`` (counterparty may be null)."""
    null = pl.lit(None, dtype=pl.String)
    return pl.concat(
        [
            messages.select(
                pl.col("sender_id").alias("user_id"),
                "ts",
                pl.lit("message").alias("kind"),
                pl.col("recipient_id").alias("counterparty"),
            ),
            jobs.select(
                pl.col("client_id").alias("user_id"),
                "ts",
                pl.lit("job").alias("kind"),
                null.alias("counterparty"),
            ),
            proposals.select(
                pl.col("freelancer_id").alias("user_id"),
                "ts",
                pl.lit("proposal").alias("kind"),
                null.alias("counterparty"),
            ),
            payments.filter(pl.col("kind") == "charge").select(
                pl.col("payer_id").alias("user_id"),
                "ts",
                pl.lit("payment").alias("kind"),
                pl.col("payee_id").alias("counterparty"),
            ),
            logins.select(
                "user_id",
                "ts",
                pl.when(pl.col("success"))
                .then(pl.lit("login"))
                .otherwise(pl.lit("failed_login"))
                .alias("kind"),
                null.alias("counterparty"),
            ),
        ]
    )


def first_seen(
    logins: pl.LazyFrame, users: pl.LazyFrame, column: str, signup_column: str | None
) -> pl.LazyFrame:
    """``user_id, value, first_ts``: when each user was first seen with each device / country.

    The sign-up device (or country) counts as seen at sign-up.
    """
    parts = [
        logins.filter(pl.col("success")).select("user_id", pl.col(column).alias("value"), "ts")
    ]
    if signup_column:
        parts.append(
            users.select(
                "user_id", pl.col(signup_column).alias("value"), pl.col("signup_ts").alias("ts")
            )
        )
    return pl.concat(parts).group_by("user_id", "value").agg(pl.col("ts").min().alias("first_ts"))


def add_velocity_features(
    spine: pl.LazyFrame,
    *,
    events: pl.LazyFrame,
    logins: pl.LazyFrame,
    users: pl.LazyFrame,
    windows: dict[str, timedelta] = WINDOWS,
) -> pl.LazyFrame:
    """Per (user_id, as_of): counts of each event kind and distinct message recipients per window,
    plus devices and countries first seen within the 7d and 30d windows."""
    longest = max(windows.values())
    joined = spine.join(events, on="user_id", how="inner").filter(
        (pl.col("ts") < pl.col("as_of")) & (pl.col("ts") >= pl.col("as_of") - longest)
    )
    aggs = []
    for name, width in windows.items():
        inside = pl.col("ts") >= pl.col("as_of") - width
        for kind in EVENT_KINDS:
            aggs.append((inside & (pl.col("kind") == kind)).sum().alias(f"{kind}s_{name}"))
        aggs.append(
            pl.col("counterparty")
            .filter(inside & (pl.col("kind") == "message"))
            .n_unique()
            .alias(f"recipients_{name}")
        )
    counts = joined.group_by("user_id", "as_of").agg(aggs)

    novelty = []
    for what, column, signup_column in (
        ("devices", "device_id", "signup_device_id"),
        ("countries", "country", "country"),
    ):
        seen = first_seen(logins, users, column, signup_column)
        novelty.append(
            spine.join(seen, on="user_id", how="inner")
            .filter(pl.col("first_ts") < pl.col("as_of"))
            .group_by("user_id", "as_of")
            .agg(
                *[
                    (pl.col("first_ts") >= pl.col("as_of") - windows[w])
                    .sum()
                    .alias(f"new_{what}_{w}")
                    for w in ("7d", "30d")
                ],
                pl.len().alias(f"{what}_total"),
            )
        )
    out = spine.join(counts, on=["user_id", "as_of"], how="left")
    for part in novelty:
        out = out.join(part, on=["user_id", "as_of"], how="left")
    new_cols = (
        [a.meta.output_name() for a in aggs]
        + [f"new_{w}_{d}" for w in ("devices", "countries") for d in ("7d", "30d")]
        + ["devices_total", "countries_total"]
    )
    return out.with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in new_cols)
