"""The schedule: the daily job on APScheduler (in-process), with a cron expression and catch-up.

Each firing runs :func:`catch_up`: every day after the last successful run record up to
yesterday (UTC), in order, stopping at the first failed day (the next firing retries it). The
scheduler also fires once at start, so a machine that was down catches up as soon as it is back.
Firings never overlap (one instance at a time) and missed firings are coalesced into one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pipelines.daily import DayRecord, missed_days, run_days
from scamguard.settings import Settings

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

DEFAULT_CRON = "30 2 * * *"  # 02:30 UTC: yesterday's partitions have landed
JOB_ID = "scamguard-daily"


def catch_up(
    settings: Settings,
    *,
    today: date | None = None,
    since: date | None = None,
    **run_kwargs: Any,
) -> list[DayRecord]:
    """Run the daily job for every missed day up to yesterday (see
    :func:`pipelines.daily.missed_days`); ``run_kwargs`` go to :func:`pipelines.daily.run_day`."""
    today = today or datetime.now(UTC).date()
    return run_days(settings, missed_days(settings, today=today, since=since), **run_kwargs)


def build_scheduler(
    cron: str,
    job: Callable[[], object],
    *,
    blocking: bool = True,
    run_at_start: bool = True,
    timezone: str = "UTC",
) -> BaseScheduler:
    """A scheduler (not started) firing ``job`` on ``cron`` (five fields, crontab syntax), and
    once at start when ``run_at_start``. Raises ``ValueError`` for a bad expression."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(cron, timezone=timezone)
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone=timezone)
    extra: dict[str, Any] = {"next_run_time": datetime.now(UTC)} if run_at_start else {}
    scheduler.add_job(
        job,
        trigger,
        id=JOB_ID,
        name="scamguard daily job (catch-up)",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        **extra,
    )
    return scheduler
