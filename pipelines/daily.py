"""The daily job: for one day D, ingest → features → batch scoring → monitoring, with one run record.

Steps, in order (a failed step fails the day; the steps after it do not run):

* ``ingest``: the raw partitions ``date=D`` (:func:`pipelines.ingest.ingest_partitions`); on the
  first run, when clean/ holds no earlier day, every raw partition up to D (the initial load);
* ``features``: the scoring table as of the end of D (midnight UTC after it), every user active
  in the 7 days before; written to ``features/snapshots/date=D/features.parquet``;
* ``score``: the champion scores those rows (:func:`pipelines.batch.batch_score`);
* ``monitor``: a callable the caller injects (the monitoring layer sits above this one); skipped
  when none is given.

Every output is a partition of D replaced whole (written aside, then renamed), so a re-run of D
replaces D, a run killed half-way leaves no duplicate rows, and other days are never touched.
The run record ``<data_dir>/runs/date=D/run.json`` (status, and per step its status, row counts,
seconds and error) is written when the day ends, ok or failed, and is also an MLflow run in the
experiment ``scamguard-daily``.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from features.build import build_scoring_table
from features.tables import end_of_day, load_clean_tables
from pipelines.batch import batch_score, feature_snapshot_path
from pipelines.ingest import ingest_partitions, partition_days
from scamguard import tracking
from scamguard.schema import LOAD_ORDER
from scamguard.settings import Settings

EXPERIMENT = "scamguard-daily"
STEPS = ("ingest", "features", "score", "monitor")
OK, FAILED, SKIPPED, NOT_RUN = "ok", "failed", "skipped", "not run"


@dataclass(frozen=True)
class StepOutput:
    """What a step reports: row counts (name -> rows) and anything else worth keeping."""

    rows: dict[str, int] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


# A step the caller supplies: the monitor (monitoring/ is a layer above this one).
DayStep = Callable[[Settings, date], StepOutput]
# A transform of the day's feature rows before scoring: the identity in production; fault drills
# plant a feature-pipeline bug with it.
FeatureHook = Callable[[pl.DataFrame], pl.DataFrame]


@dataclass(frozen=True)
class StepRecord:
    name: str
    status: str  # ok | failed | skipped | not run
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class DayRecord:
    """One day's run: its status and each step's, as written to ``run.json``."""

    date: date
    status: str  # ok | failed
    steps: tuple[StepRecord, ...]
    started_at: datetime
    finished_at: datetime
    mlflow_run_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def failed_step(self) -> StepRecord | None:
        return next((s for s in self.steps if s.status == FAILED), None)

    @property
    def error(self) -> str | None:
        """``"<step> failed: <error>"`` for a failed day, else None."""
        step = self.failed_step
        return None if step is None else f"{step.name} failed: {step.error}"

    def step(self, name: str) -> StepRecord:
        return next(s for s in self.steps if s.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "status": self.status,
            "error": self.error,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "seconds": round((self.finished_at - self.started_at).total_seconds(), 3),
            "mlflow_run_id": self.mlflow_run_id,
            "steps": [asdict(s) for s in self.steps],
        }


def runs_dir(settings: Settings) -> Path:
    return settings.data_dir / "runs"


def run_record_path(settings: Settings, day: date) -> Path:
    return runs_dir(settings) / f"date={day.isoformat()}" / "run.json"


def read_run_record(settings: Settings, day: date) -> dict[str, Any] | None:
    """The run record of ``day`` as written (a dict), or None if the day never ran."""
    path = run_record_path(settings, day)
    return json.loads(path.read_text()) if path.exists() else None


def last_successful_day(settings: Settings) -> date | None:
    """The latest day whose run record says ``ok``."""
    for _, folder in reversed(partition_days(runs_dir(settings))):
        path = folder / "run.json"
        if path.exists() and json.loads(path.read_text()).get("status") == OK:
            return date.fromisoformat(folder.name.split("=", 1)[1])
    return None


def missed_days(settings: Settings, *, today: date, since: date | None = None) -> list[date]:
    """The days a catch-up runs: after the last successful run record, up to yesterday.

    With no successful run yet: from ``since`` (default: yesterday alone).
    """
    yesterday = today - timedelta(days=1)
    last = last_successful_day(settings)
    first = last + timedelta(days=1) if last else (since or yesterday)
    return [first + timedelta(days=i) for i in range((yesterday - first).days + 1)]


# --- steps ---------------------------------------------------------------------------------------


def _has_clean_before(settings: Settings, day: date) -> bool:
    return any(d < day for name in LOAD_ORDER for d, _ in partition_days(settings.clean_dir / name))


def ingest_step(settings: Settings, day: date) -> StepOutput:
    first = day if _has_clean_before(settings, day) else None  # None: the initial load
    report = ingest_partitions(
        settings.raw_dir, settings.clean_dir, settings.quarantine_dir, day, first=first
    )
    return StepOutput(
        rows={"in": report.rows_in, "accepted": report.accepted, "quarantined": report.quarantined},
        detail={
            "initial_load": first is None,
            "tables": {
                t.table: {"in": t.rows_in, "quarantined": t.quarantined, "failures": t.failures}
                for t in report.tables
            },
        },
    )


def build_features(settings: Settings, day: date, hook: FeatureHook | None = None) -> pl.DataFrame:
    """The day's scoring table (as of the end of ``day``), through ``hook`` if given."""
    frame = build_scoring_table(load_clean_tables(settings), end_of_day(day))
    return hook(frame) if hook is not None else frame


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.write_parquet(tmp)
    tmp.replace(path)


def _timed(name: str, fn: Callable[[], StepOutput]) -> StepRecord:
    started = time.perf_counter()
    try:
        out = fn()
    except Exception as exc:  # a failed step fails the day; its message goes in the record
        last = traceback.extract_tb(exc.__traceback__)[-1]
        where = f" ({Path(last.filename).name}:{last.lineno})"
        return StepRecord(
            name,
            FAILED,
            round(time.perf_counter() - started, 3),
            error=f"{type(exc).__name__}: {exc}{where}",
        )
    return StepRecord(name, OK, round(time.perf_counter() - started, 3), out.rows, out.detail)


# --- the day -------------------------------------------------------------------------------------


def run_day(
    settings: Settings,
    day: date,
    *,
    monitor: DayStep | None = None,
    scorer: Any = None,
    feature_hook: FeatureHook | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
    log_mlflow: bool = True,
) -> DayRecord:
    """Run the daily job for ``day``; returns its record (also written to ``run.json``).

    Never raises for a failed step: the record says which step failed and why. ``scorer``
    replaces the champion (default: loaded from the registry); ``feature_hook`` transforms the
    feature rows before scoring; ``on_step`` is called after each step (progress display).
    """
    started_at = datetime.now(UTC)
    features: dict[str, pl.DataFrame] = {}

    def features_step() -> StepOutput:
        frame = build_features(settings, day, feature_hook)
        _write_parquet(frame, feature_snapshot_path(settings, day))
        features["frame"] = frame
        return StepOutput(rows={"users": frame.height}, detail={"as_of": str(end_of_day(day))})

    def score_step() -> StepOutput:
        result = batch_score(settings, day, scorer=scorer, features=features.get("frame"))
        return StepOutput(
            rows={
                "scored": result.rows,
                **{f"decision_{k}": v for k, v in result.decisions.items()},
            },
            detail={"model_version": result.model_version, "path": str(result.path)},
        )

    actions: dict[str, Callable[[], StepOutput]] = {
        "ingest": lambda: ingest_step(settings, day),
        "features": features_step,
        "score": score_step,
    }
    if monitor is not None:
        actions["monitor"] = lambda: monitor(settings, day)
    steps: list[StepRecord] = []
    for name in STEPS:
        if steps and steps[-1].status == FAILED:
            step = StepRecord(name, NOT_RUN)
        elif name not in actions:
            step = StepRecord(name, SKIPPED)
        else:
            step = _timed(name, actions[name])
        steps.append(step)
        if on_step is not None:
            on_step(step)
    status = FAILED if any(s.status == FAILED for s in steps) else OK
    record = DayRecord(day, status, tuple(steps), started_at, datetime.now(UTC))
    if log_mlflow:
        record = _log_to_mlflow(settings, record)
    _write_record(settings, record)
    return record


def run_days(settings: Settings, days: Iterable[date], **kwargs: Any) -> list[DayRecord]:
    """Run ``days`` in order (a backfill or a catch-up); stops after the first failed day, since
    later days build on it. ``kwargs`` go to :func:`run_day`."""
    records = []
    for day in days:
        records.append(run_day(settings, day, **kwargs))
        if not records[-1].ok:
            break
    return records


def day_range(first: date, last: date) -> list[date]:
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _write_record(settings: Settings, record: DayRecord) -> None:
    path = run_record_path(settings, record.date)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record.to_json(), indent=2, default=str) + "\n")
    tmp.replace(path)


def _log_to_mlflow(settings: Settings, record: DayRecord) -> DayRecord:
    """The record as an MLflow run of ``scamguard-daily`` (params, per-step metrics, the JSON)."""
    import mlflow

    with tracking.start_run(settings, EXPERIMENT, run_name=f"daily-{record.date}") as run:
        mlflow.set_tags({"date": record.date.isoformat(), "status": record.status})
        mlflow.log_params({"date": record.date.isoformat()})
        metrics: dict[str, float] = {}
        for step in record.steps:
            metrics[f"{step.name}_ok"] = float(step.status in (OK, SKIPPED))
            metrics[f"{step.name}_seconds"] = step.seconds
            for key, n in step.rows.items():
                metrics[f"{step.name}_rows_{key}"] = float(n)
        mlflow.log_metrics(metrics)
        logged = replace(record, mlflow_run_id=run.info.run_id)
        mlflow.log_dict(logged.to_json(), "run.json")
        if not record.ok:
            mlflow.set_tag("error", record.error or "")
    if not record.ok:
        tracking.client(settings).set_terminated(logged.mlflow_run_id or "", status="FAILED")
    return logged
