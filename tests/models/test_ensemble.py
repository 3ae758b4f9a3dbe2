"""The text champion's candidates (``models.text.ensemble``): TF-IDF + LR, the fine-tuned
transformer and their log-odds ensemble, chosen on the validation rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.text.ensemble import EnsemblePredictor, choose_text_model, combine, load_predictor
from models.text.fit import fit_text_model, text_metrics
from models.text.model import TextModelConfig
from tests.models.text_corpus import templated_corpus


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], np.ndarray]:
    texts, labels = templated_corpus(300, seed=4)
    return texts, np.asarray(labels)


def test_the_registered_candidate_has_the_best_validation_ap_and_saves_whole(
    corpus: tuple[list[str], np.ndarray], tmp_path: Path
) -> None:
    texts, labels = corpus
    fitted = fit_text_model(
        texts, labels, TextModelConfig.tiny(epochs=2, val_frac=0.3), device="cpu"
    )
    choice = choose_text_model(fitted, texts, labels)
    assert set(choice.metrics) == {"tfidf-lr", "finetuned", "ensemble"}
    best = max(m["ap"] for m in choice.metrics.values())
    assert choice.metrics[choice.chosen]["ap"] == best
    y_valid = labels[fitted.valid_rows]
    assert text_metrics(y_valid, choice.valid_scores)["ap"] == pytest.approx(best)

    valid_texts = [texts[i] for i in fitted.valid_rows]
    want = choice.predictor.predict_proba(valid_texts)
    np.testing.assert_allclose(want, choice.valid_scores, atol=1e-6)
    if not isinstance(choice.predictor, EnsemblePredictor):
        return  # the fine-tuned model alone: saved and loaded as before
    loaded = load_predictor(choice.predictor.save(tmp_path / "model"))
    assert type(loaded) is type(choice.predictor)
    np.testing.assert_allclose(loaded.predict_proba(valid_texts), want, atol=1e-6)


def test_the_ensemble_averages_log_odds() -> None:
    p = combine(np.array([0.9, 0.5]), np.array([0.1, 0.5]))
    np.testing.assert_allclose(p, [0.5, 0.5])
    assert combine(np.array([0.99]), np.array([0.9]))[0] == pytest.approx(
        1 / (1 + np.exp(-(np.log(99) + np.log(9)) / 2))
    )
