"""Velocity features: activity counts over sliding windows strictly before ``as_of``.

A window ``w`` covers events with ``as_of - w <= ts < as_of``. An event exactly ``w`` before
``as_of`` is inside the window; an event at ``as_of`` itself is not (it has not happened yet).

Per window: ledger rows of each ``EVENT_KINDS`` kind (messages sent, jobs posted, proposals sent,
charges paid, successful and failed logins) and distinct message recipients. Novelty: devices and
countries first seen on the account (at sign-up or a successful login) within 7 and 30 days, and
in total. ``actor_events`` lists the acts that make a user active (the training spine).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from .aggregates import Count, Distinct, Spec, Unique

WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
EVENT_KINDS = ("message", "job", "proposal", "payment", "login", "failed_login")
NOVELTY_WINDOWS = ("7d", "30d")


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


def velocity_features(windows: dict[str, timedelta] = WINDOWS) -> tuple[Spec, ...]:
    """The velocity family's specs, in table column order."""
    specs: list[Spec] = []
    for name, width in windows.items():
        specs += [Count(f"{kind}s_{name}", (kind,), window=width) for kind in EVENT_KINDS]
        specs.append(Unique(f"recipients_{name}", ("message",), "counterparty", width))
    for what, sighting in (("devices", "device"), ("countries", "country")):
        specs += [
            Distinct(f"new_{what}_{w}", sighting, windows[w], dtype=pl.Int64())
            for w in NOVELTY_WINDOWS
        ]
        specs.append(Distinct(f"{what}_total", sighting))
    return tuple(specs)


VELOCITY_FEATURES: tuple[Spec, ...] = velocity_features()
