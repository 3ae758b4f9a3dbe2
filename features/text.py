"""Text heuristics: links, contact handles, money words and urgency words.

``text_flags(col)`` gives per-text 0/1 flags and ``derived_indicators()`` the indicators the
features count, from the flag columns (``flagged``: any heuristic; ``multi_flag``: two or more;
``pays_outside``: off-platform or money words). Both are pure functions of one string: the ledger
(``features.ledger``) applies them to every message, job post (title + " " + description) and
proposal, offline to whole tables and online to each incoming event, with the same Polars regexes.
``TEXT_FEATURES`` aggregates them per user: messages sent in the 30 days before ``as_of``, job
posts and proposals over all history before ``as_of``.
"""

from __future__ import annotations

import re
from datetime import timedelta

import polars as pl

from .aggregates import Count, Max, Share, Spec

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
# What each heuristic found, in an analyst's words (reasons of a scored message, post or proposal).
FLAG_WORDS: dict[str, str] = {
    "link": "a link",
    "contact": "a contact handle outside the platform",
    "money": "money or payment words",
    "urgency": "urgency words",
    "off_platform": "a request to deal off the platform",
}


def text_flags(text: pl.Expr) -> list[pl.Expr]:
    """0/1 Int8 flag expressions, one per heuristic, named ``flag_<name>``; null text gives 0."""
    return [
        text.fill_null("").str.contains(pattern).cast(pl.Int8).alias(f"flag_{name}")
        for name, pattern in TEXT_FLAGS.items()
    ]


def text_findings(text: str) -> list[str]:
    """The heuristics one text trips, in words (same regexes as the features), in flag order."""
    return [
        FLAG_WORDS[name] for name, hit in zip(TEXT_FLAGS, flag_values(text), strict=True) if hit
    ]


# Python's ``re`` and Polars' (Rust) regex engine agree on these patterns for ASCII text, except
# that Python's ``\s`` also matches the separators U+001C..U+001F; other texts go to Polars.
_PY_FLAGS = tuple(re.compile(pattern) for pattern in TEXT_FLAGS.values())
_SEPARATORS = frozenset("\x1c\x1d\x1e\x1f")


def flag_values(text: str | None) -> tuple[int, ...]:
    """The 0/1 flags of one text, in ``TEXT_FLAGS`` order: the values of :func:`text_flags` (null
    text gives zeros). An ASCII text is matched with Python's ``re`` (no Polars call: the online
    path, one event at a time); any other text with the Polars expressions themselves. Held equal
    to :func:`text_flags` by ``tests/features/test_online_rows.py``."""
    if not text:
        return (0,) * len(_PY_FLAGS)
    if text.isascii() and _SEPARATORS.isdisjoint(text):
        return tuple(int(p.search(text) is not None) for p in _PY_FLAGS)
    return tuple(pl.select(text_flags(pl.lit(text, dtype=pl.String))).row(0))


def derived_values(flags: tuple[int, ...]) -> tuple[int, int, int]:
    """``flagged, multi_flag, pays_outside`` of one text's flags: :func:`derived_indicators`."""
    n = sum(flags)
    named = dict(zip(TEXT_FLAGS, flags, strict=True))
    return int(n > 0), int(n >= 2), int(named["off_platform"] + named["money"] > 0)


def derived_indicators() -> list[pl.Expr]:
    """Int8 0/1 indicators derived from the ``flag_<name>`` columns: ``flagged`` (any heuristic),
    ``multi_flag`` (two or more), ``pays_outside`` (off-platform or money words)."""
    n = pl.sum_horizontal(pl.col(f"flag_{name}") for name in TEXT_FLAGS)
    return [
        (n > 0).cast(pl.Int8).alias("flagged"),
        (n >= 2).cast(pl.Int8).alias("multi_flag"),
        ((pl.col("flag_off_platform") + pl.col("flag_money")) > 0)
        .cast(pl.Int8)
        .alias("pays_outside"),
    ]


TEXT_INDICATORS: tuple[str, ...] = (
    *(f"flag_{n}" for n in TEXT_FLAGS),
    "flagged",
    "multi_flag",
    "pays_outside",
)

TEXT_FEATURES: tuple[Spec, ...] = (
    *(Count(f"msg_{n}_30d", ("message",), f"flag_{n}", MESSAGE_WINDOW) for n in TEXT_FLAGS),
    Share("msg_flagged_share_30d", ("message",), "flagged", MESSAGE_WINDOW),
    Count("msg_multi_flag_30d", ("message",), "multi_flag", MESSAGE_WINDOW, dtype=pl.UInt32()),
    Count("jobs_flagged_text", ("job",), "flagged", dtype=pl.UInt32()),
    Max("job_budget_max", ("job",), "amount"),
    Count("proposals_flagged_text", ("proposal",), "flagged", dtype=pl.UInt32()),
    Count("proposals_pay_outside", ("proposal",), "pays_outside", dtype=pl.UInt32()),
)
