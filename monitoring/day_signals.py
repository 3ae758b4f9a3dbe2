"""The signals of one day, family by family, each judged against its own history.

Each ``*_signals`` function reads only data up to the end of ``day`` (see :mod:`monitoring.monitor`)
and returns the day's :class:`~monitoring.signals.Signal` list plus the series the report plots.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import polars as pl

from features.catalog import describe_feature
from features.tables import end_of_day, load_clean_tables
from monitoring import drift, endpoint, patterns, performance, quality
from monitoring.reference import Reference
from monitoring.signals import (
    DATA_QUALITY,
    DECISION_MIX,
    EMERGING_PATTERN,
    FEATURE_DRIFT,
    PERFORMANCE,
    SCORE_DRIFT,
    SERVING,
    Signal,
)
from monitoring.thresholds import (
    BOTH,
    DOWN,
    MIN_HISTORY_COHORTS,
    NO_BASELINE,
    UP,
    Judgement,
    binomial_sd,
    judge,
    psi_noise_sd,
)
from scamguard.schema import SCAM_TYPOLOGIES
from scamguard.settings import Settings

# --- data quality ------------------------------------------------------------------------------


def quality_signals(
    settings: Settings, day: date, history_days: int
) -> tuple[list[Signal], pl.DataFrame]:
    first = day - timedelta(days=history_days + quality.VOLUME_WINDOW)
    counts = quality.day_counts(settings, first, day)
    signals = []
    for table in counts["table"].unique(maintain_order=True).to_list():
        rows = counts.filter(pl.col("table") == table)
        for name, j, detail in quality.judge_table(rows, day):
            if name == "quarantine_rate":
                what = (
                    f"{table}: {detail['quarantined']:,} of {detail['rows_in']:,} rows quarantined"
                    f" on {day} ({j.value:.1%}; usual {_pct(j.mean)} ± {_pct(j.sd)})"
                    + (f", mostly {detail['top_failure']}" if detail["top_failure"] else "")
                )
            else:
                ratio = math.exp(j.value) if math.isfinite(j.value) else math.nan
                what = (
                    f"{table}: {detail['rows_in']:,} rows in on {day}, {ratio:.0%} of the median"
                    f" of the {quality.VOLUME_WINDOW} days before"
                )
            signals.append(Signal(DATA_QUALITY, name, table, j, what, detail))
    return signals, counts


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2%}"


# --- drift -------------------------------------------------------------------------------------


def _snapshot(settings: Settings, day: date) -> pl.DataFrame | None:
    from pipelines.batch import feature_snapshot_path

    path = feature_snapshot_path(settings, day)
    return pl.read_parquet(path) if path.exists() else None


def _scores(settings: Settings, day: date) -> pl.DataFrame | None:
    from pipelines.batch import score_partition

    path = score_partition(settings, day)
    return pl.read_parquet(path) if path.exists() else None


def feature_signals(
    settings: Settings, day: date, days: list[date], reference: Reference
) -> tuple[list[Signal], pl.DataFrame]:
    bins = drift.fit_reference(reference.features, reference.feature_names)
    per_day: dict[date, dict[str, float]] = {}
    sizes: dict[date, int] = {}
    means: dict[str, float] = {}
    for d in days:
        snap = _snapshot(settings, d)
        if snap is None:
            continue
        per_day[d] = drift.feature_psi(bins, snap)
        sizes[d] = snap.height
        if d == day:
            means = {n: _mean(snap[n]) for n in bins if n in snap.columns}
    series = pl.DataFrame(
        [
            {"day": d, "feature": f, "psi": v}
            for d, vals in per_day.items()
            for f, v in vals.items()
        ],
        schema={"day": pl.Date, "feature": pl.String, "psi": pl.Float64},
        orient="row",
    )
    if day not in per_day:
        return [], series
    signals = []
    for name, binned in bins.items():
        history = [per_day[d][name] for d in days if d < day and d in per_day]
        j = judge(
            per_day[day][name],
            history,
            direction=UP,
            noise_sd=psi_noise_sd(binned.bins, sizes[day], binned.n),
        )
        ref_mean = _mean(reference.features[name])
        what = (
            f"feature {name} ({describe_feature(name)}): PSI {j.value:.3f} against the champion's"
            f" training reference (usual {_num(j.mean)} ± {_num(j.sd)}); mean {means.get(name, math.nan):.4g}"
            f" vs {ref_mean:.4g} in the reference"
        )
        detail = {"day_mean": _r(means.get(name)), "reference_mean": _r(ref_mean)}
        signals.append(Signal(FEATURE_DRIFT, "psi", name, j, what, detail))
    return signals, series


def _mean(column: pl.Series) -> float:
    """The mean as a float (NaN for an empty or all-null column)."""
    value = column.cast(pl.Float64).mean()
    return float(value) if isinstance(value, (int, float)) else math.nan


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(f"{x:.6g}")


def score_signals(
    settings: Settings, day: date, days: list[date], reference: Reference
) -> tuple[list[Signal], pl.DataFrame]:
    binned = drift.fit_bins(pl.Series(reference.risk))
    rows = []
    for d in days:
        scores = _scores(settings, d)
        if scores is None:
            continue
        model = drift.model_rows(scores)
        rates = drift.decision_rates(scores)
        rows.append(
            {
                "day": d,
                "score_psi": drift.psi(binned, model["risk"]),
                "mean_risk": _mean(model["risk"]),
                "block_rate": rates["block_rate"],
                "review_rate": rates["review_rate"],
                "n": rates["n"],
                "model_version": str(scores["model_version"][0]) if scores.height else "",
            }
        )
    series = pl.DataFrame(
        rows,
        schema={
            "day": pl.Date,
            "score_psi": pl.Float64,
            "mean_risk": pl.Float64,
            "block_rate": pl.Float64,
            "review_rate": pl.Float64,
            "n": pl.Int64,
            "model_version": pl.String,
        },
        orient="row",
    )
    today = series.filter(pl.col("day") == day)
    if today.height == 0:
        return [], series
    t = today.row(0, named=True)
    past = series.filter(pl.col("day") < day)
    signals = []
    j = judge(
        t["score_psi"],
        past["score_psi"].to_list(),
        direction=UP,
        noise_sd=psi_noise_sd(binned.bins, t["n"], binned.n),
    )
    what = (
        f"score distribution: PSI {j.value:.3f} against the champion's reference scores (usual"
        f" {_num(j.mean)} ± {_num(j.sd)}); mean risk {t['mean_risk']:.4f} vs"
        f" {float(np.mean(reference.risk)):.4f}; model version {t['model_version']}"
    )
    signals.append(
        Signal(SCORE_DRIFT, "score_psi", "risk", j, what, {"model_version": t["model_version"]})
    )
    for rate in ("block_rate", "review_rate"):
        history = past[rate].to_list()
        pooled = float(np.nanmean(history)) if history else t[rate]
        j = judge(t[rate], history, direction=BOTH, noise_sd=binomial_sd(pooled, t["n"]))
        what = (
            f"{rate.replace('_', ' ')} {j.value:.2%} of the model's {t['n']:,} decisions on {day}"
            f" (usual {_pct(j.mean)} ± {_pct(j.sd)})"
        )
        signals.append(Signal(DECISION_MIX, rate, "model", j, what))
    return signals, series


# --- emerging patterns -------------------------------------------------------------------------


def pattern_signals(
    settings: Settings, day: date, days: list[date], reference: Reference
) -> tuple[list[Signal], list[patterns.Pattern], pl.DataFrame]:
    tables = load_clean_tables(settings)
    index = patterns.TextIndex(reference.texts["text"].to_list())
    texts = patterns.texts_between(tables, end_of_day(days[0]) - timedelta(days=1), end_of_day(day))
    signups = dict(
        tables.users.select("user_id", "signup_ts")
        .filter(pl.col("user_id").is_in(texts["sender_id"].unique().implode()))
        .collect()
        .iter_rows()
    )
    by_day = patterns.embed_days(texts, index, days)
    found = {d: patterns.find_patterns(by_day[d], index, signups) for d in days}
    largest = {d: patterns.largest_cluster_accounts(found[d]) for d in days}
    series = pl.DataFrame(
        {"day": days, "largest_cluster_accounts": [largest[d] for d in days]},
        schema={"day": pl.Date, "largest_cluster_accounts": pl.Int64},
    )
    history = [float(largest[d]) for d in days if d < day]
    noise = math.sqrt(max(float(np.mean(history)) if history else 1.0, 1.0))  # Poisson
    day_j = judge(float(largest[day]), history, direction=UP, noise_sd=noise)
    signals = [
        Signal(
            EMERGING_PATTERN,
            "largest_cluster_accounts",
            "day",
            day_j,
            "",
            alerting=False,
        )
    ]
    for p in found[day]:
        if len(p.accounts) < 2:
            continue
        j = judge(float(len(p.accounts)), history, direction=UP, noise_sd=noise)
        what = (
            f"new text pattern '{p.name}': {p.messages} texts from {len(p.accounts)} accounts"
            f" ({len(p.new_accounts)} under {patterns.NEW_ACCOUNT_DAYS} days old) on {day},"
            f" unlike the training texts (nearest similarity {p.similarity_to_training:.2f});"
            f' e.g. "{p.examples[0][:120]}"'
        )
        signals.append(
            Signal(EMERGING_PATTERN, "cluster_accounts", p.pattern_id, j, what, p.as_dict())
        )
    return signals, found[day], series


# --- performance -------------------------------------------------------------------------------


def performance_signals(
    settings: Settings, day: date
) -> tuple[list[Signal], list[performance.CohortJudgement]]:
    first = performance.week_start(day) - timedelta(
        weeks=performance.COHORTS_JUDGED + performance.COHORTS_REFERENCE
    )
    frames = []
    for d in [first + timedelta(days=i) for i in range((day - first).days + 1)]:
        scores = _scores(settings, d)
        if scores is not None and scores.height:
            cols = [c for c in ("user_id", "risk", "decision", "override") if c in scores.columns]
            frames.append(scores.select(cols).with_columns(pl.lit(d).alias("date")))
    if not frames:
        return [], []
    users = performance.cohort_users(pl.concat(frames, how="diagonal"))
    labels = (
        load_clean_tables(settings).labels.filter(pl.col("decided_ts") < end_of_day(day)).collect()
    )
    judged = performance.judged_cohorts(users, labels, day)
    signals = []
    for cj in judged:
        c, refs = cj.current, cj.reference
        subject = f"cohort={c.cohort}"
        values = {
            "pr_auc": (c.pr_auc, [r.pr_auc for r in refs], c.pr_auc_sd),
            "recall": (
                c.recall,
                [r.recall for r in refs],
                performance.recall_sd(c.recall, c.positives),
            ),
        }
        for t in SCAM_TYPOLOGIES:
            values[f"recall_{t}"] = (
                c.recall_by_typology[t],
                [r.recall_by_typology[t] for r in refs],
                performance.recall_sd(c.recall_by_typology[t], c.positives_by_typology[t]),
            )
        for name, (value, history, noise) in values.items():
            j = judge(
                value,
                history,
                direction=DOWN,
                noise_sd=noise if math.isfinite(noise) else 0.0,
                min_history=MIN_HISTORY_COHORTS,
            )
            what = (
                f"cohort week of {c.cohort}: {name.replace('_', ' ')} {_num(j.value)} with labels"
                f" {c.age_days} days old ({c.positives} scams known among {c.users:,} users);"
                f" earlier cohorts at that label age {_num(j.mean)} ± {_num(j.sd)}"
            )
            detail = {
                "cohort": c.cohort.isoformat(),
                "label_age_days": c.age_days,
                "positives": c.positives,
            }
            signals.append(Signal(PERFORMANCE, name, subject, j, what, detail))
    return signals, judged


# --- serving -----------------------------------------------------------------------------------


def serving_signals(
    settings: Settings, day: date, days: list[date], prometheus_text: str | None
) -> tuple[list[Signal], pl.DataFrame]:
    decisions = endpoint.read_online_decisions(settings.audit_log, days[0], day)
    stats = endpoint.day_stats(decisions, days)
    series = pl.DataFrame(
        [{"day": d, **s} for d, s in stats.items()],
        schema={"day": pl.Date, **{k: pl.Float64 for k in next(iter(stats.values()))}},
        orient="row",
    )
    signals: list[Signal] = []
    if prometheus_text is not None:
        requests, errors = endpoint.scrape_error_rate(prometheus_text)
        rate = errors / requests if requests else math.nan
        j = Judgement(rate, None, None, 0, None, None, UP, NO_BASELINE)
        signals.append(Signal(SERVING, "error_rate_since_start", "endpoint", j))
    today = stats[day]
    if not today["requests"]:
        return signals, series
    past = [d for d in days if d < day and stats[d]["requests"]]
    for name, direction in (
        ("latency_p50_ms", UP),
        ("latency_p95_ms", UP),
        ("latency_p99_ms", UP),
        ("block_rate", BOTH),
        ("review_rate", BOTH),
    ):
        history = [stats[d][name] for d in past]
        noise = 0.0
        if name.endswith("_rate"):
            pooled = float(np.nanmean(history)) if history else today[name]
            noise = binomial_sd(pooled, today["requests"])
        j = judge(today[name], history, direction=direction, noise_sd=noise)
        what = (
            f"endpoint {name.replace('_', ' ')} {j.value:.4g} on {day} over"
            f" {int(today['requests']):,} decisions (usual {_num(j.mean)} ± {_num(j.sd)})"
        )
        signals.append(Signal(SERVING, name, "endpoint", j, what))
    return signals, series
