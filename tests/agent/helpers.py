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
