"""Which scam cases carry the simulator's drift variant (simulated data only).

The tagging itself lives with the simulator's truth (``pipelines.simulator.truth``), which the
replay reads too; this module adds the raw messages reader that ``agent-eval --by-variant`` uses.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.simulator.truth import OTHER, VARIANT, first_variant_message, variant_of_cases
from scamguard.io import raw_files

__all__ = ["OTHER", "VARIANT", "first_variant_message", "raw_messages", "variant_of_cases"]


def raw_messages(raw_dir: Path) -> pl.LazyFrame:
    """The raw messages table under ``raw_dir`` (its files as ingestion lists them)."""
    files = raw_files(raw_dir, "messages")
    if not files:
        raise FileNotFoundError(
            f"no raw messages under {raw_dir / 'messages'}: --by-variant needs simulated data"
        )
    return pl.scan_parquet(files, hive_partitioning=False)
