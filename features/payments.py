"""Payment features: chargebacks, instruments, payouts to new instruments, amounts."""

from __future__ import annotations

from datetime import timedelta

import polars as pl


def add_payment_features(spine: pl.LazyFrame, *, payments: pl.LazyFrame) -> pl.LazyFrame:
    """Per (user_id, as_of), over payments strictly before ``as_of``.

    - as payer: charges, chargebacks, distinct instruments used, largest charge in 30d;
    - as payee: payouts in 7d to an instrument first used for this user within those 7d
      (a changed payout instrument, the account-takeover drain), and their amount.
    """
    paid = (
        spine.join(payments.rename({"payer_id": "user_id"}), on="user_id", how="inner")
        .filter(pl.col("ts") < pl.col("as_of"))
        .group_by("user_id", "as_of")
        .agg(
            (pl.col("kind") == "charge").sum().alias("charges_total"),
            (pl.col("kind") == "chargeback").sum().alias("chargebacks_total"),
            pl.col("instrument_id")
            .filter(pl.col("kind") == "charge")
            .n_unique()
            .alias("charge_instruments"),
            pl.col("amount_usd")
            .filter(
                (pl.col("kind") == "charge")
                & (pl.col("ts") >= pl.col("as_of") - timedelta(days=30))
            )
            .max()
            .alias("charge_amount_max_30d"),
        )
    )
    payouts = payments.filter(pl.col("kind") == "payout").rename({"payee_id": "user_id"})
    first_use = payouts.group_by("user_id", "instrument_id").agg(
        pl.col("ts").min().alias("first_ts")
    )
    received = (
        spine.join(
            payouts.join(first_use, on=["user_id", "instrument_id"]), on="user_id", how="inner"
        )
        .filter(
            (pl.col("ts") < pl.col("as_of")) & (pl.col("ts") >= pl.col("as_of") - timedelta(days=7))
        )
        .group_by("user_id", "as_of")
        .agg(
            (pl.col("first_ts") >= pl.col("as_of") - timedelta(days=7))
            .sum()
            .alias("payouts_new_instrument_7d"),
            pl.col("amount_usd").sum().alias("payout_amount_7d"),
        )
    )
    counts = [
        "charges_total",
        "chargebacks_total",
        "charge_instruments",
        "payouts_new_instrument_7d",
    ]
    return (
        spine.join(paid, on=["user_id", "as_of"], how="left")
        .join(received, on=["user_id", "as_of"], how="left")
        .with_columns(
            *[pl.col(c).fill_null(0).cast(pl.Int64) for c in counts],
            pl.col("payout_amount_7d").fill_null(0.0),
        )
    )


def add_report_features(spine: pl.LazyFrame, *, reports: pl.LazyFrame) -> pl.LazyFrame:
    """Per (user_id, as_of): reports received strictly before ``as_of`` (7d, 30d, all time, reporters)."""
    got = (
        spine.join(reports.rename({"reported_id": "user_id"}), on="user_id", how="inner")
        .filter(pl.col("ts") < pl.col("as_of"))
        .group_by("user_id", "as_of")
        .agg(
            (pl.col("ts") >= pl.col("as_of") - timedelta(days=7)).sum().alias("reports_7d"),
            (pl.col("ts") >= pl.col("as_of") - timedelta(days=30)).sum().alias("reports_30d"),
            pl.col("reporter_id").n_unique().alias("reporters_total"),
        )
    )
    cols = ["reports_7d", "reports_30d", "reporters_total"]
    return spine.join(got, on=["user_id", "as_of"], how="left").with_columns(
        pl.col(c).fill_null(0).cast(pl.Int64) for c in cols
    )
