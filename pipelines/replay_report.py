"""What ``scamguard replay`` reports: per week, the static champion and the operated loop side by side.

Every scored user-day is judged against the simulator's truth (``pipelines.simulator.truth``): a
user-day is a scam when the user's scam had begun before its ``as_of`` (the training target's
rule, with the truth instead of the labels), and a *variant* scam when the user had also sent a
drift-variant message before it. Per week (Monday to Sunday, cut to the replayed days) and arm:

* ``pr_auc``: average precision of the model's risk (before rules and labels);
* ``recall``: scam user-days not allowed (review or block: ``models.metrics.evaluate``'s rule),
  after rules and known labels; ``variant_recall`` the same on variant scam user-days;
* ``benign_block_rate``: benign user-days blocked;
* ``expected_cost``: realised cost per user-day of the final decisions under the cost model
  (``models.decisions.expected_cost``);
* ``labels``: the analyst's labels from the week's queues (0 for the static arm).

A JSON-able result, a plot and one MLflow run (``scamguard-replay``: params, per-week metrics,
the JSON and the plot) come out of :func:`report_replay`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from models.decisions import ALLOW, BLOCK, expected_cost
from models.plots import plot_replay
from pipelines.simulator.truth import VARIANT, variant_of_cases
from scamguard import tracking
from scamguard.costs import CostModel
from scamguard.schema import SCAM_TYPOLOGIES
from scamguard.settings import Settings

from .replay import ARMS, ReplayConfig, ReplayDays

EXPERIMENT = "scamguard-replay"
MEASURES = ("pr_auc", "recall", "variant_recall", "benign_block_rate", "expected_cost")


@dataclass(frozen=True)
class ReplayReport:
    weeks: list[dict[str, Any]]  # {"week", "static": {...}, "loop": {...}}
    drift: dict[str, Any] | None  # the same measures over the days from the variant's first
    retrains: list[dict[str, Any]]
    labels_used: int
    model_name: str
    run_id: str
    plot: Path
    json_path: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "weeks": self.weeks,
            "drift": self.drift,
            "retrains": self.retrains,
            "labels_used": self.labels_used,
            "model_name": self.model_name,
            "mlflow_run_id": self.run_id,
            "plot": str(self.plot),
        }


def judged(days: ReplayDays, truth: pl.DataFrame, messages: pl.LazyFrame) -> pl.DataFrame:
    """``days.decisions`` with ``y`` (scam begun before ``as_of``), ``variant`` and ``week``."""
    rows = days.decisions.join(
        truth.select("user_id", "typology", "bad_ts"), on="user_id", how="left"
    )
    y = pl.col("typology").is_in(SCAM_TYPOLOGIES) & (pl.col("bad_ts") < pl.col("as_of"))
    rows = rows.with_columns(y.fill_null(False).alias("y"))
    variant = variant_of_cases(rows.select("user_id", "as_of"), messages) == VARIANT
    return rows.with_columns(
        (pl.Series("variant", variant) & pl.col("y")).alias("variant"),
        (pl.col("day") - pl.duration(days=pl.col("day").dt.weekday() - 1)).alias("week"),
    )


def _ratio(mask: np.ndarray, hit: np.ndarray) -> float | None:
    return float(hit[mask].mean()) if mask.any() else None


def arm_measures(rows: pl.DataFrame, costs: CostModel) -> dict[str, Any]:
    """The measures of the module docstring on one arm's judged rows."""
    from sklearn.metrics import average_precision_score

    y = rows["y"].to_numpy().astype(bool)
    decision = rows["decision"].to_numpy().astype(object)
    variant = rows["variant"].to_numpy().astype(bool)
    caught = decision != ALLOW
    both = 0 < y.sum() < y.size
    return {
        "pr_auc": float(average_precision_score(y, rows["risk"].to_numpy())) if both else None,
        "recall": _ratio(y, caught),
        "variant_recall": _ratio(variant, caught),
        "benign_block_rate": _ratio(~y, decision == BLOCK),
        "expected_cost": expected_cost(y, decision, costs) if y.size else None,
        "user_days": int(y.size),
        "scam_user_days": int(y.sum()),
        "variant_user_days": int(variant.sum()),
    }


def compare_arms(rows: pl.DataFrame, analyst: pl.DataFrame, costs: CostModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for arm in ARMS:
        out[arm] = arm_measures(rows.filter(pl.col("arm") == arm), costs)
        out[arm]["labels"] = analyst.height if arm == "loop" else 0
    return out


def weekly(rows: pl.DataFrame, analyst: pl.DataFrame, costs: CostModel) -> list[dict[str, Any]]:
    weeks = []
    for week in rows["week"].unique().sort().to_list():
        end = week + timedelta(days=7)
        in_week = rows.filter(pl.col("week") == week)
        labels = analyst.filter((pl.col("day") >= week) & (pl.col("day") < end))
        first = max(week, rows["day"].min())
        weeks.append({"week": first.isoformat(), **compare_arms(in_week, labels, costs)})
    return weeks


def report_replay(
    settings: Settings,
    config: ReplayConfig,
    days: ReplayDays,
    *,
    out_dir: Path,
    rules_file: Path | None,
    seconds: float,
) -> ReplayReport:
    """Judge, summarise per week and over the drift, write the JSON and plot, log to MLflow."""
    import mlflow

    from features.tables import load_clean_tables
    from pipelines.simulator.truth import read_truth

    truth = read_truth(settings.data_dir / "simulator")
    rows = judged(days, truth, load_clean_tables(settings, analyst_labels=False).messages)
    weeks = weekly(rows, days.analyst, settings.costs)
    start = _variant_start(rows)
    drift = None
    if start is not None:
        after = rows.filter(pl.col("day") >= start)
        drift = {
            "from": start.isoformat(),
            **compare_arms(after, days.analyst.filter(pl.col("day") >= start), settings.costs),
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"replay {config.first}..{config.last}" + (
        f", rules {rules_file.name}" if rules_file else ""
    )
    plot = plot_replay(weeks, out_dir / "replay.png", title=title)
    with tracking.start_run(settings, EXPERIMENT, run_name=title.replace(" ", "-")) as run:
        mlflow.log_params(
            {
                "from": config.first.isoformat(),
                "to": config.last.isoformat(),
                "capacity": config.capacity,
                "rules_file": str(rules_file or ""),
                "model_name": days.model_name,
                "retrain_weekday": settings.retrain_weekday,
                **settings.costs.as_params(),
            }
        )
        for i, week in enumerate(weeks):
            mlflow.log_metrics(
                {
                    f"{arm}_{k}": week[arm][k]
                    for arm in ARMS
                    for k in MEASURES
                    if _finite(week[arm][k])
                },
                step=i,
            )
        mlflow.log_metric("seconds", seconds)
        mlflow.log_artifact(str(plot))
    report = ReplayReport(
        weeks=weeks,
        drift=drift,
        retrains=[r.as_row() for r in days.retrains],
        labels_used=days.analyst.height,
        model_name=days.model_name,
        run_id=run.info.run_id,
        plot=plot,
        json_path=out_dir / "replay.json",
    )
    report.json_path.write_text(json.dumps(report.to_json(), indent=2, default=str) + "\n")
    tracking.client(settings).log_artifact(run.info.run_id, str(report.json_path))
    return report


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(value)


def _variant_start(rows: pl.DataFrame) -> date | None:
    days = rows.filter(pl.col("variant"))["day"]
    first = days.min()
    return first if isinstance(first, date) else None
