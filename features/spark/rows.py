"""Row-level feature definitions applied to Spark partitions: the same Polars functions.

The row-level half of every feature definition (``features.ledger``: ledger rows and identifier
sightings; ``features.graph.link_rows``; ``features.profile.profile_rows``) is written once, in
Polars, and shared by the offline builder and the online store. The Spark evaluator applies the
very same functions to each Arrow batch of a partition (``DataFrame.mapInArrow``): a row-level map,
so no shuffle, and no second implementation to drift. In particular the text heuristics keep one
regex engine (Rust's ``regex``, through Polars): Java's ``java.util.regex`` differs on Unicode
classes (``\\w``, ``\\s``, ``\\d``) and case folding, so a Spark ``rlike`` twin would not be equal.

Every time column comes back as integer microseconds since the epoch (``LongType``), the unit the
Spark evaluator computes in (as the online store does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial, reduce
from typing import TYPE_CHECKING

import polars as pl

from features.graph import LINK_TABLES, link_rows
from features.ledger import (
    LEDGER_SCHEMA,
    LEDGER_TABLES,
    SIGHTING_TABLES,
    ledger_rows,
    sighting_rows,
)
from features.profile import profile_rows

from .tables import SparkTables, spark_schema

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

US = pl.Int64  # integer microseconds since the epoch (UTC)


def _micros_schema(schema: pl.Schema) -> dict[str, pl.DataType]:
    """``schema`` with every Datetime column as Int64 microseconds and Enums as strings."""
    out: dict[str, pl.DataType] = {}
    for name, dtype in schema.items():
        if isinstance(dtype, pl.Datetime):
            out[name] = US()
        elif isinstance(dtype, pl.Enum | pl.Categorical):
            out[name] = pl.String()
        else:
            out[name] = dtype
    return out


def _to_spark_frame(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """``frame`` in the column order and types Spark expects for ``schema`` (see ``_micros_schema``):
    Datetimes become microseconds, Enums strings, unsigned integers the signed type Spark holds."""
    casts = []
    for name, dtype in schema.items():
        column = pl.col(name)
        if dtype == US and isinstance(frame.schema[name], pl.Datetime):
            column = column.dt.cast_time_unit("us").cast(US)
        casts.append(column.cast(_arrow_dtype(dtype)).alias(name))
    return frame.select(casts)


def _arrow_dtype(dtype: pl.DataType) -> pl.DataType:
    if dtype == pl.UInt32 or dtype == pl.UInt64:
        return pl.Int64()
    if dtype == pl.UInt16:
        return pl.Int32()
    if dtype == pl.UInt8:
        return pl.Int16()
    return dtype


def polars_map(
    frame: DataFrame,
    function: Callable[[pl.DataFrame], pl.DataFrame],
    schema: dict[str, pl.DataType],
) -> DataFrame:
    """``function`` (a row-level Polars function) applied to every Arrow batch of ``frame``.

    ``schema``: the output columns in Polars types, time columns as microseconds (``Int64``).
    The function must be row-level (its output for a batch depends on that batch only).
    """
    out_schema = spark_schema({n: _arrow_dtype(t) for n, t in schema.items()})

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            result = function(pl.from_arrow(batch))  # type: ignore[arg-type]
            yield from _small_lists(_to_spark_frame(result, schema).to_arrow()).to_batches()

    return frame.mapInArrow(run, out_schema)


def to_spark(spark: SparkSession, frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> DataFrame:
    """A small Polars frame made on the driver (a label history, rule hits) as a Spark
    DataFrame with ``schema``'s columns (unsigned integers widened, as ``polars_map`` does)."""
    table = _small_lists(_to_spark_frame(frame, schema).to_arrow())
    return spark.createDataFrame(
        table, spark_schema({n: _arrow_dtype(t) for n, t in schema.items()})
    )


def _small_lists(table: pa.Table) -> pa.Table:
    """``table`` with Polars' large lists as plain lists (Spark's Arrow reader has no LargeList)."""
    import pyarrow as pa

    fields = [
        f.with_type(pa.list_(f.type.value_type)) if pa.types.is_large_list(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields)) if fields != list(table.schema) else table


def _union(parts: list[DataFrame]) -> DataFrame:
    return reduce(lambda a, b: a.unionByName(b), parts)


# ------------------------------------------------------------------------------------- ledger
LEDGER_COLUMNS = _micros_schema(LEDGER_SCHEMA)


def _ledger_part(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    return ledger_rows(table, frame).cast(LEDGER_SCHEMA)  # type: ignore[arg-type]


def ledger(tables: SparkTables) -> DataFrame:
    """Every ledger row (``features.ledger.ledger_rows`` of each table), ``ts`` in microseconds."""
    frames = tables.as_dict()
    return _union(
        [polars_map(frames[t], partial(_ledger_part, t), LEDGER_COLUMNS) for t in LEDGER_TABLES]
    )


def first_logins(logins: DataFrame) -> DataFrame:
    """Successful logins reduced to the first one per (user, device, IP, country): the same first
    sightings and links as all of them (``features.build.first_logins``), from far fewer rows."""
    from pyspark.sql import functions as F

    return (
        logins.filter(F.col("success"))
        .groupBy("user_id", "device_id", "ip", "country")
        .agg(F.min("ts").alias("ts"), F.min("login_id").alias("login_id"))
        .withColumn("success", F.lit(True))
    )


# ----------------------------------------------------------------------------------- sightings
SIGHTING_COLUMNS = {"user_id": pl.String(), "ts": US(), "what": pl.String(), "value": pl.String()}


def _sighting_part(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    return sighting_rows(table, frame)


def first_sightings(tables: SparkTables, logins: DataFrame) -> DataFrame:
    """``user_id, what, value, first_ts`` (microseconds): ``features.ledger.first_sightings``.

    ``logins``: the successful logins reduced by :func:`first_logins`.
    """
    from pyspark.sql import functions as F

    frames = {**tables.as_dict(), "logins": logins}
    rows = _union(
        [
            polars_map(frames[t], partial(_sighting_part, t), SIGHTING_COLUMNS)
            for t in SIGHTING_TABLES
        ]
    )
    return rows.groupBy("user_id", "what", "value").agg(F.min("ts").alias("first_ts"))


# ------------------------------------------------------------------------------------- links
LINK_COLUMNS = {"user_id": pl.String(), "kind": pl.String(), "ident": pl.String(), "ts": US()}


def _link_part(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    return link_rows(table, frame)


def identifier_links(tables: SparkTables, logins: DataFrame) -> DataFrame:
    """``user_id, kind, ident, first_ts`` (microseconds): ``features.graph.identifier_links``."""
    from pyspark.sql import functions as F

    frames = {**tables.as_dict(), "logins": logins}
    rows = _union(
        [polars_map(frames[t], partial(_link_part, t), LINK_COLUMNS) for t in LINK_TABLES]
    )
    return rows.groupBy("user_id", "kind", "ident").agg(F.min("ts").alias("first_ts"))


# ------------------------------------------------------------------------------------ profile
def profile_columns(users_schema: pl.Schema) -> dict[str, pl.DataType]:
    """The columns of ``features.profile.profile_rows`` (times as microseconds)."""
    return _micros_schema(profile_rows(pl.LazyFrame(schema=users_schema)).collect_schema())


def profiles(users: DataFrame, users_schema: pl.Schema) -> DataFrame:
    """``features.profile.profile_rows`` of every users row; ``signup_ts`` in microseconds."""
    return polars_map(users, profile_rows, profile_columns(users_schema))
