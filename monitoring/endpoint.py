"""Serving: the endpoint's traffic, latency and decision mix per day, from the audit log; its error
rate from a Prometheus scrape.

The audit log (``settings.audit_log``, one JSON object per line) holds one ``online`` record per
decision the endpoint made, with ``logged_at`` (UTC), ``decision`` and ``latency_ms`` (time to
build the features and score). Requests that failed never reach it: their share comes from the
endpoint's ``scamguard_http_requests_total{route, status}`` counter, which counts since the
process started.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

SCHEMA = {"day": pl.Date, "decision": pl.String, "latency_ms": pl.Float64}


def read_online_decisions(audit_log: Path, first: date, last: date) -> pl.DataFrame:
    """The endpoint's decisions logged on days ``first..last``: ``day``, ``decision``,
    ``latency_ms`` (null in records written before latency was logged)."""
    if not Path(audit_log).exists():
        return pl.DataFrame(schema=SCHEMA)
    rows = []
    with open(audit_log, encoding="utf-8") as fh:
        for line in fh:
            if '"online"' not in line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("kind") != "online" or not record.get("logged_at"):
                continue
            day = date.fromisoformat(str(record["logged_at"])[:10])
            if first <= day <= last:
                rows.append((day, record.get("decision"), record.get("latency_ms")))
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def day_stats(decisions: pl.DataFrame, days: list[date]) -> dict[date, dict[str, float]]:
    """Per day: ``requests``, ``latency_p50_ms`` / ``p95`` / ``p99``, ``block_rate``,
    ``review_rate`` (NaN where the day has none)."""
    out = {}
    for day in days:
        rows = decisions.filter(pl.col("day") == day)
        n = rows.height
        latency = rows["latency_ms"].drop_nulls().to_numpy()
        p50, p95, p99 = np.percentile(latency, [50, 95, 99]) if latency.size else (math.nan,) * 3
        counts = dict(rows["decision"].value_counts().iter_rows()) if n else {}
        out[day] = {
            "requests": float(n),
            "latency_p50_ms": float(p50),
            "latency_p95_ms": float(p95),
            "latency_p99_ms": float(p99),
            "block_rate": counts.get("block", 0) / n if n else math.nan,
            "review_rate": counts.get("review", 0) / n if n else math.nan,
        }
    return out


def scrape_error_rate(text: str, route: str = "/v1/score") -> tuple[float, float]:
    """``(requests, errors)`` of ``route`` in a Prometheus text exposition of the endpoint's
    ``/metrics``: every request, and those answered with a 5xx status."""
    from prometheus_client.parser import text_string_to_metric_families

    requests = errors = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != "scamguard_http_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("route") == route:
                requests += sample.value
                if str(sample.labels.get("status", "")).startswith("5"):
                    errors += sample.value
    return requests, errors
