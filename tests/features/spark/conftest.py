"""One local SparkSession for the whole test session (starting a JVM takes seconds)."""

from __future__ import annotations

import pytest

# small data: two cores, two shuffle partitions, the JVM's quick compiler only (a short run
# spends more on optimising compilation than it gains)
TEST_CONF = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1"}


@pytest.fixture(scope="session")
def spark():
    from features.spark.session import spark_session

    session = spark_session("local[2]", shuffle_partitions=2, driver_memory="2g", conf=TEST_CONF)
    yield session
    session.stop()
