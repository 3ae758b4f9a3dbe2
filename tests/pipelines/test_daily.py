"""The daily job: one day's partitions in, a run record out, safe to re-run, kill and backfill."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from features.tables import load_clean_tables
from pipelines.daily import (
    EXPERIMENT,
    DayRecord,
    day_range,
    last_successful_day,
    missed_days,
    read_run_record,
    run_day,
    run_days,
)
from pipelines.schedule import build_scheduler, catch_up
from scamguard import tracking
from scamguard.io import scan_table
from scamguard.schema import LOAD_ORDER, TABLES
from scamguard.settings import Settings
from tests.conftest import SMS_CSV, make_settings
from tests.utils.daily_factory import FailingScorer, StubScorer, day_outputs, file_digests

ROOT = Path(__file__).resolve().parents[2]
START = date(2026, 7, 6)  # the simulator's default first day
DAY1, DAY2, DAY3 = date(2026, 7, 10), date(2026, 7, 11), date(2026, 7, 12)


def _run(settings: Settings, day: date, **kwargs) -> DayRecord:  # type: ignore[no-untyped-def]
    kwargs.setdefault("scorer", StubScorer())
    kwargs.setdefault("log_mlflow", False)
    return run_day(settings, day, **kwargs)


@pytest.fixture(scope="module")
def daily_world(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Raw data of a small marketplace (400 users, 2 weeks) and two days run by the daily job."""
    from pipelines.raw import write_world
    from pipelines.simulator import SimulationConfig, simulate

    settings = make_settings(tmp_path_factory.mktemp("daily") / "data")
    world = simulate(SimulationConfig(n_users=400, weeks=2, seed=3, sms_csv=SMS_CSV))
    write_world(world, settings.raw_dir, truth_dir=settings.data_dir / "simulator")
    for day in (DAY1, DAY2):
        assert _run(settings, day).ok
    return settings


@pytest.fixture
def world(daily_world: Settings, tmp_path: Path) -> Settings:
    """A private copy of the daily world, for tests that change it."""
    target = tmp_path / "data"
    shutil.copytree(daily_world.data_dir, target)
    return make_settings(target)


def _raw_rows(settings: Settings, table: str, day: date) -> int:
    folder = settings.raw_dir / table / f"date={day.isoformat()}"
    return sum(pl.read_parquet(f).height for f in folder.glob("*.parquet"))


def test_the_first_day_loads_history_then_each_day_only_its_partitions(daily_world):
    first, second = read_run_record(daily_world, DAY1), read_run_record(daily_world, DAY2)
    assert first["status"] == second["status"] == "ok"
    assert [s["name"] for s in second["steps"]] == ["ingest", "features", "score", "monitor"]
    assert first["steps"][0]["detail"]["initial_load"] is True
    ingest = second["steps"][0]
    assert ingest["detail"]["initial_load"] is False
    assert ingest["rows"]["in"] == sum(_raw_rows(daily_world, t, DAY2) for t in LOAD_ORDER)
    # nothing after the last run day was loaded
    messages = load_clean_tables(daily_world).messages.collect()
    assert messages["ts"].max().date() == DAY2
    assert second["steps"][3]["status"] == "skipped"  # no monitor injected here


def test_a_rerun_of_a_day_gives_identical_outputs(world):
    before = day_outputs(world, DAY2)
    assert {"snapshot", "scores", "clean/messages/part-0.parquet"} <= set(before)
    record = _run(world, DAY2)
    assert record.ok
    assert day_outputs(world, DAY2) == before
    for table in LOAD_ORDER:  # no row twice
        key = TABLES[table].primary_key
        rows = scan_table(world.clean_dir, table).collect()
        assert rows[key].is_unique().all(), table


def test_a_run_killed_mid_way_completes_on_rerun_with_no_duplicate_rows(world, tmp_path):
    # a script file, not ``python -c``: pyspark (imported by great-expectations when present)
    # takes a main module without a file for its doctest runner and exits
    script = tmp_path / "killed_day.py"
    script.write_text(
        "import sys; from datetime import date\n"
        "from pipelines.daily import run_day\n"
        "from tests.conftest import make_settings\n"
        "from tests.utils.daily_factory import KillingScorer\n"
        "run_day(make_settings(sys.argv[1]), date.fromisoformat(sys.argv[2]),"
        " scorer=KillingScorer(), log_mlflow=False)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script), str(world.data_dir), DAY3.isoformat()],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    # killed while scoring: the day's ingest and features were written, no scores, no record
    assert (world.clean_dir / "messages" / f"date={DAY3}").exists()
    assert not (world.scores_dir / f"date={DAY3}").exists()
    assert read_run_record(world, DAY3) is None
    assert last_successful_day(world) == DAY2

    record = _run(world, DAY3)
    assert record.ok
    for table in LOAD_ORDER:
        key = TABLES[table].primary_key
        rows = scan_table(world.clean_dir, table).collect()
        assert rows[key].is_unique().all(), table
        assert rows.filter(pl.col(TABLES[table].time_column).dt.date() == DAY3).height == (
            _raw_rows(world, table, DAY3)
        )
    scores = pl.read_parquet(world.scores_dir / f"date={DAY3}" / "scores.parquet")
    assert scores["user_id"].is_unique().all()
    assert last_successful_day(world) == DAY3


def test_a_failed_step_fails_the_day_and_leaves_earlier_days_untouched(world):
    earlier = {
        name: file_digests(root)
        for name, root in (("clean", world.clean_dir), ("scores", world.scores_dir))
    }
    earlier_days = {d: day_outputs(world, d) for d in (DAY1, DAY2)}
    record = _run(world, DAY3, scorer=FailingScorer())
    assert not record.ok
    assert [s.status for s in record.steps] == ["ok", "ok", "failed", "not run"]
    assert record.error.startswith("score failed: RuntimeError: the model server is gone")
    saved = read_run_record(world, DAY3)
    assert saved["status"] == "failed" and saved["error"] == record.error
    assert {d: day_outputs(world, d) for d in (DAY1, DAY2)} == earlier_days
    # only the failed day's own partitions were added
    clean_now = file_digests(world.clean_dir)
    assert {k: v for k, v in clean_now.items() if k in earlier["clean"]} == earlier["clean"]
    assert all(f"date={DAY3}" in k for k in set(clean_now) - set(earlier["clean"]))
    assert file_digests(world.scores_dir) == earlier["scores"]
    assert last_successful_day(world) == DAY2


def test_a_backfill_runs_days_in_order_and_stops_at_the_first_failure(world):
    missing = DAY3 + timedelta(days=1)  # upstream never delivered this day
    for table in LOAD_ORDER:
        shutil.rmtree(world.raw_dir / table / f"date={missing}", ignore_errors=True)
    records = run_days(
        world,
        day_range(DAY3, missing + timedelta(days=1)),
        scorer=StubScorer(),
        log_mlflow=False,
    )
    assert [(r.date, r.ok) for r in records] == [(DAY3, True), (missing, False)]
    assert records[-1].error.startswith("ingest failed: FileNotFoundError: no raw partition")
    assert read_run_record(world, missing + timedelta(days=1)) is None  # later days wait
    assert last_successful_day(world) == DAY3
    with pytest.raises(ValueError, match="before"):
        day_range(DAY2, DAY1)


def test_catch_up_runs_the_days_after_the_last_success_up_to_yesterday(world):
    assert missed_days(world, today=DAY2 + timedelta(days=3)) == [DAY3, DAY3 + timedelta(days=1)]
    records = catch_up(world, today=DAY3 + timedelta(days=1), scorer=StubScorer(), log_mlflow=False)
    assert [r.date for r in records] == [DAY3] and records[0].ok
    assert missed_days(world, today=DAY3 + timedelta(days=1)) == []


def test_no_run_yet_catches_up_from_since_or_yesterday(tmp_settings):
    assert missed_days(tmp_settings, today=DAY3) == [DAY2]
    assert missed_days(tmp_settings, today=DAY3, since=DAY1) == [DAY1, DAY2]


def test_the_scheduler_fires_on_its_cron_and_once_at_start():
    from apscheduler.triggers.cron import CronTrigger

    fired = threading.Event()
    scheduler = build_scheduler("30 2 * * *", fired.set, blocking=False)
    job = scheduler.get_jobs()[0]
    assert isinstance(job.trigger, CronTrigger)
    after = datetime(2026, 8, 24, 3, 0, tzinfo=UTC)
    assert job.trigger.get_next_fire_time(None, after) == datetime(2026, 8, 25, 2, 30, tzinfo=UTC)
    assert job.max_instances == 1 and job.coalesce
    scheduler.start()
    try:
        assert fired.wait(10), "the job did not run at start"
    finally:
        scheduler.shutdown(wait=False)
    with pytest.raises(ValueError):
        build_scheduler("every day", fired.set, blocking=False)


def test_the_run_record_is_an_mlflow_run(world):
    record = _run(world, DAY2, log_mlflow=True)
    run = tracking.client(world).get_run(record.mlflow_run_id)
    assert run.data.tags["date"] == DAY2.isoformat() and run.data.tags["status"] == "ok"
    assert run.data.metrics["ingest_rows_in"] == record.step("ingest").rows["in"]
    experiment = tracking.client(world).get_experiment(run.info.experiment_id)
    assert experiment.name == EXPERIMENT
    saved = json.loads((world.data_dir / "runs" / f"date={DAY2}" / "run.json").read_text())
    assert saved["mlflow_run_id"] == record.mlflow_run_id


def test_the_daily_command_fails_in_one_line_when_a_step_fails(world, monkeypatch):
    from typer.testing import CliRunner

    from scamguard.cli import app
    from scamguard.settings import get_settings

    monkeypatch.setenv("SCAMGUARD_DATA_DIR", str(world.data_dir))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["daily", "--date", DAY3.isoformat(), "--no-monitor"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "score failed" in errors[0] and "champion" in errors[0]
    assert "Traceback" not in result.output
