"""CLI commands of the champion/challenger lifecycle (mounted by ``scamguard.cli``).

``train-challenger``: the XGBoost challenger on the training table, registered as `challenger`.
``compare``: champion against challenger on the latest test window.
``promote``: moves `champion` to the challenger only when it wins on expected cost.

Heavy imports (MLflow, XGBoost, LightGBM) happen inside the commands, so mounting costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from scamguard.console import console, fail, kv_table, read_training_table
from scamguard.settings import get_settings

TABLE_HELP = "Training table (default: <data_dir>/features/training.parquet)."


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

    data = read_training_table(table, get_settings().features_dir / "training.parquet")
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
            raise fail(str(exc)) from None
    console.print(kv_table("XGBoost challenger", result.summary_rows()))
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

    data = read_training_table(table, get_settings().features_dir / "training.parquet")
    try:
        with console.status("scoring the test window with both models"):
            return compare_models(
                get_settings(), data, champion=champion, challenger=challenger, repeats=repeats
            )
    except (LookupError, ValueError) as exc:
        raise fail(str(exc)) from None


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

    data = read_training_table(table, get_settings().features_dir / "training.parquet")
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
        raise fail(str(exc)) from None
    assert decision.comparison is not None  # only a forced promotion has none
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
    app.command("train-challenger")(train_challenger)
    app.command("compare")(compare)
    app.command("promote")(promote)
