"""Single-text CPU inference for the endpoint: the text classifier set up to score one text fast.

Measured side by side in ``benchmarks/text_latency.py`` (docs/results/text.md): torch as trained
(``no_grad``, default threads), torch with one intra-op thread and ``inference_mode``
(:class:`FastPredictor`), the same with the Linear layers dynamically quantised to int8, and
ONNX Runtime with one thread (:class:`OnnxPredictor`). ONNX Runtime was the fastest of those
whose scores stay within :data:`SCORE_TOLERANCE` of torch's (int8 moved scores by up to 0.27), so
:func:`fast_predictor` returns it when ``onnxruntime`` is installed, else the one-thread torch
predictor. One thread: a request is one short text, threads only add synchronisation, and the
endpoint's other requests need the other core.

torch is imported here: import this module lazily.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np
import torch

from .ensemble import EnsemblePredictor, combine
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


class OnnxPredictor:
    """``predict_proba`` through ONNX Runtime: the classifier exported once (dynamic batch and
    length) to ``directory / FILE``, run with ``threads`` intra-op threads on the CPU.
    :meth:`from_onnx` builds one from an exported model's bytes (the serving cache's copy)."""

    FILE = "text_model.onnx"

    def __init__(self, predictor: TextPredictor, directory: Path, *, threads: int = 1):
        model = copy.deepcopy(predictor.model).cpu().eval()
        path = directory / self.FILE
        x, mask = collate([[101, 2000, 102]])  # (1, 3): shapes are dynamic below
        torch.onnx.export(
            model,
            (x, mask),
            str(path),
            input_names=["ids", "mask"],
            output_names=["logit"],
            dynamic_axes={"ids": {0: "B", 1: "T"}, "mask": {0: "B", 1: "T"}, "logit": {0: "B"}},
            opset_version=17,
            dynamo=False,
        )
        self.path: Path | None = path  # the exported file (None: built from bytes)
        self.session = _session(str(path), threads)
        self.tokenizer = predictor.tokenizer

    @classmethod
    def from_onnx(cls, model: bytes, tokenizer, *, threads: int = 1) -> OnnxPredictor:  # type: ignore[no-untyped-def]
        """A predictor over an exported model (the bytes of a file :meth:`__init__` wrote) and
        its tokenizer (``tokenizers.Tokenizer``, truncating as the classifier was trained)."""
        self = cls.__new__(cls)
        self.path, self.session, self.tokenizer = None, _session(model, threads), tokenizer
        return self

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """P(scam) [N] float64 for non-empty ``texts``, in input order."""
        if not texts:
            return np.empty(0, dtype=np.float64)
        x, mask = collate([e.ids for e in self.tokenizer.encode_batch(list(texts))])
        (z,) = self.session.run(None, {"ids": x.numpy(), "mask": mask.numpy()})  # (B,)
        return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def _session(model: str | bytes, threads: int):  # type: ignore[no-untyped-def]
    """An ONNX Runtime CPU session over a model file path or the model's bytes."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class FastEnsemble:
    """An :class:`EnsemblePredictor` served fast: TF-IDF + LR as fitted, and the fine-tuned member
    (``member``) through :func:`fast_predictor`; ``member`` is None for TF-IDF + LR alone."""

    def __init__(self, ensemble: EnsemblePredictor, member: FastPredictor | OnnxPredictor | None):
        self.tfidf, self.member = ensemble.tfidf, member

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """P(scam) [N] float64 for non-empty ``texts``, in input order: as the ensemble scores."""
        if not texts:
            return np.empty(0, dtype=np.float64)
        p_tfidf = np.asarray(self.tfidf.predict_proba(list(texts))[:, 1], dtype=np.float64)
        return (
            p_tfidf if self.member is None else combine(p_tfidf, self.member.predict_proba(texts))
        )


def fast_predictor(
    predictor: TextPredictor | EnsemblePredictor,
) -> FastPredictor | OnnxPredictor | FastEnsemble:
    """The endpoint's predictor for ``predictor``: ONNX Runtime when installed, else torch with
    one thread (see the module docstring). The ONNX file is written to a temporary directory.
    An ensemble (the candidate ``train-text`` or ``text-features`` chose) keeps its TF-IDF + LR
    and gets its fine-tuned member set up the same way; TF-IDF + LR alone needs no torch."""
    torch.set_num_threads(1)
    if isinstance(predictor, EnsemblePredictor):
        uses_member = "finetuned" in predictor.MEMBERS
        return FastEnsemble(
            predictor, _fast_transformer(predictor.finetuned) if uses_member else None
        )
    return _fast_transformer(predictor)


def _fast_transformer(predictor: TextPredictor) -> FastPredictor | OnnxPredictor:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return FastPredictor(predictor)
    return OnnxPredictor(predictor, Path(tempfile.mkdtemp(prefix="scamguard-onnx-")))
