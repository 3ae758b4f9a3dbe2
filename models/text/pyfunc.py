"""The text model as an MLflow pyfunc: ``predict`` takes a ``text`` column, returns ``score`` and ``error``.

========== ======================================================================
score      P(scam) in [0, 1] (float); NaN where the text cannot be scored
error      why a row was not scored ("empty text", "text is not valid UTF-8"), else None
========== ======================================================================

The weights, config and tokenizer travel as one artifact directory (``TextPredictor.save``), so a
loaded model needs neither the MiniLM package nor network access. The device is chosen at load
time: a CUDA GPU when the scoring host has one (bf16 autocast), the CPU otherwise.

This module imports MLflow and torch; import it lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from .data import check_text
from .ensemble import EnsemblePredictor, load_predictor
from .model import TextPredictor

MODEL_ARTIFACT = "text_model"


def score_texts(
    predictor: TextPredictor | EnsemblePredictor, texts: list[Any]
) -> tuple[np.ndarray, list[str | None]]:
    """Scores [N] (NaN for unusable rows) and per-row errors for arbitrary values ``texts`` [N].

    A value that is not a string (None, NaN), blank, or holds bytes that were not valid UTF-8
    (lone surrogates from ``surrogateescape`` decoding) gets an error instead of a score.
    """
    errors = [check_text(t) if isinstance(t, str) else "empty text" for t in texts]
    scores = np.full(len(texts), np.nan, dtype=np.float64)
    ok = [i for i, e in enumerate(errors) if e is None]
    if ok:
        scores[ok] = predictor.predict_proba([texts[i] for i in ok])
    return scores, errors


class TextScamModel(PythonModel):
    """pyfunc wrapper around :class:`TextPredictor` (loaded from the ``text_model`` artifact)."""

    def __init__(self, predictor: TextPredictor | EnsemblePredictor | None = None) -> None:
        self.predictor = predictor

    def __getstate__(self) -> dict[str, Any]:
        return {}  # the weights are an artifact, never pickled

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.predictor = None

    def load_context(self, context: Any) -> None:
        self.predictor = load_predictor(Path(context.artifacts[MODEL_ARTIFACT]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """``model_input`` has a ``text`` column (other columns are ignored); rows keep their order."""
        if self.predictor is None:
            raise RuntimeError(
                "the text model has no weights: load it with mlflow.pyfunc.load_model"
            )
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        if "text" not in model_input.columns:
            raise ValueError("input needs a 'text' column")
        scores, errors = score_texts(self.predictor, model_input["text"].tolist())
        return pd.DataFrame(
            {"score": scores, "error": pd.Series(errors, dtype=object)}, index=model_input.index
        )
