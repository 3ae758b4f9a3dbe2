"""``scamguard daily``, ``scamguard schedule`` and ``scamguard monitor`` (mounted by ``scamguard.cli``).

The daily job lives in ``pipelines.daily``, a layer below monitoring; the commands here hand it the
monitor as its last step, so the layer rule holds. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from scamguard.console import UNEXPECTED, console, err, fail
from scamguard.settings import get_settings

if TYPE_CHECKING:
    from pipelines.daily import DayRecord, StepRecord


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


def _print_step(step: StepRecord) -> None:
    colour = {"ok": "green", "failed": "red"}.get(step.status, "dim")
    rows = ", ".join(f"{k} {v:,}" for k, v in step.rows.items())
    err.print(f"  [{colour}]{step.name:<8} {step.status:<7}[/] {step.seconds:6.1f}s  {rows}")


def _summary(records: list[DayRecord]) -> Table:
    table = Table(title="Daily job", title_justify="left")
    for column in (
        "date",
        "status",
        "ingest in / quarantined",
        "scored",
        "alerts (page)",
        "seconds",
    ):
        table.add_column(column)
    for r in records:
        ingest, score, monitor = r.step("ingest"), r.step("score"), r.step("monitor")
        table.add_row(
            r.date.isoformat(),
            f"[{'green' if r.ok else 'red'}]{r.status}[/]",
            f"{ingest.rows.get('in', 0):,} / {ingest.rows.get('quarantined', 0):,}",
            f"{score.rows.get('scored', 0):,}",
            f"{monitor.rows.get('alerts', 0)} ({monitor.rows.get('pages', 0)})"
            if monitor.status == "ok"
            else monitor.status,
            f"{(r.finished_at - r.started_at).total_seconds():.1f}",
        )
    return table


def daily(
    date_: Annotated[
        str | None,
        typer.Option("--date", help="The day to run (YYYY-MM-DD); default: yesterday (UTC)."),
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="First day of a backfill (with --to).")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Last day of a backfill (with --from).")
    ] = None,
    monitor: Annotated[bool, typer.Option(help="Run the monitor step.")] = True,
) -> None:
    """Run the daily job for one day (ingest, features, batch scoring, monitoring), or replay a range.

    Re-running a day replaces its outputs. The run record goes to data/runs/date=D/run.json and to
    MLflow (experiment scamguard-daily). A range stops at the first failed day.
    """
    from monitoring.monitor import monitor_step
    from pipelines.daily import day_range, run_days

    settings = get_settings()
    if (from_ is None) != (to is None):
        raise fail("--from and --to go together")
    if date_ is not None and from_ is not None:
        raise fail("give --date or --from/--to, not both")
    if from_ is not None and to is not None:
        try:
            days = day_range(_day(from_, "--from"), _day(to, "--to"))
        except ValueError as exc:
            raise fail(str(exc)) from None
    else:
        days = [_day(date_, "--date") if date_ else datetime.now(UTC).date() - timedelta(days=1)]

    def announce(step: StepRecord) -> None:
        _print_step(step)

    records = []
    for day in days:
        err.print(f"[bold]daily {day}[/]")
        records += run_days(
            settings, [day], monitor=monitor_step if monitor else None, on_step=announce
        )
        if not records[-1].ok:
            break
    console.print(_summary(records))
    failed = next((r for r in records if not r.ok), None)
    if failed is not None:
        raise fail(
            f"daily {failed.date}: {failed.error}; earlier days are untouched, re-run with --date {failed.date}",
            UNEXPECTED,
        )


def schedule(
    cron: Annotated[
        str,
        typer.Option(help="When to run, crontab syntax in UTC (minute hour day month weekday)."),
    ] = "30 2 * * *",
    since: Annotated[
        str | None,
        typer.Option(
            help="With no successful run yet, catch up from this day (default: yesterday only)."
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option(help="Catch up once and exit instead of waiting for the schedule.")
    ] = False,
) -> None:
    """Run the daily job on a schedule (APScheduler, in-process), catching up missed days first.

    Each firing runs every day after the last successful run record up to yesterday, in order.
    """
    from monitoring.monitor import monitor_step
    from pipelines.schedule import build_scheduler, catch_up

    settings = get_settings()
    start = _day(since, "--since") if since else None

    def job() -> None:
        records = catch_up(settings, since=start, monitor=monitor_step, on_step=_print_step)
        if not records:
            err.print("nothing to catch up")
        for r in records:
            err.print(f"daily {r.date}: {r.status}" + (f" ({r.error})" if r.error else ""))

    if once:
        job()
        return
    try:
        scheduler = build_scheduler(cron, job)
    except ValueError as exc:
        raise fail(f"bad --cron {cron!r}: {exc}") from None
    err.print(f"scheduling the daily job at '{cron}' (UTC); Ctrl-C to stop")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        err.print("stopped")


def monitor(
    date_: Annotated[str, typer.Option("--date", help="The day to monitor (YYYY-MM-DD).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: date, alerts, report.")
    ] = False,
    prometheus_url: Annotated[
        str | None,
        typer.Option(help="The endpoint's /metrics URL, to add its error rate (optional)."),
    ] = None,
) -> None:
    """Monitor one day: data quality, drift, emerging patterns, performance, serving.

    Writes data/monitoring/date=D/ (report.html, metrics.parquet, alerts.json, metrics.prom) and
    exits 0 whatever the alerts.
    """
    from monitoring.monitor import run_monitor

    settings = get_settings()
    day = _day(date_, "--date")
    text = None
    if prometheus_url:
        import httpx

        try:
            text = httpx.get(prometheus_url, timeout=10).text
        except httpx.HTTPError as exc:
            raise fail(f"could not read {prometheus_url}: {exc}") from None
    try:
        if as_json:
            result = run_monitor(settings, day, prometheus_text=text)
        else:
            with console.status(f"monitoring {day}"):
                result = run_monitor(settings, day, prometheus_text=text)
    except (LookupError, FileNotFoundError, ValueError) as exc:
        raise fail(str(exc).splitlines()[0]) from None
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), default=str) + "\n")
        return
    table = Table(
        title=f"Monitor {day}: {len(result.pages)} page, {len(result.alerts) - len(result.pages)} warn",
        title_justify="left",
    )
    table.add_column("severity")
    table.add_column("kind")
    table.add_column("what")
    for a in result.alerts:
        colour = "red" if a["severity"] == "page" else "yellow"
        table.add_row(f"[{colour}]{a['severity']}[/]", a["kind"], a["what"])
    console.print(table)
    console.print(f"report: {result.report_path}")


def register(app: typer.Typer) -> None:
    app.command("daily")(daily)
    app.command("schedule")(schedule)
    app.command("monitor")(monitor)
