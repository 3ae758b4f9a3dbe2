"""Data quality: rows in and quarantined per table per day, against the table's own recent days.

Counts come from the partitions ingest wrote: ``clean/<table>/date=D/`` (accepted) and
``quarantine/<table>/date=D/quarantine.parquet`` (the daily job's layout) or, after a whole-table
``scamguard ingest``, the one ``quarantine/<table>/quarantine.parquet`` grouped by the day of the
row's time column. Two signals per table and day:

* ``quarantine_rate``: quarantined / rows in (high is bad); noise floor binomial;
* ``volume_change``: log((rows in + 1) / (median of the 7 days before + 1)) (both ways); noise
  floor Poisson. A table that stops arriving drops to log(1 / median).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from monitoring.thresholds import BOTH, UP, Judgement, binomial_sd, judge, smoothed_rate
from scamguard.schema import LOAD_ORDER, TABLES
from scamguard.settings import Settings

QUARANTINE_FILE = "quarantine.parquet"
FAILED = "_failed_expectation"
VOLUME_WINDOW = 7  # days of the median a day's volume is compared with


def _partition_day(folder: Path) -> date | None:
    try:
        return date.fromisoformat(folder.name.split("=", 1)[1])
    except (IndexError, ValueError):
        return None


def _rows(folder: Path) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in sorted(folder.glob("*.parquet")))


def _quarantined(settings: Settings, table: str, first: date, last: date) -> pl.DataFrame:
    """(day, quarantined, top_failure) for the table's quarantined rows of ``first..last``."""
    root = settings.quarantine_dir / table
    parts = []
    for folder in sorted(root.glob("date=*")):
        day = _partition_day(folder)
        if day is None or not first <= day <= last or not (folder / QUARANTINE_FILE).exists():
            continue
        if pq.ParquetFile(folder / QUARANTINE_FILE).metadata.num_rows == 0:
            continue
        rows = pl.read_parquet(folder / QUARANTINE_FILE, columns=[FAILED])
        parts.append(rows.with_columns(pl.lit(day).alias("day")))
    whole = root / QUARANTINE_FILE  # a whole-table ingest: one file, days from the time column
    if whole.exists() and pq.ParquetFile(whole).metadata.num_rows:
        time_column = TABLES[table].time_column
        rows = pl.read_parquet(whole, columns=[time_column, FAILED]).with_columns(
            pl.col(time_column).str.slice(0, 10).str.to_date(strict=False).alias("day")
        )
        parts.append(rows.filter(pl.col("day").is_between(first, last)).drop(time_column))
    if not parts:
        return pl.DataFrame(
            schema={"day": pl.Date, "quarantined": pl.Int64, "top_failure": pl.String}
        )
    rows = pl.concat(parts, how="diagonal")
    return rows.group_by("day").agg(
        pl.len().cast(pl.Int64).alias("quarantined"),
        pl.col(FAILED).str.split("; ").explode().mode().first().alias("top_failure"),
    )


def day_counts(settings: Settings, first: date, last: date) -> pl.DataFrame:
    """Per table and day of ``first..last``: ``rows_in``, ``accepted``, ``quarantined`` and the
    most frequent failed expectation. A day with no partition counts zero rows."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    frames = []
    for table in LOAD_ORDER:
        accepted = {
            d: _rows(folder)
            for folder in sorted((settings.clean_dir / table).glob("date=*"))
            if (d := _partition_day(folder)) is not None and first <= d <= last
        }
        bad = _quarantined(settings, table, first, last)
        frame = pl.DataFrame(
            {"day": days, "accepted": [accepted.get(d, 0) for d in days]},
            schema={"day": pl.Date, "accepted": pl.Int64},
        ).join(bad, on="day", how="left")
        frames.append(
            frame.with_columns(
                pl.lit(table).alias("table"), pl.col("quarantined").fill_null(0)
            ).with_columns((pl.col("accepted") + pl.col("quarantined")).alias("rows_in"))
        )
    return pl.concat(frames).select(
        "table", "day", "rows_in", "accepted", "quarantined", "top_failure"
    )


def _volume_change(rows_in: Sequence[int], i: int) -> float:
    """log((rows on day i + 1) / (median of the VOLUME_WINDOW days before + 1))."""
    before = sorted(rows_in[max(0, i - VOLUME_WINDOW) : i])
    if not before:
        return math.nan
    mid = len(before) // 2
    median = before[mid] if len(before) % 2 else (before[mid - 1] + before[mid]) / 2
    return math.log((rows_in[i] + 1) / (median + 1))


def judge_table(counts: pl.DataFrame, day: date) -> list[tuple[str, Judgement, dict]]:
    """The two signals of one table on ``day`` against its earlier days in ``counts`` (one
    table's rows, by day): ``(signal, judgement, detail)``."""
    counts = counts.sort("day")
    days = counts["day"].to_list()
    if day not in days:
        return []
    i = days.index(day)
    rows_in = counts["rows_in"].to_list()
    quarantined = counts["quarantined"].to_list()
    rates = [q / n if n else math.nan for q, n in zip(quarantined, rows_in, strict=True)]
    start = max(0, i - 28)
    hist = range(start, i)
    history_rate = smoothed_rate([quarantined[j] for j in hist], [rows_in[j] for j in hist])
    rate = judge(
        rates[i] if rows_in[i] else 0.0,
        [rates[j] for j in hist],
        direction=UP,
        noise_sd=binomial_sd(history_rate, rows_in[i]),
    )
    changes = [_volume_change(rows_in, j) for j in range(len(rows_in))]
    volume = judge(
        changes[i],
        [changes[j] for j in hist],
        direction=BOTH,
        noise_sd=1.0 / math.sqrt(rows_in[i] + 1),
    )
    detail = {
        "rows_in": rows_in[i],
        "quarantined": quarantined[i],
        "top_failure": counts["top_failure"][i],
    }
    return [("quarantine_rate", rate, detail), ("volume_change", volume, detail)]
