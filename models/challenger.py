"""The XGBoost challenger: same table, same split, same calibration, thresholds, metrics and logging.

Only the booster differs from the LightGBM champion (``models/train.py``): XGBoost ``hist`` trees,
early-stopped on the valid split's log-loss, then Platt calibration of the margin and cost-based
thresholds on valid, metrics on valid and test, and one MLflow run whose pyfunc
(:class:`models.pyfunc.XGBRiskModel`) is registered as a new version of the risk model with the
alias ``challenger``. ``scamguard compare`` / ``promote`` (``models/compare.py``) decide whether it
replaces the champion.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import polars as pl

from scamguard.costs import CostModel
from scamguard.settings import Settings

from .train import (
    EARLY_STOPPING_ROUNDS,
    FittedRiskModel,
    TrainResult,
    calibrate_and_threshold,
    check_table,
    describe_features,
    log_risk_model,
    split_arrays,
)

CHALLENGER_ALIAS = "challenger"

# XGBoost (scikit-learn API names). ``n_estimators`` is an upper bound (early stopping on valid).
DEFAULT_XGB_PARAMS: dict[str, Any] = {
    "n_estimators": 1000,
    "learning_rate": 0.05,
    "max_depth": 6,  # depth-wise trees, as deep as the champion's depth cap
    "min_child_weight": 2.0,  # hessian per leaf: rare positives, keep leaves from memorising them
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "tree_method": "hist",  # deterministic for a seed, like LightGBM's histogram trees
    "max_bin": 255,
}


def fit_xgb_model(
    table: pl.DataFrame,
    *,
    params: dict[str, Any] | None = None,
    costs: CostModel | None = None,
    seed: int = 0,
    calibration: str = "platt",
    feature_descriptions: dict[str, str] | None = None,
) -> FittedRiskModel:
    """XGBoost on train, early-stopped on valid; calibrator and thresholds on valid (no MLflow)."""
    import xgboost as xgb

    from .pyfunc import XGBRiskModel

    costs = CostModel() if costs is None else costs
    features = check_table(table)
    splits = split_arrays(table, features)
    train, valid = splits["train"], splits["valid"]

    xgb_params = {**DEFAULT_XGB_PARAMS, **(params or {}), "random_state": seed}
    clf = xgb.XGBClassifier(
        **xgb_params,
        objective="binary:logistic",
        eval_metric="logloss",
        early_stopping_rounds=EARLY_STOPPING_ROUNDS,
        missing=np.nan,
    )
    clf.fit(train.x, train.y, eval_set=[(valid.x, valid.y)], verbose=False)
    best = int(clf.best_iteration) + 1 if clf.best_iteration is not None else clf.n_estimators
    booster = clf.get_booster()[:best]  # exactly the trees that are shipped
    raw = bytes(booster.save_raw(raw_format="ubj"))

    margin_valid = np.asarray(
        booster.inplace_predict(valid.x, predict_type="margin", missing=np.nan), dtype=np.float64
    )
    calibrator, p_valid, thresholds = calibrate_and_threshold(
        margin_valid, valid.y, costs, calibration
    )
    model = XGBRiskModel(
        booster_raw=raw,
        calibrator=calibrator,
        thresholds=thresholds,
        feature_names=features,
        feature_descriptions=describe_features(features, feature_descriptions),
    )
    risk = {
        s: (p_valid if s == "valid" else model.risk_from_matrix(d.x))
        for s, d in splits.items()
        if d.rows
    }
    scores = booster.get_score(importance_type="total_gain")  # {"f<j>": gain}
    gain = np.array([scores.get(f"f{j}", 0.0) for j in range(len(features))], dtype=np.float64)
    return FittedRiskModel(
        model=model,
        booster=booster,
        params=xgb_params,
        best_iteration=best,
        splits=splits,
        risk=risk,
        gain=gain,
        family="xgboost",
    )


def train_challenger(
    table: pl.DataFrame,
    *,
    settings: Settings,
    params: dict[str, Any] | None = None,
    costs: CostModel | None = None,
    seed: int = 0,
    calibration: str = "platt",
    alias: str = CHALLENGER_ALIAS,
    feature_descriptions: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> TrainResult:
    """Fit the XGBoost challenger, log it like the champion, register it, point ``alias`` at it."""
    started = time.perf_counter()
    costs = settings.costs if costs is None else costs
    fitted = fit_xgb_model(
        table,
        params=params,
        costs=costs,
        seed=seed,
        calibration=calibration,
        feature_descriptions=feature_descriptions,
    )
    return log_risk_model(
        fitted,
        settings=settings,
        costs=costs,
        seed=seed,
        calibration=calibration,
        alias=alias,
        run_name=f"xgb-seed{seed}",
        tags=tags,
        started=started,
    )
