"""An append-only buffer of simulated events, turned into contract tables at the end.

Times are int64 seconds since the Unix epoch (UTC) while simulating; ids of users are integer
indices. ``to_tables`` sorts each table by time, assigns string ids, and drops events at or after
the simulation end.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import polars as pl

from scamguard.schema import TABLES

NULL_JOB = -1


class EventLog:
    def __init__(self) -> None:
        self._chunks: dict[str, list[dict[str, np.ndarray]]] = defaultdict(list)

    def add(self, table: str, **columns: np.ndarray | list) -> None:
        """Append a chunk of rows; every column must have the same length."""
        arrays = {k: np.asarray(v) for k, v in columns.items()}
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) != 1:
            raise ValueError(f"{table}: columns of different lengths {lengths}")
        if lengths.pop():
            self._chunks[table].append(arrays)

    def frame(self, table: str) -> pl.DataFrame:
        chunks = self._chunks.get(table, [])
        if not chunks:
            return pl.DataFrame()
        keys = chunks[0].keys()
        return pl.DataFrame({k: np.concatenate([c[k] for c in chunks]) for k in keys})


def uid(col: str) -> pl.Expr:
    """Integer user index -> ``u0000042``."""
    return pl.format("u{}", pl.col(col).cast(pl.String).str.zfill(7))


def to_timestamp(col: str) -> pl.Expr:
    return (
        pl.from_epoch(pl.col(col), time_unit="s")
        .dt.replace_time_zone("UTC")
        .cast(TABLES["users"].columns["signup_ts"])
    )


def finalize(
    df: pl.DataFrame, table: str, *, end_s: int, prefix: str, time_col: str = "ts"
) -> pl.DataFrame:
    """Drop events at/after the end, sort by time, assign ids and cast to the contract schema."""
    spec = TABLES[table]
    if df.height == 0:
        return pl.DataFrame(schema=spec.schema)
    df = df.filter(pl.col(time_col) < end_s).sort(time_col, maintain_order=True)
    if spec.primary_key and spec.primary_key not in df.columns:
        df = df.with_row_index("_i").with_columns(
            pl.format(prefix + "{}", pl.col("_i").cast(pl.String).str.zfill(8)).alias(
                spec.primary_key
            )
        )
    df = df.with_columns(to_timestamp(time_col).alias(time_col))
    return df.select([pl.col(c).cast(t) for c, t in spec.columns.items()])
