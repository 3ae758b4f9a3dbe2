"""The daily job as a Dagster definition: one daily-partitioned job and its schedule.

For a team that runs Dagster instead of the embedded APScheduler (``scamguard schedule``). Each
partition is a day; its one op runs :func:`pipelines.daily.run_day` with the monitor step, and a
failed day fails the run with the record's message (the run record and its MLflow run are written
either way). Backfills and re-runs are Dagster's own (a re-run of a partition replaces the day).

    pip install -e ".[dagster]"
    dagster dev -m monitoring.dagster_defs          # needs dagster-webserver as well
    # or, in process:
    defs.get_job_def("scamguard_daily").execute_in_process(partition_key="2026-08-24")

The partitions start at ``SCAMGUARD_DAILY_START`` (default 2026-07-06, the simulator's first
day); the ``scamguard`` resource's ``data_dir`` defaults to the settings' data dir.
"""

# No ``from __future__ import annotations`` here: Dagster reads the op's type hints at run time.
import os
from datetime import date

import dagster as dg

from monitoring.monitor import monitor_step
from pipelines.daily import run_day
from scamguard.settings import Settings, get_settings

DEFAULT_START = "2026-07-06"


class ScamguardResource(dg.ConfigurableResource):  # type: ignore[misc]
    """Where the data lives (empty: the settings' ``data_dir``) and whether to monitor."""

    data_dir: str = ""
    monitor: bool = True

    def settings(self) -> Settings:
        base = get_settings()
        return (
            base.model_copy(update={"data_dir": type(base.data_dir)(self.data_dir)})
            if self.data_dir
            else base
        )


@dg.op(description="ingest, features, batch scoring and monitoring of the partition's day")
def run_daily(context: dg.OpExecutionContext, scamguard: ScamguardResource) -> dict:
    day = date.fromisoformat(context.partition_key)
    settings = scamguard.settings()
    record = run_day(settings, day, monitor=monitor_step if scamguard.monitor else None)
    for step in record.steps:
        context.log.info(f"{day} {step.name}: {step.status} in {step.seconds:.1f}s {step.rows}")
    if not record.ok:
        raise dg.Failure(
            description=f"daily {day}: {record.error}",
            metadata={"run_record": str(settings.data_dir / "runs" / f"date={day}" / "run.json")},
        )
    return record.to_json()


def build_definitions(
    start: str = DEFAULT_START, cron_hour: int = 2, cron_minute: int = 30
) -> dg.Definitions:
    partitions = dg.DailyPartitionsDefinition(start_date=start, timezone="UTC")

    @dg.job(name="scamguard_daily", partitions_def=partitions)
    def scamguard_daily() -> None:
        run_daily()

    schedule = dg.build_schedule_from_partitioned_job(
        scamguard_daily, hour_of_day=cron_hour, minute_of_hour=cron_minute
    )
    return dg.Definitions(
        jobs=[scamguard_daily],
        schedules=[schedule],
        resources={"scamguard": ScamguardResource()},
    )


defs = build_definitions(os.environ.get("SCAMGUARD_DAILY_START", DEFAULT_START))
