"""Text heuristics: links, contact handles, money words and urgency words.

``text_flags(col)`` gives per-text 0/1 flags (pure function of one string, so the offline builder
and the online path compute identical values). ``add_text_features`` aggregates the flags of each
user's messages, job posts and proposals strictly before ``as_of``.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

LINK = r"(?i)(https?://|www\.|bit\.ly|tinyurl|\.(com|net|xyz|top)/)"
CONTACT = r"(?i)(whats\s?app|telegram|wa\.me|t\.me/|signal app|\+\d[\d\s()\-]{7,}|[\w.]+@[\w-]+\.\w+|\B@\w{3,})"
MONEY = r"(?i)(deposit|fee|cheque|check for|western union|gift ?card|crypto|bitcoin|btc|usdt|wallet|zelle|paypal|bank details|wire|refundable|upfront)"
URGENCY = r"(?i)(urgent|immediately|right now|today|asap|deadline|suspended|within 24|act now|limited time)"
OFF_PLATFORM = r"(?i)(outside (the )?platform|skip the platform|platform fees?|pay me directly|directly via|personal account|friends and family|separate app|personal contact)"

TEXT_FLAGS: dict[str, str] = {
    "link": LINK,
    "contact": CONTACT,
    "money": MONEY,
    "urgency": URGENCY,
    "off_platform": OFF_PLATFORM,
}
MESSAGE_WINDOW = timedelta(days=30)


def text_flags(text: pl.Expr) -> list[pl.Expr]:
    """0/1 Int8 flag expressions, one per heuristic, named ``flag_<name>``; null text gives 0."""
    return [
        text.fill_null("").str.contains(pattern).cast(pl.Int8).alias(f"flag_{name}")
        for name, pattern in TEXT_FLAGS.items()
    ]


def flag_score(prefix: str = "flag_") -> pl.Expr:
    """Number of distinct heuristics a text trips (0..5)."""
    return pl.sum_horizontal([pl.col(f"{prefix}{n}") for n in TEXT_FLAGS]).alias("flag_count")


def add_text_features(
    spine: pl.LazyFrame, *, messages: pl.LazyFrame, jobs: pl.LazyFrame, proposals: pl.LazyFrame
) -> pl.LazyFrame:
    """Per (user_id, as_of): text heuristics over what the user wrote strictly before ``as_of``.

    Messages: counts of flagged messages sent in the 30 days before ``as_of`` and the share that trip
    any heuristic. Job posts and proposals: counts over all history before ``as_of``.
    """
    flagged_msgs = messages.select(
        pl.col("sender_id").alias("user_id"), "ts", *text_flags(pl.col("text"))
    ).with_columns(flag_score())
    msg = (
        spine.join(flagged_msgs, on="user_id", how="inner")
        .filter(
            (pl.col("ts") < pl.col("as_of")) & (pl.col("ts") >= pl.col("as_of") - MESSAGE_WINDOW)
        )
        .group_by("user_id", "as_of")
        .agg(
            *[pl.col(f"flag_{n}").sum().alias(f"msg_{n}_30d") for n in TEXT_FLAGS],
            (pl.col("flag_count") > 0).mean().alias("msg_flagged_share_30d"),
            (pl.col("flag_count") >= 2).sum().alias("msg_multi_flag_30d"),
        )
    )
    job_text = pl.col("title") + pl.lit(" ") + pl.col("description")
    flagged_jobs = jobs.select(
        pl.col("client_id").alias("user_id"), "ts", "budget_usd", *text_flags(job_text)
    ).with_columns(flag_score())
    job = (
        spine.join(flagged_jobs, on="user_id", how="inner")
        .filter(pl.col("ts") < pl.col("as_of"))
        .group_by("user_id", "as_of")
        .agg(
            (pl.col("flag_count") > 0).sum().alias("jobs_flagged_text"),
            pl.col("budget_usd").max().alias("job_budget_max"),
        )
    )
    flagged_props = proposals.select(
        pl.col("freelancer_id").alias("user_id"), "ts", *text_flags(pl.col("cover_text"))
    ).with_columns(flag_score())
    prop = (
        spine.join(flagged_props, on="user_id", how="inner")
        .filter(pl.col("ts") < pl.col("as_of"))
        .group_by("user_id", "as_of")
        .agg(
            (pl.col("flag_count") > 0).sum().alias("proposals_flagged_text"),
            (pl.col("flag_off_platform") + pl.col("flag_money") > 0)
            .sum()
            .alias("proposals_pay_outside"),
        )
    )
    out = spine
    for part in (msg, job, prop):
        out = out.join(part, on=["user_id", "as_of"], how="left")
    counts = [
        *(f"msg_{n}_30d" for n in TEXT_FLAGS),
        "msg_multi_flag_30d",
        "jobs_flagged_text",
        "proposals_flagged_text",
        "proposals_pay_outside",
    ]
    return out.with_columns(pl.col(c).fill_null(0) for c in counts)
