"""Evaluation metrics of a calibrated risk model on one split.

All functions take plain arrays: ``y`` [N] in {0, 1} (1 = scam), ``p`` [N] calibrated
probabilities, ``decisions`` [N] of "allow" / "review" / "block". Every value returned is a
Python float (NaN where undefined, e.g. AUC on a split with one class).
"""

from __future__ import annotations

import re

import numpy as np

from scamguard.costs import CostModel

from .decisions import ALLOW, BLOCK, REVIEW, Thresholds, decide, expected_cost


def recall_at_fpr(y: np.ndarray, p: np.ndarray, max_fpr: float = 0.01) -> float:
    """Largest true-positive rate reachable by a threshold whose false-positive rate is <= ``max_fpr``."""
    from sklearn.metrics import roc_curve

    y = np.asarray(y)
    if y.min(initial=0) == y.max(initial=0):
        return float("nan")
    fpr, tpr, _ = roc_curve(y, p)
    return float(tpr[fpr <= max_fpr].max(initial=0.0))


def _metric_key(name: str) -> str:
    """A typology as an MLflow-safe metric-name fragment."""
    return re.sub(r"[^0-9A-Za-z_\-.]+", "_", name)


def typology_recall(y: np.ndarray, typology: np.ndarray, decisions: np.ndarray) -> dict[str, float]:
    """Per scam typology: the share of its positive rows (``y == 1``) not allowed (review or block).

    Keys are ``recall_<typology>``; typologies with no positive rows in the split are left out.
    """
    y = np.asarray(y).astype(bool)
    typology = np.asarray(typology, dtype=object)
    caught = np.asarray(decisions) != ALLOW
    out: dict[str, float] = {}
    for t in sorted({str(t) for t in typology[y]}):
        rows = y & (typology == t)
        out[f"recall_{_metric_key(t)}"] = float(caught[rows].mean())
    return out


def evaluate(
    y: np.ndarray,
    p: np.ndarray,
    typology: np.ndarray,
    *,
    thresholds: Thresholds,
    costs: CostModel,
) -> dict[str, float]:
    """PR-AUC, ROC-AUC, recall at 1% FPR, Brier, decision mix, expected cost and per-typology recall.

    ``recall`` and ``recall_<typology>`` count a positive as caught when its decision is not
    "allow" (i.e. ``p >= thresholds.review``). ``expected_cost`` is the realised mean cost per row.
    """
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y).astype(np.int64)
    p = np.asarray(p, dtype=np.float64)
    decisions = decide(p, thresholds)
    both_classes = 0 < y.sum() < y.size
    nan = float("nan")
    metrics = {
        "pr_auc": float(average_precision_score(y, p)) if both_classes else nan,
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else nan,
        "recall_at_1pct_fpr": recall_at_fpr(y, p, 0.01),
        "brier": float(brier_score_loss(y, p, labels=[0, 1])) if y.size else nan,
        "expected_cost": expected_cost(y, decisions, costs),
        "recall": float((decisions[y == 1] != ALLOW).mean()) if y.sum() else nan,
        "review_rate": float((decisions == REVIEW).mean()) if y.size else nan,
        "block_rate": float((decisions == BLOCK).mean()) if y.size else nan,
        "prevalence": float(y.mean()) if y.size else nan,
        "rows": float(y.size),
    }
    metrics |= typology_recall(y, typology, decisions)
    return metrics
