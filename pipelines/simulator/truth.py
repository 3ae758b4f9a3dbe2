"""The simulator's ground truth, for diagnostics and evaluation only (never a feature).

* :func:`read_truth`: ``user_id, typology, skill, bad_ts`` of every simulated user, as
  ``pipelines.raw.write_world`` wrote it beside the raw tables;
* :func:`first_variant_message` / :func:`variant_of_cases`: which users sent the drift variant
  (task / crypto commission scams, ``pipelines.simulator.text``), and which cases carry it.

From the week of the simulator's drift start, scammers send a new kind of message that no model
was trained on. A case is *variant* when its user sent such a message strictly before the case's
``as_of``, i.e. the message is inside the case's features. ``agent-eval --by-variant`` and
``scamguard replay`` split scam recall by it, so that "the model misses the new variant" is
measured rather than guessed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from .text import variant_message_prefixes

TRUTH_FILE = "simulator_truth.parquet"
VARIANT = "variant"  # sent a task / crypto message before the case's as_of
OTHER = "other"


def truth_path(truth_dir: Path) -> Path:
    return Path(truth_dir) / TRUTH_FILE


def read_truth(truth_dir: Path) -> pl.DataFrame:
    """``user_id, typology, skill, bad_ts`` (``bad_ts``: when the user's scam began; null for
    benign users). FileNotFoundError names the command that writes it."""
    path = truth_path(truth_dir)
    if not path.exists():
        raise FileNotFoundError(
            f"no simulator truth at {path}: replay evaluates against a simulated world "
            "(run `scamguard simulate` first)"
        )
    return pl.read_parquet(path)


def first_variant_message(messages: pl.LazyFrame) -> pl.DataFrame:
    """``user_id, first_variant_ts``: each sender's first drift-variant message.

    ``messages`` has the messages table's ``sender_id, ts, text``.
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
