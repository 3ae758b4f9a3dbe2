"""A judged signal, and the alerts made from the ones that cross their thresholds.

Every signal is one row of ``metrics.parquet`` (:data:`METRICS_SCHEMA`): its kind, its name, its
subject (a table, a feature, a pattern, a cohort), the value on the day, and the threshold band
its own history gave (:mod:`monitoring.thresholds`). A signal whose severity is ``warn`` or
``page`` becomes an alert.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from monitoring.thresholds import PAGE, WARN, Judgement

DATA_QUALITY = "data_quality"
FEATURE_DRIFT = "feature_drift"
SCORE_DRIFT = "score_drift"
DECISION_MIX = "decision_mix"
EMERGING_PATTERN = "emerging_pattern"
PERFORMANCE = "performance"
SERVING = "serving"
KINDS = (
    DATA_QUALITY,
    FEATURE_DRIFT,
    SCORE_DRIFT,
    DECISION_MIX,
    EMERGING_PATTERN,
    PERFORMANCE,
    SERVING,
)

METRICS_SCHEMA = {
    "date": pl.Date(),
    "kind": pl.String(),
    "signal": pl.String(),
    "subject": pl.String(),
    "value": pl.Float64(),
    "mean": pl.Float64(),
    "sd": pl.Float64(),
    "warn_at": pl.Float64(),
    "page_at": pl.Float64(),
    "n_history": pl.Int32(),
    "direction": pl.String(),
    "severity": pl.String(),
}


@dataclass(frozen=True)
class Signal:
    kind: str
    signal: str
    subject: str
    judgement: Judgement
    what: str = ""  # the alert's sentence, if it alerts
    detail: dict[str, Any] = field(default_factory=dict)  # extra alert fields (examples, ...)
    alerting: bool = True  # False: a gauge kept in the metrics that never alerts by itself

    @property
    def severity(self) -> str:
        return self.judgement.severity

    def row(self, day: date) -> dict[str, Any]:
        j = self.judgement
        return {
            "date": day,
            "kind": self.kind,
            "signal": self.signal,
            "subject": self.subject,
            "value": _finite(j.value),
            "mean": _finite(j.mean),
            "sd": _finite(j.sd),
            "warn_at": _finite(j.warn_at),
            "page_at": _finite(j.page_at),
            "n_history": j.n_history,
            "direction": j.direction,
            "severity": j.severity,
        }

    def alert(self) -> dict[str, Any]:
        j = self.judgement
        threshold = j.page_at if j.severity == PAGE else j.warn_at
        return {
            "kind": self.kind,
            "severity": j.severity,
            "what": self.what,
            "signal": self.signal,
            "subject": self.subject,
            "value": _round(j.value),
            "threshold": _round(threshold),
            "baseline_mean": _round(j.mean),
            "baseline_sd": _round(j.sd),
            **self.detail,
        }


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _round(x: float | None) -> float | None:
    x = _finite(x)
    return None if x is None else float(f"{x:.6g}")


def metrics_frame(signals: list[Signal], day: date) -> pl.DataFrame:
    return pl.DataFrame([s.row(day) for s in signals], schema=METRICS_SCHEMA, orient="row")


# Inhibition (as Alertmanager's inhibit rules): a page of the kind on the left turns the same
# day's pages of the kinds on the right into warnings, since they follow from it. Broken input
# data moves the features, a moved feature moves the scores, moved scores move the decision mix.
# Performance (the labels), emerging patterns and serving are never inhibited.
INHIBITS: dict[str, tuple[str, ...]] = {
    DATA_QUALITY: (FEATURE_DRIFT, SCORE_DRIFT, DECISION_MIX),
    FEATURE_DRIFT: (SCORE_DRIFT, DECISION_MIX),
    SCORE_DRIFT: (DECISION_MIX,),
}


def inhibit(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``alerts`` with the pages that follow from another page demoted to ``warn``; each keeps
    ``inhibited_by`` (the first causing page, ``kind:subject``) and says so in ``what``."""
    pages = [a for a in alerts if a["severity"] == PAGE]
    out = []
    for alert in alerts:
        cause = next(
            (p for p in pages if p is not alert and alert["kind"] in INHIBITS.get(p["kind"], ())),
            None,
        )
        if alert["severity"] == PAGE and cause is not None:
            origin = f"{cause['kind']}:{cause['subject']}"
            alert = {
                **alert,
                "severity": WARN,
                "inhibited_by": origin,
                "what": f"{alert['what']} [follows from the {origin} page]",
            }
        out.append(alert)
    return out


def alerts_of(signals: list[Signal]) -> list[dict[str, Any]]:
    """Alerts of every signal at warn or page, after :func:`inhibit`: pages first, then by kind
    and subject."""
    alerting = [s for s in signals if s.alerting and s.severity in (WARN, PAGE)]
    alerts = inhibit([s.alert() for s in alerting])
    order = {k: i for i, k in enumerate(KINDS)}
    alerts.sort(
        key=lambda a: (a["severity"] != PAGE, order.get(a["kind"], 99), a["signal"], a["subject"])
    )
    return alerts
