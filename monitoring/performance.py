"""Performance as labels mature: PR-AUC and recall by typology per cohort week.

A cohort is the users the model scored (no known-label override) on the days of one week
(Monday to Sunday, by score date); a user's risk is their highest of the week and they count as
flagged if any decision that week was review or block. Evaluated at day ``D`` with label age
``a`` (days from the cohort's last day to D), a user is positive when a scam label decided by the
end of D says their scam had begun by the end of the week; users with no such label count as
negative, so a young cohort's numbers are low only because its labels are young.

Each cohort is therefore judged against the cohorts before it *at the same label age*: cohort
``c`` at age ``a`` against cohorts ``c - 1``, ``c - 2``, ... each evaluated with the labels known
``a`` days after their own last day. The spread is the spread of those cohorts' values, floored
by the cohort's own sampling noise (bootstrap for PR-AUC, binomial for recall).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from features.tables import end_of_day
from scamguard.schema import SCAM_TYPOLOGIES

COHORTS_JUDGED = 4  # the latest complete cohorts judged each day
COHORTS_REFERENCE = 4  # earlier cohorts each is judged against
BOOTSTRAP = 200


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def cohort_users(scores: pl.DataFrame) -> pl.DataFrame:
    """Per (cohort, user): highest risk and whether any decision was review or block.

    ``scores``: the daily score rows with ``date`` (the score date) added.
    """
    rows = scores.filter(pl.col("override").is_null()) if "override" in scores.columns else scores
    return (
        rows.with_columns(
            (pl.col("date") - pl.duration(days=pl.col("date").dt.weekday() - 1)).alias("cohort")
        )
        .group_by("cohort", "user_id")
        .agg(
            pl.col("risk").max(),
            pl.col("decision").is_in(["review", "block"]).any().alias("flagged"),
        )
        .sort("cohort", "user_id")
    )


def _truth(users: pl.DataFrame, labels: pl.DataFrame, cohort: date, known_by: date) -> pl.DataFrame:
    """``users`` of one cohort with ``positive`` and ``typology`` from labels decided by the end
    of ``known_by`` whose scam had begun by the end of the cohort's week."""
    cutoff, week_end = end_of_day(known_by), end_of_day(cohort + timedelta(days=6))
    known = labels.filter(
        (pl.col("decided_ts") < cutoff)
        & pl.col("label").is_in(SCAM_TYPOLOGIES)
        & (pl.col("first_bad_ts") < week_end)
    ).select("user_id", pl.col("label").alias("typology"))
    return users.join(known, on="user_id", how="left").with_columns(
        pl.col("typology").is_not_null().alias("positive")
    )


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """PR-AUC as average precision; NaN without a positive."""
    from sklearn.metrics import average_precision_score

    if y.sum() == 0 or y.sum() == len(y):
        return float("nan")
    return float(average_precision_score(y, score))


def _bootstrap_sd(y: np.ndarray, score: np.ndarray, seed: int) -> float:
    """Spread of the PR-AUC over resamples that keep the positives' count (stratified)."""
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    if pos.size < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(BOOTSTRAP):
        idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        values.append(average_precision(y[idx], score[idx]))
    return float(np.nanstd(values))


@dataclass(frozen=True)
class CohortMetrics:
    cohort: date
    known_by: date
    age_days: int
    users: int
    positives: int
    pr_auc: float
    recall: float
    recall_by_typology: dict[str, float]
    positives_by_typology: dict[str, int]
    pr_auc_sd: float  # sampling spread (bootstrap)


def evaluate(
    users: pl.DataFrame, labels: pl.DataFrame, cohort: date, known_by: date, *, noise: bool = False
) -> CohortMetrics:
    """Metrics of one cohort (rows of :func:`cohort_users`) with labels known by ``known_by``."""
    rows = _truth(users.filter(pl.col("cohort") == cohort), labels, cohort, known_by)
    y = rows["positive"].to_numpy().astype(bool)
    risk = rows["risk"].to_numpy().astype(np.float64)
    flagged = rows["flagged"].to_numpy().astype(bool)
    by_typology: dict[str, float] = {}
    counts: dict[str, int] = {}
    typology = rows["typology"].to_list()
    for t in SCAM_TYPOLOGIES:
        mask = np.array([x == t for x in typology], dtype=bool)
        counts[t] = int(mask.sum())
        by_typology[t] = float(flagged[mask].mean()) if mask.any() else float("nan")
    seed = int(cohort.toordinal())
    return CohortMetrics(
        cohort=cohort,
        known_by=known_by,
        age_days=(known_by - (cohort + timedelta(days=6))).days,
        users=rows.height,
        positives=int(y.sum()),
        pr_auc=average_precision(y, risk),
        recall=float(flagged[y].mean()) if y.any() else float("nan"),
        recall_by_typology=by_typology,
        positives_by_typology=counts,
        pr_auc_sd=_bootstrap_sd(y, risk, seed) if noise else float("nan"),
    )


@dataclass(frozen=True)
class CohortJudgement:
    current: CohortMetrics
    reference: list[CohortMetrics]  # earlier cohorts at the same label age


def judged_cohorts(users: pl.DataFrame, labels: pl.DataFrame, day: date) -> list[CohortJudgement]:
    """The latest complete cohorts (week ended by ``day``), each with its references."""
    cohorts = sorted(c for c in users["cohort"].unique().to_list() if c + timedelta(days=6) <= day)
    out = []
    for i, cohort in enumerate(
        cohorts[-COHORTS_JUDGED:], start=max(0, len(cohorts) - COHORTS_JUDGED)
    ):
        current = evaluate(users, labels, cohort, day, noise=True)
        age = timedelta(days=current.age_days)
        reference = [
            evaluate(users, labels, c, c + timedelta(days=6) + age)
            for c in cohorts[max(0, i - COHORTS_REFERENCE) : i]
        ]
        out.append(CohortJudgement(current, reference))
    return out


def recall_sd(recall: float, positives: int) -> float:
    if positives <= 0 or not math.isfinite(recall):
        return 0.0
    p = min(max(recall, 1 / (positives + 2)), 1 - 1 / (positives + 2))
    return math.sqrt(p * (1 - p) / positives)
