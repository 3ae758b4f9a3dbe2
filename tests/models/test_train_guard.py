"""`scamguard train` moves `champion` only through the promote guard, or with a recorded --force."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scamguard import tracking
from scamguard.cli import app
from scamguard.settings import Settings, get_settings
from tests.utils.feature_factory import make_training_table


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    get_settings.cache_clear()
    data = tmp_path / "data"
    (data / "features").mkdir(parents=True)
    make_training_table(3_000, seed=3).write_parquet(data / "features" / "training.parquet")
    yield {"SCAMGUARD_DATA_DIR": str(data), "SCAMGUARD_API_KEY": "test-key"}
    get_settings.cache_clear()


def _champion(settings: Settings) -> str:
    return tracking.resolve_alias(settings, settings.risk_model_name, "champion", hint="").version


def _promotion_runs(settings: Settings) -> list[str]:
    client = tracking.client(settings)
    experiment = client.get_experiment_by_name("scamguard-promotions")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    return [r.data.tags["decision"] for r in runs]


def test_train_moves_champion_only_through_the_guard_or_a_recorded_force(
    env: dict[str, str],
) -> None:
    settings = Settings(data_dir=Path(env["SCAMGUARD_DATA_DIR"]))
    runner = CliRunner()
    first = runner.invoke(app, ["train", "--seed", "0"], env=env)
    assert first.exit_code == 0, first.output
    assert "first model" in first.output and _champion(settings) == "1"

    second = runner.invoke(app, ["train", "--seed", "1"], env=env)
    assert second.exit_code == 0, second.output
    assert "promote guard" in second.output
    decision = _promotion_runs(settings)
    assert decision in (["promoted"], ["kept"])
    assert _champion(settings) == ("2" if decision == ["promoted"] else "1")

    forced = runner.invoke(app, ["train", "--seed", "2", "--force"], env=env)
    assert forced.exit_code == 0, forced.output
    assert _champion(settings) == "3"
    assert _promotion_runs(settings)[-1] == "forced"
    version = tracking.client(settings).get_model_version(settings.risk_model_name, "3")
    assert version.tags["promotion"].startswith("forced ")
