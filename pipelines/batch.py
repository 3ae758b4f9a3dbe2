"""Batch scoring: every user active in the 7 days up to the end of date ``D``, scored by ``champion``.

Output: ``<data_dir>/scores/date=D/scores.parquet``. A re-run for the same date replaces that
partition (written to a temporary file and renamed), so scores are never duplicated.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl

from features.build import Tables, build_scoring_table, data_window
from scamguard.audit import append_audit
from scamguard.io import scan_table
from scamguard.schema import TABLES
from scamguard.settings import Settings


@dataclass(frozen=True)
class BatchResult:
    date: date
    as_of: datetime
    rows: int
    decisions: dict[str, int]
    model_version: str
    path: Path


def load_clean_tables(settings: Settings) -> Tables:
    return Tables.from_frames({name: scan_table(settings.clean_dir, name) for name in TABLES})


def latest_date(tables: Tables) -> date:
    """The date of the last event in the data (the default batch date)."""
    return data_window(tables)[1].date()


def score_partition(settings: Settings, day: date) -> Path:
    return settings.scores_dir / f"date={day.isoformat()}" / "scores.parquet"


def feature_snapshot_path(settings: Settings, day: date) -> Path:
    """Features of every scored user as of the end of ``day`` (read by the endpoint at start)."""
    return settings.features_dir / "snapshots" / f"date={day.isoformat()}" / "features.parquet"


def _replace_parquet(df: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    df.write_parquet(tmp)
    tmp.replace(path)


def batch_score(settings: Settings, day: date | None = None, *, scorer=None) -> BatchResult:  # type: ignore[no-untyped-def]
    """Score every user active in the 7 days before the end of ``day`` (features as of midnight after it)."""
    from models.registry import load_scorer

    tables = load_clean_tables(settings)
    day = day or latest_date(tables)
    as_of = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
    features = build_scoring_table(tables, as_of)
    scorer = scorer or load_scorer(settings, alias="champion")
    scored = scorer.score(features)
    out = pl.concat([features.select("user_id", "as_of"), scored], how="horizontal").with_columns(
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
