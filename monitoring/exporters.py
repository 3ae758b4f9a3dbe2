"""The monitor's results for other systems: a Prometheus textfile and an MLflow run.

The textfile (``write_to_textfile``, for node-exporter's textfile collector, since the monitor is
a batch job and nothing scrapes it) holds:

* ``scamguard_monitor_alerts{kind, severity}``: alerts of the day;
* ``scamguard_monitor_signal{kind, signal, subject}``: each signal's value;
* ``scamguard_monitor_signal_severity{kind, signal, subject}``: 0 ok or no baseline, 1 warn,
  2 page;
* ``scamguard_monitor_date_seconds``: the monitored day (midnight UTC, Unix seconds).
"""

from __future__ import annotations

import math
import re
import tempfile
from collections import Counter
from datetime import UTC, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from monitoring.signals import KINDS
from monitoring.thresholds import PAGE, WARN
from scamguard import tracking
from scamguard.settings import Settings

if TYPE_CHECKING:
    from monitoring.monitor import MonitorResult

SEVERITY_LEVEL = {PAGE: 2, WARN: 1}


def write_textfile(result: MonitorResult, path: Path) -> None:
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    registry = CollectorRegistry()
    alerts = Gauge(
        "scamguard_monitor_alerts",
        "Alerts of the monitored day.",
        ["kind", "severity"],
        registry=registry,
    )
    counts = Counter((a["kind"], a["severity"]) for a in result.alerts)
    for kind in KINDS:
        for severity in (WARN, PAGE):
            alerts.labels(kind, severity).set(counts.get((kind, severity), 0))
    value = Gauge(
        "scamguard_monitor_signal",
        "Value of each monitored signal.",
        ["kind", "signal", "subject"],
        registry=registry,
    )
    level = Gauge(
        "scamguard_monitor_signal_severity",
        "0 ok, 1 warn, 2 page.",
        ["kind", "signal", "subject"],
        registry=registry,
    )
    for s in result.signals:
        v = s.judgement.value
        value.labels(s.kind, s.signal, s.subject).set(v if math.isfinite(v) else float("nan"))
        level.labels(s.kind, s.signal, s.subject).set(SEVERITY_LEVEL.get(s.severity, 0))
    Gauge(
        "scamguard_monitor_date_seconds", "The monitored day (midnight UTC).", registry=registry
    ).set(datetime.combine(result.date, time.min, tzinfo=UTC).timestamp())
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)


def _metric_name(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", ".".join(parts))[:250]


def log_to_mlflow(settings: Settings, result: MonitorResult) -> str:
    """One run in ``scamguard-monitor``: alert counts and key gauges as metrics, the alerts and
    the report as artifacts. Returns the run id."""
    import mlflow

    from monitoring.monitor import EXPERIMENT

    with tracking.start_run(settings, EXPERIMENT, run_name=f"monitor-{result.date}") as run:
        mlflow.set_tags(
            {
                "date": result.date.isoformat(),
                "model_version": result.model_version,
                "pages": str(len(result.pages)),
            }
        )
        metrics = {
            "alerts_page": float(len(result.pages)),
            "alerts_warn": float(sum(a["severity"] == WARN for a in result.alerts)),
        }
        for s in result.signals:
            v = s.judgement.value
            if math.isfinite(v) and s.kind != "feature_drift" or s.severity in (WARN, PAGE):
                metrics[_metric_name(s.kind, s.signal, s.subject)] = (
                    float(v) if math.isfinite(v) else 0.0
                )
        mlflow.log_metrics(metrics)
        mlflow.log_dict(result.to_json(), "alerts.json")
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "report.html"
            target.write_bytes(result.report_path.read_bytes())
            mlflow.log_artifact(str(target))
        return str(run.info.run_id)
