"""Fine-tune the text classifier: the training loop alone (no MLflow; the benchmark, the
pipeline's cross-fitting and :func:`models.text.train.train_text_model` use it), and the metrics
of its scores (:func:`text_metrics`).

1. Split the rows: a stratified ``val_frac`` validation split for early stopping and metrics.
2. Tokenise once (MiniLM WordPiece, truncated to ``max_len``); batch by length (less padding).
3. AdamW (encoder ``lr``, head ``head_lr``), linear warm-up then linear decay, gradient clip 1.0;
   bf16 autocast on a CUDA GPU, fp32 on the CPU (``model.autocast``).
4. ``evals_per_epoch`` times an epoch, the validation log-loss; the best weights are kept and
   training stops after ``patience`` epochs without improvement.

Same seed, same data, same device -> same weights and scores: Python, numpy and torch RNGs are
seeded and torch's deterministic algorithms are switched on for the duration of the fit.

torch is imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .data import length_batches, stratified_split

if TYPE_CHECKING:
    import torch

    from .ensemble import EnsemblePredictor
    from .model import TextClassifier, TextModelConfig, TextPredictor

GRAD_CLIP = 1.0
EVAL_BATCH = 128

StepCallback = Callable[[int, int, float], None]  # (step, total_steps, loss of this step)
EvalCallback = Callable[[dict[str, float]], None]  # one entry of FittedTextModel.history


@dataclass
class FittedTextModel:
    """The output of :func:`fit_text_model`."""

    predictor: TextPredictor | EnsemblePredictor  # an ensemble only once train-text chose one
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


def _check_training_data(texts: list[str], labels: np.ndarray) -> None:
    if len(texts) != labels.size:
        raise ValueError(f"{len(texts)} texts but {labels.size} labels")
    if labels.size == 0 or np.unique(labels).size < 2 or not np.isin(labels, (0, 1)).all():
        raise ValueError("training needs labels 0 and 1, both present")
    if any(not t or not t.strip() for t in texts):
        raise ValueError("training texts must be non-empty strings")


@dataclass
class _Trained:
    """What the training loop leaves: the checks' history and the weights to keep."""

    history: list[dict[str, float]]
    best_step: int
    best_state: dict[str, Any] | None  # None: keep the last weights
    steps: int
    seen: int  # training samples stepped on
    train_seconds: float


@dataclass
class _Fit:
    """One fit on its device: the model and its optimiser, the tokenised rows, the split."""

    model: TextClassifier
    optimizer: Any  # torch.optim.AdamW
    scheduler: Any  # torch.optim.lr_scheduler.LambdaLR
    ids: list[list[int]]
    lengths: np.ndarray
    y_all: torch.Tensor  # [N] float32 labels
    dev: torch.device
    cache: list | None  # per text, the frozen hidden states entering block ``first`` (or None)
    first: int
    train_rows: np.ndarray
    valid_rows: np.ndarray
    config: TextModelConfig
    per_epoch: int
    total_steps: int

    @classmethod
    def start(
        cls,
        model: TextClassifier,
        ids: list[list[int]],
        lengths: np.ndarray,
        labels: np.ndarray,
        train_rows: np.ndarray,
        valid_rows: np.ndarray,
        config: TextModelConfig,
        dev: torch.device,
    ) -> _Fit:
        import torch

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
        return cls(
            model,
            optimizer,
            scheduler,
            ids,
            lengths,
            y_all,
            dev,
            cache,
            first,
            train_rows,
            valid_rows,
            config,
            per_epoch,
            total_steps,
        )

    def logits_for(self, rows: np.ndarray) -> torch.Tensor:  # (B,) float32
        from .model import autocast, collate, pad_hidden

        with autocast(self.dev):
            if self.cache is None:
                x, mask = collate([self.ids[i] for i in rows], self.dev)
                return self.model(x, mask)
            hidden, mask = pad_hidden([self.cache[i] for i in rows])
            return self.model.forward_from(hidden, mask, self.first)

    def valid_loss(self) -> float:
        import torch
        from torch.nn import functional as F

        valid_rows, model = self.valid_rows, self.model
        if valid_rows.size == 0:
            return float("nan")
        model.eval()
        total = 0.0
        with torch.no_grad():
            for batch in length_batches(self.lengths[valid_rows], EVAL_BATCH):
                rows = valid_rows[batch]
                total += F.binary_cross_entropy_with_logits(
                    self.logits_for(rows), self.y_all[rows].to(self.dev), reduction="sum"
                ).item()
        model.train()
        return total / valid_rows.size

    def run(
        self,
        rng: np.random.Generator,
        on_step: StepCallback | None,
        on_eval: EvalCallback | None,
    ) -> _Trained:
        """The epochs of gradient steps, checked on the validation rows ``evals_per_epoch``
        times an epoch; stops after ``patience`` epochs of checks without improvement."""
        import torch
        from torch.nn import functional as F

        model, optimizer, scheduler, dev = self.model, self.optimizer, self.scheduler, self.dev
        config, train_rows, valid_rows = self.config, self.train_rows, self.valid_rows
        per_epoch, total_steps = self.per_epoch, self.total_steps
        eval_every = max(1, per_epoch // max(1, config.evals_per_epoch))
        patience_evals = max(1, config.patience * max(1, config.evals_per_epoch))
        history: list[dict[str, float]] = []
        best_loss, best_step, best_state, bad_evals = float("inf"), 0, None, 0
        step, seen, train_seconds, running = 0, 0, 0.0, []
        stop = False
        model.train()
        for _epoch in range(config.epochs):
            for batch in length_batches(self.lengths[train_rows], config.batch_size, rng):
                rows = train_rows[batch]
                started = time.perf_counter()
                loss = F.binary_cross_entropy_with_logits(
                    self.logits_for(rows), self.y_all[rows].to(dev)
                )
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
                    vl = self.valid_loss()
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
        return _Trained(history, best_step, best_state, step, seen, train_seconds)


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

    from .model import (
        TextModelConfig,
        TextPredictor,
        build_model,
        load_tokenizer,
        select_device,
    )

    config = config or TextModelConfig()
    labels = np.asarray(labels, dtype=np.int64)
    _check_training_data(texts, labels)

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
        fit = _Fit.start(model, ids, lengths, labels, train_rows, valid_rows, config, dev)
        trained = fit.run(rng, on_step, on_eval)
        if trained.best_state is not None:
            model.load_state_dict(trained.best_state)
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
        history=trained.history,
        best_step=trained.best_step,
        steps=trained.steps,
        train_seconds=trained.train_seconds,
        samples_per_s=trained.seen / trained.train_seconds
        if trained.train_seconds
        else float("nan"),
        fit_seconds=time.perf_counter() - fit_started,
        device=str(dev),
    )
