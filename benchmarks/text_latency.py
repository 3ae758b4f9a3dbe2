"""Single-text latency of the text model on the CPU: the inference options side by side.

    SCAMGUARD_DATA_DIR=data .venv/bin/python benchmarks/text_latency.py --alias marketplace
    .venv/bin/python benchmarks/text_latency.py            # the MiniLM encoder, untrained head

Options, each scoring the same texts one at a time (what the endpoint does per document):

- ``torch``: ``TextPredictor.predict_proba`` as trained and evaluated (``no_grad``, torch's
  default threads: one per core);
- ``torch-1t``: ``models.text.inference.FastPredictor``: one intra-op thread, ``inference_mode``;
- ``torch-1t-int8``: the same with the Linear layers dynamically quantised to int8;
- ``onnxruntime``: ``OnnxPredictor``, the classifier exported to ONNX, one intra-op thread.

For each: p50 / p99 / mean milliseconds per text, the ratio of its mean to ``torch``'s, and the
largest difference of its scores from ``torch``'s. A last row scores the texts 16 at a time (a
micro-batch) with ``torch-1t``: milliseconds per text.

When the alias points at an ensemble (TF-IDF + LR with the transformer, what ``text-features`` or
``train-text`` registers when it measures best), the options above time its transformer, and a
second table times TF-IDF + LR alone, the ensemble as registered (torch) and as the endpoint
serves it (``fast_predictor``: the transformer through ONNX Runtime), its scores against the
registered ensemble's.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SMS = ROOT.parent / "shared" / "data" / "sms_spam" / "messages.csv"


def load_predictor(alias: str | None, max_len: int):  # type: ignore[no-untyped-def]
    """The registered text model ``scamguard-text@alias`` (SCAMGUARD_DATA_DIR), else MiniLM."""
    from models.text.model import TextModelConfig, TextPredictor

    if alias:
        from models.text.registry import load_text_scorer
        from scamguard.settings import get_settings

        return load_text_scorer(get_settings(), alias).predictor
    return TextPredictor.pretrained(TextModelConfig(encoder="minilm", max_len=max_len, dropout=0))


def time_single(score: Callable[[list[str]], np.ndarray], texts: list[str], warmup: int):  # type: ignore[no-untyped-def]
    """(milliseconds per call [N], scores [N]) scoring one text per call."""
    for t in texts[:warmup]:
        score([t])
    ms, out = [], []
    for t in texts:
        t0 = time.perf_counter()
        out.append(float(score([t])[0]))
        ms.append((time.perf_counter() - t0) * 1000)
    return np.array(ms), np.array(out)


def main(argv: list[str] | None = None) -> int:
    import torch

    from models.text.data import read_text_csv
    from models.text.inference import FastPredictor, OnnxPredictor

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alias", default=None, help="scamguard-text alias (default: MiniLM)")
    parser.add_argument("--texts", type=int, default=300, help="texts scored per option")
    parser.add_argument("--max-len", type=int, default=48, help="tokens (MiniLM only)")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args(argv)

    from models.text.ensemble import EnsemblePredictor

    registered = load_predictor(args.alias, args.max_len)
    ensemble = registered if isinstance(registered, EnsemblePredictor) else None
    predictor = ensemble.finetuned if ensemble is not None else registered
    table = read_text_csv(SMS)
    rng = np.random.default_rng(0)
    texts = [table.texts[i] for i in rng.choice(len(table.texts), args.texts, replace=False)]
    default_threads = torch.get_num_threads()
    options: dict[str, Callable[[list[str]], np.ndarray]] = {}
    options["torch"] = predictor.predict_proba
    rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    rows["torch"] = time_single(options["torch"], texts, args.warmup)
    fast = FastPredictor(predictor)  # sets one thread from here on
    rows["torch-1t"] = time_single(fast.predict_proba, texts, args.warmup)
    rows["torch-1t-int8"] = time_single(
        FastPredictor(predictor, quantize=True).predict_proba, texts, args.warmup
    )
    try:
        onnx = OnnxPredictor(predictor, Path(tempfile.mkdtemp()))
        rows["onnxruntime"] = time_single(onnx.predict_proba, texts, args.warmup)
    except Exception as exc:  # the exporter or runtime missing: say so, keep the other rows
        print(f"onnxruntime: not measured ({type(exc).__name__}: {exc})")
    base_ms, base_scores = rows["torch"]
    print(
        f"{len(texts)} SMS texts one at a time, model {args.alias or 'MiniLM (untrained head)'}, "
        f"max_len {predictor.config.max_len}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch default threads {default_threads}, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print("| option | p50 ms | p99 ms | mean ms | mean / torch | max abs score diff |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, (ms, scores) in rows.items():
        print(
            f"| {name} | {np.median(ms):.2f} | {np.percentile(ms, 99):.2f} | {ms.mean():.2f} | "
            f"{ms.mean() / base_ms.mean():.2f} | {np.abs(scores - base_scores).max():.1e} |"
        )
    t0 = time.perf_counter()
    for start in range(0, len(texts), 16):
        fast.predict_proba(texts[start : start + 16])
    per_text = (time.perf_counter() - t0) * 1000 / len(texts)
    print(
        f"| torch-1t, batches of 16 | | | {per_text:.2f} per text | {per_text / base_ms.mean():.2f} | |"
    )
    if ensemble is not None:
        _time_ensemble(ensemble, texts, args.warmup)
    return 0


def _time_ensemble(ensemble, texts: list[str], warmup: int) -> None:  # type: ignore[no-untyped-def]
    """The second table: TF-IDF + LR alone, the ensemble as registered and as served."""
    from models.text.inference import fast_predictor

    def tfidf(batch: list[str]) -> np.ndarray:
        return np.asarray(ensemble.tfidf.predict_proba(batch)[:, 1], dtype=np.float64)

    registered = f"{'+'.join(ensemble.MEMBERS)} as registered (torch)"
    rows = {
        "tfidf-lr alone": time_single(tfidf, texts, warmup),
        registered: time_single(ensemble.predict_proba, texts, warmup),
        "the same as served (fast_predictor)": time_single(
            fast_predictor(ensemble).predict_proba, texts, warmup
        ),
    }
    want = rows[registered][1]
    print("\n| registered text model | p50 ms | p99 ms | mean ms | max abs diff vs registered |")
    print("| --- | --- | --- | --- | --- |")
    for name, (ms, scores) in rows.items():
        diff = "" if name == "tfidf-lr alone" else f"{np.abs(scores - want).max():.1e}"
        print(
            f"| {name} | {np.median(ms):.2f} | {np.percentile(ms, 99):.2f} | {ms.mean():.2f} | {diff} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
