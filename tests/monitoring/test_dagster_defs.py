"""The Dagster definition runs the daily job for a partition, in process."""

from __future__ import annotations

import pytest

from pipelines.daily import read_run_record
from tests.monitoring.conftest import VARIANT_START

dg = pytest.importorskip("dagster")


def test_a_partition_runs_the_daily_job_with_the_monitor(env_copy):
    from monitoring.dagster_defs import ScamguardResource, defs

    job = defs.get_job_def("scamguard_daily")
    result = job.execute_in_process(
        partition_key=VARIANT_START.isoformat(),
        resources={"scamguard": ScamguardResource(data_dir=str(env_copy.data_dir))},
    )
    assert result.success
    record = read_run_record(env_copy, VARIANT_START)
    assert record["status"] == "ok"
    statuses = {s["name"]: s["status"] for s in record["steps"]}
    assert statuses == {  # the variant starts on a weekday: no weekly retrain
        "ingest": "ok",
        "features": "ok",
        "score": "ok",
        "monitor": "ok",
        "retrain": "skipped",
    }
    assert record["steps"][3]["rows"]["pages"] >= 1  # the variant's first day
    assert (env_copy.data_dir / "monitoring" / f"date={VARIANT_START}" / "report.html").exists()


def test_a_failed_day_fails_the_dagster_run_with_the_records_message(env_copy):
    from monitoring.dagster_defs import ScamguardResource, defs

    job = defs.get_job_def("scamguard_daily")
    result = job.execute_in_process(
        partition_key="2026-09-30",  # after the simulated weeks: no raw partition
        resources={"scamguard": ScamguardResource(data_dir=str(env_copy.data_dir), monitor=False)},
        raise_on_error=False,
    )
    assert not result.success
    failure = result.failure_data_for_node("run_daily")
    assert "ingest failed: FileNotFoundError: no raw partition" in str(
        failure.user_failure_data.description
    )


def test_the_schedule_fires_daily_at_the_set_time():
    from monitoring.dagster_defs import build_definitions

    defs = build_definitions("2026-07-06", cron_hour=4, cron_minute=15)
    (schedule,) = defs.schedules
    assert schedule.cron_schedule == "15 4 * * *"
