"""XGBoost challenger, champion-vs-challenger comparison and the promotion guard (real MLflow).

The guard is tested both ways on the synthetic factory table: a strong challenger against a
one-tree champion is promoted; a one-tree challenger against a strong champion is not. Either
way the decision and its reason are recorded in MLflow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from models.challenger import train_challenger
from models.compare import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    PROMOTIONS_EXPERIMENT,
    compare_models,
    decide_promotion,
    promote,
)
from models.metrics import evaluate
from models.plots import PLOT_FILES
from models.registry import load_scorer
from models.train import TrainResult, train_risk_model
from scamguard import tracking
from scamguard.costs import CostModel
from scamguard.settings import Settings, get_settings
from tests.utils.feature_factory import make_training_table

FAST_LGBM = {
    "n_estimators": 80,
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_child_samples": 20,
    "n_jobs": 1,
}
FAST_XGB = {"n_estimators": 80, "learning_rate": 0.1, "max_depth": 4, "n_jobs": 1}
WEAK_LGBM = {"n_estimators": 1, "num_leaves": 2, "n_jobs": 1}
WEAK_XGB = {"n_estimators": 1, "max_depth": 1, "n_jobs": 1}


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    return make_training_table(4_000, seed=1)


def _settings(tmp_path_factory: pytest.TempPathFactory, name: str) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp(name) / "data", api_key="test-key")


def _client(settings: Settings):  # type: ignore[no-untyped-def]
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


@pytest.fixture(scope="module")
def strong_champion_env(tmp_path_factory, table):  # type: ignore[no-untyped-def]
    """A strong LightGBM champion and a one-tree XGBoost challenger."""
    settings = _settings(tmp_path_factory, "strong-champion")
    champion = train_risk_model(table, settings=settings, params=FAST_LGBM, seed=0)
    challenger = train_challenger(table, settings=settings, params=WEAK_XGB, seed=0)
    return settings, champion, challenger


def _weak_champion(settings: Settings, table: pl.DataFrame) -> tuple:  # type: ignore[type-arg]
    champion = train_risk_model(table, settings=settings, params=WEAK_LGBM, seed=0)
    challenger = train_challenger(table, settings=settings, params=FAST_XGB, seed=0)
    return settings, champion, challenger


@pytest.fixture(scope="module")
def weak_champion_env(tmp_path_factory, table):  # type: ignore[no-untyped-def]
    """A one-tree LightGBM champion and a strong XGBoost challenger (read-only: never promoted)."""
    return _weak_champion(_settings(tmp_path_factory, "weak-champion"), table)


@pytest.fixture
def promotable_env(tmp_path, table):  # type: ignore[no-untyped-def]
    """Like ``weak_champion_env``, in its own registry, for the test that promotes."""
    return _weak_champion(Settings(data_dir=tmp_path / "data", api_key="test-key"), table)


def test_challenger_is_logged_and_registered_like_the_champion(weak_champion_env):  # type: ignore[no-untyped-def]
    settings, champion, challenger = weak_champion_env
    c = _client(settings)
    run = c.get_run(challenger.run_id)
    assert run.data.tags["model_family"] == "xgboost"
    for key in ("test_pr_auc", "test_recall_at_1pct_fpr", "test_expected_cost", "valid_brier"):
        assert key in run.data.metrics
    assert run.data.params["xgb_max_depth"] == "4" and run.data.params["seed"] == "0"
    plots = {Path(a.path).name for a in c.list_artifacts(challenger.run_id, "plots")}
    assert plots == set(PLOT_FILES)
    features = json.loads(
        Path(c.download_artifacts(challenger.run_id, "features.json")).read_text()
    )
    assert features["features"] == champion.feature_names  # the same table, the same features

    name = settings.risk_model_name
    assert str(c.get_model_version_by_alias(name, CHALLENGER).version) == challenger.model_version
    assert str(c.get_model_version_by_alias(name, CHAMPION).version) == champion.model_version
    assert c.get_model_version(name, challenger.model_version).tags["family"] == "xgboost"
    assert challenger.metrics["test_roc_auc"] > 0.85  # the planted signal is learnt


def test_challenger_reloads_with_reasons_and_the_same_risks(weak_champion_env, table):  # type: ignore[no-untyped-def]
    import mlflow.pyfunc

    settings, _, challenger = weak_champion_env
    scorer = load_scorer(settings, CHALLENGER)
    assert scorer.family == "xgboost" and scorer.model_version == challenger.model_version
    rows = table.filter(pl.col("split") == "test")
    scored = scorer.score(rows)
    in_memory = challenger.model.predict_frame(rows.select(challenger.feature_names).to_pandas())
    np.testing.assert_allclose(scored["risk"].to_numpy(), in_memory["risk"].to_numpy())
    np.testing.assert_allclose(scorer.risk(rows), scored["risk"].to_numpy())
    # TreeSHAP contributions add up to the margin, so reasons and risk agree
    x = rows.select(pl.col(challenger.feature_names).cast(pl.Float64)).to_numpy()[:50]
    np.testing.assert_allclose(
        scorer.model.contributions(x).sum(axis=1), scorer.model.margin(x), atol=1e-4
    )
    planted = rows.filter(
        (pl.col("typology") == "fraud_ring") & (pl.col("shared_device_users") >= 4)
    )
    assert (scorer.score(planted)["reason_1"] == "shared_device_users").mean() > 0.8
    with tracking.tracking(settings):
        generic = mlflow.pyfunc.load_model(f"models:/{settings.risk_model_name}@{CHALLENGER}")
    via = generic.predict(
        rows.select(pl.col(challenger.feature_names).cast(pl.Float64)).to_pandas()
    )
    np.testing.assert_allclose(via["risk"].to_numpy(), scored["risk"].to_numpy())


def test_xgboost_training_is_deterministic_for_a_seed(table, tmp_path):  # type: ignore[no-untyped-def]
    from models.challenger import fit_xgb_model

    a = fit_xgb_model(table, params=FAST_XGB, seed=3)
    b = fit_xgb_model(table, params=FAST_XGB, seed=3)
    np.testing.assert_array_equal(a.risk["test"], b.risk["test"])


def test_compare_reports_both_models_on_the_test_window(weak_champion_env, table):  # type: ignore[no-untyped-def]
    settings, champion, challenger = weak_champion_env
    comparison = compare_models(settings, table, repeats=1)
    test = table.filter(pl.col("split") == "test")
    assert comparison.rows == test.height and comparison.positives == int(test["label"].sum())
    assert comparison.as_of_min == str(test["as_of"].min())
    assert comparison.champion.version == champion.model_version
    assert comparison.challenger.family == "xgboost" and comparison.champion.family == "lightgbm"
    # the same numbers as evaluating the challenger's own test predictions
    assert comparison.challenger.metrics["expected_cost"] == pytest.approx(
        challenger.metrics["test_expected_cost"]
    )
    assert comparison.challenger.metrics["pr_auc"] == pytest.approx(
        challenger.metrics["test_pr_auc"]
    )
    assert set(comparison.challenger.typology_recall()) == {
        "fake_client",
        "fraud_ring",
        "payment_fraud",
    }
    assert (
        comparison.champion.ms_per_1k_rows > 0
        and comparison.challenger.ms_per_1k_rows_risk_only > 0
    )
    metrics = [r[0] for r in comparison.table_rows()]
    assert metrics[:4] == ["pr_auc", "roc_auc", "recall_at_1pct_fpr", "expected_cost"]
    assert comparison.better("expected_cost") == CHALLENGER  # a one-tree champion is worse


def test_promotion_guard_keeps_a_better_champion(strong_champion_env, table):  # type: ignore[no-untyped-def]
    settings, champion, challenger = strong_champion_env
    decision = promote(settings, table, repeats=1)
    assert not decision.promoted
    assert "does not win on expected cost" in decision.reason
    name = settings.risk_model_name
    c = _client(settings)
    assert str(c.get_model_version_by_alias(name, CHAMPION).version) == champion.model_version
    assert str(c.get_model_version_by_alias(name, CHALLENGER).version) == challenger.model_version
    _assert_recorded(settings, decision, "kept")


def test_promotion_guard_promotes_a_cheaper_challenger(promotable_env, table):  # type: ignore[no-untyped-def]
    settings, champion, challenger = promotable_env
    assert challenger.metrics["test_expected_cost"] < champion.metrics["test_expected_cost"]
    decision = promote(settings, table, repeats=1)
    assert decision.promoted and "wins on expected cost" in decision.reason
    assert decision.champion_before == champion.model_version
    assert decision.champion_after == challenger.model_version
    name = settings.risk_model_name
    c = _client(settings)
    assert str(c.get_model_version_by_alias(name, CHAMPION).version) == challenger.model_version
    assert str(c.get_model_version_by_alias(name, PREVIOUS).version) == champion.model_version
    assert CHALLENGER not in c.get_registered_model(name).aliases
    assert load_scorer(settings).family == "xgboost"  # batch scoring and serving now get XGBoost
    _assert_recorded(settings, decision, "promoted")


def _assert_recorded(settings: Settings, decision, expected: str) -> None:  # type: ignore[no-untyped-def]
    c = _client(settings)
    run = c.get_run(decision.run_id)
    assert c.get_experiment(run.info.experiment_id).name == PROMOTIONS_EXPERIMENT
    assert run.data.tags["decision"] == expected and run.data.tags["reason"] == decision.reason
    assert run.data.metrics["promoted"] == float(decision.promoted)
    assert run.data.params["challenger_version"] == decision.comparison.challenger.version
    version = c.get_model_version(settings.risk_model_name, decision.comparison.challenger.version)
    assert (
        version.tags["promotion"].startswith(expected)
        and decision.reason in version.tags["promotion"]
    )


def test_guard_needs_a_strict_improvement_beyond_the_margin(weak_champion_env, table):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    settings, _, _ = weak_champion_env
    comparison = compare_models(settings, table, repeats=1)
    gap = (
        comparison.champion.metrics["expected_cost"]
        - comparison.challenger.metrics["expected_cost"]
    )
    assert gap > 0
    assert decide_promotion(comparison)[0]
    assert not decide_promotion(comparison, min_improvement=gap)[0]  # equal to the margin: no
    same = replace(
        comparison, challenger=replace(comparison.challenger, metrics=comparison.champion.metrics)
    )
    assert not decide_promotion(same)[0]  # a tie is not a win


def test_expected_cost_matches_the_cost_model(strong_champion_env, table):  # type: ignore[no-untyped-def]
    settings, _, _ = strong_champion_env
    costs = CostModel(missed_scam=50.0, wrongful_block=10.0, review=1.0)
    comparison = compare_models(settings, table, costs=costs, repeats=1)
    scorer = load_scorer(settings, CHAMPION)
    rows = table.filter(pl.col("split") == "test")
    direct = evaluate(
        rows["label"].to_numpy(),
        scorer.risk(rows),
        rows["typology"].to_numpy().astype(object),
        thresholds=scorer.thresholds,
        costs=costs,
    )
    assert comparison.champion.metrics["expected_cost"] == pytest.approx(direct["expected_cost"])


def test_cli_train_challenger_compare_and_promote(tmp_path, table):  # type: ignore[no-untyped-def]
    from scamguard.cli import app

    settings = Settings(data_dir=tmp_path / "data", api_key="test-key")
    settings.features_dir.mkdir(parents=True)
    table.write_parquet(settings.features_dir / "training.parquet")
    train_risk_model(table, settings=settings, params=WEAK_LGBM, seed=0)
    env = {
        "SCAMGUARD_DATA_DIR": str(settings.data_dir),
        "SCAMGUARD_API_KEY": "test-key",
        "COLUMNS": "200",
    }
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(app, ["compare"], env=env)
        assert result.exit_code == 2 and "challenger" in result.output  # nothing to compare yet
        result = runner.invoke(app, ["train-challenger", "--n-estimators", "60"], env=env)
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["compare", "--json"], env=env)
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["challenger"]["family"] == "xgboost" and report["rows"] > 0
        result = runner.invoke(app, ["promote"], env=env)
        assert result.exit_code == 0, result.output
        assert "promoted" in result.output
    finally:
        get_settings.cache_clear()
    assert load_scorer(settings).family == "xgboost"


def test_train_result_alias_is_reported(strong_champion_env):  # type: ignore[no-untyped-def]
    _, champion, challenger = strong_champion_env
    assert isinstance(challenger, TrainResult)
    assert challenger.alias == CHALLENGER and champion.alias == CHAMPION
    assert any("@challenger" in v for _, v in challenger.summary_rows())


def test_guard_refuses_a_challenger_that_needs_features_the_champion_lacks(tmp_path, table):  # type: ignore[no-untyped-def]
    """E.g. a model on ``textmodel_*`` columns, which batch scoring does not compute yet."""
    settings = Settings(data_dir=tmp_path / "data", api_key="test-key")
    label = table["label"].to_numpy()
    extra = np.where(label == 1, 0.9, 0.1) + np.random.default_rng(0).normal(0, 0.2, table.height)
    richer = table.with_columns(pl.Series("textmodel_max", extra))
    train_risk_model(table, settings=settings, params=WEAK_LGBM, seed=0)
    train_challenger(richer, settings=settings, params=FAST_XGB, seed=0)
    kept = promote(settings, richer, repeats=1)
    assert not kept.promoted and "textmodel_max" in kept.reason
    assert kept.comparison.better("expected_cost") == CHALLENGER  # cheaper, yet refused
    assert load_scorer(settings).family == "lightgbm"
    moved = promote(settings, richer, repeats=1, allow_new_features=True)
    assert moved.promoted and load_scorer(settings).family == "xgboost"
