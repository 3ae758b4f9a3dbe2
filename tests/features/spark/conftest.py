"""One local SparkSession for the whole test session (starting a JVM takes seconds)."""

from __future__ import annotations

import pytest

# small data: two cores, two shuffle partitions. (The JVM's quick compiler alone,
# -XX:TieredStopAtLevel=1, saved ~25% CPU but once ran out of code cache and killed the JVM.)


@pytest.fixture(scope="session")
def spark():
    from features.spark.session import spark_session

    session = spark_session("local[2]", shuffle_partitions=2, driver_memory="2g")
    yield session
    session.stop()
