"""What every CLI command shares: the consoles, the progress bar, key/value tables, one-line errors.

Only the CLI modules (``scamguard.cli`` and the stage ``cli`` modules it mounts) print; stage
functions return results.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

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

# The cost options that `train` and `agent-train` share; None: the settings' cost model.
MissedScamOption = Annotated[
    float | None,
    typer.Option(help="Cost of allowing a scam; default: the settings' cost model."),
]
WrongfulBlockOption = Annotated[
    float | None,
    typer.Option(help="Cost of blocking a good user; default: the settings' cost model."),
]


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
    table.add_column("", overflow="fold")  # long paths and commands wrap whole, never cut
    for key, value in rows:
        table.add_row(key, str(value))
    return table


BAD_INPUT = 2  # exit code of an error the user can fix (bad option, missing data, no model)
UNEXPECTED = 1  # exit code of anything else
DEBUG_ENV = "SCAMGUARD_DEBUG"  # set to 1 to see the traceback of an unexpected error


class InputError(Exception):
    """Bad input that the user can fix; the CLI prints it on one line and exits 2."""


def fail(message: str, code: int = BAD_INPUT, *, as_json: bool = False) -> typer.Exit:
    """Print ``error: message`` on one line (stderr; under ``--json``, ``{"error": ...}`` on
    stdout); the caller raises what this returns."""
    if as_json:
        sys.stdout.write(json.dumps({"error": message}) + "\n")
    else:
        err.print(f"[red]error:[/] {message}", soft_wrap=True, markup=True, highlight=False)
    return typer.Exit(code)


def describe(exc: BaseException) -> str:
    """One line naming the problem: a settings error names the setting, others their message."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or 'settings'}: "
            f"{str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()
        )
    text = " ".join(str(exc).split()) or type(exc).__name__
    return (
        text
        if isinstance(exc, InputError | ValueError | LookupError)
        else (f"{type(exc).__name__}: {text}")
    )


F = TypeVar("F", bound=Callable[..., Any])


def one_line_errors(command: F) -> F:
    """Wrap a CLI command so that an error is one line naming the problem, never a traceback.

    Errors of input and state (``InputError``, ``ValueError``, ``LookupError``, ``OSError``, a
    settings ``ValidationError``, Polars and MLflow errors) exit 2; anything else exits 1 and says
    how to see the traceback (``SCAMGUARD_DEBUG=1``). Under ``--json`` the error is JSON.
    """
    from pydantic import ValidationError

    expected: tuple[type[BaseException], ...] = (
        InputError,
        ValueError,
        LookupError,
        OSError,
        ValidationError,
    )

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            as_json = bool(kwargs.get("as_json"))
            if isinstance(exc, expected) or _is_data_error(exc):
                raise fail(describe(exc), BAD_INPUT, as_json=as_json) from None
            message = f"unexpected {describe(exc)} (set {DEBUG_ENV}=1 for the traceback)"
            raise fail(message, UNEXPECTED, as_json=as_json) from None

    return wrapper  # type: ignore[return-value]


def _is_data_error(exc: BaseException) -> bool:
    """Polars' and MLflow's own errors about the data or the store (not bugs in this code)."""
    module = type(exc).__module__
    return module.startswith(("polars.exceptions", "mlflow.exceptions"))


def parse_day(text: str, option: str = "--date") -> date:
    """A ``YYYY-MM-DD`` option value, or an ``InputError`` naming the option and the value."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} must be a date YYYY-MM-DD, got {text!r}") from None


def parse_instant(text: str, option: str = "--as-of") -> datetime:
    """An ISO instant option value (naive means UTC), or an ``InputError`` naming the option."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"{option} must be an ISO date or time (e.g. 2026-08-31T00:00), got {text!r}"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read_training_table(path: Path | None, default: Path) -> pl.DataFrame:
    """The training table at ``path`` (default: ``default``), or a one-line error naming the
    command that writes it."""
    import polars as pl

    target = path or default
    if not target.exists():
        raise InputError(f"no training table at {target}: run `scamguard features` first")
    return pl.read_parquet(target)
