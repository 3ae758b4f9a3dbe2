"""Probability calibration of the booster's raw score (log-odds margin), fitted on the valid split.

Default ``method="platt"``: a one-feature logistic regression on the margin,
``p = sigmoid(a * margin + b)``. It is strictly monotone, so it keeps the booster's ranking
(ROC/PR curves and TreeSHAP reasons, which live in margin space, stay consistent with the risk),
and its two parameters are stable with the few hundred positives a weekly validation split holds.
``method="isotonic"`` (sklearn ``IsotonicRegression``) is more flexible but piecewise constant:
it ties scores (different users get the same risk) and overfits small validation sets.
"""

from __future__ import annotations

from typing import Literal

import numpy as np


class MarginCalibrator:
    """Maps raw margins [N] to calibrated probabilities [N]; scikit-learn style (``fit`` returns self)."""

    def __init__(self, method: Literal["platt", "isotonic"] = "platt") -> None:
        self.method = method

    def fit(self, margin: np.ndarray, y: np.ndarray) -> MarginCalibrator:
        margin = np.asarray(margin, dtype=np.float64).reshape(-1, 1)
        y = np.asarray(y).astype(np.int64)
        if y.min(initial=0) == y.max(initial=0):
            raise ValueError("calibration needs both classes in the valid split")
        if self.method == "platt":
            from sklearn.linear_model import LogisticRegression

            # A large C: essentially unregularised (two parameters, thousands of rows).
            self.model_ = LogisticRegression(C=1e6, max_iter=1000).fit(margin, y)
        elif self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            self.model_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
                margin.ravel(), y
            )
        else:
            raise ValueError(
                f"unknown calibration method {self.method!r}: use 'platt' or 'isotonic'"
            )
        return self

    def predict(self, margin: np.ndarray) -> np.ndarray:
        """Calibrated probabilities [N] for raw margins [N]."""
        margin = np.asarray(margin, dtype=np.float64)
        if self.method == "platt":
            # sigmoid(a * margin + b), as LogisticRegression.predict_proba computes it for one
            # feature (the same multiply-add, then expit), without its per-call input checks:
            # those cost more than the whole model on the endpoint's one row.
            from scipy.special import expit

            a, b = float(self.model_.coef_[0, 0]), float(self.model_.intercept_[0])
            return np.asarray(expit(margin.ravel() * a + b), dtype=np.float64)
        return np.asarray(self.model_.predict(margin.ravel()), dtype=np.float64)
