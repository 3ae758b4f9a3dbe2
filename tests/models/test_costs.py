"""The one cost model: its checks, the settings' nested environment variables, and `scamguard
train`'s cost options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from models.decisions import uncapped_thresholds
from scamguard.costs import CostModel, describe_invalid
from scamguard.settings import Settings, get_settings


def test_defaults_are_the_risk_models_prices_and_the_agents_divided_by_five() -> None:
    costs = CostModel()
    assert (costs.missed_scam, costs.wrongful_block, costs.review) == (100.0, 20.0, 2.0)
    assert costs.review_capacity == 0.05
    # the agent's earlier table (0 / 1 / 1 / 3 / 4 / 5 / 5 against 500 / 100 / 10), divided by 5
    assert costs.evidence.by_group() == pytest.approx(
        {
            "event": 0.0,
            "profile": 0.2,
            "velocity": 0.2,
            "text_model": 0.6,
            "similar_cases": 0.8,
            "graph": 1.0,
            "payments": 1.0,
        }
    )
    assert uncapped_thresholds(costs).review == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"missed_scam": -1.0}, "missed_scam must be a finite cost >= 0, got -1.0"),
        ({"review": float("nan")}, "review must be a finite cost >= 0"),
        ({"wrongful_block": float("inf")}, "wrongful_block must be a finite cost >= 0"),
        ({"review_capacity": 1.5}, "review_capacity is a fraction of the scored rows"),
        ({"review_capacity": -0.1}, "must be in [0, 1], got -0.1"),
        ({"evidence": {"graph": -2.0}}, "evidence.graph must be a finite cost >= 0"),
    ],
)
def test_invalid_prices_are_refused_with_one_clear_line(changes: dict, message: str) -> None:
    with pytest.raises(ValueError) as info:
        CostModel(**changes)
    text = describe_invalid(info.value)
    assert message in text and "\n" not in text
    with pytest.raises(ValueError):  # replace validates too (model_copy would not)
        CostModel().replace(**changes)


def test_replace_and_evidence_overrides() -> None:
    costs = CostModel().replace(missed_scam=150.0).with_evidence({"graph": 3.0, "event": 0.0})
    assert costs.missed_scam == 150.0 and costs.wrongful_block == 20.0
    assert costs.evidence.graph == 3.0 and costs.evidence.payments == 1.0
    with pytest.raises(ValueError, match="event"):
        CostModel().with_evidence({"event": 1.0})
    with pytest.raises(ValueError, match="unknown evidence groups"):
        CostModel().with_evidence({"astrology": 1.0})
    with pytest.raises(Exception, match="frozen"):
        costs.missed_scam = 1.0  # type: ignore[misc]


def test_mlflow_params_keep_the_risk_models_names() -> None:
    assert CostModel().as_params() == {
        "cost_missed_scam": 100.0,
        "cost_wrongful_block": 20.0,
        "cost_review": 2.0,
        "cost_review_capacity": 0.05,
    }
    assert CostModel().as_params(evidence=True)["cost_evidence_similar_cases"] == 0.8


def test_settings_read_the_costs_from_nested_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().costs == CostModel()
    monkeypatch.setenv("SCAMGUARD_COSTS__MISSED_SCAM", "150")
    monkeypatch.setenv("SCAMGUARD_COSTS__EVIDENCE__GRAPH", "2.5")
    costs = Settings().costs
    assert costs.missed_scam == 150
    assert costs.evidence.graph == 2.5 and costs.review == 2.0  # the rest stay defaults
    monkeypatch.setenv("SCAMGUARD_COSTS__REVIEW_CAPACITY", "1.5")
    with pytest.raises(ValueError, match="review_capacity"):
        Settings()


@pytest.fixture
def cli_env(tmp_path: Path) -> Any:
    get_settings.cache_clear()
    yield {"SCAMGUARD_DATA_DIR": str(tmp_path / "data"), "SCAMGUARD_API_KEY": "test-key"}
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--review-capacity", "1.5"], "review_capacity"),
        (["--missed-scam", "-1"], "missed_scam"),
        (["--review-cost", "-0.5"], "review"),
    ],
)
def test_train_refuses_bad_costs_in_one_line_with_exit_code_2(
    cli_env: dict, args: list[str], field: str
) -> None:
    from scamguard.cli import app

    result = CliRunner().invoke(app, ["train", *args], env=cli_env)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}"), result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_train_options_override_the_settings_costs(
    cli_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import models.train
    from scamguard.cli import app

    features = Path(cli_env["SCAMGUARD_DATA_DIR"]) / "features"
    features.mkdir(parents=True)
    pl.DataFrame({"x": [1]}).write_parquet(features / "training.parquet")
    seen: list[CostModel] = []

    class Result:
        model_version = "1"

        def summary_rows(self) -> list[tuple[str, str]]:
            return [("run", "fake")]

    def fake_train(  # type: ignore[no-untyped-def]
        table: pl.DataFrame, *, settings: Settings, costs: CostModel, seed: int, alias: str
    ):
        seen.append(costs)
        assert alias == "champion"  # the first model: nothing to guard
        return Result()

    monkeypatch.setattr(models.train, "train_risk_model", fake_train)
    env = {**cli_env, "SCAMGUARD_COSTS__WRONGFUL_BLOCK": "30"}
    args = ["train", "--missed-scam", "150", "--review-capacity", "0.1"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert seen == [CostModel(missed_scam=150.0, wrongful_block=30.0, review_capacity=0.1)]
