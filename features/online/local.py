"""The deployment's online store: ``<data_dir>/online/store.sqlite``, and how it is filled.

``scamguard online-load``, the endpoint and the analyst view all open the store through this
module. A backfill reads the clean tables (``features.tables``) and replays every event strictly
before ``as_of`` (default: midnight after the last event, the batch-scoring default); the file is
replaced, so stop the server first. When the text pipeline has stored its document scores
(``<data_dir>/features/text_scores.parquet``, written by ``scamguard text-features``), the
backfill loads them too, so the ``textmodel_*`` features of a fresh store equal the offline ones.
"""

from __future__ import annotations

import fcntl
import logging
from datetime import datetime
from pathlib import Path

import polars as pl

from features.online.load import backfill
from features.online.store import OnlineStore
from features.tables import end_of_data, load_clean_tables
from scamguard.settings import Settings

log = logging.getLogger("scamguard.features.online")


def store_path(settings: Settings) -> Path:
    return settings.data_dir / "online" / "store.sqlite"


def text_scores_path(settings: Settings) -> Path:
    """The text pipeline's per-document scores (cross-fitted; ``scamguard text-features``)."""
    return settings.features_dir / "text_scores.parquet"


def default_as_of(settings: Settings) -> datetime:
    """Midnight (UTC) after the last event of the clean tables: what a backfill covers."""
    return end_of_data(load_clean_tables(settings))


def load_store(settings: Settings, as_of: datetime | None = None) -> OnlineStore:
    """Backfill the store from the clean tables as of ``as_of`` (default: :func:`default_as_of`)
    and open it."""
    tables = load_clean_tables(settings)
    when = as_of or end_of_data(tables)
    scores_file = text_scores_path(settings)
    scores = pl.read_parquet(scores_file) if scores_file.exists() else None
    backfill(store_path(settings), tables, when, text_scores=scores)
    return OnlineStore(store_path(settings))


def open_store(settings: Settings) -> OnlineStore:
    """Open the store, backfilling it first (as of the end of the data) if it does not exist
    (one process at a time: a file lock beside the store)."""
    path = store_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    # processes starting together (server workers) backfill once: the first takes the lock
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            log.info("no online store at %s: backfilling it from the clean tables", path)
            return load_store(settings)
    return OnlineStore(path)
