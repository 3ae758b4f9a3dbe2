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
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from pipelines import contracts
from scamguard.io import raw_files, write_partitioned
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
    reference_ids = {fk.table: accepted_ids[fk.table] for fk in spec.foreign_keys}
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
