from __future__ import annotations

import numpy as np
import pytest

from models.decisions import (
    Thresholds,
    decide,
    expected_cost,
    thresholds_from_costs,
    uncapped_thresholds,
)
from scamguard.costs import CostModel


def model_cost(p: np.ndarray, decisions: np.ndarray, cm: CostModel) -> float:
    """Mean expected cost of ``decisions`` when ``p`` is the true scam probability."""
    return float(
        np.mean(
            np.select(
                [decisions == "allow", decisions == "block"],
                [p * cm.missed_scam, (1 - p) * cm.wrongful_block],
                default=cm.review,
            )
        )
    )


@pytest.fixture
def p_valid() -> np.ndarray:
    """Skewed like a scam model's calibrated scores: most near 0, a long tail up to 1."""
    return np.random.default_rng(0).beta(0.3, 4.0, size=5_000)


def test_uncapped_thresholds_follow_the_cost_model():
    t = uncapped_thresholds(CostModel())
    assert t.review == pytest.approx(2 / 100)  # review beats allow when p * 100 > 2
    assert t.block == pytest.approx(1 - 2 / 20)  # block beats review when (1 - p) * 20 < 2
    assert t.review < t.block


def test_higher_missed_scam_cost_lowers_review_threshold(p_valid):
    for capacity in (1.0, 0.05):
        low = thresholds_from_costs(p_valid, CostModel(missed_scam=50.0, review_capacity=capacity))
        high = thresholds_from_costs(
            p_valid, CostModel(missed_scam=400.0, review_capacity=capacity)
        )
        assert high.review < low.review, capacity


def test_review_capacity_is_respected_on_valid(p_valid):
    uncapped = uncapped_thresholds(CostModel())
    assert (
        np.mean((p_valid >= uncapped.review) & (p_valid < uncapped.block)) > 0.05
    )  # capacity binds
    for capacity in (0.0, 0.01, 0.05, 0.2):
        t = thresholds_from_costs(p_valid, CostModel(review_capacity=capacity))
        review_rate = np.mean(decide(p_valid, t) == "review")
        assert review_rate <= capacity
        assert t.review >= uncapped.review and t.review <= t.block


def test_capacity_is_respected_with_tied_scores():
    p = np.repeat([0.01, 0.05, 0.2, 0.5, 0.95], [600, 150, 150, 60, 40])
    t = thresholds_from_costs(p, CostModel(review_capacity=0.1))
    assert np.mean(decide(p, t) == "review") <= 0.1


def test_capped_band_is_no_costlier_than_only_raising_the_review_threshold(p_valid):
    cm = CostModel(review_capacity=0.05)
    t = thresholds_from_costs(p_valid, cm)
    base = uncapped_thresholds(cm)
    band = np.sort(p_valid[(p_valid >= base.review) & (p_valid < base.block)])
    naive = Thresholds(review=float(band[-int(0.05 * p_valid.size)]), block=base.block)
    assert np.mean(decide(p_valid, naive) == "review") <= 0.05
    assert model_cost(p_valid, decide(p_valid, t), cm) <= model_cost(
        p_valid, decide(p_valid, naive), cm
    )


def test_no_capacity_binding_keeps_cost_thresholds():
    p = np.array([0.001, 0.01, 0.03, 0.5, 0.95])
    assert thresholds_from_costs(p, CostModel(review_capacity=1.0)) == uncapped_thresholds(
        CostModel()
    )


def test_expensive_review_is_never_chosen():
    cm = CostModel(review=50.0)  # more than the allow/block break-even cost 100*20/120
    t = uncapped_thresholds(cm)
    assert t.review == t.block == pytest.approx(20 / 120)
    assert "review" not in set(decide(np.linspace(0, 1, 101), t))


def test_decide_uses_inclusive_thresholds():
    t = Thresholds(review=0.1, block=0.8)
    assert decide(np.array([0.0, 0.0999, 0.1, 0.5, 0.8, 1.0]), t).tolist() == [
        "allow",
        "allow",
        "review",
        "review",
        "block",
        "block",
    ]


def test_expected_cost_counts_each_outcome():
    cm = CostModel(missed_scam=100, wrongful_block=20, review=2)
    y = np.array([1, 0, 1, 0, 1, 0])
    d = np.array(["allow", "allow", "block", "block", "review", "review"])
    assert expected_cost(y, d, cm) == pytest.approx((100 + 0 + 0 + 20 + 2 + 2) / 6)


def test_invalid_costs_are_rejected():
    with pytest.raises(ValueError):
        CostModel(review_capacity=1.5)
    with pytest.raises(ValueError):
        CostModel(missed_scam=-1)
    with pytest.raises(ValueError):
        Thresholds(review=0.9, block=0.1)
