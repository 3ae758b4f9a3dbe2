"""Single-text inference options (``models.text.inference``) give the trained model's scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.text.inference import SCORE_TOLERANCE, FastPredictor, OnnxPredictor, fast_predictor
from models.text.model import TextClassifier, TextModelConfig, TextPredictor, load_tokenizer

TEXTS = [
    "Hi, can you start tomorrow?",
    "URGENT pay the deposit by gift card and text me on WhatsApp now to claim the job",
    "ok",
    "Please send your bank details for the equipment cheque " * 5,  # truncated to max_len
]


@pytest.fixture(scope="module")
def predictor() -> TextPredictor:
    """A tiny scratch classifier with seeded random weights (the scores need not be good)."""
    import torch

    torch.manual_seed(0)
    config = TextModelConfig.tiny(dropout=0.0)
    return TextPredictor(TextClassifier(config), load_tokenizer(config.max_len), "cpu")


def test_one_thread_torch_gives_the_trained_scores_one_at_a_time_and_batched(
    predictor: TextPredictor,
) -> None:
    want = predictor.predict_proba(TEXTS)
    fast = FastPredictor(predictor)
    single = np.array([fast.predict_proba([t])[0] for t in TEXTS])
    assert np.abs(single - want).max() <= SCORE_TOLERANCE
    assert np.abs(fast.predict_proba(TEXTS) - want).max() <= SCORE_TOLERANCE  # padded batch
    assert np.ptp(want) > 1e-4  # the texts get different scores: the comparison can fail


def test_onnx_runtime_gives_the_trained_scores(predictor: TextPredictor, tmp_path: Path) -> None:
    want = predictor.predict_proba(TEXTS)
    onnx = OnnxPredictor(predictor, tmp_path)
    assert np.abs(onnx.predict_proba(TEXTS) - want).max() <= SCORE_TOLERANCE
    assert np.abs(onnx.predict_proba([TEXTS[1]])[0] - want[1]) <= SCORE_TOLERANCE
    assert isinstance(fast_predictor(predictor), OnnxPredictor)  # the serving default


def test_an_ensemble_is_served_with_its_transformer_through_onnx(predictor: TextPredictor) -> None:
    """``fast_predictor`` keeps an ensemble's TF-IDF + LR and serves its transformer fast; the
    scores are the ensemble's. TF-IDF + LR alone is served without the transformer."""
    from models.text.ensemble import EnsemblePredictor, _TfidfOnly, combine, fit_tfidf_lr
    from models.text.inference import FastEnsemble

    texts = [f"pay the deposit by gift card {i}" for i in range(12)]
    texts += [f"can you start on the logo {i}" for i in range(12)]
    tfidf = fit_tfidf_lr(texts, np.array([1] * 12 + [0] * 12))
    ensemble = fast_predictor(EnsemblePredictor(tfidf, predictor))
    assert isinstance(ensemble, FastEnsemble) and isinstance(ensemble.member, OnnxPredictor)
    p_tfidf = tfidf.predict_proba(TEXTS)[:, 1]
    want = combine(p_tfidf, predictor.predict_proba(TEXTS))
    assert np.abs(ensemble.predict_proba(TEXTS) - want).max() <= SCORE_TOLERANCE
    assert np.abs(want - predictor.predict_proba(TEXTS)).max() > 1e-3  # TF-IDF takes part
    alone = fast_predictor(_TfidfOnly(tfidf, predictor))
    assert isinstance(alone, FastEnsemble) and alone.member is None
    assert np.array_equal(alone.predict_proba(TEXTS), p_tfidf)
