"""The clean contract tables as Spark DataFrames, and Polars <-> Spark types.

``read_clean_tables`` reads ``<data_dir>/clean/<table>/date=YYYY-MM-DD/*.parquet``, the layout
``scamguard ingest`` writes and ``features.tables.load_clean_tables`` reads, with the contract's
columns and types (``scamguard.schema``); a missing table reads as an empty frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from scamguard.io import PARTITION_COLUMN
from scamguard.schema import TABLES
from scamguard.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType


def spark_type(dtype: pl.DataType) -> DataType:
    """The Spark type that holds a Polars type's values (unsigned integers widen to signed)."""
    from pyspark.sql import types as T

    if dtype == pl.String or isinstance(dtype, pl.Enum | pl.Categorical):
        return T.StringType()
    if isinstance(dtype, pl.Datetime):
        return T.TimestampType()
    if dtype == pl.Boolean:
        return T.BooleanType()
    if dtype == pl.Int8:
        return T.ByteType()
    if dtype == pl.Int16 or dtype == pl.UInt8:
        return T.ShortType()
    if dtype == pl.Int32 or dtype == pl.UInt16:
        return T.IntegerType()
    if dtype in (pl.Int64, pl.UInt32, pl.UInt64):
        return T.LongType()
    if dtype == pl.Float32:
        return T.FloatType()
    if dtype == pl.Float64:
        return T.DoubleType()
    if isinstance(dtype, pl.List):
        return T.ArrayType(spark_type(dtype.inner))  # type: ignore[arg-type]
    raise TypeError(f"no Spark type for Polars {dtype}")


def spark_schema(schema: pl.Schema | dict[str, pl.DataType]) -> StructType:
    from pyspark.sql import types as T

    return T.StructType([T.StructField(n, spark_type(t), True) for n, t in schema.items()])


@dataclass(frozen=True)
class SparkTables:
    """The clean contract tables as Spark DataFrames (the Spark twin of ``features.build.Tables``)."""

    users: DataFrame
    logins: DataFrame
    jobs: DataFrame
    proposals: DataFrame
    messages: DataFrame
    payments: DataFrame
    reports: DataFrame
    labels: DataFrame

    def as_dict(self) -> dict[str, DataFrame]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def read_table(spark: SparkSession, root: Path | str, table: str) -> DataFrame:
    """One date-partitioned table under ``root`` with the contract's schema (the partition column
    is not read); no files: an empty frame."""
    schema = spark_schema(TABLES[table].schema)
    table_dir = Path(root) / table
    files = sorted(table_dir.glob(f"{PARTITION_COLUMN}=*/*.parquet")) if table_dir.exists() else []
    if not files:
        return spark.createDataFrame([], schema)
    return spark.read.schema(schema).parquet(*(str(f) for f in files))


def read_clean_tables(
    spark: SparkSession, clean_dir: Path | str, *, cache: bool = False
) -> SparkTables:
    """Every contract table under ``clean_dir`` (``Settings.clean_dir``).

    ``cache``: keep each table in executor memory (spilling to disk) once read. The builders read
    some tables several times (users: spine, profile, sightings, links); with small data in many
    daily files (a local run, a test), listing and opening the files again costs more than the
    work, while a cluster's tables are better read again than held.
    """
    tables = {name: read_table(spark, clean_dir, name) for name in SparkTables.__dataclass_fields__}
    if cache:
        tables = {name: frame.cache() for name, frame in tables.items()}
    return SparkTables(**tables)


def read_tables(spark: SparkSession, settings: Settings, *, cache: bool = False) -> SparkTables:
    """The clean tables of ``settings`` (:func:`read_clean_tables`) with ``labels`` the merged
    label history the Polars engine reads (``features.spark.labels.read_label_history``: the
    platform's and the analysts' labels, with ``source`` and ``seq``)."""
    from .labels import read_label_history

    tables = read_clean_tables(spark, settings.clean_dir, cache=cache)
    return replace(tables, labels=read_label_history(spark, settings).cache())
