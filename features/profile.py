"""Profile features: account age, KYC, email domain, phone/country mismatch, profile text.

``profile_rows`` is the row-level definition (one users row -> its static profile features),
applied offline to the users table and online to each sign-up. Two features depend on ``as_of``:

- ``account_age_days``: whole seconds from sign-up to ``as_of`` (truncated toward zero, as
  Polars' ``dt.total_seconds``) divided by 86 400;
- ``profile_text_copies``: *other* users with the identical non-empty profile text who signed up
  strictly before ``as_of`` (copied profiles), so later sign-ups never leak backwards.

A user missing from the users table has null profile features and 0 copies.
"""

from __future__ import annotations

from functools import cache
from typing import TypeVar

import polars as pl

from .text import text_flags

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

FREE_EMAIL = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com", "proton.me"]
DISPOSABLE_EMAIL = ["mailinator.com", "tempmail.dev", "10minutemail.net", "guerrillamail.com"]
STATIC_PROFILE_FEATURES: tuple[str, ...] = (
    "is_client",
    "kyc_verified",
    "kyc_failed",
    "kyc_none",
    "email_disposable",
    "email_free",
    "phone_country_mismatch",
    "profile_text_len",
    "profile_text_flags",
)
PROFILE_FEATURES: tuple[str, ...] = (
    *STATIC_PROFILE_FEATURES,
    "account_age_days",
    "profile_text_copies",
)
SECONDS_PER_DAY = 86_400


def profile_rows(users: Frame) -> Frame:
    """``user_id, signup_ts, profile_text`` and the static profile features of each users row."""
    return users.select(*profile_exprs())


@cache
def profile_exprs() -> tuple[pl.Expr, ...]:
    return (
        pl.col("user_id"),
        pl.col("signup_ts"),
        pl.col("profile_text"),
        (pl.col("role") == "client").cast(pl.Int8).alias("is_client"),
        (pl.col("kyc_status") == "verified").cast(pl.Int8).alias("kyc_verified"),
        (pl.col("kyc_status") == "failed").cast(pl.Int8).alias("kyc_failed"),
        (pl.col("kyc_status") == "none").cast(pl.Int8).alias("kyc_none"),
        pl.col("email_domain").is_in(DISPOSABLE_EMAIL).cast(pl.Int8).alias("email_disposable"),
        pl.col("email_domain").is_in(FREE_EMAIL).cast(pl.Int8).alias("email_free"),
        (pl.col("phone_country") != pl.col("country"))
        .cast(pl.Int8)
        .alias("phone_country_mismatch"),
        pl.col("profile_text").fill_null("").str.len_chars().alias("profile_text_len"),
        pl.sum_horizontal(text_flags(pl.col("profile_text"))).alias("profile_text_flags"),
    )


def account_age_days(as_of_us: int, signup_us: int) -> float:
    """Online twin of the offline expression: whole seconds (toward zero) / 86 400."""
    delta = as_of_us - signup_us
    seconds = abs(delta) // 1_000_000
    return (seconds if delta >= 0 else -seconds) / SECONDS_PER_DAY


def _copies(spine: pl.LazyFrame, users: pl.LazyFrame) -> pl.LazyFrame:
    """``user_id, as_of, profile_text_copies`` by an as-of count per text (no pairwise join)."""
    texts = users.select("user_id", "profile_text", "signup_ts").filter(
        pl.col("profile_text").str.len_chars() > 0
    )
    signups = (
        texts.select("profile_text", pl.col("signup_ts").alias("ts"))
        .sort("ts")
        .with_columns(pl.int_range(1, pl.len() + 1).over("profile_text").alias("_before"))
    )
    probes = spine.select("user_id", "as_of").unique().join(texts, on="user_id").sort("as_of")
    return probes.join_asof(
        signups,
        left_on="as_of",
        right_on="ts",
        by="profile_text",
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,  # both sides are sorted by time above
    ).select(
        "user_id",
        "as_of",
        (pl.col("_before").fill_null(0) - (pl.col("signup_ts") < pl.col("as_of")).cast(pl.UInt32))
        .cast(pl.Int64)
        .alias("profile_text_copies"),
    )


def add_profile_features(spine: pl.LazyFrame, *, users: pl.LazyFrame) -> pl.LazyFrame:
    """Per (user_id, as_of): the static profile features, account age and profile-text copies."""
    return (
        spine.join(profile_rows(users).drop("profile_text"), on="user_id", how="left")
        .with_columns(
            ((pl.col("as_of") - pl.col("signup_ts")).dt.total_seconds() / SECONDS_PER_DAY).alias(
                "account_age_days"
            )
        )
        .drop("signup_ts")
        .join(_copies(spine, users), on=["user_id", "as_of"], how="left")
        .with_columns(pl.col("profile_text_copies").fill_null(0))
    )
