"""The ``scamguard`` command line: one root Typer app mounting every stage.

Each command imports its stage lazily, so ``scamguard --help`` is instant and importing this module
does no work. The text, challenger, online-store and agent commands live beside their stages
(``models.text.cli``, ``models.challenger_cli``, ``features.online.cli``, ``agent.cli``) and are
mounted here. Stage functions return results; only the CLI modules print.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, cast

import typer
from rich.table import Table

from agent.cli import register as register_agent_commands
from features.online.cli import register as register_online_commands
from models.challenger_cli import register as register_challenger_commands
from models.text.cli import register as register_text_commands
from monitoring.cli import register as register_monitoring_commands
from pipelines.replay_cli import register as register_replay_commands
from scamguard.console import (
    MissedScamOption,
    WrongfulBlockOption,
    console,
    fail,
    kv_table,
    one_line_errors,
    parse_day,
    parse_instant,
    progress_bar,
    read_training_table,
)
from scamguard.settings import Settings, get_settings
from serving.loop_cli import register as register_loop_commands

if TYPE_CHECKING:
    from models.train import TrainResult
    from pipelines.batch import BatchResult
    from pipelines.ingest import IngestReport

app = typer.Typer(
    help="scamguard: scam detection for a work marketplace.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Engine = Literal["polars", "spark"]

# Libraries that log their own housekeeping at INFO (MLflow creating its tables, Alembic's
# migrations): a command's output is its tables and, on failure, one error line.
QUIET_LOGGERS = ("mlflow", "alembic")


@app.callback()
def _quiet_libraries() -> None:
    import logging
    import os
    import warnings

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when MLflow is imported
    # great-expectations imports pyspark when it is installed; its pandas-version notice is noise here
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


DEMO_USERS = 40_000
DEMO_WEEKS = 8


@app.command()
def simulate(
    users: Annotated[int, typer.Option(help="Number of users to simulate.")] = DEMO_USERS,
    weeks: Annotated[int, typer.Option(help="Weeks of marketplace activity.")] = DEMO_WEEKS,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 0,
    start: Annotated[
        str | None, typer.Option(help="First day (YYYY-MM-DD, UTC); default 2026-07-06.")
    ] = None,
    drift_weeks: Annotated[
        int, typer.Option(help="The new scam variant runs in the last N weeks.")
    ] = 2,
) -> dict:
    """Simulate the marketplace and write every raw table as date-partitioned Parquet."""
    from pipelines.raw import write_world
    from pipelines.simulator import SimulationConfig
    from pipelines.simulator import simulate as run_simulation

    settings = get_settings()
    config = SimulationConfig(n_users=users, weeks=weeks, seed=seed, drift_weeks=drift_weeks)
    if start:
        config = dataclasses.replace(config, start=parse_instant(start, "--start"))
    stages = ["population", "benign activity", "scams", "tables"]
    with progress_bar() as progress:
        task = progress.add_task("simulating", total=len(stages) + 1)
        world = run_simulation(
            config, progress=lambda name: progress.update(task, advance=1, description=name)
        )
        counts = write_world(world, settings.raw_dir, truth_dir=settings.data_dir / "simulator")
        progress.update(task, advance=1, description="written")
    table = Table(
        title=f"Simulated {users:,} users over {weeks} weeks (seed {seed}) -> {settings.raw_dir}"
    )
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    console.print(table)
    return counts


@app.command()
def ingest() -> object:
    """Validate raw tables against their data contracts; accepted rows go to clean/, bad rows to quarantine/."""
    from pipelines.ingest import ingest as run_ingest

    settings = get_settings()
    with progress_bar() as progress:
        report = run_ingest(
            settings.raw_dir, settings.clean_dir, settings.quarantine_dir, progress=progress
        )
    table = Table(title="Ingest: rows in = accepted + quarantined")
    for column in report.COLUMNS:
        table.add_column(column)
    for row in report.rich_rows():
        table.add_row(*[str(v) for v in row])
    console.print(table)
    if report.quarantined:
        console.print(
            f"[yellow]{report.quarantined:,} rows quarantined under {settings.quarantine_dir}[/]"
        )
    return report


@app.command()
def features(
    as_of: Annotated[
        list[str] | None,
        typer.Option(
            "--as-of",
            help="Snapshot instants (ISO, UTC), repeatable; default: weekly to the end of the data.",
        ),
    ] = None,
    engine: Annotated[Engine, typer.Option(help="polars (one machine) or spark.")] = "polars",
    master: Annotated[str, typer.Option(help="Spark master URL (--engine spark).")] = "local[*]",
) -> Path:
    """Build the point-in-time-correct training table from the clean tables."""
    import polars as pl

    from features.build import build_training_table
    from features.tables import load_clean_tables

    settings = get_settings()
    times = [parse_instant(t) for t in as_of] if as_of else None
    path = settings.features_dir / "training.parquet"
    with console.status(f"building features ({engine})"):
        started = time.perf_counter()
        if engine == "spark":
            _spark_features(master, times)
            table = pl.read_parquet(path)
        else:
            table = build_training_table(load_clean_tables(settings), times)
        elapsed = time.perf_counter() - started
    if engine == "polars":
        settings.features_dir.mkdir(parents=True, exist_ok=True)
        table.write_parquet(path)
    summary = table.group_by("split").agg(rows=pl.len(), scams=pl.col("label").sum()).sort("split")
    console.print(
        kv_table(
            f"Training table -> {path} ({elapsed:.1f}s)",
            [
                ("rows", f"{table.height:,}"),
                ("features", table.width - 5),
                *[
                    (f"{r['split']} rows / scams", f"{r['rows']:,} / {r['scams']:,}")
                    for r in summary.iter_rows(named=True)
                ],
                ("as_of", f"{str(table['as_of'].min())} .. {str(table['as_of'].max())}"),
            ],
        )
    )
    return path


def _spark_features(master: str, times: list[datetime] | None) -> None:
    from features.spark.jobs import write_training_table
    from features.spark.session import spark_session

    spark = spark_session(master)
    try:
        write_training_table(spark, get_settings(), times)
    finally:
        spark.stop()


@app.command()
def train(
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    missed_scam: MissedScamOption = None,
    wrongful_block: WrongfulBlockOption = None,
    review_cost: Annotated[
        float | None,
        typer.Option(help="Cost of a human review; default: the settings' cost model."),
    ] = None,
    review_capacity: Annotated[
        float | None,
        typer.Option(
            help="Most rows sent to review, a fraction; default: the settings' cost model."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Make the new version `champion` without the promote guard (recorded in MLflow).",
        ),
    ] = False,
) -> object:
    """Train the LightGBM risk model, log it to MLflow and register a new version.

    The first model becomes `champion`. Later ones are registered as `challenger` and replace the
    champion only through the promote guard (lower expected cost on the latest test window), or
    with `--force`, which is recorded in MLflow. The decision thresholds come from the settings'
    cost model (`SCAMGUARD_COSTS__*`); the cost options override it, and the costs used are
    logged as the run's `cost_*` params.
    """
    from rich.markup import escape

    from models.train import train_risk_model
    from scamguard.costs import describe_invalid

    settings = get_settings()
    changes = {
        "missed_scam": missed_scam,
        "wrongful_block": wrongful_block,
        "review": review_cost,
        "review_capacity": review_capacity,
    }
    try:
        costs = settings.costs.replace(**{k: v for k, v in changes.items() if v is not None})
    except ValueError as exc:
        raise fail(escape(describe_invalid(exc))) from None
    table = read_training_table(None, settings.features_dir / "training.parquet")
    champion = _current_champion(settings)
    with console.status("training"):
        result = train_risk_model(
            table,
            settings=settings,
            costs=costs,
            seed=seed,
            alias="champion" if champion is None else "challenger",
        )
    console.print(kv_table("Risk model", result.summary_rows()))
    console.print(_settle_champion(settings, table, costs, result.model_version, champion, force))
    return result


def _current_champion(settings: Settings) -> str | None:
    from pipelines.retrain import champion_version

    return champion_version(settings)


def _settle_champion(  # type: ignore[no-untyped-def]
    settings: Settings, table, costs, version: str, champion: str | None, force: bool
) -> str:
    """Who is champion after a training run, in one line (the promote guard or --force)."""
    from models.compare import force_promote, promote

    if champion is None:
        return f"v{version} is the first model: registered as champion"
    if force:
        force_promote(settings, version, reason=f"scamguard train --force over v{champion}")
        return f"--force: champion v{champion} -> v{version} (recorded in scamguard-promotions)"
    with console.status("promote guard: champion vs the new version on the test window"):
        decision = promote(settings, table, challenger="challenger", costs=costs)
    verdict = "promoted" if decision.promoted else "kept the champion"
    return f"promote guard {verdict} (v{decision.champion_after}): {decision.reason}"


@app.command("batch-score")
def batch_score(
    date_: Annotated[
        str | None,
        typer.Option(
            "--date", help="Date to score (YYYY-MM-DD); default: the latest date in the data."
        ),
    ] = None,
    engine: Annotated[Engine, typer.Option(help="polars (one machine) or spark.")] = "polars",
    master: Annotated[str, typer.Option(help="Spark master URL (--engine spark).")] = "local[*]",
) -> object:
    """Score every user active up to DATE with the `champion` model; re-running replaces that date."""
    from pipelines.batch import batch_score as run_batch

    settings = get_settings()
    day = parse_day(date_) if date_ else None
    with console.status(f"scoring ({engine})"):
        if engine == "spark":
            from features.spark.session import spark_session
            from pipelines.spark_batch import batch_score_spark

            spark = spark_session(master)
            try:
                result = batch_score_spark(settings, spark, day)
            finally:
                spark.stop()
        else:
            result = run_batch(settings, day)
    console.print(
        kv_table(
            f"Batch scores for {result.date}",
            [
                ("users scored", f"{result.rows:,}"),
                ("as of", result.as_of),
                ("model version", result.model_version),
                *[(f"decision: {k}", f"{v:,}") for k, v in sorted(result.decisions.items())],
                ("written to", result.path),
            ],
        )
    )
    return result


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    log_level: Annotated[
        str, typer.Option(help="debug, info (one line per request), warning, error.")
    ] = "info",
    workers: Annotated[
        int,
        typer.Option(min=1, help="Worker processes (uvicorn); they share the online store file."),
    ] = 1,
) -> None:
    """Start the real-time scoring endpoint (FastAPI on uvicorn)."""
    from fastapi import FastAPI

    from features.online.local import open_store
    from serving.app import APP_FACTORY, create_app, serve, server_config

    settings = get_settings()  # bad settings fail here, once, not in every worker
    app: FastAPI | str
    if workers > 1:
        open_store(settings).close()  # a first-start backfill: once, before the workers start
        app = APP_FACTORY
    else:
        app = create_app(settings)
    config = server_config(
        app, host=host, port=port, log_level=log_level, workers=workers, factory=workers > 1
    )
    serve(config)


@app.command()
def investigate(
    user_id: Annotated[str, typer.Argument(help="The user to investigate, e.g. u0001234.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    analyst: Annotated[
        str | None,
        typer.Option(help="Who is looking, for the audit log (default: the login name)."),
    ] = None,
) -> None:
    """Show a user's risk (batch and live), decision, reasons, linked accounts and messages.

    Reads the clean tables and the online store, so users and events that arrived through the
    endpoint are visible; every investigation is written to the audit log.
    """
    import getpass

    from serving.investigation import UnknownUserError, investigate_user, render_investigation

    settings = get_settings()
    try:
        report = investigate_user(settings, user_id, analyst=analyst or getpass.getuser())
    except UnknownUserError as exc:
        raise fail(str(exc), as_json=as_json) from None
    if as_json:
        sys.stdout.write(json.dumps(report, default=str, indent=2) + "\n")
    else:
        render_investigation(report, console)


@app.command()
def demo(
    users: Annotated[int, typer.Option(help="Users to simulate.")] = DEMO_USERS,
    weeks: Annotated[int, typer.Option(help="Weeks to simulate.")] = DEMO_WEEKS,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Run simulate -> ingest -> features -> train -> batch-score and print a summary."""
    settings = get_settings()
    started = time.perf_counter()
    simulate(users=users, weeks=weeks, seed=seed, start=None)
    report = cast("IngestReport", ingest())
    features(as_of=None)
    result = cast("TrainResult", train(seed=0))
    batch = cast("BatchResult", batch_score(date_=None))
    elapsed = time.perf_counter() - started
    m = result.metrics
    console.print(
        kv_table(
            "scamguard demo: summary",
            [
                ("wall time", f"{elapsed:.0f} s"),
                (
                    "rows in / accepted / quarantined",
                    f"{report.rows_in:,} / {report.accepted:,} / {report.quarantined:,}",
                ),
                ("test PR-AUC", f"{m['test_pr_auc']:.3f}"),
                ("test ROC-AUC", f"{m['test_roc_auc']:.3f}"),
                ("test recall at 1% FPR", f"{m['test_recall_at_1pct_fpr']:.3f}"),
                ("test expected cost / case", f"{m['test_expected_cost']:.3f}"),
                (
                    "registered model",
                    f"{settings.risk_model_name} v{result.model_version} (alias champion)",
                ),
                ("scores", f"{batch.path} ({batch.rows:,} users)"),
                (
                    "start the endpoint",
                    "scamguard serve   (X-API-Key: $SCAMGUARD_API_KEY, default dev-key)",
                ),
                ("open the MLflow UI", f"mlflow ui --backend-store-uri {settings.tracking_uri}"),
            ],
        )
    )


# The stage modules' own commands. Each imports its heavy dependencies inside the command
# functions, so mounting them costs nothing.
register_text_commands(app)
register_challenger_commands(app)
register_online_commands(app)
register_agent_commands(app)
register_loop_commands(app)
register_monitoring_commands(app)
register_replay_commands(app)

# Every command, in sub-apps too (`rules check`): an error is one line naming the problem (exit 2
# for bad input), never a traceback.
for _command in [
    *app.registered_commands,
    *(
        c
        for g in app.registered_groups
        if g.typer_instance
        for c in g.typer_instance.registered_commands
    ),
]:
    if _command.callback is not None:
        _command.callback = one_line_errors(_command.callback)

if __name__ == "__main__":
    app()
