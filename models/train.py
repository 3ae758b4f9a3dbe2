"""Train the LightGBM risk model, calibrate it, pick cost-based thresholds, log and register it.

Pipeline (one call of :func:`train_risk_model`):

1. Split the training table by its ``split`` column (time-based: train < valid < test weeks).
2. LightGBM on train, early-stopped on valid (binary log-loss, 50 rounds patience).
3. Platt calibration of the raw margin on valid (see ``models/calibration.py``).
4. Thresholds from the cost model and review capacity on valid (``models/decisions.py``;
   ``settings.costs`` unless given).
5. Metrics on valid and test, four plots, and one MLflow run holding params, metrics, the feature
   list, the data window and the model as a pyfunc, registered under ``settings.risk_model_name``
   with the alias ``champion``.

The valid split is used three times (early stopping, calibration, thresholds); the test split only
for reporting. :func:`fit_risk_model` does steps 1-4 without MLflow; :func:`log_risk_model` does
step 5 for any fitted booster (the XGBoost challenger, ``models/challenger.py``, uses it too).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from features.catalog import KEY_COLUMNS, describe_feature, feature_columns
from scamguard import tracking
from scamguard.costs import CostModel
from scamguard.settings import Settings

from .calibration import MarginCalibrator
from .decisions import Thresholds, thresholds_from_costs
from .metrics import evaluate
from .run_artifacts import (
    input_example,
    log_run_artifacts,
    pip_requirements,
    signature,
    tag_version,
)

if TYPE_CHECKING:
    from .pyfunc import TreeRiskModel

EXPERIMENT_NAME = "scamguard-risk"
CHAMPION_ALIAS = "champion"
SPLITS: tuple[str, ...] = ("train", "valid", "test")
EARLY_STOPPING_ROUNDS = 50

# LightGBM (scikit-learn API names). ``n_estimators`` is an upper bound: early stopping on valid
# picks the number of trees actually kept.
DEFAULT_PARAMS: dict[str, Any] = {
    "n_estimators": 1000,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "max_depth": 6,  # bounds TreeSHAP reason cost, O(trees * leaves * depth^2) per row: ~2.5x
    #                  faster than unbounded leaf-wise trees (depth ~13) at equal PR-AUC
    "min_child_samples": 50,  # rows per leaf: scams are rare, keep leaves from memorising them
    "subsample": 0.8,  # bagging fraction of rows ...
    "subsample_freq": 1,  # ... redrawn every iteration
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
}


@dataclass(frozen=True)
class SplitData:
    """One split as arrays: features ``x`` [N, F] float64 (null -> NaN), ``y`` [N], ``typology`` [N]."""

    x: np.ndarray
    y: np.ndarray
    typology: np.ndarray
    as_of_min: str | None
    as_of_max: str | None

    @property
    def rows(self) -> int:
        return int(self.y.size)


@dataclass
class FittedRiskModel:
    """The output of :func:`fit_risk_model` (or ``models.challenger.fit_xgb_model``): the pyfunc
    model plus what evaluation and logging need."""

    model: TreeRiskModel
    booster: Any  # lgb.Booster (LightGBM) or xgb.Booster (XGBoost)
    params: dict[str, Any]  # booster params used (defaults overridden by the caller's)
    best_iteration: int
    splits: dict[str, SplitData]
    risk: dict[str, np.ndarray]  # split -> calibrated probabilities [N]
    gain: np.ndarray | None = None  # total split gain per feature [F] (importance plot)
    family: str = "lightgbm"  # "lightgbm" | "xgboost": MLflow param prefix, tags, requirements


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced. ``metrics`` keys are ``test_*`` and ``valid_*``."""

    run_id: str
    model_version: str
    model_uri: str  # models:/<name>/<version>
    metrics: dict[str, float]
    thresholds: Thresholds
    feature_names: list[str]
    best_iteration: int
    rows: dict[str, int]  # split -> rows
    elapsed_s: float
    model: TreeRiskModel = field(repr=False)  # the in-memory model that was logged
    alias: str | None = CHAMPION_ALIAS  # the alias pointed at this version (None: not registered)

    def summary_rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a summary table (the CLI renders them)."""
        m = self.metrics
        registered = f"{self.model_uri} (@{self.alias})" if self.alias else self.model_uri
        rows = [
            ("run id", self.run_id),
            ("registered model", registered or "(logged, not registered)"),
            ("features", str(len(self.feature_names))),
            ("rows train / valid / test", " / ".join(f"{self.rows.get(s, 0):,}" for s in SPLITS)),
            ("trees (early-stopped)", str(self.best_iteration)),
            (
                "thresholds review / block",
                f"{self.thresholds.review:.4f} / {self.thresholds.block:.4f}",
            ),
        ]
        for key, label in [
            ("pr_auc", "PR-AUC"),
            ("roc_auc", "ROC-AUC"),
            ("recall_at_1pct_fpr", "recall @ 1% FPR"),
            ("brier", "Brier"),
            ("expected_cost", "expected cost / row"),
            ("review_rate", "review rate"),
            ("block_rate", "block rate"),
        ]:
            rows.append(
                (
                    f"{label} test (valid)",
                    f"{m.get(f'test_{key}', float('nan')):.4f} "
                    f"({m.get(f'valid_{key}', float('nan')):.4f})",
                )
            )
        for key in sorted(
            k for k in m if k.startswith("test_recall_") and k != "test_recall_at_1pct_fpr"
        ):
            rows.append((f"recall {key.removeprefix('test_recall_')} (test)", f"{m[key]:.3f}"))
        rows.append(("training time", f"{self.elapsed_s:.1f}s"))
        return rows


def check_table(table: pl.DataFrame) -> list[str]:
    """The feature columns, after checking the training-table contract."""
    missing = [c for c in KEY_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"training table is missing key column(s): {', '.join(missing)}")
    features = feature_columns(table.columns)
    if not features:
        raise ValueError("training table has no feature columns")
    not_numeric = [
        c for c in features if not (table.schema[c].is_numeric() or table.schema[c] == pl.Boolean)
    ]
    if not_numeric:
        raise ValueError(f"feature columns must be numeric: {', '.join(not_numeric)}")
    for split in ("train", "valid"):
        labels = table.filter(pl.col("split") == split)["label"]
        if labels.len() == 0 or labels.n_unique() < 2:
            raise ValueError(f"split {split!r} needs rows of both labels (has {labels.len()} rows)")
    return features


def split_arrays(table: pl.DataFrame, features: list[str]) -> dict[str, SplitData]:
    """Each split of ``table`` as arrays (features cast to float64, null -> NaN)."""
    out = {}
    for split in SPLITS:
        part = table.filter(pl.col("split") == split)
        as_of = part["as_of"]
        out[split] = SplitData(
            x=part.select(pl.col(features).cast(pl.Float64))
            .to_numpy()
            .astype(np.float64, copy=False),
            y=part["label"].cast(pl.Int64).to_numpy(),
            typology=part["typology"].cast(pl.String).to_numpy().astype(object),
            as_of_min=str(as_of.min()) if part.height else None,
            as_of_max=str(as_of.max()) if part.height else None,
        )
    return out


def fit_risk_model(
    table: pl.DataFrame,
    *,
    params: dict[str, Any] | None = None,
    costs: CostModel | None = None,
    seed: int = 0,
    calibration: str = "platt",
    feature_descriptions: dict[str, str] | None = None,
) -> FittedRiskModel:
    """Steps 1-4 of the module docstring, with no MLflow: booster, calibrator, thresholds.

    ``feature_descriptions`` add to (or override) ``features.catalog``'s words for reason codes.
    """
    import lightgbm as lgb

    from .pyfunc import RiskModel

    costs = CostModel() if costs is None else costs
    features = check_table(table)
    splits = split_arrays(table, features)
    train, valid = splits["train"], splits["valid"]

    lgb_params = {**DEFAULT_PARAMS, **(params or {}), "random_state": seed, "verbose": -1}
    clf = lgb.LGBMClassifier(**lgb_params)
    clf.fit(
        train.x,
        train.y,
        eval_X=valid.x,
        eval_y=valid.y,
        feature_name=features,
        callbacks=[
            lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)
        ],
    )
    best = int(clf.best_iteration_ or clf.n_estimators)
    model_str = clf.booster_.model_to_string(num_iteration=best)
    booster = lgb.Booster(model_str=model_str)  # exactly the trees that are shipped

    margin_valid = np.asarray(booster.predict(valid.x, raw_score=True), dtype=np.float64)
    calibrator, p_valid, thresholds = calibrate_and_threshold(
        margin_valid, valid.y, costs, calibration
    )

    model = RiskModel(
        booster_model=model_str,
        calibrator=calibrator,
        thresholds=thresholds,
        feature_names=features,
        feature_descriptions=describe_features(features, feature_descriptions),
    )
    risk = {
        s: (
            p_valid
            if s == "valid"
            else calibrator.predict(np.asarray(booster.predict(d.x, raw_score=True)))
        )
        for s, d in splits.items()
        if d.rows
    }
    return FittedRiskModel(
        model=model,
        booster=booster,
        params=lgb_params,
        best_iteration=best,
        splits=splits,
        risk=risk,
        gain=booster.feature_importance(importance_type="gain"),
        family="lightgbm",
    )


def describe_features(features: list[str], extra: dict[str, str] | None = None) -> dict[str, str]:
    """Reason-code words per feature: ``extra`` first, then ``features.catalog``."""
    extra = extra or {}
    return {f: extra.get(f) or describe_feature(f) for f in features}


def calibrate_and_threshold(
    margin_valid: np.ndarray, y_valid: np.ndarray, costs: CostModel, calibration: str
) -> tuple[MarginCalibrator, np.ndarray, Thresholds]:
    """Steps 3-4 for any booster: (calibrator, calibrated valid probabilities [N], thresholds)."""
    calibrator = MarginCalibrator(method=calibration).fit(margin_valid, y_valid)  # type: ignore[arg-type]
    p_valid = calibrator.predict(margin_valid)
    return calibrator, p_valid, thresholds_from_costs(p_valid, costs)


def evaluate_splits(fitted: FittedRiskModel, costs: CostModel) -> dict[str, float]:
    """``valid_*`` and ``test_*`` metrics (see :func:`models.metrics.evaluate`)."""
    out: dict[str, float] = {}
    for split in ("valid", "test"):
        data = fitted.splits[split]
        if not data.rows:
            continue
        m = evaluate(
            data.y,
            fitted.risk[split],
            data.typology,
            thresholds=fitted.model.thresholds,
            costs=costs,
        )
        out |= {f"{split}_{k}": v for k, v in m.items()}
    return out


def _run_params(
    fitted: FittedRiskModel, costs: CostModel, seed: int, calibration: str
) -> dict[str, Any]:
    prefix = {"lightgbm": "lgbm", "xgboost": "xgb"}.get(fitted.family, fitted.family)
    params: dict[str, Any] = {f"{prefix}_{k}": v for k, v in fitted.params.items()}
    params |= costs.as_params()
    params |= {
        "seed": seed,
        "calibration": calibration,
        "best_iteration": fitted.best_iteration,
        "n_features": len(fitted.model.feature_names),
        "threshold_review": fitted.model.thresholds.review,
        "threshold_block": fitted.model.thresholds.block,
    }
    for split, data in fitted.splits.items():
        params |= {
            f"rows_{split}": data.rows,
            f"positives_{split}": int(data.y.sum()),
            f"as_of_min_{split}": data.as_of_min,
            f"as_of_max_{split}": data.as_of_max,
        }
    return params


def train_risk_model(
    table: pl.DataFrame,
    *,
    settings: Settings,
    params: dict[str, Any] | None = None,
    costs: CostModel | None = None,
    seed: int = 0,
    calibration: str = "platt",
    alias: str | None = CHAMPION_ALIAS,
    register: bool = True,
    feature_descriptions: dict[str, str] | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    extra_params: dict[str, Any] | None = None,
    extra_dicts: dict[str, dict] | None = None,
) -> TrainResult:
    """Train, calibrate, evaluate and log one risk model; register it and point ``alias`` at it.

    ``table`` follows the training-table contract (``features/catalog.py``); ``params`` override
    :data:`DEFAULT_PARAMS` (LightGBM scikit-learn names). Sets the process's MLflow tracking and
    registry URIs to ``settings.tracking_uri``. See :func:`log_risk_model` for the logging options.
    """
    started = time.perf_counter()
    costs = settings.costs if costs is None else costs
    fitted = fit_risk_model(
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
        register=register,
        run_name=run_name or f"lgbm-seed{seed}",
        tags=tags,
        extra_params=extra_params,
        extra_dicts=extra_dicts,
        started=started,
    )


def log_risk_model(
    fitted: FittedRiskModel,
    *,
    settings: Settings,
    costs: CostModel,
    seed: int,
    calibration: str,
    alias: str | None = CHAMPION_ALIAS,
    register: bool = True,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    extra_params: dict[str, Any] | None = None,
    extra_dicts: dict[str, dict] | None = None,
    started: float | None = None,
) -> TrainResult:
    """Evaluate a fitted risk model (LightGBM or XGBoost) and log it as one MLflow run.

    The run holds params, ``valid_*`` / ``test_*`` metrics, ``features.json`` (names and
    descriptions), ``data_window.json``, the four plots and the pyfunc model. With ``register``
    the model becomes a new version of ``settings.risk_model_name`` (tagged with its test
    metrics) and ``alias`` (if any) points at it; without, the run only logs the model and
    ``model_version`` is "". ``extra_params`` / ``tags`` / ``extra_dicts`` (JSON artifacts by
    file name) are added to the run.
    """
    import mlflow
    import mlflow.pyfunc

    started = time.perf_counter() if started is None else started
    metrics = evaluate_splits(fitted, costs)
    model = fitted.model

    with tracking.start_run(settings, EXPERIMENT_NAME, run_name=run_name) as run:
        mlflow.set_tags({"model_family": fitted.family, "role": "risk", **(tags or {})})
        mlflow.log_params({**_run_params(fitted, costs, seed, calibration), **(extra_params or {})})
        mlflow.log_metrics(metrics)
        log_run_artifacts(fitted, extra_dicts or {})
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            signature=signature(model.feature_names),
            input_example=input_example(fitted),
            registered_model_name=settings.risk_model_name if register else None,
            pip_requirements=pip_requirements(fitted.family),
            code_paths=[str(Path(__file__).resolve().parent)],  # the `models` package travels along
        )
    version = str(info.registered_model_version) if register else ""
    if register:
        tag_version(settings, version, fitted, metrics, alias)
    return TrainResult(
        run_id=run.info.run_id,
        model_version=version,
        model_uri=f"models:/{settings.risk_model_name}/{version}" if register else info.model_uri,
        metrics=metrics,
        thresholds=model.thresholds,
        feature_names=model.feature_names,
        best_iteration=fitted.best_iteration,
        rows={s: d.rows for s, d in fitted.splits.items()},
        elapsed_s=time.perf_counter() - started,
        model=model,
        alias=alias if register else None,
    )
