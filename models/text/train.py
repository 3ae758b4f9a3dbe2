"""Fine-tune the text classifier, log it to MLflow and register it as ``scamguard-text@champion``.

:func:`fit_text_model` is the training loop alone (no MLflow; the benchmark and the pipeline's
cross-fitting use it):

1. Split the rows: a stratified ``val_frac`` validation split for early stopping and metrics.
2. Tokenise once (MiniLM WordPiece, truncated to ``max_len``); batch by length (less padding).
3. AdamW (encoder ``lr``, head ``head_lr``), linear warm-up then linear decay, gradient clip 1.0;
   bf16 autocast on a CUDA GPU, fp32 on the CPU (``model.autocast``).
4. ``evals_per_epoch`` times an epoch, the validation log-loss; the best weights are kept and
   training stops after ``patience`` epochs without improvement.

Same seed, same data, same device -> same weights and scores: Python, numpy and torch RNGs are
seeded and torch's deterministic algorithms are switched on for the duration of the fit.

:func:`train_text_model` adds the MLflow run: params, validation metrics (AP, ROC-AUC, recall at
1% and 0.2% FPR, log-loss), per-check losses, ROC/PR plots, and the model as a pyfunc with
signature and input example, registered under :data:`TEXT_MODEL_NAME` with an alias.

torch is imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scamguard import tracking
from scamguard.settings import Settings

from .data import length_batches, stratified_split

if TYPE_CHECKING:
    from .model import TextModelConfig, TextPredictor

TEXT_MODEL_NAME = "scamguard-text"
EXPERIMENT_NAME = "scamguard-text"
CHAMPION_ALIAS = "champion"
GRAD_CLIP = 1.0
EVAL_BATCH = 128

StepCallback = Callable[[int, int, float], None]  # (step, total_steps, loss of this step)
EvalCallback = Callable[[dict[str, float]], None]  # one entry of FittedTextModel.history


@dataclass
class FittedTextModel:
    """The output of :func:`fit_text_model`."""

    predictor: TextPredictor
    config: TextModelConfig
    train_rows: np.ndarray  # indices into the input rows used for gradient steps
    valid_rows: np.ndarray  # indices of the validation rows (empty if val_frac == 0)
    valid_scores: np.ndarray  # P(scam) [len(valid_rows)] from the kept (best) weights
    history: list[dict[str, float]]  # one dict per validation check: step, epoch, losses
    best_step: int  # optimiser step of the kept weights
    steps: int  # optimiser steps taken
    train_seconds: float  # wall time of the gradient steps only (no tokenising / validation)
    samples_per_s: float  # training samples per second of ``train_seconds``
    fit_seconds: float  # wall time of the whole fit (tokenising, caching, validation included)
    device: str


def text_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """AP, ROC-AUC, recall at 1% and 0.2% FPR, log-loss of scores ``p`` [N] for labels ``y`` [N].

    Log-loss is only meaningful for probabilities; pass P(scam), not a rank or a logit.
    """
    from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

    from models.metrics import recall_at_fpr

    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    nan = float("nan")
    both = 0 < y.sum() < y.size
    return {
        "ap": float(average_precision_score(y, p)) if both else nan,
        "roc_auc": float(roc_auc_score(y, p)) if both else nan,
        "recall_at_1pct_fpr": recall_at_fpr(y, p, 0.01),
        "recall_at_0_2pct_fpr": recall_at_fpr(y, p, 0.002),
        "log_loss": float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1]))
        if y.size
        else nan,
    }


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and every CUDA device) RNGs."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA


def _optimizer(model, config: TextModelConfig):  # type: ignore[no-untyped-def]
    """AdamW with two learning rates (encoder, head); no weight decay on biases, LayerNorms, embeddings."""
    import torch

    groups: dict[tuple[float, float], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        lr = config.head_lr if name.startswith("head.") else config.lr
        decay = config.weight_decay if p.dim() >= 2 and "emb." not in name else 0.0
        groups.setdefault((lr, decay), []).append(p)
    return torch.optim.AdamW(
        [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()],
        betas=(0.9, 0.999),
        eps=1e-8,
    )


def _warmup_linear(total: int, warmup_frac: float) -> Callable[[int], float]:
    """LR factor per optimiser step: linear warm-up over ``warmup_frac`` of ``total``, then linear decay to 0."""
    warmup = max(1, int(round(warmup_frac * total)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def _frozen_outputs(model, ids: list[list[int]], lengths: np.ndarray, upto: int, device) -> list:  # type: ignore[no-untyped-def]
    """Per text, the hidden states (T_i, C) entering block ``upto`` (eval mode, no grad)."""
    import torch

    from .model import autocast, collate

    out: list = [None] * len(ids)
    model.eval()
    with torch.no_grad():
        for rows in length_batches(lengths, EVAL_BATCH):
            x, mask = collate([ids[i] for i in rows], device)
            with autocast(device):
                h = model.encoder(x, mask, upto=upto)  # (B, T, C)
            for j, i in enumerate(rows):
                out[i] = h[j, : lengths[i]].clone()
    model.train()
    return out


def fit_text_model(
    texts: list[str],
    labels: np.ndarray,
    config: TextModelConfig | None = None,
    *,
    device: str | None = None,
    on_step: StepCallback | None = None,
    on_eval: EvalCallback | None = None,
) -> FittedTextModel:
    """Train a classifier on ``texts`` [N] (non-empty strings) with ``labels`` [N] in {0, 1}.

    ``device``: "auto" / None (CUDA when available, else the CPU), "cpu" or "cuda[:k]".
    ``on_step(step, total_steps, loss)`` runs after every optimiser step and ``on_eval(entry)``
    after each validation check (progress bars); ``total_steps`` is the upper bound that early
    stopping may cut short.
    """
    import torch
    from torch.nn import functional as F

    from .model import (
        TextModelConfig,
        TextPredictor,
        autocast,
        build_model,
        collate,
        load_tokenizer,
        pad_hidden,
        select_device,
    )

    config = config or TextModelConfig()
    labels = np.asarray(labels, dtype=np.int64)
    if len(texts) != labels.size:
        raise ValueError(f"{len(texts)} texts but {labels.size} labels")
    if labels.size == 0 or np.unique(labels).size < 2 or not np.isin(labels, (0, 1)).all():
        raise ValueError("training needs labels 0 and 1, both present")
    if any(not t or not t.strip() for t in texts):
        raise ValueError("training texts must be non-empty strings")

    fit_started = time.perf_counter()
    dev = select_device(device)
    if dev.type == "cuda":
        # cuBLAS needs a fixed workspace for deterministic matmuls (read when cuBLAS starts, so
        # this only helps if CUDA was not used earlier in the process; warn_only covers the rest).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        seed_everything(config.seed)
        rng = np.random.default_rng(config.seed)
        if config.val_frac > 0 and np.bincount(labels, minlength=2).min() >= 2:
            train_rows, valid_rows = stratified_split(labels, config.val_frac, config.seed)
        else:
            train_rows, valid_rows = np.arange(labels.size), np.arange(0)

        tokenizer = load_tokenizer(config.max_len)
        ids = [e.ids for e in tokenizer.encode_batch(list(texts))]
        lengths = np.array([len(x) for x in ids])
        model = build_model(config).to(dev)
        optimizer = _optimizer(model, config)
        per_epoch = -(-train_rows.size // config.batch_size)
        total_steps = per_epoch * config.epochs
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, _warmup_linear(total_steps, config.warmup_frac)
        )
        y_all = torch.tensor(labels, dtype=torch.float32)

        # Frozen embeddings (+ frozen bottom blocks): their outputs never change, so compute them
        # once per text and run only the trainable top blocks per step.
        first = config.freeze_layers if config.freeze_embeddings else 0
        cache = (
            _frozen_outputs(model, ids, lengths, first, dev) if config.freeze_embeddings else None
        )

        def logits_for(rows: np.ndarray) -> torch.Tensor:  # (B,) float32
            with autocast(dev):
                if cache is None:
                    x, mask = collate([ids[i] for i in rows], dev)
                    return model(x, mask)
                hidden, mask = pad_hidden([cache[i] for i in rows])
                return model.forward_from(hidden, mask, first)

        def valid_loss() -> float:
            if valid_rows.size == 0:
                return float("nan")
            model.eval()
            total = 0.0
            with torch.no_grad():
                for batch in length_batches(lengths[valid_rows], EVAL_BATCH):
                    rows = valid_rows[batch]
                    total += F.binary_cross_entropy_with_logits(
                        logits_for(rows), y_all[rows].to(dev), reduction="sum"
                    ).item()
            model.train()
            return total / valid_rows.size

        eval_every = max(1, per_epoch // max(1, config.evals_per_epoch))
        patience_evals = max(1, config.patience * max(1, config.evals_per_epoch))
        history: list[dict[str, float]] = []
        best_loss, best_step, best_state, bad_evals = float("inf"), 0, None, 0
        step, seen, train_seconds, running = 0, 0, 0.0, []
        stop = False
        model.train()
        for _epoch in range(config.epochs):
            for batch in length_batches(lengths[train_rows], config.batch_size, rng):
                rows = train_rows[batch]
                started = time.perf_counter()
                loss = F.binary_cross_entropy_with_logits(logits_for(rows), y_all[rows].to(dev))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
                optimizer.step()
                scheduler.step()
                loss_value = loss.item()  # synchronises with the device
                train_seconds += time.perf_counter() - started
                step += 1
                seen += rows.size
                running.append(loss_value)
                if on_step:
                    on_step(step, total_steps, loss_value)
                if step % eval_every == 0 or step == total_steps:
                    vl = valid_loss()
                    entry = {
                        "step": float(step),
                        "epoch": step / per_epoch,
                        "train_loss": float(np.mean(running)),
                        "valid_loss": vl,
                    }
                    running = []
                    history.append(entry)
                    if on_eval:
                        on_eval(entry)
                    if valid_rows.size == 0 or vl < best_loss - 1e-6:
                        best_loss, best_step, bad_evals = vl, step, 0
                        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    else:
                        bad_evals += 1
                        stop = bad_evals >= patience_evals
                if stop:
                    break
            if stop:
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        predictor = TextPredictor(model, tokenizer, dev)
        valid_scores = (
            predictor.predict_proba([texts[i] for i in valid_rows])
            if valid_rows.size
            else np.zeros(0)
        )
    finally:
        torch.use_deterministic_algorithms(deterministic_before)
    return FittedTextModel(
        predictor=predictor,
        config=config,
        train_rows=train_rows,
        valid_rows=valid_rows,
        valid_scores=valid_scores,
        history=history,
        best_step=best_step,
        steps=step,
        train_seconds=train_seconds,
        samples_per_s=seen / train_seconds if train_seconds else float("nan"),
        fit_seconds=time.perf_counter() - fit_started,
        device=str(dev),
    )


# ----------------------------------------------------------------------------------------------
# MLflow


@dataclass(frozen=True)
class TextTrainResult:
    """What :func:`train_text_model` produced. ``metrics`` keys are ``valid_*`` plus timings."""

    run_id: str
    model_version: str
    model_uri: str  # models:/scamguard-text/<version>
    alias: str
    metrics: dict[str, float]
    rows: dict[str, int]  # train / valid
    config: TextModelConfig
    elapsed_s: float
    fitted: FittedTextModel = field(repr=False)

    def summary_rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for a summary table (the CLI renders them)."""
        m, c = self.metrics, self.config

        def f(key: str) -> str:
            return f"{m.get(key, float('nan')):.4f}"

        return [
            ("run id", self.run_id),
            ("registered model", f"{self.model_uri} (@{self.alias})"),
            ("encoder / max_len / epochs", f"{c.encoder} / {c.max_len} / {c.epochs}"),
            ("rows train / valid", f"{self.rows['train']:,} / {self.rows['valid']:,}"),
            ("steps (kept weights at)", f"{self.fitted.steps} ({self.fitted.best_step})"),
            ("device", self.fitted.device),
            ("valid AP", f("valid_ap")),
            ("valid ROC-AUC", f("valid_roc_auc")),
            ("valid recall @ 1% FPR", f("valid_recall_at_1pct_fpr")),
            ("valid recall @ 0.2% FPR", f("valid_recall_at_0_2pct_fpr")),
            ("train throughput", f"{m['samples_per_s']:.1f} texts/s"),
            ("total time", f"{self.elapsed_s:.1f}s"),
        ]


def _pip_requirements() -> list[str]:
    return [
        f"{p}=={package_version(p).split('+')[0]}"
        for p in ("mlflow", "torch", "tokenizers", "safetensors", "numpy", "pandas", "cloudpickle")
    ]


def _signature():  # type: ignore[no-untyped-def]
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", "text")]),
        outputs=Schema([ColSpec("double", "score"), ColSpec("string", "error", required=False)]),
    )


def log_text_model(
    fitted: FittedTextModel,
    texts: list[str],
    labels: np.ndarray,
    *,
    settings: Settings,
    source: str | None = None,
    alias: str | None = CHAMPION_ALIAS,
    extra_params: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> tuple[str, str, dict[str, float]]:
    """Log a fitted model as one MLflow run and register it (alias ``alias``; None: no alias).

    Returns (run id, registered version, metrics).
    """
    import mlflow
    import mlflow.pyfunc
    import pandas as pd

    from models.plots import plot_pr, plot_roc

    from .model import count_parameters
    from .pyfunc import MODEL_ARTIFACT, TextScamModel

    config = fitted.config
    labels = np.asarray(labels, dtype=np.int64)
    y_valid = labels[fitted.valid_rows]
    metrics = {f"valid_{k}": v for k, v in text_metrics(y_valid, fitted.valid_scores).items()}
    metrics |= {
        "train_seconds": fitted.train_seconds,
        "fit_seconds": fitted.fit_seconds,
        "samples_per_s": fitted.samples_per_s,
        "best_step": float(fitted.best_step),
        "steps": float(fitted.steps),
    }
    params: dict[str, Any] = {f"cfg_{k}": v for k, v in config.to_dict().items()}
    params |= {
        "source": source or "<in memory>",
        "rows_train": int(fitted.train_rows.size),
        "rows_valid": int(fitted.valid_rows.size),
        "positives_train": int(labels[fitted.train_rows].sum()),
        "positives_valid": int(y_valid.sum()),
        "device": fitted.device,
        "n_parameters": count_parameters(fitted.predictor.model),
        "torch_version": package_version("torch"),
        **(extra_params or {}),
    }

    run_name = f"text-{config.encoder}-seed{config.seed}"
    with tracking.start_run(settings, EXPERIMENT_NAME, run_name=run_name) as run:
        mlflow.set_tags({"model_family": f"transformer-{config.encoder}", "role": "text"})
        if tags:
            mlflow.set_tags(tags)
        mlflow.log_params(params)
        mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        for entry in fitted.history:
            losses = {k: entry[k] for k in ("train_loss", "valid_loss") if np.isfinite(entry[k])}
            mlflow.log_metrics(losses, step=int(entry["step"]))
        with tempfile.TemporaryDirectory() as tmp:
            tmp_dir = Path(tmp)
            if 0 < y_valid.sum() < y_valid.size:
                plots = tmp_dir / "plots"
                plots.mkdir()
                curves = {"valid": (y_valid, fitted.valid_scores)}
                plot_roc(curves, plots / "roc.png")
                plot_pr(curves, plots / "pr.png")
                mlflow.log_artifacts(str(plots), artifact_path="plots")
            model_dir = fitted.predictor.save(tmp_dir / "text_model")
            rows = (
                fitted.valid_rows[:5] if fitted.valid_rows.size else np.arange(min(5, len(texts)))
            )
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=TextScamModel(),
                artifacts={MODEL_ARTIFACT: str(model_dir)},
                signature=_signature(),
                input_example=pd.DataFrame({"text": [texts[i] for i in rows]}),
                registered_model_name=TEXT_MODEL_NAME,
                pip_requirements=_pip_requirements(),
                code_paths=[str(Path(__file__).resolve().parents[1])],  # the `models` package
            )
    version = str(info.registered_model_version)
    client = tracking.client(settings)
    for key in ("valid_ap", "valid_recall_at_0_2pct_fpr"):
        client.set_model_version_tag(TEXT_MODEL_NAME, version, key, f"{metrics[key]:.4f}")
    if alias:
        client.set_registered_model_alias(TEXT_MODEL_NAME, alias, version)
    return run.info.run_id, version, metrics


def train_text_model(
    texts: list[str],
    labels: np.ndarray,
    *,
    settings: Settings,
    config: TextModelConfig | None = None,
    source: str | None = None,
    alias: str = CHAMPION_ALIAS,
    device: str | None = None,
    on_step: StepCallback | None = None,
    on_eval: EvalCallback | None = None,
) -> TextTrainResult:
    """Fit (see :func:`fit_text_model`), log one MLflow run, register the model, point ``alias`` at it.

    ``source`` (e.g. the CSV path) is logged as a param.
    """
    from .model import TextModelConfig

    started = time.perf_counter()
    config = config or TextModelConfig()
    labels = np.asarray(labels, dtype=np.int64)
    fitted = fit_text_model(texts, labels, config, device=device, on_step=on_step, on_eval=on_eval)
    run_id, version, metrics = log_text_model(
        fitted, texts, labels, settings=settings, source=source, alias=alias
    )
    return TextTrainResult(
        run_id=run_id,
        model_version=version,
        model_uri=f"models:/{TEXT_MODEL_NAME}/{version}",
        alias=alias,
        metrics=metrics,
        rows={"train": int(fitted.train_rows.size), "valid": int(fitted.valid_rows.size)},
        config=config,
        elapsed_s=time.perf_counter() - started,
        fitted=fitted,
    )
