"""The risk model as an MLflow pyfunc: booster + calibrator + thresholds + reason codes.

:class:`RiskModel` (LightGBM, the champion family) and :class:`XGBRiskModel` (XGBoost, the
challenger) share everything but the booster through :class:`TreeRiskModel`.

``RiskModel.predict`` takes a pandas DataFrame holding (at least) the feature columns and returns
one row per input row:

========== ======================================================================
risk       calibrated scam probability (float)
decision   "allow" / "review" / "block" from the cost-based thresholds
reason_1   the feature that pushed hardest toward the decision taken (None if none)
reason_2   the second (None if fewer than 2)
reason_3   the third (None if fewer than 3)
reasons    the same as phrases with direction and size, e.g.
           "raises risk: messages with links in 30d = 4 (+1.21)" (list[str])
========== ======================================================================

Contributions are TreeSHAP values (LightGBM ``pred_contrib``, XGBoost ``pred_contribs``) in
log-odds (margin) space. The reasons of a ``review`` or ``block`` are the features with the largest
positive contributions ("raises risk"); those of an ``allow`` the largest negative ones ("lowers
risk"); the number in brackets is the contribution in log-odds. Only informative values are
reasons: a missing value or a zero (no messages, no reports) never is, whatever its contribution.

The logged signature declares every input column ``double`` (MLflow's advice for integer columns
that may be null). MLflow's schema enforcement refuses int64 -> float64, so a caller of the generic
pyfunc (``mlflow.pyfunc.load_model``, ``spark_udf``) casts the feature columns to float first;
``models.registry.RiskScorer.score`` does that itself.

This module imports MLflow (the classes must subclass ``PythonModel``); import it lazily.
LightGBM and XGBoost are imported only when a model of that family is built or unpickled.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from .calibration import MarginCalibrator
from .decisions import ALLOW, Thresholds, decide

OUTPUT_COLUMNS: tuple[str, ...] = (
    "risk",
    "decision",
    "reason_1",
    "reason_2",
    "reason_3",
    "reasons",
)
N_REASONS = 3
SMALL_BATCH = 256  # rows; below this, predict on one thread


def format_value(value: float) -> str:
    """A feature value as an analyst reads it: ``4``, ``0.67``, ``1,250``, ``missing``."""
    if value is None or np.isnan(value):
        return "missing"
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def feature_matrix(frame: pd.DataFrame, feature_names: list[str]) -> np.ndarray:
    """The feature columns of ``frame`` as float64 [N, F] in model order (null -> NaN).

    Raises ValueError naming every missing feature column. Extra columns are ignored.
    """
    missing = [c for c in feature_names if c not in frame.columns]
    if missing:
        raise ValueError(f"input is missing {len(missing)} feature column(s): {', '.join(missing)}")
    return frame[feature_names].to_numpy(dtype=np.float64, na_value=np.nan)


class TreeRiskModel(PythonModel):
    """Calibrated gradient-boosted-tree risk model with decisions and reason codes.

    Holds the fitted calibrator, the decision thresholds, the ordered feature names and their
    descriptions (for reason phrases). A subclass holds the booster and provides
    :meth:`margin` (raw log-odds [N]) and :meth:`contributions` (TreeSHAP [N, F + 1]);
    everything else (risk, decisions, reasons, the pyfunc entry point) is shared.
    """

    family = "tree"  # "lightgbm" / "xgboost" in subclasses

    def __init__(
        self,
        calibrator: MarginCalibrator,
        thresholds: Thresholds,
        feature_names: list[str],
        feature_descriptions: dict[str, str],
    ) -> None:
        self.calibrator = calibrator
        self.thresholds = thresholds
        self.feature_names = list(feature_names)
        self.feature_descriptions = dict(feature_descriptions)

    @staticmethod
    def _threads(n_rows: int) -> int:
        # OpenMP start-up costs more than it saves on a few rows (and much more on a busy host,
        # as in an endpoint scoring one event); 0 means the library's default (all cores).
        return 1 if n_rows < SMALL_BATCH else 0

    def margin(self, x: np.ndarray) -> np.ndarray:
        """Raw scores [N] in log-odds (margin) space for a float64 matrix [N, F]."""
        raise NotImplementedError

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions [N, F + 1] in margin space; the last column is the bias."""
        raise NotImplementedError

    def _explained_margin(self, x: np.ndarray, contrib: np.ndarray) -> np.ndarray:
        """The margin [N] behind explained risks: the sum of the contributions by default."""
        return contrib.sum(axis=1)

    def risk(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities [N] only: no TreeSHAP, so far cheaper than :meth:`predict_frame`."""
        return self.risk_from_matrix(feature_matrix(frame, self.feature_names))

    def risk_from_matrix(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities [N] for a float64 matrix [N, F] in ``feature_names`` order."""
        if x.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        return self.calibrator.predict(self.margin(x))

    def explain_matrix(self, x: np.ndarray) -> dict[str, Any]:
        """The output columns for a float64 matrix [N, F] in ``feature_names`` order.

        Returns ``risk`` and ``decision`` as arrays [N], ``reason_1..3`` as lists of str | None and
        ``reasons`` as a list of lists of phrases.
        """
        n = x.shape[0]
        if n == 0:
            return {
                "risk": np.empty(0),
                "decision": np.empty(0, dtype=object),
                **{f"reason_{k + 1}": [] for k in range(N_REASONS)},
                "reasons": [],
            }
        contrib = self.contributions(x)  # [N, F + 1]
        risk = self.calibrator.predict(self._explained_margin(x, contrib))
        decision = decide(risk, self.thresholds)
        reason_cols, phrases = self._reasons(x, contrib[:, :-1], decision)
        return {
            "risk": risk,
            "decision": decision,
            **{f"reason_{k + 1}": reason_cols[k] for k in range(N_REASONS)},
            "reasons": phrases,
        }

    def _reasons(
        self, x: np.ndarray, contrib: np.ndarray, decision: np.ndarray
    ) -> tuple[list[list[str | None]], list[list[str]]]:
        """The top features pushing each row [N] toward its decision: (reason_k columns, phrases).

        ``contrib`` [N, F] are the features' TreeSHAP contributions. A ``review`` / ``block`` row
        is explained by positive contributions, an ``allow`` row by negative ones; missing and zero
        values are never reasons.
        """
        n = x.shape[0]
        toward = np.where(decision == ALLOW, -1.0, 1.0)[:, None] * contrib  # [N, F], > 0 = toward
        informative = ~np.isnan(x) & (x != 0.0)
        toward = np.where(informative & (toward > 0), toward, 0.0)
        top = np.argsort(-toward, axis=1, kind="stable")[:, :N_REASONS]  # [N, 3]
        top_value = np.take_along_axis(toward, top, axis=1)  # [N, 3]
        reason_cols: list[list[str | None]] = [[None] * n for _ in range(N_REASONS)]
        phrases: list[list[str]] = [[] for _ in range(n)]
        for row, k in zip(*np.nonzero(top_value > 0), strict=True):  # row-major: k ascends per row
            j = top[row, k]
            name = self.feature_names[j]
            reason_cols[k][row] = name
            words = self.feature_descriptions.get(name, name.replace("_", " "))
            c = contrib[row, j]
            direction = "raises risk" if c > 0 else "lowers risk"
            phrases[row].append(f"{direction}: {words} = {format_value(x[row, j])} ({c:+.2f})")
        return reason_cols, phrases

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Risk, decision and reasons for each row of ``frame`` (see module docstring)."""
        cols = self.explain_matrix(feature_matrix(frame, self.feature_names))
        return pd.DataFrame(
            {
                "risk": pd.Series(cols["risk"], dtype=np.float64),
                "decision": pd.Series(cols["decision"], dtype=object),
                **{
                    f"reason_{k + 1}": pd.Series(cols[f"reason_{k + 1}"], dtype=object)
                    for k in range(N_REASONS)
                },
                "reasons": pd.Series(cols["reasons"], dtype=object),
            }
        ).set_axis(frame.index)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """pyfunc entry point: ``model_input`` holds the feature columns; ``context`` is unused."""
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        return self.predict_frame(model_input)


class RiskModel(TreeRiskModel):
    """The LightGBM risk model: the booster is kept as its model string (rebuilt on unpickling)."""

    family = "lightgbm"

    def __init__(
        self,
        booster_model: str,
        calibrator: MarginCalibrator,
        thresholds: Thresholds,
        feature_names: list[str],
        feature_descriptions: dict[str, str],
    ) -> None:
        super().__init__(calibrator, thresholds, feature_names, feature_descriptions)
        self.booster_model = booster_model
        self._booster = self._load_booster(booster_model)

    @staticmethod
    def _load_booster(model_str: str):  # type: ignore[no-untyped-def]
        import lightgbm as lgb

        return lgb.Booster(model_str=model_str)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_booster", None)  # the model string is the portable form
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._booster = self._load_booster(self.booster_model)

    def margin(self, x: np.ndarray) -> np.ndarray:
        return self._booster.predict(x, raw_score=True, num_threads=self._threads(x.shape[0]))

    def contributions(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(
            self._booster.predict(x, pred_contrib=True, num_threads=self._threads(x.shape[0])),
            dtype=np.float64,
        )


class XGBRiskModel(TreeRiskModel):
    """The XGBoost risk model (the challenger): the booster is kept as UBJSON bytes.

    Missing values (NaN) follow each split's learnt default direction, as in LightGBM.
    Contributions are XGBoost's exact TreeSHAP (``pred_contribs``), in margin space.
    """

    family = "xgboost"

    def __init__(
        self,
        booster_raw: bytes,
        calibrator: MarginCalibrator,
        thresholds: Thresholds,
        feature_names: list[str],
        feature_descriptions: dict[str, str],
    ) -> None:
        super().__init__(calibrator, thresholds, feature_names, feature_descriptions)
        self.booster_raw = bytes(booster_raw)
        self._booster = self._load_booster(self.booster_raw)

    @staticmethod
    def _load_booster(raw: bytes):  # type: ignore[no-untyped-def]
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(bytearray(raw))
        return booster

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_booster", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._booster = self._load_booster(self.booster_raw)

    def _set_threads(self, n_rows: int) -> None:
        self._booster.set_param({"nthread": self._threads(n_rows)})

    def margin(self, x: np.ndarray) -> np.ndarray:
        self._set_threads(x.shape[0])
        return np.asarray(
            self._booster.inplace_predict(x, predict_type="margin", missing=np.nan),
            dtype=np.float64,
        )

    def _explained_margin(self, x: np.ndarray, contrib: np.ndarray) -> np.ndarray:
        # XGBoost sums contributions in float32: use the predicted margin so that ``risk`` and
        # ``explain_matrix`` give identical risks (they differ by ~1e-7 otherwise).
        return self.margin(x)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        import xgboost as xgb

        self._set_threads(x.shape[0])
        data = xgb.DMatrix(x, missing=np.nan)
        return np.asarray(self._booster.predict(data, pred_contribs=True), dtype=np.float64)
