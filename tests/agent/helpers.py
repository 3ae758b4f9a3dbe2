"""A small trained agent on a copy of ``trained_env`` (the session's simulated world).

``trained_env`` must not be modified, so the agent is trained in a copy of its data dir, with its
own MLflow SQLite store. The copy and the training happen once per test session.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from agent.expert import ExpertIterationConfig
from agent.train import (
    AgentTrainConfig,
    AgentTrainResult,
    load_labels,
    load_training_table,
    train_agent,
)
from scamguard.settings import Settings

SMALL_CONFIG = AgentTrainConfig(
    belief={"n_estimators": 40, "copies": 2, "threads": 1},
    completion={"k_scam": 6, "k_benign": 10, "max_rows_per_class": 5000},
    search={
        "num_simulations": 8,
        "batch_size": 4,
        "c_puct": 1.25,
        "backup": "mean",
        "root_rule": "gumbel",
    },
    expert=ExpertIterationConfig(iterations=1, episodes=16, valid_cases=30, epochs=5),
    hidden=16,
)
_TRAINED: dict[Path, tuple[Settings, AgentTrainResult]] = {}


def small_agent(trained_env: Settings, workdir: Path) -> tuple[Settings, AgentTrainResult]:
    """(settings of the copy, the training result); trained once per ``trained_env``."""
    key = Path(trained_env.data_dir).resolve()
    if key not in _TRAINED:
        data_dir = Path(workdir) / "data"
        shutil.copytree(trained_env.data_dir, data_dir, ignore=shutil.ignore_patterns("raw"))
        settings = Settings(data_dir=data_dir, api_key="test-key")
        table, path = load_training_table(settings)
        result = train_agent(
            table,
            settings=settings,
            labels=load_labels(settings),
            config=SMALL_CONFIG,
            table_path=str(path),
        )
        _TRAINED[key] = (settings, result)
    return _TRAINED[key]


_PIVOTS: dict[Path, Settings] = {}


def small_pivots(agent_settings: Settings, workdir: Path) -> Settings:
    """Settings over a mirror of ``agent_settings``'s data dir (symlinks; its ``agent/`` a real
    folder of symlinks) where ``scamguard agent-train-pivots`` has run; once per agent. The
    agent's own data dir keeps no pivot model."""
    from typer.testing import CliRunner

    from scamguard.cli import app
    from scamguard.settings import get_settings

    key = Path(agent_settings.data_dir).resolve()
    if key not in _PIVOTS:
        data_dir = Path(workdir) / "data"
        (data_dir / "agent").mkdir(parents=True)
        for entry in key.iterdir():
            if entry.name in {"agent", "audit"}:
                continue
            (data_dir / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
        for entry in (key / "agent").iterdir():
            (data_dir / "agent" / entry.name).symlink_to(entry)
        settings = Settings(data_dir=data_dir, api_key="test-key")
        env = {"SCAMGUARD_DATA_DIR": str(data_dir), "SCAMGUARD_API_KEY": "test-key"}
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, ["agent-train-pivots", "--json"], env=env)
        finally:
            get_settings.cache_clear()
        assert result.exit_code == 0, result.output
        _PIVOTS[key] = settings
    return _PIVOTS[key]


def device_scam_neighbours(settings: Settings) -> list[tuple[str, str]]:
    """(user, scammer) pairs: the user's device linked the scammer before the user's latest case
    row, and the scammer's scam label was decided before it too, users sorted."""
    import polars as pl

    from features.graph import identifier_links
    from features.tables import load_clean_tables

    tables = load_clean_tables(settings)
    links = identifier_links(users=tables.users, logins=tables.logins, payments=tables.payments)
    devices = links.filter(pl.col("kind") == "device").collect()
    scams = tables.labels.filter(pl.col("label") != "benign").select("user_id", "decided_ts")
    scam_devices = devices.join(scams.collect(), on="user_id").select(
        "ident", pl.col("user_id").alias("scammer"), "decided_ts", pl.col("first_ts").alias("t0")
    )
    latest = (
        pl.read_parquet(settings.features_dir / "training.parquet")
        .group_by("user_id")
        .agg(pl.col("as_of").max())
    )
    pairs = (
        devices.join(scam_devices, on="ident")
        .join(latest, on="user_id")
        .filter(
            pl.col("user_id") != pl.col("scammer"),
            pl.col("decided_ts") < pl.col("as_of"),
            pl.max_horizontal("first_ts", "t0") < pl.col("as_of"),
        )
        .select("user_id", "scammer")
        .unique()
        .sort("user_id", "scammer")
    )
    return list(pairs.iter_rows())
