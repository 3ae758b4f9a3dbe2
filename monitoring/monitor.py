"""``monitor(D)``: every signal of day D against its own history, the alerts, and the outputs.

Uses only data up to the end of D: clean partitions and quarantine of days up to D, the feature
snapshots and scores of days up to D, texts sent before midnight after D, labels decided before
it, and audit records logged up to D. Each signal's history is recomputed from those inputs for
the ``HISTORY_DAYS`` days before D (performance: the cohorts before, at the same label age), so a
run depends on the data alone, not on earlier monitor runs, and a re-run of D gives the same
signals.

Outputs, under ``<data_dir>/monitoring/date=D/`` (each written aside and renamed):
``metrics.parquet`` (one row per signal), ``alerts.json``, ``report.html`` (self-contained) and
``metrics.prom`` (the alerts and key gauges, Prometheus text format); the newest day's ``.prom``
is also copied to ``<data_dir>/monitoring/scamguard.prom`` for a node-exporter textfile
collector. Each run is an MLflow run in ``scamguard-monitor``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from monitoring import patterns, performance
from monitoring.day_signals import (
    feature_signals,
    pattern_signals,
    performance_signals,
    quality_signals,
    score_signals,
    serving_signals,
)
from monitoring.reference import load_reference
from monitoring.signals import (
    Signal,
    alerts_of,
    metrics_frame,
)
from monitoring.thresholds import (
    PAGE,
)
from pipelines.daily import StepOutput
from scamguard.settings import Settings

HISTORY_DAYS = 28
EXPERIMENT = "scamguard-monitor"


def monitoring_dir(settings: Settings) -> Path:
    return settings.data_dir / "monitoring"


def day_dir(settings: Settings, day: date) -> Path:
    return monitoring_dir(settings) / f"date={day.isoformat()}"


def _days(day: date, history_days: int) -> list[date]:
    return [day - timedelta(days=history_days - i) for i in range(history_days + 1)]


@dataclass
class MonitorResult:
    """One day's signals and alerts, and the series the report plots."""

    date: date
    signals: list[Signal]
    alerts: list[dict[str, Any]]
    report_path: Path
    metrics_path: Path
    model_version: str
    patterns: list[patterns.Pattern] = field(default_factory=list)
    cohorts: list[performance.CohortJudgement] = field(default_factory=list)
    series: dict[str, pl.DataFrame] = field(default_factory=dict)  # for the report
    reference_window: tuple[str, str] = ("", "")
    missing: list[str] = field(default_factory=list)  # inputs of D that were not there

    @property
    def pages(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a["severity"] == PAGE]

    def to_json(self) -> dict[str, Any]:
        """What ``scamguard monitor --json`` prints."""
        return {
            "date": self.date.isoformat(),
            "alerts": self.alerts,
            "report": str(self.report_path),
        }


# --- the run -----------------------------------------------------------------------------------


def run_monitor(
    settings: Settings,
    day: date,
    *,
    scorer: Any = None,
    history_days: int = HISTORY_DAYS,
    prometheus_text: str | None = None,
    log_mlflow: bool = True,
    progress: Callable[[str], None] | None = None,
) -> MonitorResult:
    """Monitor ``day``: compute and judge every signal, write the outputs, return the result.

    ``scorer``: the champion (default: loaded from the registry), whose training reference the
    drift signals use. ``prometheus_text``: a scrape of the endpoint's ``/metrics`` (its error
    rate), if any.
    """
    from models.registry import load_scorer

    step = progress or (lambda _name: None)
    scorer = scorer or load_scorer(settings, alias="champion")
    reference = load_reference(settings, scorer)
    step("reference")
    days = _days(day, history_days)
    signals: list[Signal] = []
    series: dict[str, pl.DataFrame] = {}
    missing = []
    dq, series["quality"] = quality_signals(settings, day, history_days)
    signals += dq
    step("data quality")
    fd, series["feature_psi"] = feature_signals(settings, day, days, reference)
    if not fd:
        missing.append(f"feature snapshot of {day}")
    signals += fd
    sd, series["scores"] = score_signals(settings, day, days, reference)
    if not sd:
        missing.append(f"scores of {day}")
    signals += sd
    step("drift")
    ps, found, series["patterns"] = pattern_signals(settings, day, days, reference)
    signals += ps
    step("emerging patterns")
    perf, cohorts = performance_signals(settings, day)
    signals += perf
    step("performance")
    sv, series["serving"] = serving_signals(settings, day, days, prometheus_text)
    signals += sv
    step("serving")
    folder = day_dir(settings, day)
    result = MonitorResult(
        date=day,
        signals=signals,
        alerts=alerts_of(signals),
        report_path=folder / "report.html",
        metrics_path=folder / "metrics.parquet",
        model_version=scorer.model_version,
        patterns=found,
        cohorts=cohorts,
        series=series,
        reference_window=(reference.window_start.isoformat(), reference.window_end.isoformat()),
        missing=missing,
    )
    write_outputs(settings, result)
    step("outputs")
    if log_mlflow:
        from monitoring.exporters import log_to_mlflow

        log_to_mlflow(settings, result)
    return result


def monitor_step(settings: Settings, day: date) -> StepOutput:
    """The daily job's monitor step (:func:`pipelines.daily.run_day` takes it as ``monitor``)."""
    result = run_monitor(settings, day)
    return StepOutput(
        rows={
            "signals": len(result.signals),
            "alerts": len(result.alerts),
            "pages": len(result.pages),
        },
        detail={
            "report": str(result.report_path),
            "pages": [a["what"] for a in result.pages],
            "missing": result.missing,
        },
    )


def write_outputs(settings: Settings, result: MonitorResult) -> None:
    from monitoring.exporters import write_textfile
    from monitoring.report import render_report

    folder = day_dir(settings, result.date)
    folder.mkdir(parents=True, exist_ok=True)
    _atomic(
        folder / "metrics.parquet",
        lambda p: metrics_frame(result.signals, result.date).write_parquet(p),
    )
    _atomic(
        folder / "alerts.json",
        lambda p: p.write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n"),
    )
    _atomic(folder / "report.html", lambda p: p.write_text(render_report(result), encoding="utf-8"))
    write_textfile(result, folder / "metrics.prom")  # prometheus-client renames into place
    newest = max(
        (d.name for d in monitoring_dir(settings).glob("date=*") if (d / "metrics.prom").exists()),
        default="",
    )
    if newest == folder.name:
        write_textfile(result, monitoring_dir(settings) / "scamguard.prom")


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    tmp.replace(path)
