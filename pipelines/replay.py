"""``scamguard replay``: the operated system played day by day over history, beside a static champion.

For each day ``D`` from ``first`` to ``last`` (features as of the end of ``D``, built once for
every day and every retrain snapshot and shared by both arms):

* **static**: the champion trained at the start (the end of the day before ``first``, on the
  labels known then) scores ``D`` and is never retrained; platform labels apply as they arrive;
* **loop**: that day's champion scores ``D``, with the rules file if given (labels > rules >
  model); an analyst works the top ``capacity`` rows of ``D``'s review queue
  (``models.overrides.review_queue_rows``) and answers with the simulator's truth, decided at
  noon on ``D + 1``; at the end of each ``settings.retrain_weekday`` the weekly retrain
  (``pipelines.retrain.weekly_retrain``, the daily job's) trains a challenger on the labels
  known by then (platform labels with their real delays, the analyst's) and the promote guard
  decides whether it scores from ``D + 1`` on.

Each arm scores through ``pipelines.batch.score_day`` (the batch job's rules and known labels)
with the model's risk and cost thresholds, without reason codes. The models go to a registered
model of their own (``<risk_model_name>-replay-<id>``), so the real champion is never touched.
The simulator's truth is read only for the analyst's answers and the evaluation
(``pipelines.replay_report``), never as a feature. Known simplification: both arms share
features built from the platform's labels, so an analyst's label reaches the loop's decisions
(a labelled scammer is blocked) and its training target, not its graph features.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from features.build import Tables, active_spine, build_features
from features.labels import label_history
from features.tables import end_of_day, latest_date, load_clean_tables
from models.decisions import decide
from models.overrides import review_queue_rows
from models.rules import RuleSet
from pipelines.batch import score_day
from pipelines.retrain import RetrainResult, retrain_table, snapshot_plan, weekly_retrain
from pipelines.simulator.truth import read_truth
from scamguard.schema import SCAM_TYPOLOGIES
from scamguard.settings import Settings

ANALYST_HOUR = timedelta(hours=12)  # the analyst works D's queue on D + 1, labels at noon
ARMS = ("static", "loop")
Progress = Callable[[str, float], None]  # (description, fraction of the work done)


@dataclass(frozen=True)
class ReplayConfig:
    first: date
    last: date
    capacity: int = 50  # analyst labels per day, from the top of the review queue
    rules: RuleSet | None = None  # the loop's rules (None: none)
    params: dict[str, Any] | None = None  # LightGBM params for every training (None: defaults)
    seed: int = 0


@dataclass(frozen=True)
class ReplayDays:
    """What the replay saw, for the report: one row per (arm, day, scored user)."""

    decisions: pl.DataFrame  # arm, day, user_id, as_of, risk, decision
    analyst: pl.DataFrame  # user_id, label, decided_ts, first_bad_ts, day (the queue's day)
    retrains: list[RetrainResult]
    model_name: str


class DecisionScorer:
    """A registered risk model as ``score_day`` needs it: risk and the cost thresholds'
    decision, no reason codes (the replay judges decisions; TreeSHAP would triple its time)."""

    def __init__(self, scorer: Any) -> None:
        self.scorer = scorer
        self.model_version = scorer.model_version

    def score(self, df: pl.DataFrame) -> pl.DataFrame:
        risk = np.asarray(self.scorer.risk(df), dtype=np.float64)
        return pl.DataFrame(
            {
                "risk": risk,
                "decision": decide(risk, self.scorer.thresholds).tolist(),
                "reasons": [[] for _ in range(risk.size)],
            },
            schema={"risk": pl.Float64(), "decision": pl.String(), "reasons": pl.List(pl.String())},
        )


def retrain_days(settings: Settings, first: date, last: date) -> list[date]:
    """The days whose end retrains: the day before ``first`` (the starting champion), then each
    retrain weekday before ``last``."""
    span = [first + timedelta(days=i) for i in range((last - first).days)]
    return [
        first - timedelta(days=1),
        *[d for d in span if d.weekday() == settings.retrain_weekday],
    ]


def replay_features(
    tables: Tables, times: list[datetime], *, progress: Progress | None = None
) -> pl.DataFrame:
    """Features of every user active in the 7 days before each of ``times`` (the scoring table
    of each instant, ``build_scoring_table``), built a week of instants at a time."""
    parts = []
    for i in range(0, len(times), 7):
        chunk = times[i : i + 7]
        if progress is not None:
            progress(f"features as of {chunk[0].date()}..{chunk[-1].date()}", i / len(times))
        spine = active_spine(tables, chunk).sort("as_of", "user_id")
        parts.append(build_features(spine, tables).collect())
    return pl.concat(parts)


def analyst_answers(
    queue: pl.DataFrame, truth: pl.DataFrame, day: date, capacity: int
) -> pl.DataFrame:
    """The analyst's labels for the top ``capacity`` rows of ``day``'s queue: the simulator's
    truth as of the end of ``day`` (a scam begun by then is its typology, else benign), decided
    at noon on the next day."""
    as_of = end_of_day(day)
    top = queue.head(capacity).select("user_id").join(truth, on="user_id", how="left")
    scam = pl.col("typology").is_in(SCAM_TYPOLOGIES) & (pl.col("bad_ts") < as_of)
    return top.select(
        "user_id",
        pl.when(scam).then(pl.col("typology")).otherwise(pl.lit("benign")).alias("label"),
        pl.lit(as_of + ANALYST_HOUR).cast(pl.Datetime("us", "UTC")).alias("decided_ts"),
        pl.when(scam).then(pl.col("bad_ts")).cast(pl.Datetime("us", "UTC")).alias("first_bad_ts"),
        pl.lit(day).alias("day"),
    )


def _with_analyst(tables: Tables, analyst: pl.DataFrame) -> Tables:
    """``tables`` whose label history also holds the analyst's labels (``features.labels``)."""
    return replace(tables, labels=label_history(tables.labels, analyst.lazy(), tables.users))


def plan_replay(
    settings: Settings, config: ReplayConfig
) -> tuple[Tables, dict[date, list[datetime]]]:
    """(the clean tables without today's analyst labels, each retrain day's snapshots); a
    ValueError first if the days are past the data or leave too little history to train on."""
    base = load_clean_tables(settings, analyst_labels=False)  # today's analyst labels: the future
    plans = {
        d: snapshot_plan(base, end_of_day(d), settings)
        for d in retrain_days(settings, config.first, config.last)
    }
    _check_range(base, config, plans)
    return base, plans


def run_replay(
    settings: Settings, config: ReplayConfig, *, progress: Progress | None = None
) -> ReplayDays:
    """Play ``config.first .. config.last`` (module docstring); returns what each arm decided."""
    from models.registry import load_scorer

    base, plans = plan_replay(settings, config)
    truth = read_truth(settings.data_dir / "simulator").select("user_id", "typology", "bad_ts")
    name = f"{settings.risk_model_name}-replay-{uuid.uuid4().hex[:8]}"
    models = settings.model_copy(update={"risk_model_name": name})
    days = [config.first + timedelta(days=i) for i in range((config.last - config.first).days + 1)]
    times = sorted({end_of_day(d) for d in days} | {t for p in plans.values() for t in p})
    features = replay_features(
        base, times, progress=(lambda d, f: progress(d, 0.3 * f)) if progress else None
    )

    analyst = pl.DataFrame(
        schema={
            "user_id": pl.String(),
            "label": pl.String(),
            "decided_ts": pl.Datetime("us", "UTC"),
            "first_bad_ts": pl.Datetime("us", "UTC"),
            "day": pl.Date(),
        }
    )
    retrains: list[RetrainResult] = []

    def retrain(day: date, tables: Tables) -> DecisionScorer:
        known_by = end_of_day(day)
        table = retrain_table(tables, known_by, plans[day], features=features)
        retrains.append(
            weekly_retrain(models, known_by, table, params=config.params, seed=config.seed)
        )
        return DecisionScorer(load_scorer(models, "champion"))

    static = loop = retrain(config.first - timedelta(days=1), base)
    decided: list[pl.DataFrame] = []
    for i, day in enumerate(days):
        if progress is not None:
            progress(f"{day}: loop champion v{loop.model_version}", 0.3 + 0.7 * i / len(days))
        rows = features.filter(pl.col("as_of") == end_of_day(day))
        tables = _with_analyst(base, analyst)
        static_scores, _ = score_day(base, day, static, features=rows)
        loop_scores, _ = score_day(tables, day, loop, config.rules, features=rows)
        decided += [
            _decisions(arm, day, s)
            for arm, s in zip(ARMS, (static_scores, loop_scores), strict=True)
        ]
        already = analyst.select("user_id")  # each user is reviewed at most once
        queue = review_queue_rows(loop_scores, _labelled_on(tables, day, already), settings.costs)
        analyst = pl.concat([analyst, analyst_answers(queue, truth, day, config.capacity)])
        if day in plans:
            loop = retrain(day, _with_analyst(base, analyst))
    return ReplayDays(
        decisions=pl.concat(decided), analyst=analyst, retrains=retrains, model_name=name
    )


def _check_range(tables: Tables, config: ReplayConfig, plans: dict[date, list[datetime]]) -> None:
    """ValueError before any work: days past the data, or too little history to train on."""
    from pipelines.retrain import TEST_SNAPSHOTS, VALID_SNAPSHOTS

    last_day = latest_date(tables)
    if config.last > last_day:
        raise ValueError(f"--to {config.last} is after the data's last day {last_day}")
    start = config.first - timedelta(days=1)
    if len(plans[start]) < TEST_SNAPSHOTS + VALID_SNAPSHOTS + 1:
        raise ValueError(
            f"--from {config.first}: too little history before it to train the starting champion "
            f"({len(plans[start])} snapshots with 14 days of data before each)"
        )


def _labelled_on(tables: Tables, day: date, also: pl.DataFrame) -> pl.DataFrame:
    """Users labelled from the start of ``day`` to its end (any source), and ``also``."""
    start, end = end_of_day(day) - timedelta(days=1), end_of_day(day)
    recent = (
        tables.labels.filter((pl.col("decided_ts") >= start) & (pl.col("decided_ts") < end))
        .select("user_id")
        .collect()
    )
    return pl.concat([recent, also.select("user_id")]).unique()


def _decisions(arm: str, day: date, scores: pl.DataFrame) -> pl.DataFrame:
    return scores.select(
        pl.lit(arm).alias("arm"),
        pl.lit(day).alias("day"),
        "user_id",
        "as_of",
        "risk",
        "decision",
    )


def replay_dir(settings: Settings, config: ReplayConfig) -> Path:
    """Where a replay's JSON and plot go: ``<data_dir>/replay/<first>_<last>[_rules]/``."""
    suffix = "_rules" if config.rules is not None and config.rules.rules else ""
    return settings.data_dir / "replay" / f"{config.first}_{config.last}{suffix}"
