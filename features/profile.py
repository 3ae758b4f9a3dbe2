"""Profile features: account age, KYC, email domain, phone/country mismatch, profile text."""

from __future__ import annotations

import polars as pl

from .text import text_flags

FREE_EMAIL = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.com", "proton.me"]
DISPOSABLE_EMAIL = ["mailinator.com", "tempmail.dev", "10minutemail.net", "guerrillamail.com"]


def add_profile_features(spine: pl.LazyFrame, *, users: pl.LazyFrame) -> pl.LazyFrame:
    """Per (user_id, as_of): static attributes of the account as of sign-up.

    ``profile_text_copies`` counts *other* users with the identical profile text who signed up
    strictly before ``as_of`` (copied profiles), so later sign-ups never leak backwards.
    """
    profile = users.select(
        "user_id",
        "signup_ts",
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
        "profile_text",
    )
    texts = users.select("user_id", "profile_text", "signup_ts").filter(
        pl.col("profile_text").str.len_chars() > 0
    )
    copies = (
        spine.join(texts.select("user_id", "profile_text"), on="user_id")
        .join(
            texts.select(
                pl.col("user_id").alias("other_id"),
                "profile_text",
                pl.col("signup_ts").alias("other_signup"),
            ),
            on="profile_text",
        )
        .filter(
            (pl.col("other_id") != pl.col("user_id")) & (pl.col("other_signup") < pl.col("as_of"))
        )
        .group_by("user_id", "as_of")
        .agg(pl.len().cast(pl.Int64).alias("profile_text_copies"))
    )
    return (
        spine.join(profile, on="user_id", how="left")
        .with_columns(
            ((pl.col("as_of") - pl.col("signup_ts")).dt.total_seconds() / 86_400).alias(
                "account_age_days"
            )
        )
        .drop("signup_ts", "profile_text")
        .join(copies, on=["user_id", "as_of"], how="left")
        .with_columns(pl.col("profile_text_copies").fill_null(0))
    )
