"""PSI against reference bins: near zero for the same distribution, large for a broken feature."""

from __future__ import annotations

import numpy as np
import polars as pl

from monitoring.drift import decision_rates, feature_psi, fit_bins, fit_reference, psi


def test_psi_is_near_zero_for_a_new_sample_of_the_same_distribution():
    rng = np.random.default_rng(0)
    binned = fit_bins(pl.Series(rng.lognormal(0, 1, 20_000)))
    assert psi(binned, pl.Series(rng.lognormal(0, 1, 5_000))) < 0.01
    assert psi(binned, pl.Series(rng.lognormal(0.5, 1, 5_000))) > 0.1


def test_a_zeroed_or_missing_feature_has_a_large_psi():
    rng = np.random.default_rng(1)
    reference = pl.DataFrame(
        {"age": rng.exponential(100, 10_000), "count": rng.poisson(0.3, 10_000)}
    )
    bins = fit_reference(reference, ["age", "count"])
    day = pl.DataFrame({"age": np.zeros(2_000), "count": rng.poisson(0.3, 2_000)})
    out = feature_psi(bins, day)
    assert out["age"] > 1.0 and out["count"] < 0.01
    assert feature_psi(bins, day.drop("count"))["count"] > 1.0  # the column vanished: all null


def test_mostly_zero_counts_get_few_bins_and_nulls_their_own():
    binned = fit_bins(pl.Series([0] * 90 + [1] * 5 + [None] * 5, dtype=pl.Float64))
    assert binned.bins == 3  # zeros, ones, nulls
    assert psi(binned, pl.Series([0] * 90 + [1] * 5 + [None] * 5, dtype=pl.Float64)) == 0.0


def test_decision_rates_count_the_models_own_decisions():
    scores = pl.DataFrame(
        {
            "decision": ["block", "review", "allow", "allow", "block"],
            "override": [None, None, None, None, "known-scam-label"],
        }
    )
    rates = decision_rates(scores)
    assert rates == {"block_rate": 0.25, "review_rate": 0.25, "n": 4}
