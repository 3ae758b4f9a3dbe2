"""CLI commands of the text model (mounted by ``scamguard.cli``).

``train-text`` / ``score-text``: the text transformer on any ``text,label`` CSV.
``text-features``: text-model scores of the marketplace's messages, job posts, proposals and
profiles as ``textmodel_*`` risk features; trains the risk model with and without them.

Heavy imports (torch, MLflow, LightGBM) happen inside the commands, so mounting costs nothing.
Stage functions return results; only this module prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from scamguard.console import console, err, fail, kv_table, progress_bar, read_training_table
from scamguard.settings import get_settings

TABLE_HELP = "Training table (default: <data_dir>/features/training.parquet)."

ENCODERS = ("minilm", "scratch")
MAX_ERRORS_SHOWN = 10

TEXT_MODEL_HELP = "best (of the three, by out-of-fold AP), or one of tfidf-lr, finetuned, ensemble."


def _text_config(
    encoder: str,
    epochs: int | None,
    max_len: int | None,
    batch_size: int | None,
    lr: float | None,
    seed: int,
    tiny: bool,
):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from models.text.model import TextModelConfig

    if encoder not in ENCODERS:
        raise fail(f"--encoder must be one of {', '.join(ENCODERS)}, not {encoder!r}")
    if tiny:
        base = TextModelConfig.tiny()
    elif encoder == "scratch":
        base = TextModelConfig(encoder="scratch", lr=1e-3, epochs=8, patience=2)
    else:
        base = TextModelConfig(encoder="minilm")
    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "epochs": epochs,
            "max_len": max_len,
            "batch_size": batch_size,
            "lr": lr,
        }.items()
        if v is not None
    }
    try:
        return replace(base, seed=seed, **overrides)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _set_threads(threads: int) -> None:
    """Intra-op CPU threads for torch (0: torch's default, one per core).

    On a busy shared CPU, fewer threads than cores avoids OpenMP stalls; see the README.
    """
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


THREADS_HELP = "CPU threads for torch (0: one per core). Use 1 on a busy shared machine."


def _fit_callbacks(progress: Progress, description: str):  # type: ignore[no-untyped-def]
    """(on_step, on_eval) updating one progress bar over optimiser steps."""
    task = progress.add_task(description, total=None, info="")
    last_eval: dict[str, float] = {}

    def on_step(step: int, total: int, loss: float) -> None:
        info = f"loss {loss:.4f}"
        if last_eval:
            info += f" | valid {last_eval['valid_loss']:.4f} @ epoch {last_eval['epoch']:.1f}"
        progress.update(task, completed=step, total=total, info=info)

    def on_eval(entry: dict[str, float]) -> None:
        last_eval.update(entry)

    return on_step, on_eval


def train_text(
    data: Annotated[Path, typer.Option(help="CSV with columns text,label (and message_id or id).")],
    encoder: Annotated[
        str, typer.Option(help="minilm: fine-tune all-MiniLM-L6-v2; scratch: small random encoder.")
    ] = "minilm",
    epochs: Annotated[
        int | None, typer.Option(help="Max epochs (early stopping may stop sooner).")
    ] = None,
    max_len: Annotated[
        int | None, typer.Option(help="Tokens per text (longer texts are cut).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Texts per optimiser step.")] = None,
    lr: Annotated[float | None, typer.Option(help="Encoder learning rate (AdamW).")] = None,
    seed: Annotated[int, typer.Option(help="Seed (same seed and data: same model).")] = 0,
    device: Annotated[str, typer.Option(help="auto (CUDA if present), cpu or cuda.")] = "auto",
    alias: Annotated[
        str, typer.Option(help="Registry alias to point at the new version.")
    ] = "champion",
    tiny: Annotated[
        bool, typer.Option(help="A tiny scratch encoder that trains in seconds.")
    ] = False,
    threads: Annotated[int, typer.Option(help=THREADS_HELP)] = 0,
) -> object:
    """Train the text classifier on a labelled CSV; register it as `scamguard-text@champion`."""
    from models.text.data import TextCsvError, read_text_csv
    from models.text.train import train_text_model

    config = _text_config(encoder, epochs, max_len, batch_size, lr, seed, tiny)
    try:
        table = read_text_csv(data)
        texts, labels, _ = table.labelled()
    except (TextCsvError, OSError) as exc:
        raise fail(str(exc)) from None
    skipped = len(table) - len(texts)
    if len(texts) < 10 or len(set(labels.tolist())) < 2:
        raise fail(f"{data}: need at least 10 usable rows with both labels 0 and 1")
    if skipped:
        err.print(
            f"[yellow]{skipped:,} of {len(table):,} rows skipped (empty or non-UTF-8 text, bad label)[/]"
        )
    settings = get_settings()
    _set_threads(threads)
    with progress_bar(info=True, remaining=True) as progress:
        on_step, on_eval = _fit_callbacks(progress, f"fine-tuning {config.encoder}")
        try:
            result = train_text_model(
                texts,
                labels,
                settings=settings,
                config=config,
                source=str(data),
                alias=alias,
                device=device,
                on_step=on_step,
                on_eval=on_eval,
            )
        except (RuntimeError, ValueError) as exc:
            raise fail(str(exc)) from None
    console.print(kv_table("Text model", result.summary_rows()))
    return result


def score_text(
    data: Annotated[Path, typer.Option(help="CSV with a text column (and message_id or id).")],
    out: Annotated[Path, typer.Option(help="Output CSV: id,score,error in input order.")],
    alias: Annotated[str, typer.Option(help="Registry alias of the text model.")] = "champion",
    threads: Annotated[int, typer.Option(help=THREADS_HELP)] = 0,
) -> object:
    """Score every row of a text CSV with the `champion` text model (score = P(scam))."""
    from models.text.data import TextCsvError
    from models.text.registry import load_text_scorer, score_csv

    settings = get_settings()
    _set_threads(threads)
    try:
        with console.status("loading the text model"):
            scorer = load_text_scorer(settings, alias)
        with console.status("scoring"):
            result = score_csv(scorer, data, out)
    except (LookupError, TextCsvError, OSError) as exc:
        raise fail(str(exc)) from None
    console.print(
        kv_table(
            f"Text scores -> {result.path}",
            [
                ("rows", f"{result.rows:,}"),
                ("scored", f"{result.scored:,}"),
                ("not scored (error)", f"{len(result.errors):,}"),
                ("id column", result.id_column or "(none: row numbers)"),
                ("model", f"{scorer.model_uri} (@{alias})"),
            ],
        )
    )
    for row, row_id, error in result.errors[:MAX_ERRORS_SHOWN]:
        err.print(f"row {row + 1} (id {row_id}): {error}", soft_wrap=True)
    if len(result.errors) > MAX_ERRORS_SHOWN:
        err.print(f"... and {len(result.errors) - MAX_ERRORS_SHOWN} more (see the error column)")
    return result


def text_features(
    table: Annotated[Path | None, typer.Option(help=TABLE_HELP)] = None,
    encoder: Annotated[str, typer.Option(help="minilm (fine-tuned) or scratch.")] = "minilm",
    folds: Annotated[int, typer.Option(help="Author folds for cross-fitted scores.")] = 3,
    epochs: Annotated[
        int | None, typer.Option(help="Epochs per fold model (default: minilm 1, scratch 3).")
    ] = None,
    max_len: Annotated[int, typer.Option(help="Tokens per document.")] = 48,
    max_train_rows: Annotated[
        int, typer.Option(help="Documents per fold model (all scam ones up to half).")
    ] = 4_000,
    seed: Annotated[int, typer.Option(help="Seed for folds, sampling and training.")] = 0,
    device: Annotated[str, typer.Option(help="auto (CUDA if present), cpu or cuda.")] = "auto",
    threads: Annotated[int, typer.Option(help=THREADS_HELP)] = 0,
    alias: Annotated[
        str, typer.Option(help="Alias for the risk model trained with the text features.")
    ] = "text-features",
    text_model: Annotated[str, typer.Option(help=TEXT_MODEL_HELP)] = "best",
) -> object:
    """Text-model scores of messages, job posts, proposals and profiles as `textmodel_*` features.

    Cross-fits the text models by author on documents written before the valid split (the
    fine-tuned transformer, TF-IDF + LR and their ensemble; the best out of fold gives the
    scores and is registered for serving), aggregates the scores per user point in time, writes
    `features/training_text.parquet`, and trains the risk model on the same split without and
    with them (both runs in MLflow).
    """
    from dataclasses import replace

    from features.tables import load_clean_tables
    from features.text_scores import text_documents
    from models.text.pipeline import (
        add_text_model_features,
        cross_fit_scores,
        cutoff_of,
        train_with_and_without_text,
    )

    candidates = _text_candidates(text_model)
    settings = get_settings()
    base = read_training_table(table, settings.features_dir / "training.parquet")
    if epochs is None:
        epochs = 1 if encoder == "minilm" else 3
    config = _text_config(encoder, epochs, max_len, None, None, seed, tiny=False)
    if encoder == "minilm":
        config = replace(config, lr=1e-4, patience=1)
    _set_threads(threads)
    tables = load_clean_tables(settings)
    try:
        cutoff = cutoff_of(base)
    except ValueError as exc:
        raise fail(str(exc)) from None
    docs = text_documents(
        users=tables.users, messages=tables.messages, jobs=tables.jobs, proposals=tables.proposals
    ).collect()
    with progress_bar(info=True, remaining=True) as progress:
        stage = progress.add_task("text features", total=None, info="")
        on_step, _ = _fit_callbacks(progress, "fine-tuning")

        def on_stage(message: str) -> None:
            progress.update(stage, info=message)

        crossfit = cross_fit_scores(
            docs,
            tables.labels,
            cutoff,
            config,
            folds=folds,
            max_train_rows=max_train_rows,
            seed=seed,
            candidates=candidates,
            device=device,
            on_stage=on_stage,
            on_step=on_step,
        )
        on_stage("registering the serving text model")
        text_uri = _register_serving_text_model(crossfit, settings, cutoff, folds)
        on_stage("textmodel_* features")
        with_text = add_text_model_features(base, crossfit.scored)
        settings.features_dir.mkdir(parents=True, exist_ok=True)
        out = settings.features_dir / "training_text.parquet"
        with_text.write_parquet(out)
        crossfit.scored.drop("text").write_parquet(settings.features_dir / "text_scores.parquet")
        on_stage("risk model without / with text features")
        ablation = train_with_and_without_text(
            with_text,
            settings=settings,
            seed=seed,
            text_model_uri=text_uri,
            alias=alias,
            extra_params={"text_oof_ap": crossfit.oof_metrics["ap"], "cutoff": str(cutoff)}
            | {"text_model": crossfit.chosen},
        )
        progress.update(stage, info="done")
    _print_text_features(crossfit, ablation, cutoff, folds, config.encoder, text_uri, out, alias)
    return ablation


def _text_candidates(text_model: str) -> tuple[str, ...]:
    """The candidates ``--text-model`` names: all three for ``best``, else the one named."""
    from models.text.ensemble import CANDIDATES

    if text_model != "best" and text_model not in CANDIDATES:
        raise fail(f"--text-model must be best, {', '.join(CANDIDATES)}; got {text_model!r}")
    return CANDIDATES if text_model == "best" else (text_model,)


def _register_serving_text_model(crossfit, settings, cutoff, folds: int) -> str:  # type: ignore[no-untyped-def]
    """Log the text model fitted on every fold's documents as ``scamguard-text@marketplace``;
    its registry URI."""
    from models.text.pipeline import MARKETPLACE_ALIAS
    from models.text.train import log_text_model

    assert crossfit.full is not None and crossfit.full_sample is not None
    _, text_version, _ = log_text_model(
        crossfit.full,
        crossfit.full_sample["text"].to_list(),
        crossfit.full_sample["label"].to_numpy(),
        settings=settings,
        source=f"marketplace documents before {cutoff}",
        alias=MARKETPLACE_ALIAS,
        extra_params={
            "cutoff": str(cutoff),
            "crossfit_folds": folds,
            "text_model": crossfit.chosen,
        },
        tags={"corpus": "marketplace"},
        extra_metrics={
            f"oof_{k}_{name.replace('-', '_')}": v
            for name, m in crossfit.candidate_metrics.items()
            for k, v in m.items()
        },
    )
    return f"models:/scamguard-text/{text_version}"


def _print_text_features(  # type: ignore[no-untyped-def]
    crossfit, ablation, cutoff, folds: int, encoder: str, text_uri: str, out: Path, alias: str
) -> None:
    """The text pipeline's summary and the without/with ablation table."""
    from models.text.pipeline import MARKETPLACE_ALIAS

    m = crossfit.oof_metrics
    console.print(
        kv_table(
            "Text-model features",
            [
                ("documents scored", f"{crossfit.scored.height:,}"),
                (
                    "labelled corpus before cutoff",
                    f"{crossfit.corpus_rows:,} ({crossfit.corpus_positives:,} by scammers), cutoff {cutoff}",
                ),
                ("fold models", f"{folds} x {encoder}, {crossfit.train_rows_per_fold} rows"),
                *(
                    (
                        f"  {name}: out-of-fold AP / ROC-AUC / recall @ 0.2% FPR",
                        f"{c['ap']:.4f} / {c['roc_auc']:.4f} / {c['recall_at_0_2pct_fpr']:.4f}",
                    )
                    for name, c in crossfit.candidate_metrics.items()
                ),
                (
                    f"chosen ({crossfit.chosen}): out-of-fold AP / ROC-AUC",
                    f"{m['ap']:.4f} / {m['roc_auc']:.4f}",
                ),
                ("serving text model", f"{text_uri} (@{MARKETPLACE_ALIAS})"),
                ("table with textmodel_* columns", str(out)),
                ("text pipeline time", f"{crossfit.seconds:.0f}s"),
            ],
        )
    )
    comparison = Table(
        title=f"Risk model without vs with textmodel_* features (same split; ablation {ablation.ablation_id})",
        title_justify="left",
    )
    for column in ("metric", "without", "with"):
        comparison.add_column(column)
    for row in ablation.table_rows():
        comparison.add_row(*row)
    console.print(comparison)
    console.print(
        f"with-text model: {ablation.with_text.model_uri} (@{alias}); runs "
        f"{ablation.without.run_id} (without) and {ablation.with_text.run_id} (with)"
    )


def register(app: typer.Typer) -> None:
    """Mount this module's commands on the root app."""
    app.command("train-text")(train_text)
    app.command("score-text")(score_text)
    app.command("text-features")(text_features)
