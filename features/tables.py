"""The clean tables as the feature builders read them, and the instants derived from them.

``<data_dir>/clean/<table>/date=YYYY-MM-DD/`` is what ``scamguard ingest`` accepted. The batch job,
the online backfill, the analyst view and the agent all read it through :func:`load_clean_tables`,
and all take "the end of the data" to mean midnight (UTC) after the day of the last event.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from features.build import Tables, data_window
from scamguard.io import scan_table
from scamguard.schema import TABLES
from scamguard.settings import Settings


def load_clean_tables(settings: Settings) -> Tables:
    """Every contract table under ``settings.clean_dir``, lazily (a missing table is empty)."""
    return Tables.from_frames({name: scan_table(settings.clean_dir, name) for name in TABLES})


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
