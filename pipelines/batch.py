"""Batch scoring: every user active in the 7 days up to the end of date ``D``, scored by ``champion``.

Features are as of midnight (UTC) after ``D``. Outputs, each replaced whole by a re-run of the same
date (written to a temporary file and renamed), so nothing is ever duplicated:

* ``<data_dir>/scores/date=D/scores.parquet``: one row per scored user (risk, ``model_decision``,
  the ``rules`` that fired, decision and reasons after the rules and the known labels,
  ``override``: the rule that decided instead of the model, e.g. a known scam label or
  ``rule:<id>``; model version);
* ``<data_dir>/features/snapshots/date=D/features.parquet``: the feature rows that were scored,
  kept so an analyst or a monitor can see what the model saw;
* one ``batch`` record in the audit log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from features.build import Tables, build_scoring_table
from features.event_rows import day_events
from features.labels import known_labels
from features.tables import end_of_day, latest_date, load_clean_tables
from models.overrides import apply_known_labels
from models.rules import RuleSet, apply_rule_hits, batch_hits, load_rules
from pipelines.text_features import needs_text_features, with_text_features
from scamguard.audit import append_audit
from scamguard.settings import Settings


@dataclass(frozen=True)
class BatchResult:
    date: date
    as_of: datetime
    rows: int
    decisions: dict[str, int]
    model_version: str
    path: Path


def score_partition(settings: Settings, day: date) -> Path:
    return settings.scores_dir / f"date={day.isoformat()}" / "scores.parquet"


def feature_snapshot_path(settings: Settings, day: date) -> Path:
    """Features of every user scored for ``day``, as of the end of ``day``."""
    return settings.features_dir / "snapshots" / f"date={day.isoformat()}" / "features.parquet"


def latest_snapshot_path(settings: Settings) -> Path:
    """The newest batch feature snapshot ``features/snapshots/date=D/features.parquet``."""
    paths = sorted(settings.features_dir.glob("snapshots/date=*/features.parquet"))
    if not paths:
        raise FileNotFoundError(
            f"no feature snapshot under {settings.features_dir / 'snapshots'}: "
            "run `scamguard batch-score` first"
        )
    return paths[-1]


def _replace_parquet(df: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    df.write_parquet(tmp)
    tmp.replace(path)


def score_day(  # type: ignore[no-untyped-def]
    tables: Tables,
    day: date,
    scorer,
    rules: RuleSet | None = None,
    *,
    features: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(scores, features) of ``day`` without writing anything: every user active in the 7 days
    before midnight after ``day``, scored by ``scorer``, then the rules and the known labels.

    ``features``: the day's scoring table when the caller built it already (the daily job's
    features step, ``build_scoring_table`` as of the end of ``day``); default: built here.

    Scores: ``user_id, as_of``, the scorer's columns, ``model_decision`` (the model's alone),
    ``rules`` (ids of the rules that fired: on the user's events of ``day`` and their features as
    of its end; ``models.rules.batch_hits``), ``decision`` and ``reasons`` after the rules and
    the known labels, and ``override`` (the rule that decided instead of the model).
    """
    as_of = end_of_day(day)
    if features is None:
        features = build_scoring_table(tables, as_of)
    scored = scorer.score(features)
    out = pl.concat([features.select("user_id", "as_of"), scored], how="horizontal")
    out = out.with_columns(pl.col("decision").alias("model_decision"))
    rules = rules or RuleSet()
    events = day_events(tables, as_of - timedelta(days=1), as_of)
    out = apply_rule_hits(out, batch_hits(rules, features, events), rules)
    out = apply_known_labels(out, known_labels(tables.labels, tables.reports, as_of))
    return out, features


def batch_score(  # type: ignore[no-untyped-def]
    settings: Settings,
    day: date | None = None,
    *,
    scorer=None,
    features: pl.DataFrame | None = None,
) -> BatchResult:
    """Score every user active in the 7 days before the end of ``day`` (features as of midnight
    after it), with the rules of ``settings.rules_path`` (a bad file fails before anything is
    written) and the known labels (:func:`score_day`; ``features``: its prebuilt table)."""
    from models.registry import load_scorer

    rules = load_rules(settings.rules_path)
    tables = load_clean_tables(settings)
    day = day or latest_date(tables)
    scorer = scorer or load_scorer(settings, alias="champion")
    if needs_text_features(scorer):  # a champion trained with the textmodel_* features
        if features is None:
            features = build_scoring_table(tables, end_of_day(day))
        features = with_text_features(features, tables, settings, getattr(scorer, "run_id", None))
    out, features = score_day(tables, day, scorer, rules, features=features)
    as_of = end_of_day(day)
    out = out.with_columns(
        pl.lit(scorer.model_version).alias("model_version"),
        pl.lit(datetime.now(UTC)).alias("scored_at"),
    )
    path = score_partition(settings, day)
    _replace_parquet(out, path)
    _replace_parquet(features, feature_snapshot_path(settings, day))
    decisions = dict(out["decision"].value_counts().iter_rows())
    append_audit(
        settings,
        {
            "kind": "batch",
            "run": uuid.uuid4().hex,
            "date": day.isoformat(),
            "rows": out.height,
            "decisions": decisions,
            "rules": {"file": rules.source, "ids": [r.id for r in rules.rules]},
            "model_version": scorer.model_version,
            "path": str(path),
        },
    )
    return BatchResult(
        date=day,
        as_of=as_of,
        rows=out.height,
        decisions=decisions,
        model_version=scorer.model_version,
        path=path,
    )


def read_scores(settings: Settings, day: date | None = None) -> pl.DataFrame:
    """Scores of ``day`` (default: the latest scored date)."""
    if day is None:
        days = sorted(settings.scores_dir.glob("date=*/scores.parquet"))
        if not days:
            raise FileNotFoundError(
                f"no scores under {settings.scores_dir}: run `scamguard batch-score` first"
            )
        return pl.read_parquet(days[-1])
    return pl.read_parquet(score_partition(settings, day))
