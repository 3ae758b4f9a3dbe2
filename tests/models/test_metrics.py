from __future__ import annotations

import numpy as np
import pytest

from models.decisions import Thresholds
from models.metrics import evaluate, recall_at_fpr, typology_recall
from scamguard.costs import CostModel


def test_recall_at_fpr_of_a_perfect_and_a_useless_ranking():
    y = np.array([0] * 200 + [1] * 20)
    assert recall_at_fpr(y, y.astype(float)) == 1.0
    assert recall_at_fpr(y, np.zeros(y.size)) == 0.0


def test_typology_recall_counts_review_and_block_as_caught():
    y = np.array([1, 1, 1, 1, 0])
    typ = np.array(
        ["fake_client", "fake_client", "fraud_ring", "fraud_ring", "fraud_ring"], dtype=object
    )
    d = np.array(["review", "allow", "block", "block", "allow"])
    assert typology_recall(y, typ, d) == {"recall_fake_client": 0.5, "recall_fraud_ring": 1.0}


def test_evaluate_returns_floats_for_every_metric():
    rng = np.random.default_rng(0)
    y = (rng.random(2_000) < 0.05).astype(int)
    p = np.clip(0.03 + 0.5 * y + rng.normal(0, 0.1, y.size), 0, 1)
    typ = np.where(y == 1, "fake_client", "benign")
    m = evaluate(y, p, typ, thresholds=Thresholds(0.2, 0.6), costs=CostModel())
    expected = {
        "pr_auc",
        "roc_auc",
        "recall_at_1pct_fpr",
        "brier",
        "expected_cost",
        "recall",
        "review_rate",
        "block_rate",
        "prevalence",
        "rows",
        "recall_fake_client",
    }
    assert expected <= set(m)
    assert all(isinstance(v, float) for v in m.values())
    assert m["roc_auc"] > 0.95 and 0 < m["brier"] < 0.05
    assert m["review_rate"] + m["block_rate"] <= 1.0


def test_evaluate_on_one_class_gives_nan_aucs():
    m = evaluate(
        np.zeros(10),
        np.full(10, 0.1),
        np.array(["benign"] * 10),
        thresholds=Thresholds(0.2, 0.6),
        costs=CostModel(),
    )
    assert np.isnan(m["roc_auc"]) and np.isnan(m["pr_auc"])
    assert m["expected_cost"] == pytest.approx(0.0)
