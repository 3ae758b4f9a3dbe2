"""CLI commands of the text model and the model-management stage (mounted by ``scamguard.cli``).

``train-text`` / ``score-text``: the text transformer on any ``text,label`` CSV.
``text-features``: text-model scores of the marketplace's messages, job posts, proposals and
profiles as ``textmodel_*`` risk features; trains the risk model with and without them.
``train-challenger`` / ``compare`` / ``promote``: the XGBoost challenger against the champion.

Heavy imports (torch, MLflow, LightGBM, XGBoost) happen inside the commands, so mounting costs
nothing. Stage functions return results; only this module prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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


def _kv_table(title: str, rows: list[tuple[str, object]]) -> Table:
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
    overrides = {
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


def register(app: typer.Typer) -> None:
    """Mount this module's commands on the root app."""
    app.command("train-text")(train_text)
    app.command("score-text")(score_text)
