"""A small marketplace with a champion and daily scores, monitored around the new scam variant.

``monitor_env``: 4,000 users over 6 weeks from 2026-07-06 (4% scammers, so that the variant,
which starts on 2026-08-10, is sent by a handful of accounts a day even at this size), ingested,
a champion trained on 2026-07-13..07-27, and the daily features and scores of 2026-07-20 to
2026-08-10. ``monitored`` holds the monitor's results of 2026-08-06 .. 2026-08-10. Tests must not
change it: ``env_copy`` gives a private copy.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from scamguard.settings import Settings
from tests.conftest import FAST_PARAMS, SMS_CSV, make_settings

VARIANT_START = date(2026, 8, 10)
FIRST_SCORED = date(2026, 7, 20)
MONITORED = [VARIANT_START - timedelta(days=4 - i) for i in range(5)]  # 08-06 .. 08-10


@dataclass
class MonitorEnv:
    settings: Settings
    scorer: object
    monitored: dict  # date -> MonitorResult


def score_day(settings: Settings, day: date, scorer: object, feature_hook=None) -> None:  # type: ignore[no-untyped-def]
    from pipelines.batch import batch_score
    from pipelines.daily import build_features

    batch_score(settings, day, scorer=scorer, features=build_features(settings, day, feature_hook))


@pytest.fixture(scope="session")
def monitor_env(tmp_path_factory: pytest.TempPathFactory) -> MonitorEnv:
    from datetime import UTC, datetime

    from features.build import build_training_table
    from features.tables import load_clean_tables
    from models.registry import load_scorer
    from models.train import train_risk_model
    from monitoring.monitor import run_monitor
    from pipelines.ingest import ingest_partitions
    from pipelines.raw import write_world
    from pipelines.simulator import SimulationConfig, simulate

    settings = make_settings(tmp_path_factory.mktemp("monitor") / "data")
    world = simulate(
        SimulationConfig(
            n_users=4_000, weeks=6, seed=7, drift_weeks=1, scam_rate=0.04, sms_csv=SMS_CSV
        )
    )
    write_world(world, settings.raw_dir, truth_dir=settings.data_dir / "simulator")
    ingest_partitions(
        settings.raw_dir, settings.clean_dir, settings.quarantine_dir, date(2026, 8, 16)
    )
    end = datetime(2026, 7, 28, tzinfo=UTC)
    times = [end - timedelta(days=2 * i) for i in range(8)][::-1]
    table = build_training_table(load_clean_tables(settings), times)
    train_risk_model(table, settings=settings, params=FAST_PARAMS, seed=0)
    scorer = load_scorer(settings)
    day = FIRST_SCORED
    while day <= VARIANT_START:
        score_day(settings, day, scorer)
        day += timedelta(days=1)
    monitored = {d: run_monitor(settings, d, scorer=scorer, log_mlflow=False) for d in MONITORED}
    return MonitorEnv(settings, scorer, monitored)


@pytest.fixture
def env_copy(monitor_env: MonitorEnv, tmp_path: Path) -> Settings:
    target = tmp_path / "data"
    shutil.copytree(monitor_env.settings.data_dir, target)
    return make_settings(target)
