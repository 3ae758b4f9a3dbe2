"""CLI commands of the text model and the model-management stage (mounted by ``scamguard.cli``).

``train-text`` / ``score-text``: the text transformer on any ``text,label`` CSV.
``text-features``: text-model scores of the marketplace's messages, job posts, proposals and
profiles as ``textmodel_*`` risk features; trains the risk model with and without them.
``train-challenger`` / ``compare`` / ``promote``: the XGBoost challenger against the champion.

Heavy imports (torch, MLflow, LightGBM, XGBoost) happen inside the commands, so mounting costs
nothing. Stage functions return results; only this module prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from scamguard.settings import get_settings

console = Console()
err = Console(stderr=True)

ENCODERS = ("minilm", "scratch")
MAX_ERRORS_SHOWN = 10


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _kv_table(title: str, rows: Sequence[tuple[str, object]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("")
    for key, value in rows:
        table.add_row(key, str(value))
    return table


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(1)


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
        raise _fail(f"--encoder must be one of {', '.join(ENCODERS)}, not {encoder!r}")
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
        raise _fail(str(exc)) from None


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
        raise _fail(str(exc)) from None
    skipped = len(table) - len(texts)
    if len(texts) < 10 or len(set(labels.tolist())) < 2:
        raise _fail(f"{data}: need at least 10 usable rows with both labels 0 and 1")
    if skipped:
        err.print(
            f"[yellow]{skipped:,} of {len(table):,} rows skipped (empty or non-UTF-8 text, bad label)[/]"
        )
    settings = get_settings()
    _set_threads(threads)
    with _progress() as progress:
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
            raise _fail(str(exc)) from None
    console.print(_kv_table("Text model", result.summary_rows()))
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
        raise _fail(str(exc)) from None
    console.print(
        _kv_table(
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


# ------------------------------------------------------------------------- risk-model commands

TABLE_HELP = "Training table (default: <data_dir>/features/training.parquet)."


def _read_table(table: Path | None):  # type: ignore[no-untyped-def]
    import polars as pl

    path = table or get_settings().features_dir / "training.parquet"
    if not path.exists():
        raise _fail(f"no training table at {path}: run `scamguard features` first")
    return pl.read_parquet(path)


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
) -> object:
    """Text-model scores of messages, job posts, proposals and profiles as `textmodel_*` features.

    Cross-fits the text transformer by author on documents written before the valid split,
    aggregates the scores per user point in time, writes `features/training_text.parquet`, and
    trains the risk model on the same split without and with them (both runs in MLflow).
    """
    from dataclasses import replace

    from features.text_scores import text_documents
    from models.text.pipeline import (
        MARKETPLACE_ALIAS,
        add_text_model_features,
        cross_fit_scores,
        cutoff_of,
        train_with_and_without_text,
    )
    from models.text.train import log_text_model
    from pipelines.batch import load_clean_tables

    settings = get_settings()
    base = _read_table(table)
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
        raise _fail(str(exc)) from None
    docs = text_documents(
        users=tables.users, messages=tables.messages, jobs=tables.jobs, proposals=tables.proposals
    ).collect()
    with _progress() as progress:
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
            device=device,
            on_stage=on_stage,
            on_step=on_step,
        )
        on_stage("registering the serving text model")
        assert crossfit.full is not None and crossfit.full_sample is not None
        _, text_version, _ = log_text_model(
            crossfit.full,
            crossfit.full_sample["text"].to_list(),
            crossfit.full_sample["label"].to_numpy(),
            settings=settings,
            source=f"marketplace documents before {cutoff}",
            alias=MARKETPLACE_ALIAS,
            extra_params={"cutoff": str(cutoff), "crossfit_folds": folds},
            tags={"corpus": "marketplace"},
        )
        text_uri = f"models:/scamguard-text/{text_version}"
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
            extra_params={"text_oof_ap": crossfit.oof_metrics["ap"], "cutoff": str(cutoff)},
        )
        progress.update(stage, info="done")
    m = crossfit.oof_metrics
    console.print(
        _kv_table(
            "Text-model features",
            [
                ("documents scored", f"{crossfit.scored.height:,}"),
                (
                    "labelled corpus before cutoff",
                    f"{crossfit.corpus_rows:,} ({crossfit.corpus_positives:,} by scammers), cutoff {cutoff}",
                ),
                ("fold models", f"{folds} x {config.encoder}, {crossfit.train_rows_per_fold} rows"),
                (
                    "document-level out-of-fold AP / ROC-AUC",
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
    return ablation


def train_challenger(
    table: Annotated[Path | None, typer.Option(help=TABLE_HELP)] = None,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    n_estimators: Annotated[int | None, typer.Option(help="Max trees (early-stopped).")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="XGBoost eta.")] = None,
    max_depth: Annotated[int | None, typer.Option(help="Tree depth.")] = None,
    alias: Annotated[str, typer.Option(help="Registry alias for the new version.")] = "challenger",
) -> object:
    """Train the XGBoost challenger on the training table; register it as `challenger`."""
    from models.challenger import train_challenger as run

    data = _read_table(table)
    params = {
        k: v
        for k, v in {
            "n_estimators": n_estimators,
            "learning_rate": learning_rate,
            "max_depth": max_depth,
        }.items()
        if v is not None
    }
    with console.status("training the XGBoost challenger"):
        try:
            result = run(data, settings=get_settings(), params=params, seed=seed, alias=alias)
        except ValueError as exc:
            raise _fail(str(exc)) from None
    console.print(_kv_table("XGBoost challenger", result.summary_rows()))
    return result


def _comparison_table(comparison) -> Table:  # type: ignore[no-untyped-def]
    ch, cl = comparison.champion, comparison.challenger
    table = Table(
        title=(
            f"Champion vs challenger on the test window {comparison.as_of_min[:10]}.."
            f"{comparison.as_of_max[:10]} ({comparison.rows:,} rows, {comparison.positives:,} scams)"
        ),
        title_justify="left",
    )
    table.add_column("metric")
    table.add_column(f"champion v{ch.version} ({ch.family})", justify="right")
    table.add_column(f"challenger v{cl.version} ({cl.family})", justify="right")
    table.add_column("better")
    for row in comparison.table_rows():
        table.add_row(*row)
    return table


def _load_comparison(table: Path | None, champion: str, challenger: str, repeats: int):  # type: ignore[no-untyped-def]
    from models.compare import compare_models

    data = _read_table(table)
    try:
        with console.status("scoring the test window with both models"):
            return compare_models(
                get_settings(), data, champion=champion, challenger=challenger, repeats=repeats
            )
    except (LookupError, ValueError) as exc:
        raise _fail(str(exc)) from None


def compare(
    table: Annotated[Path | None, typer.Option(help=TABLE_HELP)] = None,
    champion: Annotated[str, typer.Option(help="Alias of the incumbent.")] = "champion",
    challenger: Annotated[str, typer.Option(help="Alias of the contender.")] = "challenger",
    repeats: Annotated[int, typer.Option(help="Latency: timed runs per model (median).")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> object:
    """Champion vs challenger on the latest test window: PR-AUC, recall, cost, typologies, latency."""
    import json
    import sys

    comparison = _load_comparison(table, champion, challenger, repeats)
    if as_json:
        sys.stdout.write(json.dumps(comparison.to_dict(), default=str, indent=2) + "\n")
    else:
        console.print(_comparison_table(comparison))
    return comparison


def promote(
    table: Annotated[Path | None, typer.Option(help=TABLE_HELP)] = None,
    min_improvement: Annotated[
        float, typer.Option(help="Expected-cost improvement per row the challenger must exceed.")
    ] = 0.0,
    challenger: Annotated[str, typer.Option(help="Alias of the contender.")] = "challenger",
    allow_new_features: Annotated[
        bool,
        typer.Option(help="Allow a challenger that needs features the champion does not use."),
    ] = False,
    repeats: Annotated[int, typer.Option(help="Latency: timed runs per model (median).")] = 3,
) -> object:
    """Move `champion` to the challenger only if it wins on expected cost; record why in MLflow."""
    from models.compare import promote as run

    data = _read_table(table)
    try:
        with console.status("comparing champion and challenger"):
            decision = run(
                get_settings(),
                data,
                min_improvement=min_improvement,
                allow_new_features=allow_new_features,
                challenger=challenger,
                repeats=repeats,
            )
    except (LookupError, ValueError) as exc:
        raise _fail(str(exc)) from None
    console.print(_comparison_table(decision.comparison))
    verdict = "[green]promoted[/]" if decision.promoted else "[yellow]not promoted[/]"
    console.print(f"{verdict}: {decision.reason}", soft_wrap=True)
    console.print(
        f"champion: v{decision.champion_before} -> v{decision.champion_after}; "
        f"recorded in MLflow run {decision.run_id} (experiment scamguard-promotions)"
    )
    return decision


def register(app: typer.Typer) -> None:
    """Mount this module's commands on the root app."""
    app.command("train-text")(train_text)
    app.command("score-text")(score_text)
    app.command("text-features")(text_features)
    app.command("train-challenger")(train_challenger)
    app.command("compare")(compare)
    app.command("promote")(promote)
