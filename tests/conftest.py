"""Shared fixtures: a small simulated marketplace taken through the whole pipeline once per session.

``trained_env`` yields Settings whose data dir holds raw, clean (ingested) tables, the training
table, a real MLflow SQLite registry with a `champion` risk model, and batch scores of the latest
date. Tests must not modify it; tests that need to write use ``tmp_settings``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from scamguard.settings import Settings

SMS_CSV = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sms_spam" / "messages.csv"
)
TEST_USERS = 3_000
TEST_WEEKS = 6
FAST_PARAMS = {
    "n_estimators": 120,
    "learning_rate": 0.08,
    "num_leaves": 15,
    "min_child_samples": 20,
}


def make_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, api_key="test-key")


@pytest.fixture
def tmp_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture(scope="session")
def small_world():
    from pipelines.simulator import SimulationConfig, simulate

    return simulate(SimulationConfig(n_users=TEST_USERS, weeks=TEST_WEEKS, seed=7, sms_csv=SMS_CSV))


@pytest.fixture(scope="session")
def trained_env(tmp_path_factory: pytest.TempPathFactory, small_world) -> Settings:
    from features.build import build_training_table
    from features.tables import load_clean_tables
    from models.train import train_risk_model
    from pipelines.batch import batch_score
    from pipelines.ingest import ingest
    from pipelines.raw import write_world

    settings = make_settings(tmp_path_factory.mktemp("env") / "data")
    write_world(small_world, settings.raw_dir, truth_dir=settings.data_dir / "simulator")
    ingest(settings.raw_dir, settings.clean_dir, settings.quarantine_dir)
    table = build_training_table(load_clean_tables(settings))
    settings.features_dir.mkdir(parents=True, exist_ok=True)
    table.write_parquet(settings.features_dir / "training.parquet")
    train_risk_model(table, settings=settings, params=FAST_PARAMS, seed=0)
    batch_score(settings)
    return settings


@pytest.fixture(scope="session")
def training_table(trained_env: Settings) -> pl.DataFrame:
    return pl.read_parquet(trained_env.features_dir / "training.parquet")
