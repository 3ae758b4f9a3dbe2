"""``scamguard replay`` (mounted by ``scamguard.cli``): the operated loop beside a static champion.

Heavy imports happen inside the command. Only this module prints; ``scamguard.cli`` wraps the
command so that an error is one line (exit 2 for bad input).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from scamguard.console import InputError, console, err, parse_day, progress_bar
from scamguard.settings import get_settings

if TYPE_CHECKING:
    from pipelines.replay_report import ReplayReport


def _cell(arm: dict[str, Any], key: str) -> str:
    value = arm.get(key)
    return "-" if value is None else f"{value:.3f}"


def replay_table(report: ReplayReport) -> Table:
    """Per week (and over the drift), one row per arm: the static champion, then the loop."""
    table = Table(title="Replay: the static champion and the operated loop", title_justify="left")
    for name in ("week from", "arm", "PR-AUC", "recall", "variant", "benign blk", "cost", "labels"):
        table.add_column(name, justify="left" if name in ("week from", "arm") else "right")
    keys = ("pr_auc", "recall", "variant_recall", "benign_block_rate", "expected_cost")
    periods = [(w["week"], w) for w in report.weeks]
    if report.drift is not None:
        periods.append((f"drift {report.drift['from'][5:]}+", report.drift))
    for name, row in periods:
        for arm in ("static", "loop"):
            values = row[arm]
            table.add_row(
                name if arm == "static" else "",
                arm,
                *[_cell(values, k) for k in keys],
                f"{values['labels']:,}",
                end_section=arm == "loop",
            )
    return table


def replay(
    from_: Annotated[str, typer.Option("--from", help="First day to replay (YYYY-MM-DD).")],
    to: Annotated[str, typer.Option("--to", help="Last day to replay (YYYY-MM-DD).")],
    rules: Annotated[
        Path | None, typer.Option("--rules", help="A rules file the loop applies (YAML).")
    ] = None,
    capacity: Annotated[
        int, typer.Option(help="Analyst labels a day, from the top of the review queue.")
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Play the operated system day by day over history beside the static champion.

    Each day is scored by that day's champion; platform labels arrive with their real delays; an
    analyst labels the top CAPACITY of the review queue with the simulator's truth one day
    later; the weekly retrain (SCAMGUARD_RETRAIN_WEEKDAY) goes through the promote guard; the
    rules file, if given, applies to the loop. Reports per week: PR-AUC, recall, recall on the
    new variant's scams, benign block rate, expected cost and analyst labels used, for both.
    """
    from models.rules import load_rules
    from pipelines.replay import ReplayConfig, plan_replay, replay_dir, run_replay
    from pipelines.replay_report import report_replay

    settings = get_settings()
    first, last = parse_day(from_, "--from"), parse_day(to, "--to")
    if last < first:
        raise InputError(f"--to {last} is before --from {first}")
    if capacity < 0:
        raise InputError(f"--capacity must be 0 or more, got {capacity}")
    if rules is not None and not rules.is_file():
        raise InputError(f"--rules {rules}: no such file")
    config = ReplayConfig(
        first, last, capacity=capacity, rules=load_rules(rules) if rules is not None else None
    )
    plan_replay(settings, config)  # bad days fail here, before any work
    started = time.perf_counter()
    with progress_bar(target=err) as bar:
        task = bar.add_task("replay", total=1000)

        def progress(description: str, done: float) -> None:
            bar.update(task, description=description, completed=int(done * 1000))

        # MLflow prints its registrations on stdout: keep stdout for the result
        with contextlib.redirect_stdout(sys.stderr):
            days = run_replay(settings, config, progress=progress)
        bar.update(task, description="report", completed=1000)
    seconds = time.perf_counter() - started
    with contextlib.redirect_stdout(sys.stderr):
        report = report_replay(
            settings,
            config,
            days,
            out_dir=replay_dir(settings, config),
            rules_file=rules,
            seconds=seconds,
        )
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), default=str, indent=2) + "\n")
        return
    console.print(replay_table(report))
    console.print(
        f"{len(report.retrains)} trainings ({sum(r['promoted'] for r in report.retrains)} "
        f"promoted), {report.labels_used:,} analyst labels, {seconds:.0f} s; plot {report.plot}, "
        f"MLflow run {report.run_id}"
    )


def register(app: typer.Typer) -> None:
    app.command()(replay)
