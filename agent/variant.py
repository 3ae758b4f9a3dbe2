"""Which scam cases carry the simulator's drift variant (simulated data only).

From the week of the simulator's drift start, scammers send a new kind of message (task / crypto
commission scams, ``pipelines.simulator.text``) that the text model was never trained on. A case
is *variant* when its user sent such a message strictly before the case's ``as_of``, i.e. the
message is inside the case's features. ``agent-eval --by-variant`` splits scam recall by it, so
that "the agent misses the new variant" can be measured rather than guessed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from pipelines.simulator.text import variant_message_prefixes
from scamguard.io import raw_files

VARIANT = "variant"  # sent a task / crypto message before the case's as_of
OTHER = "other"


def first_variant_message(messages: pl.LazyFrame) -> pl.DataFrame:
    """``user_id, first_variant_ts``: each sender's first drift-variant message.

    ``messages`` has the raw messages table's ``sender_id, ts, text``.
    """
    is_variant = pl.any_horizontal(
        [pl.col("text").str.starts_with(prefix) for prefix in variant_message_prefixes()]
    )
    return (
        messages.filter(is_variant)
        .group_by("sender_id")
        .agg(pl.col("ts").min().alias("first_variant_ts"))
        .rename({"sender_id": "user_id"})
        .collect()
    )


def variant_of_cases(cases: pl.DataFrame, messages: pl.LazyFrame) -> np.ndarray:
    """:data:`VARIANT` or :data:`OTHER` for each row of ``cases`` (``user_id, as_of``) [n], in
    order: variant when the user's first variant message is strictly before ``as_of``."""
    first = first_variant_message(messages)
    tagged = (
        cases.select("user_id", "as_of")
        .with_row_index("_row")
        .join(first, on="user_id", how="left")
        .sort("_row")
    )
    before = tagged["first_variant_ts"].is_not_null() & (
        tagged["first_variant_ts"] < tagged["as_of"]
    )
    return np.where(before.to_numpy(), VARIANT, OTHER).astype(object)


def raw_messages(raw_dir: Path) -> pl.LazyFrame:
    """The raw messages table under ``raw_dir`` (its files as ingestion lists them)."""
    files = raw_files(raw_dir, "messages")
    if not files:
        raise FileNotFoundError(
            f"no raw messages under {raw_dir / 'messages'}: --by-variant needs simulated data"
        )
    return pl.scan_parquet(files, hive_partitioning=False)
