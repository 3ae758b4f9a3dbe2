"""Training end to end against a real MLflow SQLite store (no mocks), on the synthetic factory table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from features.catalog import KEY_COLUMNS, describe_feature
from models.plots import PLOT_FILES
from models.registry import RiskScorer, load_scorer
from models.train import EXPERIMENT_NAME, TrainResult, train_risk_model
from scamguard import tracking
from scamguard.costs import CostModel
from scamguard.settings import Settings
from tests.utils.feature_factory import benign_and_scam_twin, make_training_table

# One thread: on tiny data OpenMP start-up and contention cost more than they save.
FAST_PARAMS = {
    "n_estimators": 80,
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_child_samples": 20,
    "n_jobs": 1,
}
COSTS = CostModel(review_capacity=0.05)


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    return make_training_table(4_000, seed=1)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("models") / "data", api_key="test-key")


@pytest.fixture(scope="module")
def trained(table: pl.DataFrame, settings: Settings) -> TrainResult:
    return train_risk_model(table, settings=settings, params=FAST_PARAMS, costs=COSTS, seed=0)


@pytest.fixture(scope="module")
def scorer(trained: TrainResult, settings: Settings) -> RiskScorer:
    return load_scorer(settings, alias="champion")


def client(settings: Settings):  # type: ignore[no-untyped-def]
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def test_training_logs_run_with_metrics_params_and_artifacts(
    trained: TrainResult, settings: Settings
):
    c = client(settings)
    run = c.get_run(trained.run_id)
    experiment = c.get_experiment(run.info.experiment_id)
    assert experiment.name == EXPERIMENT_NAME
    assert experiment.artifact_location == settings.artifact_root.as_uri()

    for split in ("test", "valid"):
        for name in (
            "pr_auc",
            "roc_auc",
            "recall_at_1pct_fpr",
            "brier",
            "expected_cost",
            "recall_fake_client",
            "recall_fraud_ring",
            "recall_payment_fraud",
        ):
            assert f"{split}_{name}" in run.data.metrics, f"{split}_{name}"
    assert run.data.metrics == pytest.approx(trained.metrics, nan_ok=True)
    assert trained.metrics["test_roc_auc"] > 0.85  # the planted signal is learnt

    params = run.data.params
    assert float(params["threshold_review"]) == pytest.approx(trained.thresholds.review)
    assert params["seed"] == "0" and params["lgbm_num_leaves"] == "15"
    assert params["cost_missed_scam"] == "100.0"
    assert int(params["rows_train"]) + int(params["rows_valid"]) + int(params["rows_test"]) == 4_000
    assert (
        params["as_of_max_train"]
        < params["as_of_min_valid"]
        <= params["as_of_max_valid"]
        < params["as_of_min_test"]
    )

    plots = {Path(a.path).name for a in c.list_artifacts(trained.run_id, "plots")}
    assert plots == set(PLOT_FILES)
    assert all(p.stat().st_size > 1_000 for p in settings.artifact_root.rglob("plots/*.png"))
    features = json.loads(Path(c.download_artifacts(trained.run_id, "features.json")).read_text())
    assert features["features"] == trained.feature_names
    assert set(KEY_COLUMNS).isdisjoint(trained.feature_names)
    window = json.loads(Path(c.download_artifacts(trained.run_id, "data_window.json")).read_text())
    assert set(window) == {"train", "valid", "test"}


def test_model_is_registered_as_champion_and_reloads_with_the_same_risks(
    trained: TrainResult, scorer: RiskScorer, settings: Settings, table: pl.DataFrame
):
    import mlflow.pyfunc

    version = client(settings).get_model_version_by_alias(settings.risk_model_name, "champion")
    assert str(version.version) == trained.model_version == scorer.model_version
    assert version.run_id == trained.run_id
    assert scorer.feature_names == trained.feature_names

    test_rows = table.filter(pl.col("split") == "test")
    in_memory = trained.model.predict_frame(test_rows.select(trained.feature_names).to_pandas())
    scored = scorer.score(test_rows)  # extra key columns are ignored
    assert scored.columns == ["risk", "decision", "reason_1", "reason_2", "reason_3", "reasons"]
    assert scored.height == test_rows.height
    np.testing.assert_allclose(scored["risk"].to_numpy(), in_memory["risk"].to_numpy())
    assert scored["decision"].to_list() == in_memory["decision"].tolist()

    # The generic pyfunc path gives the same answer. Its signature declares every input double
    # (integer counts may be null), and MLflow refuses int64 -> float64, so cast first.
    with tracking.tracking(settings):
        pyfunc = mlflow.pyfunc.load_model(f"models:/{settings.risk_model_name}@champion")
    via_pyfunc = pyfunc.predict(
        test_rows.select(pl.col(trained.feature_names).cast(pl.Float64)).to_pandas()
    )
    np.testing.assert_allclose(via_pyfunc["risk"].to_numpy(), in_memory["risk"].to_numpy())


def test_thresholds_respect_review_capacity_on_valid(trained: TrainResult):
    assert 0 < trained.thresholds.review < trained.thresholds.block <= 1
    assert trained.metrics["valid_review_rate"] <= COSTS.review_capacity


def test_obvious_scam_outranks_its_benign_twin(scorer: RiskScorer, table: pl.DataFrame):
    twins = benign_and_scam_twin(table, "msg_contact_30d", 15)
    benign, scam = scorer.score(twins).iter_rows(named=True)
    assert scam["risk"] > benign["risk"]


@pytest.mark.parametrize(
    ("feature", "value"), [("shared_device_users", 8), ("chargebacks_total", 3)]
)
def test_a_flagged_twin_is_explained_by_the_planted_feature(
    scorer: RiskScorer, table: pl.DataFrame, feature: str, value: int
):
    # a new account (age unknown) with the planted signal: flagged; its twin without it: allowed
    twins = benign_and_scam_twin(table, feature, value).with_columns(
        pl.lit(None, dtype=pl.Float64).alias("account_age_days")
    )
    benign, scam = scorer.score(twins).iter_rows(named=True)
    assert benign["decision"] == "allow" and scam["decision"] != "allow", (benign, scam)
    assert scam["reason_1"] == feature
    assert scam["reasons"][0].startswith(f"raises risk: {describe_feature(feature)} = {value} (+")
    assert feature not in (benign["reason_1"], benign["reason_2"], benign["reason_3"])
    assert all(r.startswith("lowers risk: ") for r in benign["reasons"])


def test_caught_scams_are_explained_by_their_typology_feature(
    scorer: RiskScorer, table: pl.DataFrame
):
    rows = table.filter(
        (pl.col("split") == "test")
        & (pl.col("typology") == "fraud_ring")
        & (pl.col("label") == 1)
        & (pl.col("shared_device_users") >= 4)
    )
    scored = scorer.score(rows)
    explained = (scored["reason_1"] == "shared_device_users").mean()
    assert isinstance(explained, float)
    assert explained > 0.8


def test_missing_feature_column_is_named_in_the_error(
    scorer: RiskScorer, trained: TrainResult, table: pl.DataFrame
):
    rows = table.head(3).drop("chargebacks_total", "noise_01")
    with pytest.raises(ValueError, match="chargebacks_total, noise_01"):
        scorer.score(rows)
    with pytest.raises(ValueError, match="chargebacks_total"):
        trained.model.predict(None, rows.to_pandas())


def test_reasons_point_toward_the_decision_taken(scorer: RiskScorer, table: pl.DataFrame):
    scored = scorer.score(table.filter(pl.col("split") == "valid"))
    for decision, word in (
        ("allow", "lowers risk: "),
        ("review", "raises risk: "),
        ("block", "raises risk: "),
    ):
        reasons = scored.filter(pl.col("decision") == decision)["reasons"].explode().drop_nulls()
        assert reasons.len() > 0, decision
        assert reasons.str.starts_with(word).all(), decision


def test_a_missing_or_zero_value_is_never_a_reason(scorer: RiskScorer, table: pl.DataFrame):
    rows = table.filter(pl.col("split") == "valid")
    scored = pl.concat([rows, scorer.score(rows)], how="horizontal")
    for k in (1, 2, 3):
        named = scored.filter(pl.col(f"reason_{k}").is_not_null())
        for feature, group in named.group_by(f"reason_{k}"):
            values = group[str(feature[0])]
            assert values.is_not_null().all() and (values != 0).all(), feature


def test_reasons_are_null_when_fewer_than_three_push_risk_up(
    scorer: RiskScorer, table: pl.DataFrame
):
    scored = scorer.score(table.filter(pl.col("split") == "valid"))
    n_reasons = scored["reasons"].list.len()
    most = n_reasons.max()
    assert isinstance(most, int)
    assert most <= 3
    for k in (1, 2, 3):
        assert (scored[f"reason_{k}"].is_null() == (n_reasons < k)).all()


def test_scorer_keeps_serving_after_the_tracking_store_goes_away(
    trained: TrainResult, settings: Settings, table: pl.DataFrame
):
    scorer = load_scorer(settings)
    moved = settings.data_dir.with_name("data-moved")
    settings.data_dir.rename(moved)  # the SQLite store and the artifacts disappear
    try:
        scored = scorer.score(table.head(10))
        with pytest.raises(Exception):  # noqa: B017 - any failure to reach the store
            load_scorer(settings)
    finally:
        if settings.data_dir.exists():
            import shutil

            shutil.rmtree(settings.data_dir)
        moved.rename(settings.data_dir)
    assert scored.height == 10 and scored["risk"].is_not_null().all()


def test_summary_rows_are_label_value_strings(trained: TrainResult):
    rows = trained.summary_rows()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in rows)
    assert any(k.startswith("PR-AUC") for k, _ in rows)


def test_training_table_without_both_labels_in_valid_is_rejected(
    table: pl.DataFrame, tmp_path: Path
):
    bad = table.with_columns(
        pl.when(pl.col("split") == "valid")
        .then(0)
        .otherwise(pl.col("label"))
        .cast(pl.Int8)
        .alias("label")
    )
    with pytest.raises(ValueError, match="valid"):
        train_risk_model(bad, settings=Settings(data_dir=tmp_path, api_key="k"), params=FAST_PARAMS)


def test_empty_input_scores_to_an_empty_frame(scorer: RiskScorer, table: pl.DataFrame):
    scored = scorer.score(table.head(0))
    assert scored.height == 0 and scored.columns[0] == "risk"
    assert scorer.risk(table.head(0)).shape == (0,)


def test_risk_only_path_matches_score(scorer: RiskScorer, table: pl.DataFrame):
    rows = table.filter(pl.col("split") == "valid").head(200)
    np.testing.assert_allclose(scorer.risk(rows), scorer.score(rows)["risk"].to_numpy())
    np.testing.assert_allclose(scorer.risk(rows.to_pandas()), scorer.score(rows)["risk"].to_numpy())


def test_non_numeric_feature_column_is_rejected(table: pl.DataFrame, tmp_path: Path):
    bad = table.with_columns(pl.lit("x").alias("country"))
    with pytest.raises(ValueError, match="country"):
        train_risk_model(bad, settings=Settings(data_dir=tmp_path, api_key="k"), params=FAST_PARAMS)
