"""Champion vs challenger on the latest test window, and the promotion guard.

:func:`compare_models` loads both aliases of the risk model from the registry and scores the test
split of the training table (the latest ``as_of`` weeks, which neither model trained, stopped or
calibrated on) with each model's own features, thresholds and calibration. It reports PR-AUC,
ROC-AUC, recall at 1% FPR, expected cost per row under the cost model (``settings.costs``, see
``scamguard.costs``), the decision mix, recall per scam typology, and the latency of scoring 1,000
rows in this process (risk + decision + reasons, and risk alone).

:func:`promote` moves the ``champion`` alias to the challenger's version only when the challenger's
expected cost is strictly lower (by more than ``min_improvement``) — the cost model is what the
business pays, so it is the deciding metric; the others are shown for context — and only when it
needs no feature column the champion does without (see :func:`decide_promotion`). Every call, promoted
or not, is recorded as an MLflow run in the ``scamguard-promotions`` experiment (both versions,
both metric sets, the decision and the reason in words) and as a ``promotion`` tag on the
challenger's model version. On promotion the old champion keeps the alias ``previous-champion``
(for a rollback) and the ``challenger`` alias is removed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from scamguard import tracking
from scamguard.costs import CostModel
from scamguard.settings import Settings

from .metrics import evaluate

if TYPE_CHECKING:
    from .registry import RiskScorer

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous-champion"
PROMOTIONS_EXPERIMENT = "scamguard-promotions"
LATENCY_ROWS = 1_000
HEADLINE = ("pr_auc", "roc_auc", "recall_at_1pct_fpr", "expected_cost", "review_rate", "block_rate")
LOWER_IS_BETTER = frozenset({"expected_cost"})
NEITHER_IS_BETTER = frozenset({"review_rate", "block_rate"})  # the decision mix, for context


@dataclass(frozen=True)
class ModelReport:
    """One model on the test window."""

    alias: str
    version: str
    family: str  # lightgbm | xgboost
    run_id: str | None
    n_features: int
    feature_names: list[str]
    metrics: dict[str, float]  # models.metrics.evaluate keys (recall_<typology> included)
    ms_per_1k_rows: float  # score(): risk, decision and three reasons (TreeSHAP)
    ms_per_1k_rows_risk_only: float  # risk(): calibrated probability only

    def typology_recall(self) -> dict[str, float]:
        return {
            k.removeprefix("recall_"): v
            for k, v in self.metrics.items()
            if k.startswith("recall_") and k != "recall_at_1pct_fpr"
        }


@dataclass(frozen=True)
class Comparison:
    """Champion vs challenger on the same rows."""

    champion: ModelReport
    challenger: ModelReport
    as_of_min: str
    as_of_max: str
    rows: int
    positives: int
    costs: CostModel

    def delta(self, key: str) -> float:
        """challenger - champion for metric ``key``."""
        return self.challenger.metrics.get(key, np.nan) - self.champion.metrics.get(key, np.nan)

    def better(self, key: str) -> str:
        """Which model is better on ``key``: "champion", "challenger", "tie" or "" (no order)."""
        if key in NEITHER_IS_BETTER:
            return ""
        d = self.delta(key)
        if not np.isfinite(d) or d == 0:
            return "tie"
        challenger_better = d < 0 if key in LOWER_IS_BETTER else d > 0
        return CHALLENGER if challenger_better else CHAMPION

    def table_rows(self) -> list[tuple[str, str, str, str]]:
        """(metric, champion, challenger, better) rows for a table (the CLI renders them)."""
        rows = []
        for key in HEADLINE:
            rows.append(
                (
                    key,
                    f"{self.champion.metrics[key]:.4f}",
                    f"{self.challenger.metrics[key]:.4f}",
                    self.better(key),
                )
            )
        typologies = sorted(
            set(self.champion.typology_recall()) | set(self.challenger.typology_recall())
        )
        for t in typologies:
            key = f"recall_{t}"
            a, b = self.champion.metrics.get(key, np.nan), self.challenger.metrics.get(key, np.nan)
            rows.append((f"recall {t}", f"{a:.3f}", f"{b:.3f}", self.better(key)))
        rows.append(
            (
                "ms / 1,000 rows (risk + reasons)",
                f"{self.champion.ms_per_1k_rows:.1f}",
                f"{self.challenger.ms_per_1k_rows:.1f}",
                self._faster("ms_per_1k_rows"),
            )
        )
        rows.append(
            (
                "ms / 1,000 rows (risk only)",
                f"{self.champion.ms_per_1k_rows_risk_only:.1f}",
                f"{self.challenger.ms_per_1k_rows_risk_only:.1f}",
                self._faster("ms_per_1k_rows_risk_only"),
            )
        )
        return rows

    def _faster(self, attr: str) -> str:
        a, b = getattr(self.champion, attr), getattr(self.challenger, attr)
        return "tie" if a == b else (CHALLENGER if b < a else CHAMPION)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["costs"] = self.costs.model_dump()
        return out


def test_window(table: pl.DataFrame) -> pl.DataFrame:
    """The rows of the latest test window: ``split == "test"`` (raises if there are none)."""
    rows = table.filter(pl.col("split") == "test")
    if rows.height == 0:
        raise ValueError("the training table has no test rows to compare on")
    return rows


def _ms_per_1k(fn, frame: pl.DataFrame, repeats: int) -> float:  # type: ignore[no-untyped-def]
    """Median wall time of ``fn(frame)`` over ``repeats`` runs, per 1,000 rows, in ms."""
    fn(frame)  # warm-up (lazy imports, allocations)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn(frame)
        times.append(time.perf_counter() - started)
    return float(np.median(times)) * 1e3 * LATENCY_ROWS / frame.height


def evaluate_scorer(
    scorer: RiskScorer,
    rows: pl.DataFrame,
    *,
    costs: CostModel,
    repeats: int = 3,
) -> ModelReport:
    """One model's report on ``rows`` (key columns plus at least the model's feature columns)."""
    risk = scorer.risk(rows)
    metrics = evaluate(
        rows["label"].cast(pl.Int64).to_numpy(),
        risk,
        rows["typology"].cast(pl.String).to_numpy().astype(object),
        thresholds=scorer.thresholds,
        costs=costs,
    )
    sample = rows.head(LATENCY_ROWS)
    return ModelReport(
        alias=scorer.alias or "",
        version=scorer.model_version,
        family=scorer.family,
        run_id=scorer.run_id,
        n_features=len(scorer.feature_names),
        feature_names=list(scorer.feature_names),
        metrics=metrics,
        ms_per_1k_rows=_ms_per_1k(scorer.score, sample, repeats),
        ms_per_1k_rows_risk_only=_ms_per_1k(scorer.risk, sample, repeats),
    )


def compare_models(
    settings: Settings,
    table: pl.DataFrame,
    *,
    champion: str = CHAMPION,
    challenger: str = CHALLENGER,
    costs: CostModel | None = None,
    repeats: int = 3,
) -> Comparison:
    """Both aliases of ``settings.risk_model_name`` on the test window of ``table``."""
    from .registry import load_scorer

    costs = settings.costs if costs is None else costs
    rows = test_window(table)
    reports = [
        evaluate_scorer(load_scorer(settings, alias), rows, costs=costs, repeats=repeats)
        for alias in (champion, challenger)
    ]
    return Comparison(
        champion=reports[0],
        challenger=reports[1],
        as_of_min=str(rows["as_of"].min()),
        as_of_max=str(rows["as_of"].max()),
        rows=rows.height,
        positives=int(rows["label"].sum()),
        costs=costs,
    )


@dataclass(frozen=True)
class PromotionDecision:
    """What :func:`promote` decided, and where it is recorded."""

    promoted: bool
    reason: str
    comparison: Comparison | None  # None for a forced promotion (``train --force``)
    champion_before: str  # version
    champion_after: str  # version
    run_id: str  # the MLflow run in PROMOTIONS_EXPERIMENT


def decide_promotion(
    comparison: Comparison, *, min_improvement: float = 0.0, allow_new_features: bool = False
) -> tuple[bool, str]:
    """(promote?, reason in words): promote only if the challenger's expected cost is lower by
    more than ``min_improvement``.

    A challenger that needs feature columns the champion does not use (e.g. ``textmodel_*``,
    which batch scoring and the online store do not compute yet) is not promoted unless
    ``allow_new_features``: the serving path must provide them first, or scoring would fail.
    """
    ch, cl = comparison.champion, comparison.challenger
    new_features = [f for f in cl.feature_names if f not in set(ch.feature_names)]
    if new_features and not allow_new_features:
        shown = ", ".join(new_features[:5]) + (" ..." if len(new_features) > 5 else "")
        return False, (
            f"challenger v{cl.version} needs {len(new_features)} feature(s) the champion's "
            f"scoring path may not provide ({shown}); pass allow_new_features once batch "
            "scoring and the online store compute them"
        )
    a, b = ch.metrics["expected_cost"], cl.metrics["expected_cost"]
    window = (
        f"test window {comparison.as_of_min[:10]}..{comparison.as_of_max[:10]}, "
        f"{comparison.rows:,} rows, {comparison.positives:,} scams"
    )
    if ch.version == cl.version:
        return False, f"challenger v{cl.version} is already the champion"
    if not (np.isfinite(a) and np.isfinite(b)):
        return False, f"expected cost undefined on the {window}"
    if b < a - min_improvement:
        return True, (
            f"challenger v{cl.version} ({cl.family}) wins on expected cost: {b:.4f} < {a:.4f} "
            f"per row for champion v{ch.version} ({ch.family}), {window}"
        )
    margin = f" (needs an improvement > {min_improvement:g})" if min_improvement else ""
    return False, (
        f"challenger v{cl.version} ({cl.family}) does not win on expected cost: {b:.4f} >= "
        f"{a:.4f} per row for champion v{ch.version} ({ch.family}){margin}, {window}"
    )


def promote(
    settings: Settings,
    table: pl.DataFrame,
    *,
    min_improvement: float = 0.0,
    allow_new_features: bool = False,
    challenger: str = CHALLENGER,
    costs: CostModel | None = None,
    repeats: int = 3,
) -> PromotionDecision:
    """Compare, decide on expected cost, move ``champion`` if the challenger wins, record why."""
    import mlflow

    comparison = compare_models(
        settings, table, challenger=challenger, costs=costs, repeats=repeats
    )
    promoted, reason = decide_promotion(
        comparison, min_improvement=min_improvement, allow_new_features=allow_new_features
    )
    name = settings.risk_model_name
    before = comparison.champion.version
    challenger_alias = challenger
    challenger = comparison.challenger.version

    decision = "promoted" if promoted else "kept"
    with tracking.start_run(
        settings, PROMOTIONS_EXPERIMENT, run_name=f"{decision}-v{challenger}-vs-v{before}"
    ) as run:
        mlflow.set_tags({"decision": decision, "reason": reason[:5000]})
        mlflow.log_params(
            {
                "model_name": name,
                "champion_version": before,
                "challenger_version": challenger,
                "champion_family": comparison.champion.family,
                "challenger_family": comparison.challenger.family,
                "champion_run_id": comparison.champion.run_id,
                "challenger_run_id": comparison.challenger.run_id,
                "min_improvement": min_improvement,
                "allow_new_features": allow_new_features,
                "challenger_alias": challenger_alias,
                "window": f"{comparison.as_of_min}..{comparison.as_of_max}",
                "rows": comparison.rows,
                **comparison.costs.as_params(),
            }
        )
        metrics: dict[str, float] = {}
        for role, report in (
            ("champion", comparison.champion),
            ("challenger", comparison.challenger),
        ):
            metrics |= {f"{role}_{k}": v for k, v in report.metrics.items() if np.isfinite(v)}
            metrics[f"{role}_ms_per_1k_rows"] = report.ms_per_1k_rows
        metrics["promoted"] = float(promoted)
        mlflow.log_metrics(metrics)
        mlflow.log_dict(
            {**comparison.to_dict(), "promoted": promoted, "reason": reason}, "comparison.json"
        )

    client = tracking.client(settings)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    client.set_model_version_tag(
        name, challenger, "promotion", f"{decision} {stamp} (run {run.info.run_id}): {reason}"
    )
    after = before
    if promoted:
        client.set_registered_model_alias(name, PREVIOUS, before)
        client.set_registered_model_alias(name, CHAMPION, challenger)
        client.delete_registered_model_alias(name, challenger_alias)
        after = challenger
    return PromotionDecision(
        promoted=promoted,
        reason=reason,
        comparison=comparison,
        champion_before=before,
        champion_after=after,
        run_id=run.info.run_id,
    )


def force_promote(settings: Settings, version: str, *, reason: str) -> PromotionDecision | None:
    """Move ``champion`` to ``version`` without the guard (``train --force``), recorded as a
    ``forced`` run in the promotions experiment and a ``promotion`` tag on the version.

    Returns None when there was no champion to guard (the first model simply becomes it).
    """
    import mlflow

    name = settings.risk_model_name
    client = tracking.client(settings)
    try:
        before: str | None = str(client.get_model_version_by_alias(name, CHAMPION).version)
    except Exception:  # MlflowException: no champion yet
        before = None
    client.set_registered_model_alias(name, CHAMPION, version)
    if before is None or before == version:
        return None
    client.set_registered_model_alias(name, PREVIOUS, before)
    with tracking.start_run(
        settings, PROMOTIONS_EXPERIMENT, run_name=f"forced-v{version}-over-v{before}"
    ) as run:
        mlflow.set_tags({"decision": "forced", "reason": reason[:5000]})
        mlflow.log_params(
            {"model_name": name, "champion_version": before, "challenger_version": version}
        )
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    client.set_model_version_tag(
        name, version, "promotion", f"forced {stamp} (run {run.info.run_id}): {reason}"
    )
    return PromotionDecision(
        promoted=True,
        reason=reason,
        comparison=None,
        champion_before=before,
        champion_after=version,
        run_id=run.info.run_id,
    )
