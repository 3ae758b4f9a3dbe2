"""The text champion as the benchmark measured it best: TF-IDF + logistic regression and the
fine-tuned transformer, combined as the mean of their log-odds.

``benchmarks/text_bench.py`` (SMS spam, 5 folds; docs/results/text.md) measured the ensemble of
(a) TF-IDF word + char n-grams with a tuned logistic regression and (c) the fine-tuned MiniLM
above either alone. ``train-text`` therefore fits (a) on the same training rows as (c), scores
the validation rows with (a), (c) and the ensemble, and registers the one with the highest
validation average precision (ties: recall at 0.2% FPR), recording all three in MLflow. The
validation rows also early-stopped (c), which flatters (c) and the ensemble alike.

:class:`EnsemblePredictor` has ``predict_proba`` like ``TextPredictor`` and saves to one artifact
directory (the fine-tuned model's files in ``finetuned/``, the TF-IDF pipeline as a joblib file);
:func:`load_predictor` reads either kind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .fit import FittedTextModel, text_metrics
from .model import TextPredictor

ENSEMBLE_FILE, TFIDF_FILE, FINETUNED_DIR = "ensemble.json", "tfidf.joblib", "finetuned"
LR_CS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # the benchmark's grid
CANDIDATES = ("tfidf-lr", "finetuned", "ensemble")


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def combine(*probabilities: np.ndarray) -> np.ndarray:
    """The ensemble's P(scam) [N]: the sigmoid of the mean of the members' log-odds."""
    z = np.mean([logit(p) for p in probabilities], axis=0)
    return 1.0 / (1.0 + np.exp(-z))


def fit_tfidf_lr(texts: list[str], labels: np.ndarray, seed: int = 0) -> Any:
    """(a) of the benchmark: TF-IDF word 1-2-grams + char_wb 2-5-grams, logistic regression whose
    C is chosen by an inner 3-fold CV on average precision; a fitted scikit-learn pipeline."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline, make_union

    features = make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
    )
    lr = LogisticRegressionCV(
        Cs=list(LR_CS),
        cv=StratifiedKFold(3, shuffle=True, random_state=seed),
        scoring="average_precision",
        l1_ratios=(0.0,),
        max_iter=5000,
        use_legacy_attributes=False,
    )
    return make_pipeline(features, lr).fit(texts, labels)


class EnsemblePredictor:
    """TF-IDF + LR and a fine-tuned :class:`TextPredictor`, log-odds averaged (no I/O to score)."""

    MEMBERS: tuple[str, ...] = ("tfidf-lr", "finetuned")

    def __init__(self, tfidf: Any, finetuned: TextPredictor):
        self.tfidf = tfidf
        self.finetuned = finetuned
        self.model, self.config = finetuned.model, finetuned.config  # the transformer's

    def predict_proba(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        """P(scam) [N] float64 for non-empty texts, in input order."""
        if not texts:
            return np.empty(0, dtype=np.float64)
        p_tfidf = self.tfidf.predict_proba(list(texts))[:, 1]
        return combine(p_tfidf, self.finetuned.predict_proba(texts, batch_size))

    def save(self, directory: Path) -> Path:
        import joblib

        directory.mkdir(parents=True, exist_ok=True)
        self.finetuned.save(directory / FINETUNED_DIR)
        joblib.dump(self.tfidf, directory / TFIDF_FILE)
        members = {"members": list(self.MEMBERS), "combine": "mean log-odds"}
        (directory / ENSEMBLE_FILE).write_text(json.dumps(members))
        return directory


def load_predictor(directory: Path) -> TextPredictor | EnsemblePredictor:
    """The predictor saved in ``directory``: an ensemble (``ensemble.json``) or a transformer."""
    if (directory / ENSEMBLE_FILE).exists():
        import joblib

        members = json.loads((directory / ENSEMBLE_FILE).read_text())["members"]
        kind = _TfidfOnly if members == list(_TfidfOnly.MEMBERS) else EnsemblePredictor
        return kind(
            joblib.load(directory / TFIDF_FILE), TextPredictor.load(directory / FINETUNED_DIR)
        )
    return TextPredictor.load(directory)


@dataclass(frozen=True)
class TextChoice:
    """The candidates' validation metrics and the one chosen, with its predictor and scores."""

    chosen: str
    metrics: dict[str, dict[str, float]]  # candidate -> text_metrics on the validation rows
    predictor: TextPredictor | EnsemblePredictor
    valid_scores: np.ndarray


def candidate_scores(p_tfidf: np.ndarray, p_finetuned: np.ndarray) -> dict[str, np.ndarray]:
    """P(scam) [N] of each candidate, from its members' scores of the same texts [N]."""
    return {
        "tfidf-lr": np.asarray(p_tfidf, dtype=np.float64),
        "finetuned": np.asarray(p_finetuned, dtype=np.float64),
        "ensemble": combine(p_tfidf, p_finetuned),
    }


def best_candidate(metrics: dict[str, dict[str, float]]) -> str:
    """The candidate with the highest AP (ties: recall at 0.2% FPR, then the ensemble first, as
    benchmarked) among those in ``metrics`` (candidate -> ``text_metrics``)."""
    order = [name for name in ("ensemble", "finetuned", "tfidf-lr") if name in metrics]
    return max(order, key=lambda n: (metrics[n]["ap"], metrics[n]["recall_at_0_2pct_fpr"]))


def candidate_predictor(
    name: str, tfidf: Any, finetuned: TextPredictor
) -> TextPredictor | EnsemblePredictor:
    """The predictor registered for candidate ``name`` (``tfidf`` unused for ``finetuned``)."""
    if name == "finetuned":
        return finetuned
    if name not in CANDIDATES:
        raise ValueError(f"unknown text model {name!r}: expected one of {', '.join(CANDIDATES)}")
    return (_TfidfOnly if name == "tfidf-lr" else EnsemblePredictor)(tfidf, finetuned)


def choose_text_model(
    fitted: FittedTextModel, texts: list[str], labels: np.ndarray, seed: int = 0
) -> TextChoice:
    """Fit TF-IDF + LR on ``fitted``'s training rows and keep the best of the three candidates on
    its validation rows (module docstring). Without validation rows: the fine-tuned model."""
    y = np.asarray(labels, dtype=np.int64)
    valid, finetuned = fitted.valid_rows, fitted.predictor
    assert isinstance(finetuned, TextPredictor), "choose from a freshly fitted transformer"
    if valid.size == 0 or len(set(y[valid].tolist())) < 2:
        return TextChoice("finetuned", {}, fitted.predictor, fitted.valid_scores)
    tfidf = fit_tfidf_lr([texts[i] for i in fitted.train_rows], y[fitted.train_rows], seed)
    p_tfidf = tfidf.predict_proba([texts[i] for i in valid])[:, 1]
    scores = candidate_scores(p_tfidf, fitted.valid_scores)
    metrics = {name: text_metrics(y[valid], s) for name, s in scores.items()}
    best = best_candidate(metrics)
    return TextChoice(best, metrics, candidate_predictor(best, tfidf, finetuned), scores[best])


class _TfidfOnly(EnsemblePredictor):
    """TF-IDF + LR alone (the fine-tuned model is saved beside it but does not score)."""

    MEMBERS = ("tfidf-lr",)

    def predict_proba(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        if not texts:
            return np.empty(0, dtype=np.float64)
        return np.asarray(self.tfidf.predict_proba(list(texts))[:, 1], dtype=np.float64)
