"""Single-text CPU inference for the endpoint: the text classifier set up to score one text fast.

Measured side by side in ``benchmarks/text_latency.py`` (docs/results/text.md): torch as trained
(``no_grad``, default threads), torch with one intra-op thread and ``inference_mode``, and the
same with the Linear layers dynamically quantised to int8. ``fast_predictor`` applies the
options the benchmark kept: one thread (a request is one short text: threads only add
synchronisation, and the endpoint's other requests need the other core) and ``inference_mode``.
Dynamic quantisation is off by default (``quantize=True`` turns it on) because its scores move
by more than the tolerance stated there.

torch is imported here: import this module lazily.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from .model import TextPredictor, collate

SCORE_TOLERANCE = 1e-4  # largest |P(scam) difference| accepted against the torch fp32 scores


class FastPredictor:
    """``predict_proba`` of a :class:`TextPredictor` on the CPU under ``inference_mode``, texts
    scored as one padded batch (the endpoint's texts are one to a few short documents)."""

    def __init__(self, predictor: TextPredictor, *, quantize: bool = False, threads: int = 1):
        model = copy.deepcopy(predictor.model).cpu().eval()
        if quantize:
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, torch.qint8)
        self.model = model
        self.tokenizer = predictor.tokenizer
        self.threads = threads
        if threads > 0:
            torch.set_num_threads(threads)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """P(scam) [N] float64 for non-empty ``texts``, in input order."""
        if not texts:
            return np.empty(0, dtype=np.float64)
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        with torch.inference_mode():
            x, mask = collate(ids)  # (B, T), (B, T)
            z = self.model(x, mask).double().numpy()  # (B,)
        return 1.0 / (1.0 + np.exp(-z))


def fast_predictor(predictor: TextPredictor, *, quantize: bool = False) -> FastPredictor:
    """The endpoint's predictor for ``predictor`` (see the module docstring)."""
    return FastPredictor(predictor, quantize=quantize)
