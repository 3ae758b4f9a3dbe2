"""Backtest of a rules file over past days: what each rule would have done beside the model.

For each day ``D`` of the range, the users batch scoring scores (active in the 7 days before
midnight after ``D``) with the model's own decision: from ``scores/date=D/`` and the feature
snapshot when both were written by a batch run that kept ``model_decision``, else scored in
memory by the champion (``pipelines.batch.score_day``, nothing written). Each rule is evaluated as
batch scoring applies it (``models.rules.batch_hits``: the user's events of ``D`` and features as
of its end).

Truth: the labels known when the backtest runs (the merged history, analysts' included), as the
training target reads them (``features.build.attach_target``): a user-day is a scam when the user's
latest label is a scam typology whose scam had begun before the day's end; user-days of users
already labelled scam by then are left out (the label decides them whatever the rules say). An
unlabelled user counts as benign, so a rule that finds scams nobody has labelled yet looks worse
than it is.

Per rule: hits (user-days it fired on), distinct users, precision and recall of its hits against
that truth, and the change in realised cost per scored user-day (``models.decisions
.expected_cost``, the cost model's prices) when it is applied beside the model, against the model
alone; known labels apply in both arms (an analyst's benign label caps a block at review).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl

from features.build import attach_target
from features.event_rows import day_events
from features.labels import known_labels
from features.tables import end_of_day, latest_date, load_clean_tables
from models.decisions import expected_cost
from models.overrides import apply_known_labels
from models.rules import RuleSet, apply_rule_hits, batch_hits
from scamguard.costs import CostModel
from scamguard.settings import Settings

from .batch import feature_snapshot_path, score_day, score_partition

DEFAULT_DAYS = 14
ALL_RULES = "(all rules)"


@dataclass(frozen=True)
class RuleResult:
    rule: str
    action: str
    owner: str
    hits: int
    users: int
    true_hits: int
    precision: float | None
    recall: float | None
    cost_change: float  # realised cost per scored user-day, with the rule minus without


@dataclass(frozen=True)
class Backtest:
    start: date
    end: date
    user_days: int
    scams: int  # user-days whose user is labelled scam with the scam begun by then
    model_cost: float  # realised cost per user-day, the model alone (with known labels)
    rules: list[RuleResult]
    scored_in_memory: list[date]  # days without stored scores (scored now, nothing written)

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "user_days": self.user_days,
            "scam_user_days": self.scams,
            "model_cost_per_user_day": self.model_cost,
            "scored_in_memory": [d.isoformat() for d in self.scored_in_memory],
            "rules": [r.__dict__ for r in self.rules],
        }


def backtest_rules(
    settings: Settings,
    ruleset: RuleSet,
    start: date | None = None,
    end: date | None = None,
    *,
    scorer=None,  # type: ignore[no-untyped-def]
    costs: CostModel | None = None,
) -> Backtest:
    """Backtest ``ruleset`` on the days ``start`` .. ``end`` (module docstring). Defaults: ``end``
    the last day of the data, ``start`` 13 days before it."""
    if not ruleset.rules:
        raise ValueError(f"{ruleset.source}: no enabled rules to backtest")
    tables = load_clean_tables(settings)
    end = end or latest_date(tables)
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValueError(f"--from {start} is after --to {end}")
    costs = costs or settings.costs
    days, in_memory = [], []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        stored = _stored_scores(settings, day)
        if stored is None:
            in_memory.append(day)
            scorer = scorer or _champion(settings)
            stored = score_day(tables, day, scorer)
        base, features = stored
        days.append(_day_decisions(tables, ruleset, day, base, features))
    frame = pl.concat(days, how="vertical_relaxed")
    truth = attach_target(frame.select("user_id", "as_of").lazy(), tables.labels).collect()
    frame = frame.join(truth.select("user_id", "as_of", "label"), on=["user_id", "as_of"])
    y = frame["label"].to_numpy()
    model_cost = expected_cost(y, frame["d_model"].to_numpy(), costs)
    results = [
        _result(frame, rule_id, ruleset, costs, model_cost)
        for rule_id in [*(r.id for r in ruleset.rules), ALL_RULES]
    ]
    return Backtest(start, end, frame.height, int(y.sum()), model_cost, results, in_memory)


def _champion(settings: Settings):  # type: ignore[no-untyped-def]
    from models.registry import load_scorer

    return load_scorer(settings, alias="champion")


def _stored_scores(settings: Settings, day: date) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """(scores with ``model_decision``, features) of a batch run of ``day``, if there is one."""
    scores, snapshot = score_partition(settings, day), feature_snapshot_path(settings, day)
    if scores.exists() and snapshot.exists():
        stored = pl.read_parquet(scores)
        if "model_decision" in stored.columns:
            return stored, pl.read_parquet(snapshot)
    return None


def _day_decisions(
    tables, ruleset: RuleSet, day: date, base: pl.DataFrame, features: pl.DataFrame
) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    """One row per scored user of ``day``: ``user_id, as_of``, ``d_model`` (model and known
    labels), and per rule (and all together) ``hit_<id>`` and ``d_<id>``."""
    as_of = end_of_day(day)
    known = known_labels(tables.labels, tables.reports, as_of)
    model = base.select("user_id", "as_of", pl.col("model_decision").alias("decision"), "reasons")
    hits = batch_hits(ruleset, features, day_events(tables, as_of - timedelta(days=1), as_of))
    out = model.select("user_id", "as_of").with_columns(
        apply_known_labels(model, known)["decision"].alias("d_model")
    )
    for rule_id in [*(r.id for r in ruleset.rules), ALL_RULES]:
        rules = ruleset if rule_id == ALL_RULES else ruleset.only(rule_id)
        mine = (
            hits
            if rule_id == ALL_RULES
            else hits.with_columns(pl.col("rules").list.set_intersection([rule_id])).filter(
                pl.col("rules").list.len() > 0
            )
        )
        ruled = apply_known_labels(apply_rule_hits(model, mine, rules).drop("rules"), known)
        out = out.with_columns(
            ruled["decision"].alias(f"d_{rule_id}"),
            pl.col("user_id").is_in(mine["user_id"].implode()).alias(f"hit_{rule_id}"),
        )
    return out


def _result(
    frame: pl.DataFrame, rule_id: str, ruleset: RuleSet, costs: CostModel, model_cost: float
) -> RuleResult:
    hit = frame[f"hit_{rule_id}"]
    y = frame["label"]
    hits, true_hits, positives = int(hit.sum()), int((hit & (y == 1)).sum()), int(y.sum())
    rule = None if rule_id == ALL_RULES else ruleset.by_id(rule_id)
    return RuleResult(
        rule=rule_id,
        action=rule.action if rule else "",
        owner=rule.owner if rule else "",
        hits=hits,
        users=frame.filter(hit)["user_id"].n_unique(),
        true_hits=true_hits,
        precision=true_hits / hits if hits else None,
        recall=true_hits / positives if positives else None,
        cost_change=expected_cost(y.to_numpy(), frame[f"d_{rule_id}"].to_numpy(), costs)
        - model_cost,
    )
