"""Calibration: the Platt path computes what scikit-learn's ``predict_proba`` computes."""

from __future__ import annotations

import numpy as np

from models.calibration import MarginCalibrator


def test_platt_predict_equals_logistic_regression_predict_proba() -> None:
    rng = np.random.default_rng(0)
    margin = rng.normal(-3.0, 2.0, 5_000)
    y = (rng.random(5_000) < 1.0 / (1.0 + np.exp(-(0.8 * margin + 0.5)))).astype(int)
    calibrator = MarginCalibrator("platt").fit(margin, y)
    probe = np.concatenate([rng.normal(-3.0, 4.0, 1_000), [-40.0, 0.0, 40.0]])
    expected = calibrator.model_.predict_proba(probe.reshape(-1, 1))[:, 1]
    np.testing.assert_allclose(calibrator.predict(probe), expected, rtol=1e-15, atol=0)
    assert calibrator.predict(probe[:1]).shape == (1,)
    assert np.all(np.diff(calibrator.predict(np.sort(probe))) >= 0)  # monotone
