"""Ingest: validate the raw tables against their contracts; good rows to clean, bad to quarantine.

For each table in ``LOAD_ORDER``: every raw Parquet file under ``<raw_dir>/<table>/`` is read as
it is (no schema forced, so a user's wrong dtypes surface as failed type checks instead of a
crash), cast to the contract (:func:`pipelines.contracts.conform`) and validated by the table's
great-expectations suite. Rows that pass every expectation go to ``<clean_dir>/<table>/date=.../``
(contract dtypes, partitioned by the UTC date of the time column); the others go to
``<quarantine_dir>/<table>/quarantine.parquet`` with the failed expectations named. Foreign keys
are checked against the rows *accepted* from the referenced table, so a message from a
quarantined user is quarantined too. Both outputs are replaced on every run.

Time semantics: ``now`` is the latest admissible timestamp (later ones are "in the future");
rows are otherwise not filtered by time.

:func:`ingest_partitions` is the daily job's variant: it reads only the raw partitions of a
range of days (one day, or every day up to the first one for the initial load) and replaces only
those partitions of clean and of quarantine (``<quarantine_dir>/<table>/date=D/
quarantine.parquet``), so other days are never touched and a re-run of a day replaces it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from pipelines import contracts
from scamguard.io import PARTITION_COLUMN, raw_files, write_partitioned
from scamguard.schema import LOAD_ORDER, TABLES, TableSpec

if TYPE_CHECKING:
    from great_expectations.data_context import AbstractDataContext
    from rich.progress import Progress

INGESTED_AT = "_ingested_at"
QUARANTINE_FILE = "quarantine.parquet"
# Tables whose accepted primary keys other tables reference.
_REFERENCED = frozenset(fk.table for spec in TABLES.values() for fk in spec.foreign_keys)


@dataclass(frozen=True)
class TableReport:
    """What happened to one table. ``failures`` counts rows per failed expectation label; a row
    failing several expectations counts once under each, so the values may sum to more than
    ``quarantined``."""

    table: str
    rows_in: int
    accepted: int
    quarantined: int
    failures: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestReport:
    """Per-table counts of one ingest run (tables in load order) and their totals."""

    tables: tuple[TableReport, ...]
    now: datetime  # the "not in the future" reference time used

    COLUMNS = ("table", "in", "accepted", "quarantined", "failed expectations")

    @property
    def rows_in(self) -> int:
        return sum(t.rows_in for t in self.tables)

    @property
    def accepted(self) -> int:
        return sum(t.accepted for t in self.tables)

    @property
    def quarantined(self) -> int:
        return sum(t.quarantined for t in self.tables)

    def table(self, name: str) -> TableReport:
        return next(t for t in self.tables if t.table == name)

    def rich_rows(self) -> list[tuple[str, str, str, str, str]]:
        """Rows for a ``rich.table.Table`` with headers :attr:`COLUMNS`, then a total row."""

        def failures(t: TableReport) -> str:
            return "\n".join(f"{label}: {n:,}" for label, n in t.failures.items())

        rows = [
            (t.table, f"{t.rows_in:,}", f"{t.accepted:,}", f"{t.quarantined:,}", failures(t))
            for t in self.tables
        ]
        rows.append(
            ("total", f"{self.rows_in:,}", f"{self.accepted:,}", f"{self.quarantined:,}", "")
        )
        return rows


# --- reading -----------------------------------------------------------------------------------


def _same_schema_runs(files: Sequence[Path]) -> Iterator[list[Path]]:
    """Consecutive files sharing one Parquet schema (one scan each), keeping the file order."""
    run: list[Path] = []
    schema: dict[str, pl.DataType] | None = None
    for path in files:
        this = pl.read_parquet_schema(path)
        if run and this != schema:
            yield run
            run = []
        run.append(path)
        schema = this
    if run:
        yield run


def read_raw(raw_dir: Path, spec: TableSpec) -> pl.DataFrame:
    """Every raw row of ``spec``'s table, conformed (see :func:`pipelines.contracts.conform`).

    Files whose dtypes differ (e.g. one with ``budget_usd`` as text) are read separately and cast
    permissively, so a bad value fails its row's type check rather than the whole read. Rows
    come in file order, then row order within a file: "first occurrence" of a key means this.
    """
    files = raw_files(raw_dir, spec.name)
    if not files:
        return contracts.conform(pl.DataFrame(schema=spec.schema), spec)
    parts = [
        contracts.conform(pl.scan_parquet(run, hive_partitioning=False).collect(), spec)
        for run in _same_schema_runs(files)
    ]
    return pl.concat(parts, how="vertical")


# --- splitting ---------------------------------------------------------------------------------


def _failure_labels(failures: pl.DataFrame) -> pl.DataFrame:
    """One row per failing row position: its failed expectation labels joined with ``"; "``."""
    return failures.group_by(contracts.ROW, maintain_order=True).agg(
        pl.col(contracts.EXPECTATION).str.join("; ")
    )


def _quarantine_rows(
    frame: pl.DataFrame, spec: TableSpec, labels: pl.DataFrame, ingested_at: datetime
) -> pl.DataFrame:
    """The failing rows, every contract column as text (the raw text where it did not cast)."""
    as_text = [
        pl.coalesce(pl.col(contracts.uncastable_column(c)), pl.col(c).cast(pl.String)).alias(c)
        for c in spec.columns
    ]
    return (
        frame.with_row_index(contracts.ROW)
        .join(labels, on=contracts.ROW, how="inner", maintain_order="left")
        .select(
            *as_text,
            pl.col(contracts.EXPECTATION),
            pl.lit(ingested_at, dtype=pl.Datetime("us", "UTC")).alias(INGESTED_AT),
        )
    )


def split(
    frame: pl.DataFrame,
    spec: TableSpec,
    failures: pl.DataFrame,
    *,
    ingested_at: datetime,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(accepted, quarantined)`` from a conformed frame and its failures (row order kept).

    ``accepted`` has the contract columns and dtypes; ``quarantined`` the contract columns as
    text plus ``_failed_expectation`` and ``_ingested_at``.
    """
    labels = _failure_labels(failures)
    bad = np.zeros(frame.height, dtype=bool)
    bad[labels.get_column(contracts.ROW).to_numpy()] = True
    accepted = frame.filter(pl.Series(~bad)).select(list(spec.columns))
    quarantined = _quarantine_rows(frame, spec, labels, ingested_at)
    return accepted, quarantined


# --- writing -----------------------------------------------------------------------------------


def write_quarantine(rows: pl.DataFrame, table_dir: Path) -> None:
    """Replace ``table_dir`` with one Parquet file of ``rows`` (written even when empty)."""
    table_dir = Path(table_dir)
    tmp_dir = table_dir.with_name(table_dir.name + ".tmp")
    if tmp_dir.exists():
        shutil.rmtree(tmp_dir)
    tmp_dir.mkdir(parents=True)
    rows.write_parquet(tmp_dir / QUARANTINE_FILE)
    if table_dir.exists():
        shutil.rmtree(table_dir)
    tmp_dir.rename(table_dir)


# --- foreign keys ------------------------------------------------------------------------------


def referenced_ids(
    frame: pl.DataFrame, spec: TableSpec, accepted_ids: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """Per referenced table, its accepted ids that ``frame``'s foreign-key columns mention.

    Every row's verdict is the one the full id list would give, but great-expectations copies a
    value set many times per expectation, so a set of the ids in use (not every id ever accepted)
    keeps validation time set by the batch, not by the history.
    """
    out: dict[str, list[str]] = {}
    for table in {fk.table for fk in spec.foreign_keys}:
        columns = [fk.column for fk in spec.foreign_keys if fk.table == table]
        mentioned = pl.concat([frame.get_column(c).cast(pl.String) for c in columns]).drop_nulls()
        accepted = pl.Series(list(accepted_ids[table]), dtype=pl.String)
        out[table] = accepted.filter(accepted.is_in(mentioned.unique())).to_list()
    return out


# --- the stage ---------------------------------------------------------------------------------


def _table_report(
    spec: TableSpec, frame: pl.DataFrame, accepted: pl.DataFrame, failures: pl.DataFrame
) -> TableReport:
    counts = failures.get_column(contracts.EXPECTATION).value_counts(sort=True)
    report = TableReport(
        table=spec.name,
        rows_in=frame.height,
        accepted=accepted.height,
        quarantined=failures.get_column(contracts.ROW).n_unique(),
        failures={str(k): int(n) for k, n in counts.iter_rows()},
    )
    if report.rows_in != report.accepted + report.quarantined:
        raise AssertionError(
            f"{spec.name}: {report.rows_in} in != {report.accepted} accepted"
            f" + {report.quarantined} quarantined"
        )
    return report


def ingest_table(
    spec: TableSpec,
    raw_dir: Path,
    clean_dir: Path,
    quarantine_dir: Path,
    *,
    now: datetime,
    accepted_ids: dict[str, list[str]],
    context: AbstractDataContext,
    ingested_at: datetime,
) -> tuple[TableReport, pl.DataFrame]:
    """Validate, split and write one table; returns its report and its accepted rows.

    ``accepted_ids`` must hold the accepted primary keys of every table ``spec`` references.
    """
    frame = read_raw(raw_dir, spec)
    reference_ids = referenced_ids(frame, spec, accepted_ids)
    failures = contracts.find_failures(
        frame, spec, now=now, reference_ids=reference_ids, context=context
    )
    accepted, quarantined = split(frame, spec, failures, ingested_at=ingested_at)
    report = _table_report(spec, frame, accepted, failures)
    write_partitioned(accepted, Path(clean_dir) / spec.name, spec.time_column)
    write_quarantine(quarantined, Path(quarantine_dir) / spec.name)
    return report, accepted


def ingest(
    raw_dir: Path,
    clean_dir: Path,
    quarantine_dir: Path,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Validate every raw table; write accepted rows to ``clean_dir``, the rest to quarantine.

    ``now`` (UTC; default: the wall clock) is the latest admissible timestamp. Tables go in
    ``LOAD_ORDER`` so that foreign keys are checked against the referenced table's accepted
    rows. A missing raw table counts as empty. Re-running replaces both outputs. ``progress``, if
    given, gets one task advanced per table; nothing is printed.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    ingested_at = datetime.now(UTC)
    context = contracts.make_context()
    accepted_ids: dict[str, list[str]] = {}
    reports: list[TableReport] = []
    task = progress.add_task("ingest", total=len(LOAD_ORDER)) if progress is not None else None
    for name in LOAD_ORDER:
        spec = TABLES[name]
        if progress is not None and task is not None:
            progress.update(task, description=f"ingest {name}")
        report, accepted = ingest_table(
            spec,
            raw_dir,
            clean_dir,
            quarantine_dir,
            now=now,
            accepted_ids=accepted_ids,
            context=context,
            ingested_at=ingested_at,
        )
        if name in _REFERENCED and spec.primary_key is not None:
            accepted_ids[name] = accepted.get_column(spec.primary_key).to_list()
        reports.append(report)
        if progress is not None and task is not None:
            progress.advance(task)
    return IngestReport(tables=tuple(reports), now=now)


# --- by day (the daily job) --------------------------------------------------------------------


def partition_name(day: date) -> str:
    """The partition folder of ``day``: ``date=YYYY-MM-DD``."""
    return f"{PARTITION_COLUMN}={day.isoformat()}"


def partition_days(table_dir: Path) -> list[tuple[date, Path]]:
    """The ``(day, folder)`` of every ``date=YYYY-MM-DD`` folder under ``table_dir``, by day."""
    out = []
    for folder in sorted(Path(table_dir).glob(f"{PARTITION_COLUMN}=*")):
        try:
            out.append((date.fromisoformat(folder.name.split("=", 1)[1]), folder))
        except ValueError:  # not a partition
            continue
    return out


def _in_range(day: date, first: date | None, last: date) -> bool:
    return (first is None or day >= first) and day <= last


def _ids(clean_dir: Path, table: str, column: str, keep: Callable[[date], bool]) -> list[str]:
    """``column`` of the clean partitions of ``table`` whose day passes ``keep``."""
    files = [
        f
        for d, folder in partition_days(Path(clean_dir) / table)
        if keep(d)
        for f in sorted(folder.glob("*.parquet"))
    ]
    if not files:
        return []
    frame = pl.scan_parquet(files, hive_partitioning=False).select(column).collect()
    return frame[column].to_list()


def _read_partitions(
    folders: list[tuple[date, Path]], spec: TableSpec
) -> tuple[pl.DataFrame, pl.Series]:
    """The conformed rows of ``folders`` (in day order) and, per row, the day of its partition."""
    files = [(d, f) for d, folder in folders for f in sorted(folder.glob("*.parquet"))]
    day_of = {str(f): d for d, f in files}
    frames: list[pl.DataFrame] = []
    days: list[pl.Series] = []
    for run in _same_schema_runs([f for _, f in files]):
        raw = pl.scan_parquet(run, hive_partitioning=False, include_file_paths="_path").collect()
        days.append(raw.get_column("_path").replace_strict(day_of, return_dtype=pl.Date))
        frames.append(contracts.conform(raw.drop("_path"), spec))
    if not frames:
        empty = contracts.conform(pl.DataFrame(schema=spec.schema), spec)
        return empty, pl.Series("_day", [], dtype=pl.Date)
    return pl.concat(frames, how="vertical"), pl.concat(days).alias("_day")


def _replace_partition(rows: pl.DataFrame, folder: Path, filename: str) -> None:
    """Replace ``folder`` with one Parquet file of ``rows``, written to a hidden sibling (which no
    ``date=*`` glob matches) and renamed, so a killed run never leaves rows that readers see
    twice."""
    tmp = folder.with_name(f".{folder.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    rows.write_parquet(tmp / filename)
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)


def _write_days(rows: pl.DataFrame, days: list[date], table_root: Path, filename: str) -> None:
    """Replace the partition of each of ``days`` with its rows (by ``_day``, which is dropped);
    a day with no row gets an empty file, so no row of an earlier run survives."""
    by_day = {k[0]: part for k, part in rows.partition_by("_day", as_dict=True).items()}
    empty = rows.clear().drop("_day")
    for day in days:
        part = by_day[day].drop("_day") if day in by_day else empty
        _replace_partition(part, table_root / partition_name(day), filename)


def _earlier_duplicates(frame: pl.DataFrame, spec: TableSpec, earlier: list[str]) -> pl.DataFrame:
    """Failures for rows whose primary key was accepted on an earlier day (labelled like the
    suite's uniqueness check)."""
    schema = {contracts.ROW: pl.UInt32, contracts.EXPECTATION: pl.String}
    if spec.primary_key is None or not earlier or frame.height == 0:
        return pl.DataFrame(schema=schema)
    seen = frame.get_column(spec.primary_key).is_in(pl.Series(earlier, dtype=pl.String))
    rows = np.flatnonzero(seen.fill_null(False).to_numpy()).astype(np.uint32)
    label = f"expect_column_values_to_be_unique({spec.primary_key})"
    return pl.DataFrame(
        {contracts.ROW: rows, contracts.EXPECTATION: [label] * len(rows)}, schema=schema
    )


def ingest_partitions(
    raw_dir: Path,
    clean_dir: Path,
    quarantine_dir: Path,
    last: date,
    *,
    first: date | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Validate the raw partitions dated ``first..last`` (``first=None``: every one up to
    ``last``, the initial load) and replace exactly those partitions of clean and quarantine.

    Accepted rows go to ``<clean_dir>/<table>/date=D/``, the rest to
    ``<quarantine_dir>/<table>/date=D/quarantine.parquet``, D being the day of the raw partition
    the row came in (its arrival day). Partitions of other days are never touched, and a re-run
    replaces rather than appends. ``now`` is midnight (UTC) after ``last``: a row stamped later
    is in the future. Foreign keys are checked against the ids accepted on days up to ``last``
    (tables go in ``LOAD_ORDER``, so the referenced table's partitions are written first); a
    primary key accepted on a day before the range fails uniqueness. A clean or quarantine
    partition in the range whose raw partition is gone is removed. Raises ``FileNotFoundError``
    when no table has a raw partition in the range.
    """
    folders = {
        name: [(d, f) for d, f in partition_days(Path(raw_dir) / name) if _in_range(d, first, last)]
        for name in LOAD_ORDER
    }
    if not any(folders.values()):
        span = f"{first}..{last}" if first else f"up to {last}"
        raise FileNotFoundError(f"no raw partition dated {span} in any table under {raw_dir}")
    now = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    ingested_at = datetime.now(UTC)
    context = contracts.make_context()
    reports: list[TableReport] = []
    task = progress.add_task("ingest", total=len(LOAD_ORDER)) if progress is not None else None
    for name in LOAD_ORDER:
        spec = TABLES[name]
        if progress is not None and task is not None:
            progress.update(task, description=f"ingest {name}")
        frame, days = _read_partitions(folders[name], spec)
        accepted_ids = {
            fk.table: _ids(
                clean_dir, fk.table, TABLES[fk.table].primary_key or "", lambda d: d <= last
            )
            for fk in spec.foreign_keys
        }
        reference_ids = referenced_ids(frame, spec, accepted_ids)
        failures = contracts.find_failures(
            frame, spec, now=now, reference_ids=reference_ids, context=context
        )
        if spec.primary_key is not None and first is not None:
            earlier = _ids(clean_dir, name, spec.primary_key, lambda d: d < first)
            failures = (
                pl.concat([failures, _earlier_duplicates(frame, spec, earlier)])
                .unique(maintain_order=True)
                .sort(contracts.ROW, maintain_order=True)
            )
        accepted, quarantined = split(frame, spec, failures, ingested_at=ingested_at)
        reports.append(_table_report(spec, frame, accepted, failures))
        bad = np.zeros(frame.height, dtype=bool)
        bad[failures.get_column(contracts.ROW).to_numpy()] = True
        present = [d for d, _ in folders[name]]
        clean_root, quarantine_root = Path(clean_dir) / name, Path(quarantine_dir) / name
        _write_days(
            accepted.with_columns(days.filter(pl.Series(~bad))),
            present,
            clean_root,
            "part-0.parquet",
        )
        _write_days(
            quarantined.with_columns(days.filter(pl.Series(bad))),
            present,
            quarantine_root,
            QUARANTINE_FILE,
        )
        for table_root in (clean_root, quarantine_root):
            for d, folder in partition_days(table_root):
                if _in_range(d, first, last) and d not in present:
                    shutil.rmtree(folder)
        if progress is not None and task is not None:
            progress.advance(task)
    return IngestReport(tables=tuple(reports), now=now)
