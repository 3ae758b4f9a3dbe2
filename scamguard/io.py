"""Reading and writing date-partitioned Parquet tables (``<root>/<table>/date=YYYY-MM-DD/``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from scamguard.schema import TABLES

PARTITION_COLUMN = "date"


def write_partitioned(df: pl.DataFrame, table_dir: Path, time_column: str) -> None:
    """Replace ``table_dir`` with ``df`` partitioned by the UTC date of ``time_column``.

    The directory is written to a sibling temporary path and swapped in, so a crash never leaves
    a half-written table and a re-run replaces rather than appends.
    """
    table_dir = Path(table_dir)
    tmp_dir = table_dir.with_name(table_dir.name + ".tmp")
    if tmp_dir.exists():
        shutil.rmtree(tmp_dir)
    tmp_dir.mkdir(parents=True)
    if df.height:
        dated = df.with_columns(pl.col(time_column).dt.date().alias(PARTITION_COLUMN))
        dated.write_parquet(tmp_dir, partition_by=PARTITION_COLUMN)
    if table_dir.exists():
        shutil.rmtree(table_dir)
    tmp_dir.rename(table_dir)


def scan_table(root: Path, table: str) -> pl.LazyFrame:
    """Lazily read one table written by :func:`write_partitioned`, cast to the contract's schema.

    The hive partition column is dropped; an empty or missing table scans as an empty frame.
    """
    spec = TABLES[table]
    table_dir = Path(root) / table
    files = sorted(table_dir.glob(f"{PARTITION_COLUMN}=*/*.parquet")) if table_dir.exists() else []
    if not files:
        return pl.LazyFrame(schema=spec.schema)
    lf = pl.scan_parquet(files, hive_partitioning=False)
    return lf.select([pl.col(c).cast(t) for c, t in spec.columns.items()])


def read_table(root: Path, table: str) -> pl.DataFrame:
    return scan_table(root, table).collect()


def raw_files(raw_dir: Path, table: str) -> list[Path]:
    """The table's Parquet files, in a stable (sorted path) order; none if the table is absent."""
    table_dir = Path(raw_dir) / table
    return sorted(table_dir.rglob("*.parquet")) if table_dir.is_dir() else []
