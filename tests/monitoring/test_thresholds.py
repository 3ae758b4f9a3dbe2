"""Thresholds come from the signal's own history, floored by its sampling noise."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring.thresholds import (
    DOWN,
    NO_BASELINE,
    OK,
    PAGE,
    WARN,
    binomial_sd,
    judge,
    psi_noise_sd,
)


def test_ordinary_variation_stays_ok_and_a_jump_pages():
    history = list(np.random.default_rng(0).normal(10, 1, 28))
    assert judge(11.5, history).severity == OK
    assert judge(10 + 4 * np.std(history, ddof=1), history).severity == WARN
    assert judge(25.0, history).severity == PAGE


def test_the_band_scales_with_the_history_not_a_fixed_level():
    quiet = [0.001] * 14 + [0.0012] * 14
    noisy = list(np.random.default_rng(1).normal(0.001, 0.01, 28))
    assert judge(0.01, quiet).severity == PAGE
    assert judge(0.01, noisy).severity == OK


def test_a_flat_history_is_floored_by_sampling_noise():
    # no row ever quarantined: one bad row in 2,000 is noise, 30% is not
    noise = binomial_sd(0.0, 2000)
    assert judge(1 / 2000, [0.0] * 28, noise_sd=noise).severity == OK
    assert judge(0.3, [0.0] * 28, noise_sd=noise).severity == PAGE
    assert judge(0.3, [0.0] * 28).severity == OK  # zero spread: nothing is judged


def test_down_signals_alert_below_and_short_histories_have_no_baseline():
    history = [0.6, 0.62, 0.58]
    assert judge(0.1, history, direction=DOWN, min_history=2, noise_sd=0.02).severity == PAGE
    assert judge(0.9, history, direction=DOWN, min_history=2, noise_sd=0.02).severity == OK
    assert judge(0.1, history).severity == NO_BASELINE
    assert judge(0.1, history).page_at is None


@pytest.mark.parametrize("n", [1_000, 10_000])
def test_psi_noise_shrinks_with_sample_size(n):
    assert psi_noise_sd(10, n, 10 * n) == pytest.approx(np.sqrt(18) * (1 / n + 1 / (10 * n)))
