"""Log a fitted text classifier to MLflow and register it as ``scamguard-text@champion``.

The fit itself (no MLflow) is :func:`models.text.fit.fit_text_model`.
:func:`train_text_model` fits, then adds the MLflow run (:func:`log_text_model`): params,
validation metrics (AP, ROC-AUC, recall at 1% and 0.2% FPR, log-loss), per-check losses, ROC/PR
plots, and the model as a pyfunc with signature and input example, registered under
:data:`TEXT_MODEL_NAME` with an alias.

torch is imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field, replace
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scamguard import tracking
from scamguard.settings import Settings

from .fit import EvalCallback, FittedTextModel, StepCallback, fit_text_model, text_metrics

if TYPE_CHECKING:
    from .model import TextModelConfig

__all__ = [
    "CHAMPION_ALIAS",
    "EXPERIMENT_NAME",
    "TEXT_MODEL_NAME",
    "EvalCallback",
    "FittedTextModel",
    "StepCallback",
    "TextTrainResult",
    "fit_text_model",
    "log_text_model",
    "text_metrics",
    "train_text_model",
]

TEXT_MODEL_NAME = "scamguard-text"
EXPERIMENT_NAME = "scamguard-text"
CHAMPION_ALIAS = "champion"


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
    chosen: str = "finetuned"  # the candidate registered: tfidf-lr, finetuned or ensemble
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)  # validation metrics

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
            ("registered (best validation AP)", self.chosen),
            *(
                (
                    f"  {name}: valid AP / recall @ 0.2% FPR",
                    f"{m['ap']:.4f} / {m['recall_at_0_2pct_fpr']:.4f}",
                )
                for name, m in self.candidates.items()
            ),
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
    extra_metrics: dict[str, float] | None = None,
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
        logged = {**metrics, **(extra_metrics or {})}
        mlflow.log_metrics({k: v for k, v in logged.items() if np.isfinite(v)})
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
    from .ensemble import choose_text_model
    from .model import TextModelConfig

    started = time.perf_counter()
    config = config or TextModelConfig()
    labels = np.asarray(labels, dtype=np.int64)
    fitted = fit_text_model(texts, labels, config, device=device, on_step=on_step, on_eval=on_eval)
    choice = choose_text_model(fitted, texts, labels, seed=config.seed)
    run_id, version, metrics = log_text_model(
        replace(fitted, predictor=choice.predictor, valid_scores=choice.valid_scores),
        texts,
        labels,
        settings=settings,
        source=source,
        alias=alias,
        extra_params={"text_model": choice.chosen},
        extra_metrics={
            f"valid_{k}_{name.replace('-', '_')}": v
            for name, m in choice.metrics.items()
            for k, v in m.items()
        },
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
        chosen=choice.chosen,
        candidates=choice.metrics,
    )
