"""The clean tables as the feature builders read them, and the instants derived from them.

``<data_dir>/clean/<table>/date=YYYY-MM-DD/`` is what ``scamguard ingest`` accepted. The batch job,
the online backfill, the analyst view and the agent all read it through :func:`load_clean_tables`
(whose ``labels`` are the platform's and the analysts' merged), and all take "the end of the data"
to mean midnight (UTC) after the day of the last event.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from features.build import Tables, data_window
from features.labels import label_history
from scamguard.analyst_labels import ANALYST_LABEL_SCHEMA, read_analyst_labels
from scamguard.io import scan_table
from scamguard.schema import TABLES
from scamguard.settings import Settings


def load_clean_tables(settings: Settings, *, analyst_labels: bool = True) -> Tables:
    """Every contract table under ``settings.clean_dir``, lazily (a missing table is empty).

    ``labels`` is the merged label history (:func:`label_history_of`): the platform's labels and,
    unless ``analyst_labels`` is False, the analysts' (``scamguard label``, ``POST /v1/labels``).
    """
    frames = {name: scan_table(settings.clean_dir, name) for name in TABLES}
    analyst = read_analyst_labels(settings) if analyst_labels else None
    frames["labels"] = label_history_of(frames["labels"], frames["users"], analyst)
    return Tables.from_frames(frames)


def label_history_of(
    platform: pl.LazyFrame, users: pl.LazyFrame, analyst: pl.DataFrame | None
) -> pl.LazyFrame:
    """The one label history that training, batch scoring and the graph features read:
    ``user_id, label, decided_ts, first_bad_ts, source, seq`` (``features.labels.label_history``:
    every label counts from its decision time; the latest wins, an analyst's at equal times)."""
    return label_history(
        platform,
        analyst if analyst is not None else pl.DataFrame(schema=ANALYST_LABEL_SCHEMA),
        users,
    )


def latest_date(tables: Tables) -> date:
    """The UTC date of the last event in the data (the default batch date).

    Raises ``ValueError`` naming the missing steps when the tables hold no event.
    """
    return data_window(tables)[1].date()


def end_of_day(day: date) -> datetime:
    """Midnight (UTC) after ``day``: features "as of the end of ``day``" count its events."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def end_of_data(tables: Tables) -> datetime:
    """Midnight (UTC) after the last event: what a backfill or an investigation covers by default."""
    return end_of_day(latest_date(tables))
