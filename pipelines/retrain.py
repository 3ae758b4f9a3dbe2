"""The weekly retrain: a challenger on the labels known by then, promoted only through the guard.

At the end of day ``D`` (``T``: midnight after it), on ``settings.retrain_weekday``:

1. :func:`retrain_table`: the training table as of ``T``. Snapshots ``as_of`` at ``T`` and each
   of the ``retrain_daily_days - 1`` midnights before it, then weekly back to
   ``retrain_history_days`` (none with under 14 days of data before it). Features as of each
   snapshot (events and labels strictly before it); the target from the labels decided strictly
   before ``T`` (``labels_known_by``: the platform's and the analysts', ``features.labels``).
   Split by time: the two latest snapshots are the test window (the guard's held-out days), the
   one before is valid (early stopping, calibration, thresholds), the rest train. Daily snapshots
   at the end put the freshest behaviour (a scam variant of the last days) into train.
2. ``models.train.train_risk_model`` registers a new version with the alias ``challenger``.
3. ``models.compare.promote`` moves ``champion`` to it only if its expected cost on the test
   window is lower; with no champion yet, the first model becomes it (as ``scamguard train``).

Every step is in MLflow: the training run (``scamguard-risk``, tagged ``retrain_date``), the
guard's run (``scamguard-promotions``) and one run in ``scamguard-retrain`` tying them together
(params: date, labels known by, snapshots, rows, versions; tags: the decision and its reason).
The daily job runs :func:`retrain_step`; ``scamguard replay`` calls :func:`weekly_retrain` on a
table from its own features (:func:`retrain_table` with ``features``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from features.build import (
    MIN_HISTORY,
    Tables,
    active_spine,
    assign_split,
    attach_target,
    build_features,
    data_window,
)
from features.catalog import KEY_COLUMNS
from features.tables import end_of_day, load_clean_tables
from scamguard import tracking
from scamguard.costs import CostModel
from scamguard.settings import Settings

from .daily import StepOutput

EXPERIMENT = "scamguard-retrain"
TEST_SNAPSHOTS, VALID_SNAPSHOTS = 2, 1


@dataclass(frozen=True)
class RetrainResult:
    """One weekly retrain: what was trained and what the guard decided."""

    known_by: datetime  # labels decided strictly before this instant (the end of the day)
    version: str  # the new registered version
    champion_before: str | None  # None: there was no champion, the new version became it
    champion_after: str
    promoted: bool
    reason: str
    rows: dict[str, int]  # split -> rows
    positives: int  # scam rows over all splits
    run_id: str  # the run in EXPERIMENT

    def as_row(self) -> dict[str, Any]:
        return {
            "known_by": self.known_by.isoformat(),
            "version": self.version,
            "champion_before": self.champion_before,
            "champion_after": self.champion_after,
            "promoted": self.promoted,
            "reason": self.reason,
            "rows": self.rows,
            "positives": self.positives,
        }


def retrain_times(
    known_by: datetime, first_event: datetime, *, daily_days: int, history_days: int
) -> list[datetime]:
    """Snapshot instants of a retrain at ``known_by``, oldest first (module docstring, step 1)."""
    times = [known_by - timedelta(days=k) for k in range(daily_days)]
    t = known_by - timedelta(days=7 * ((daily_days + 6) // 7))
    while t > known_by - timedelta(days=history_days + 1):
        if t < times[-1]:
            times.append(t)
        t -= timedelta(days=7)
    return sorted(t for t in times if t - MIN_HISTORY >= first_event)


def snapshot_plan(tables: Tables, known_by: datetime, settings: Settings) -> list[datetime]:
    """:func:`retrain_times` with the settings' windows and the data's first event."""
    return retrain_times(
        known_by,
        data_window(tables)[0],
        daily_days=settings.retrain_daily_days,
        history_days=settings.retrain_history_days,
    )


def retrain_table(
    tables: Tables,
    known_by: datetime,
    times: list[datetime],
    *,
    features: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The training table of a retrain at ``known_by`` (catalog contract: keys, split, features).

    ``features``: prebuilt feature rows (``user_id, as_of`` and the feature columns, e.g. the
    replay's daily scoring tables) holding every snapshot of ``times``; default: built here.
    Features never read a label decided after their ``as_of``, so a prebuilt row is the row this
    would build; only the target depends on ``known_by``.
    """
    if len(times) < TEST_SNAPSHOTS + VALID_SNAPSHOTS + 1:
        raise ValueError(
            f"a retrain at {known_by} needs {TEST_SNAPSHOTS + VALID_SNAPSHOTS + 1} snapshots "
            f"with 14 days of data before each, has {len(times)}"
        )
    if features is None:
        spine = active_spine(tables, times)
        features = build_features(spine.sort("as_of", "user_id"), tables).collect()
    else:
        features = features.filter(pl.col("as_of").is_in(times))
    table = attach_target(features.lazy(), tables.labels, known_by=known_by).collect()
    keys = [c for c in KEY_COLUMNS if c != "split" and c in table.columns]
    table = table.select(*keys, pl.exclude(keys)).sort("as_of", "user_id")
    return assign_split(table, test_snapshots=TEST_SNAPSHOTS, valid_snapshots=VALID_SNAPSHOTS)


def weekly_retrain(
    settings: Settings,
    known_by: datetime,
    table: pl.DataFrame,
    *,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    costs: CostModel | None = None,
) -> RetrainResult:
    """Train a challenger on ``table`` (:func:`retrain_table` at ``known_by``), register it and let
    the promote guard decide on the table's test window; every step recorded in MLflow."""
    import mlflow

    from models.compare import promote
    from models.train import train_risk_model

    costs = settings.costs if costs is None else costs
    before = champion_version(settings)
    stamp = known_by.isoformat()
    result = train_risk_model(
        table,
        settings=settings,
        params=params,
        costs=costs,
        seed=seed,
        alias="challenger" if before else "champion",
        run_name=f"retrain-{stamp[:10]}",
        tags={"retrain_known_by": stamp, "trigger": "weekly-retrain"},
    )
    if before is None:
        promoted, after = True, result.model_version
        reason = f"v{after} is the first model: registered as champion"
    else:
        decision = promote(settings, table, challenger="challenger", costs=costs, repeats=1)
        promoted, after, reason = decision.promoted, decision.champion_after, decision.reason
    with tracking.start_run(settings, EXPERIMENT, run_name=f"retrain-{stamp[:10]}") as run:
        mlflow.set_tags({"decision": "promoted" if promoted else "kept", "reason": reason[:5000]})
        mlflow.log_params(
            {
                "known_by": stamp,
                "snapshots": ",".join(str(t)[:10] for t in table["as_of"].unique().sort()),
                "model_name": settings.risk_model_name,
                "trained_version": result.model_version,
                "training_run_id": result.run_id,
                "champion_before": before or "",
                "champion_after": after,
                **{f"rows_{k}": v for k, v in result.rows.items()},
                **costs.as_params(),
            }
        )
        mlflow.log_metrics(
            {"promoted": float(promoted), "positives": float(table["label"].sum())}
            | {k: v for k, v in result.metrics.items() if k.startswith("test_")}
        )
    return RetrainResult(
        known_by=known_by,
        version=result.model_version,
        champion_before=before,
        champion_after=after,
        promoted=promoted,
        reason=reason,
        rows=result.rows,
        positives=int(table["label"].sum()),
        run_id=run.info.run_id,
    )


def champion_version(settings: Settings) -> str | None:
    """The version the ``champion`` alias points at, None before the first model."""
    try:
        name = settings.risk_model_name
        return tracking.resolve_alias(settings, name, "champion", hint="").version
    except LookupError:
        return None


def retrain_step(settings: Settings, day: date) -> StepOutput:
    """The daily job's ``retrain`` step for ``day`` (run on ``settings.retrain_weekday``): the
    table as of the end of ``day`` from the clean tables, then :func:`weekly_retrain`."""
    known_by = end_of_day(day)
    tables = load_clean_tables(settings)
    table = retrain_table(tables, known_by, snapshot_plan(tables, known_by, settings))
    out = weekly_retrain(settings, known_by, table)
    return StepOutput(
        rows={f"train_{k}": v for k, v in out.rows.items()} | {"positives": out.positives},
        detail=out.as_row() | {"mlflow_run_id": out.run_id},
    )
