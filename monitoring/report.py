"""The day's report: one self-contained HTML page (inline PNG plots, no script, no external file).

Sections: the alerts; data quality per table; feature drift per feature; the score distribution
and the decision mix over time; performance by cohort week; the emerging patterns with example
texts and the accounts sending them; serving. Nothing on the page depends on the wall clock, so a
re-run of the same day renders the same page.
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from monitoring.signals import (
    DATA_QUALITY,
    DECISION_MIX,
    FEATURE_DRIFT,
    PERFORMANCE,
    SCORE_DRIFT,
    SERVING,
    Signal,
)
from monitoring.thresholds import PAGE, WARN

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from monitoring.monitor import MonitorResult

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px} h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.page{background:#fdd} .warn{background:#ffe9b3} .ok{color:#555}
.sev-page{color:#b00;font-weight:bold} .sev-warn{color:#a60;font-weight:bold}
.example{font-family:ui-monospace,monospace;font-size:12px;background:#f8f8f8;padding:2px 6px;display:block;margin:2px 0}
.muted{color:#777;font-size:12px} img{max-width:100%}
"""


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return "–" if not math.isfinite(x) else f"{x:.{digits}g}"
    return _e(x)


def _png(fig: Figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _figure(width: float = 9.0, height: float = 3.2) -> tuple[Figure, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax


def _table(headers: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _sev_class(severity: str) -> str:
    return {PAGE: "page", WARN: "warn"}.get(severity, "")


def _signals(result: MonitorResult, kind: str) -> list[Signal]:
    return [s for s in result.signals if s.kind == kind]


# --- sections ----------------------------------------------------------------------------------


def _alerts(result: MonitorResult) -> str:
    if not result.alerts:
        return "<p>No alert: every signal is inside the band its own history gives.</p>"
    rows = [
        [
            f'<span class="sev-{a["severity"]}">{_e(a["severity"])}</span>',
            _e(a["kind"]),
            _e(a["what"]),
        ]
        for a in result.alerts
    ]
    return _table(
        ["severity", "kind", "what"], rows, [_sev_class(a["severity"]) for a in result.alerts]
    )


def _quality(result: MonitorResult) -> str:
    signals = _signals(result, DATA_QUALITY)
    by_table: dict[str, dict[str, Signal]] = {}
    for s in signals:
        by_table.setdefault(s.subject, {})[s.signal] = s
    rows, classes = [], []
    for table, sig in by_table.items():
        q, v = sig.get("quarantine_rate"), sig.get("volume_change")
        first = q or v
        detail = first.detail if first is not None else {}
        worst = max((x.severity for x in (q, v) if x), key=lambda s: {PAGE: 2, WARN: 1}.get(s, 0))
        rows.append(
            [
                _e(table),
                f'<span class="num">{detail.get("rows_in", 0):,}</span>',
                f"{detail.get('quarantined', 0):,}",
                _fmt(q.judgement.value if q else None),
                _fmt(q.judgement.page_at if q else None),
                _fmt(v.judgement.value if v else None),
                _e(detail.get("top_failure") or ""),
                _e(worst),
            ]
        )
        classes.append(_sev_class(worst))
    table = _table(
        [
            "table",
            "rows in",
            "quarantined",
            "quarantine rate",
            "page at",
            "volume change (log vs 7-day median)",
            "most failed expectation",
            "severity",
        ],
        rows,
        classes,
    )
    counts = result.series.get("quality")
    plot = ""
    if counts is not None and counts.height:
        fig, (ax1, ax2) = _subplots(2)
        for table_name in counts["table"].unique(maintain_order=True).to_list():
            rows_t = counts.filter(pl.col("table") == table_name).sort("day")
            days = rows_t["day"].to_list()
            ax1.plot(days, np.maximum(rows_t["rows_in"].to_numpy(), 1), label=table_name)
            rate = rows_t["quarantined"].to_numpy() / np.maximum(rows_t["rows_in"].to_numpy(), 1)
            ax2.plot(days, rate, label=table_name)
        ax1.set_yscale("log")
        ax1.set_title("rows in per day")
        ax2.set_title("quarantined share per day")
        ax2.legend(fontsize=7, ncol=2)
        for ax in (ax1, ax2):
            ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        plot = _png(fig)
    return table + plot


def _features(result: MonitorResult) -> str:
    signals = sorted(_signals(result, FEATURE_DRIFT), key=lambda s: -s.judgement.value)
    if not signals:
        return "<p>No feature snapshot for this day.</p>"
    top = signals[:25]
    fig, ax = _figure(9, 5.5)
    names = [s.subject for s in top][::-1]
    values = [s.judgement.value for s in top][::-1]
    colors = [{PAGE: "#c00", WARN: "#e90"}.get(s.severity, "#4a7") for s in top][::-1]
    ax.barh(names, values, color=colors)
    pages = [s.judgement.page_at for s in top][::-1]
    ax.scatter(
        [p if p is not None else np.nan for p in pages],
        names,
        marker="|",
        color="#c00",
        s=80,
        label="page threshold",
    )
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_title("PSI against the champion's training reference (top 25 features)")
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7)
    plot = _png(fig)
    rows = [
        [
            _e(s.subject),
            _fmt(s.judgement.value),
            _fmt(s.judgement.mean),
            _fmt(s.judgement.sd),
            _fmt(s.judgement.page_at),
            _fmt(s.detail.get("day_mean")),
            _fmt(s.detail.get("reference_mean")),
            _e(s.severity),
        ]
        for s in signals
    ]
    table = _table(
        [
            "feature",
            "PSI",
            "history mean",
            "history sd",
            "page at",
            "day mean",
            "reference mean",
            "severity",
        ],
        rows,
        [_sev_class(s.severity) for s in signals],
    )
    history = result.series.get("feature_psi")
    trend = ""
    if history is not None and history.height:
        fig, ax = _figure(9, 3.0)
        for name in [s.subject for s in signals[:6]]:
            rows_f = history.filter(pl.col("feature") == name).sort("day")
            ax.plot(rows_f["day"].to_list(), rows_f["psi"].to_numpy(), label=name)
        ax.set_title("PSI over the history window (the six highest today)")
        ax.legend(fontsize=7)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        trend = _png(fig)
    return plot + trend + "<details><summary>every feature</summary>" + table + "</details>"


def _band(ax: Any, signal: Signal | None, x: list[Any]) -> None:
    if signal is None or signal.judgement.mean is None:
        return
    mean, sd = signal.judgement.mean, signal.judgement.sd or 0.0
    lo, hi = mean - 6 * sd, mean + 6 * sd
    ax.fill_between(x, [lo] * len(x), [hi] * len(x), alpha=0.12)


def _scores(result: MonitorResult) -> str:
    series = result.series.get("scores")
    if series is None or series.height == 0:
        return "<p>No scores in the history window.</p>"
    series = series.sort("day")
    days = series["day"].to_list()
    fig, (ax1, ax2) = _subplots(2)
    ax1.plot(days, series["block_rate"].to_numpy(), marker=".", label="block")
    ax1.plot(days, series["review_rate"].to_numpy(), marker=".", label="review")
    for s in _signals(result, DECISION_MIX):
        _band(ax1, s, days)
    ax1.set_title("decision mix (model decisions, share of scored users)")
    ax1.legend(fontsize=7)
    ax2.plot(days, series["score_psi"].to_numpy(), marker=".", color="#555")
    score = next(iter(_signals(result, SCORE_DRIFT)), None)
    if score is not None and score.judgement.page_at is not None:
        ax2.axhline(score.judgement.page_at, color="#c00", lw=0.8, ls="--", label="page")
        ax2.legend(fontsize=7)
    ax2.set_title("score PSI against the champion's reference")
    for ax in (ax1, ax2):
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    rows = [
        [
            _e(s.signal),
            _fmt(s.judgement.value),
            _fmt(s.judgement.mean),
            _fmt(s.judgement.sd),
            _fmt(s.judgement.warn_at),
            _fmt(s.judgement.page_at),
            _e(s.severity),
        ]
        for s in _signals(result, SCORE_DRIFT) + _signals(result, DECISION_MIX)
    ]
    table = _table(
        ["signal", "value", "history mean", "history sd", "warn at", "page at", "severity"], rows
    )
    return _png(fig) + table


def _subplots(n: int) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, n, figsize=(11, 3.4))


def _performance(result: MonitorResult) -> str:
    if not result.cohorts:
        return "<p>No complete cohort week with scores yet.</p>"
    rows = []
    for cj in result.cohorts:
        c = cj.current
        ref = [r.pr_auc for r in cj.reference if math.isfinite(r.pr_auc)]
        rows.append(
            [
                _e(c.cohort),
                str(c.age_days),
                f"{c.users:,}",
                str(c.positives),
                _fmt(c.pr_auc, 3),
                _fmt(float(np.mean(ref)) if ref else None, 3) + (f" ({len(ref)})" if ref else ""),
                _fmt(c.recall, 3),
                "<br>".join(
                    f"{_e(t)}: {_fmt(v, 3)} ({c.positives_by_typology[t]})"
                    for t, v in c.recall_by_typology.items()
                ),
            ]
        )
    perf = {s.subject: s for s in _signals(result, PERFORMANCE) if s.signal == "pr_auc"}
    classes = [
        _sev_class(signal.severity) if (signal := perf.get(f"cohort={cj.current.cohort}")) else ""
        for cj in result.cohorts
    ]
    table = _table(
        [
            "cohort week",
            "label age (days)",
            "users",
            "scams known",
            "PR-AUC",
            "earlier cohorts at that age (n)",
            "recall",
            "recall by typology (scams)",
        ],
        rows,
        classes,
    )
    fig, ax = _figure(7, 3.0)
    x = [str(cj.current.cohort) for cj in result.cohorts]
    ax.plot(x, [cj.current.pr_auc for cj in result.cohorts], marker="o", label="cohort, today")
    ax.plot(
        x,
        [
            float(np.nanmean([r.pr_auc for r in cj.reference])) if cj.reference else np.nan
            for cj in result.cohorts
        ],
        marker="x",
        ls="--",
        label="earlier cohorts at the same label age",
    )
    ax.set_title("PR-AUC by cohort week (labels known by the day)")
    ax.legend(fontsize=7)
    return table + _png(fig)


def _patterns(result: MonitorResult) -> str:
    series = result.series.get("patterns")
    out = []
    if series is not None and series.height:
        fig, ax = _figure(9, 2.8)
        ax.bar(series["day"].to_list(), series["largest_cluster_accounts"].to_numpy(), color="#57a")
        ax.set_title("accounts behind the largest cluster of new texts, per day")
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        out.append(_png(fig))
    judged = {s.subject: s for s in result.signals if s.signal == "cluster_accounts"}
    shown = [p for p in result.patterns if len(p.accounts) >= 2]
    if not shown:
        out.append("<p>No cluster of new texts from two or more accounts on this day.</p>")
    for p in shown[:10]:
        s = judged.get(p.pattern_id)
        severity = s.severity if s else "ok"
        examples = "".join(f'<span class="example">{_e(t)}</span>' for t in p.examples)
        accounts = ", ".join(_e(a) for a in p.accounts[:25]) + (
            " …" if len(p.accounts) > 25 else ""
        )
        out.append(
            f'<h3 class="sev-{severity}">pattern {_e(p.pattern_id)}: {_e(p.name)} ({_e(severity)})</h3>'
            f"<p>{p.messages} texts from {len(p.accounts)} accounts ({len(p.new_accounts)} under 30 days old);"
            f" sources {_e(p.sources)}; nearest training text similarity {p.similarity_to_training:.2f}"
            + (f"; threshold {_fmt(s.judgement.page_at, 3)} accounts to page" if s else "")
            + f'</p>{examples}<p class="muted">accounts: {accounts}</p>'
        )
    return "".join(out)


def _serving(result: MonitorResult) -> str:
    signals = _signals(result, SERVING)
    if not signals:
        return "<p>No endpoint decision in the audit log on this day.</p>"
    rows = [
        [
            _e(s.signal),
            _fmt(s.judgement.value),
            _fmt(s.judgement.mean),
            _fmt(s.judgement.sd),
            _fmt(s.judgement.page_at),
            _e(s.severity),
        ]
        for s in signals
    ]
    return _table(
        ["signal", "value", "history mean", "history sd", "page at", "severity"],
        rows,
        [_sev_class(s.severity) for s in signals],
    )


def render_report(result: MonitorResult) -> str:
    pages = len(result.pages)
    warns = sum(a["severity"] == WARN for a in result.alerts)
    start, end = result.reference_window
    missing = (
        f'<p class="sev-warn">Missing inputs: {_e(", ".join(result.missing))}</p>'
        if result.missing
        else ""
    )
    sections = [
        ("Alerts", _alerts(result)),
        ("Data quality", _quality(result)),
        ("Feature drift", _features(result)),
        ("Scores and decision mix", _scores(result)),
        ("Performance by cohort week", _performance(result)),
        ("Emerging patterns", _patterns(result)),
        ("Serving", _serving(result)),
    ]
    body = "".join(f"<h2>{_e(title)}</h2>{content}" for title, content in sections)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>scamguard monitor {result.date}</title><style>{CSS}</style></head><body>"
        f"<h1>scamguard monitor: {result.date}</h1>"
        f"<p>{pages} page, {warns} warn. Model version {_e(result.model_version)}; training"
        f" reference as_of {_e(start[:10])} .. {_e(end[:10])}. Thresholds: each signal's mean"
        " ± 3 (warn) / 6 (page) standard deviations of its own history (28 days; performance: the"
        " earlier cohorts at the same label age), floored by its sampling noise.</p>"
        f"{missing}{body}</body></html>\n"
    )
