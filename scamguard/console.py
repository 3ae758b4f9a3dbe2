"""What every CLI command shares: the consoles, the progress bar, key/value tables, one-line errors.

Only the CLI modules (``scamguard.cli`` and the stage ``cli`` modules it mounts) print; stage
functions return results.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    import polars as pl

console = Console()
err = Console(stderr=True)


def progress_bar(
    *, info: bool = False, remaining: bool = False, target: Console | None = None
) -> Progress:
    """A Rich progress display: spinner, description, bar, done/total, elapsed.

    ``info`` adds a free-text column fed by ``progress.update(task, info=...)`` (every task must
    then be added with ``info=""``); ``remaining`` adds the time-remaining estimate.
    """
    columns: list[ProgressColumn] = [
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
    ]
    if info:
        columns.append(TextColumn("{task.fields[info]}"))
    columns.append(TimeElapsedColumn())
    if remaining:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=target or console, transient=False)


def kv_table(title: str, rows: Sequence[tuple[str, object]]) -> Table:
    """A two-column table (bold key, value) under a left-aligned title."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("")
    for key, value in rows:
        table.add_row(key, str(value))
    return table


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on one line to stderr; the caller raises what this returns."""
    err.print(f"[red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code)


def read_training_table(path: Path | None, default: Path) -> pl.DataFrame:
    """The training table at ``path`` (default: ``default``), or a one-line error naming the
    command that writes it."""
    import polars as pl

    target = path or default
    if not target.exists():
        raise fail(f"no training table at {target}: run `scamguard features` first")
    return pl.read_parquet(target)
