"""Writing a Spark DataFrame in the Parquet layout the Polars stages write: one file per table.

Spark writes a directory of part files, one per partition. On a local filesystem (local mode,
or a cluster's shared mount) :func:`write_parquet` then concatenates the parts, in partition
order, into the one file the Polars stages write and read (``features/training.parquet``,
``scores/date=D/scores.parquet``), streaming row group by row group (bounded memory), and swaps
it in whole: a re-run replaces, never half-writes. On an object store or HDFS the directory is
the table (``single_file=False``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def write_parquet(frame: DataFrame, path: Path | str, *, single_file: bool = True) -> Path:
    """Write ``frame`` to ``path`` (replacing it): one Parquet file, or Spark's directory of part
    files when ``single_file`` is False. Returns ``path``."""
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parts_dir = path.with_name(path.name + ".spark-parts")
    target = parts_dir if single_file else path
    if not single_file and path.is_file():
        path.unlink()
    frame.write.mode("overwrite").parquet(str(target))
    if not single_file:
        return path
    parts = sorted(parts_dir.glob("part-*.parquet"))
    tmp = path.with_name(path.name + ".tmp")
    if parts:
        schema = pq.read_schema(parts[0])
        with pq.ParquetWriter(tmp, schema) as writer:
            for part in parts:
                file = pq.ParquetFile(part)
                for group in range(file.num_row_groups):
                    writer.write_table(file.read_row_group(group))
    else:  # Spark wrote no part (no rows): an empty file with the frame's schema
        pq.write_table(frame.limit(0).toArrow(), tmp)
    if path.is_dir():
        shutil.rmtree(path)
    tmp.replace(path)
    shutil.rmtree(parts_dir)
    return path
