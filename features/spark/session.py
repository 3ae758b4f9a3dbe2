"""The SparkSession every Spark stage uses: local mode by default, UTC, microsecond Parquet.

Settings that make the Spark evaluator read and write the same data as the Polars one:

- ``spark.sql.session.timeZone=UTC``: timestamps are instants and print as UTC;
- ``spark.sql.parquet.outputTimestampType=TIMESTAMP_MICROS``: written timestamps read back in
  Polars as ``Datetime("us", "UTC")`` (Spark's default, INT96, does not);
- Python workers run this interpreter (``PYSPARK_PYTHON``), so the row-level feature definitions
  (Polars, ``features.ledger``) and the registered model's pyfunc import as they do here.

Creating a session starts a JVM (seconds); importing this module does nothing.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[*]"


def spark_session(
    master: str = DEFAULT_MASTER,
    *,
    app_name: str = "scamguard",
    shuffle_partitions: int | None = None,
    driver_memory: str | None = None,
    ui: bool = False,
    conf: dict[str, str] | None = None,
) -> SparkSession:
    """A SparkSession on ``master`` (``local[*]``, ``local[2]``, ``spark://host:7077``, ``yarn``...).

    ``shuffle_partitions``: partitions after a shuffle (Spark's default 200 suits a cluster; a
    local run with little data wants a few). ``driver_memory``: the driver JVM's heap, e.g.
    ``"8g"`` (local mode runs every task in the driver; it takes effect only when this call starts
    the JVM). ``ui``: serve the Spark UI and its REST API (``/api/v1``), which the benchmark reads
    stage metrics from. ``conf``: any other Spark settings. Returns the active session if one
    exists (Spark allows one per process); its settings are then applied where Spark allows.
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.enabled": "true" if ui else "false",
        "spark.ui.showConsoleProgress": "false",
        **({"spark.sql.shuffle.partitions": str(shuffle_partitions)} if shuffle_partitions else {}),
        **({"spark.driver.memory": driver_memory} if driver_memory else {}),
        **(conf or {}),
    }
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
