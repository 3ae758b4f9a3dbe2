"""``scamguard agent-train``: belief, baselines and the expert-iterated network, logged to MLflow.

Steps (all on the training table's time split; the test split is only *reported*, never used to
choose anything):

1. cases and ``similar_*`` features (``agent.data``);
2. the masked belief on train, Platt-calibrated on valid; calibration per mask size on valid and
   test (``agent.belief``);
3. the fixed-order baseline's order and threshold, tuned on the whole valid split;
4. with ``selfplay_folds``, one more belief per fold of users, for self-play (``agent.crossfit``);
5. expert iteration (``agent.expert``): self-play on train, model selection on a valid sample;
6. the bundle saved to ``<data_dir>/agent/`` and an MLflow run in the ``scamguard-agent``
   experiment: parameters, the learning curve (metrics per iteration and ``learning_curve.png``),
   calibration tables, the group layout and the bundle files.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from agent.baselines import FixedOrderTuning, tune_fixed_order
from agent.belief import MaskedBelief, calibration_by_mask_size
from agent.bundle import AgentBundle, bundle_dir
from agent.crossfit import fold_case_models, user_folds
from agent.data import AgentData, prepare_cases
from agent.env import InvestigationEnv, n_actions
from agent.expert import ExpertIterationConfig, IterationResult, expert_iteration
from agent.network import NetConfig, PolicyValueNet, make_network
from agent.planner import CaseModel
from scamguard import tracking
from scamguard.costs import CostModel
from scamguard.settings import Settings

EXPERIMENT_NAME = "scamguard-agent"


@dataclass(frozen=True)
class AgentTrainConfig:
    """Every knob of ``agent-train``, with the defaults used for the demo."""

    # Decision and evidence costs in one unit (scamguard.costs; the CLI starts from settings.costs).
    costs: CostModel = field(default_factory=CostModel)
    # MaskedBelief keyword arguments. Larger leaves (400 rows, i.e. about 100 cases at 4 masked
    # copies) and a slower rate were chosen on the valid split's log loss (full and random masks,
    # both seeds) over MaskedBelief's defaults (README, agent section).
    belief: dict[str, Any] = field(
        default_factory=lambda: {
            "n_estimators": 300,
            "learning_rate": 0.05,
            "min_child_samples": 400,
        }
    )
    # CaseModel keyword arguments, for self-play, validation and decision time alike. 48 scam /
    # 80 benign neighbours were chosen on validation over 12 / 20 (trained search 1.239 / 1.175
    # against 1.215 / 1.273, seed 0 / seed 1; README, agent section).
    completion: dict[str, Any] = field(
        default_factory=lambda: {"k_scam": 48, "k_benign": 80, "max_rows_per_class": 20_000}
    )
    search: dict[str, Any] = field(
        default_factory=lambda: {
            "num_simulations": 64,
            "batch_size": 8,
            "c_puct": 1.25,
            "backup": "mean",
            "root_rule": "gumbel",  # chosen on validation over PUCT (README, agent section)
        }
    )
    expert: ExpertIterationConfig = field(default_factory=ExpertIterationConfig)
    hidden: int = 64
    # The value head's unit, in cost units; it scales with the prices. Most returns are a few
    # evidence costs (0.2-1 each), a missed scam is 100. Chosen as 20 over 100 (the head's error at
    # 100 was about one evidence cost, the validation curve swung between rounds) when every price
    # was 5x today's (README, agent section): 4 in today's unit.
    value_scale: float = 4.0
    # Self-play out of sample: 0 plays training cases with the belief fitted on them; k >= 2 fits
    # k more beliefs, each without one fold of users (agent.crossfit), for self-play only. 4 was
    # chosen on validation over 0 (README, agent section).
    selfplay_folds: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.selfplay_folds < 0 or self.selfplay_folds == 1:
            raise ValueError(f"selfplay_folds must be 0 (off) or at least 2: {self.selfplay_folds}")

    def as_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {**self.costs.as_params(evidence=True), "seed": self.seed}
        params.update({f"belief_{k}": v for k, v in self.belief.items()})
        params.update({f"completion_{k}": v for k, v in self.completion.items()})
        params.update({f"search_{k}": v for k, v in self.search.items()})
        params.update(self.expert.as_params())
        params.update(
            {
                "net_hidden": self.hidden,
                "value_scale": self.value_scale,
                "selfplay_folds": self.selfplay_folds,
            }
        )
        return params


@dataclass
class AgentTrainResult:
    bundle: AgentBundle
    path: Path
    run_id: str | None
    curve: list[IterationResult]
    calibration: dict[str, list[dict]]
    fixed_order: FixedOrderTuning
    seconds: dict[str, float]
    splits: dict[str, tuple[int, int]]  # split -> (cases, scams)

    def summary_rows(self) -> list[tuple[str, str]]:
        layout = self.bundle.layout
        best = min(self.curve, key=lambda r: r.valid_mean_total_cost)
        first = self.curve[0]
        order = " > ".join(layout.groups[g] for g in self.fixed_order.order)
        return [
            *[(f"{k} cases / scams", f"{n:,} / {s:,}") for k, (n, s) in self.splits.items()],
            ("text_model group", f"{layout.text_model_source} columns"),
            (
                "belief calibration (valid, ECE by groups revealed)",
                " ".join(f"{r['mask_size']}:{r['ece']:.4f}" for r in self.calibration["valid"]),
            ),
            (
                "fixed order (tuned on valid)",
                f"{order}, stop at loss <= {self.fixed_order.threshold:.2f}",
            ),
            (
                "valid cost: untrained -> best network",
                f"{first.valid_mean_total_cost:.3f} -> {best.valid_mean_total_cost:.3f} "
                f"(iteration {best.iteration})",
            ),
            *[(f"time: {k}", f"{v:.0f} s") for k, v in self.seconds.items()],
            ("saved to", str(self.path)),
            ("MLflow run", self.run_id or "not logged"),
        ]


def plot_learning_curve(curve: list[IterationResult], path: Path) -> Path:
    """Validation and self-play mean total cost, and the losses, per expert-iteration round."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    it = [r.iteration for r in curve]
    left.plot(it, [r.valid_mean_total_cost for r in curve], "o-", label="validation")
    sp = [(r.iteration, r.selfplay_mean_total_cost) for r in curve if r.selfplay_mean_total_cost]
    if sp:
        left.plot(*zip(*sp, strict=True), "s--", label="self-play (with root noise)")
    left.set(xlabel="iteration (0 = untrained)", ylabel="mean total cost per case", title="Cost")
    left.legend()
    losses = [r for r in curve if r.policy_loss is not None]
    if losses:
        right.plot(
            [r.iteration for r in losses],
            [r.policy_loss for r in losses],
            "o-",
            label="policy (CE)",
        )
        ax2 = right.twinx()
        ax2.plot(
            [r.iteration for r in losses],
            [r.value_loss for r in losses],
            "s--",
            color="C1",
            label="value (MSE)",
        )
        right.set(xlabel="iteration", ylabel="policy loss", title="Network losses")
        ax2.set_ylabel("value loss")
        right.legend(loc="upper left")
        ax2.legend(loc="upper right")
    fig.savefig(path, dpi=110)
    return path


def _fit_belief(
    data: AgentData, config: AgentTrainConfig
) -> tuple[MaskedBelief, dict[str, list[dict]]]:
    """The masked belief on train, Platt-calibrated on valid; its calibration per mask size on
    valid and test (the splits with cases)."""
    belief = MaskedBelief(**{"seed": config.seed, **config.belief}).fit(
        data.train.values,
        data.train.labels,
        data.layout,
        calib_values=data.valid.values,
        calib_labels=data.valid.labels,
    )
    calibration = {
        name: calibration_by_mask_size(
            belief, data.splits[name].values, data.splits[name].labels, seed=config.seed
        )
        for name in ("valid", "test")
        if data.splits[name].size
    }
    return belief, calibration


def _case_model(
    data: AgentData, belief: MaskedBelief, values: np.ndarray, completion: dict[str, Any]
) -> CaseModel:
    """The full belief, completing from training cases with these ``values`` [N, D]."""
    return CaseModel(
        data.layout,
        belief,
        data.standardizer,
        values,
        data.train.labels,
        data.train.owners,
        **completion,
    )


def _selfplay_models(
    data: AgentData,
    belief: MaskedBelief,
    config: AgentTrainConfig,
    completion: dict[str, Any],
    stage: Callable[[str], None],
    seconds: dict[str, float],
) -> tuple[np.ndarray, list[CaseModel]]:
    """(fold [N] of each training case, one case model per fold) for self-play: with
    ``selfplay_folds``, beliefs fitted without each fold's users (``agent.crossfit``); else the
    full belief, one fold."""
    if not config.selfplay_folds:
        # in-sample self-play, still from point-in-time completions (``agent.data``: pool)
        folds = np.zeros(data.train.size, dtype=np.int64)
        return folds, [_case_model(data, belief, data.train.values, completion)]
    stage(f"cross-fitted self-play beliefs ({config.selfplay_folds} folds)")
    t = time.perf_counter()
    folds = user_folds(data.train.owners, config.selfplay_folds, seed=config.seed)
    fold_models = fold_case_models(
        data.layout,
        data.standardizer,
        data.train.values,
        data.train.labels,
        data.train.owners,
        folds,
        belief_params=belief.get_params(),
        calib_values=data.valid.values,
        calib_labels=data.valid.labels,
        completion=completion,
    )
    seconds["cross-fitted beliefs"] = time.perf_counter() - t
    return folds, fold_models


def _bundle(
    data: AgentData,
    config: AgentTrainConfig,
    belief: MaskedBelief,
    net: PolicyValueNet,
    model: CaseModel,
    completion: dict[str, Any],
    fixed: FixedOrderTuning,
    info: dict[str, Any],
) -> AgentBundle:
    """The trained agent, its case model (``model``) attached."""
    bundle = AgentBundle.from_data(
        data,
        costs=config.costs,
        belief=belief,
        net=net,
        search=dict(config.search),
        completion=completion,
        fixed_order=fixed,
        info=info,
    )
    bundle._model = model
    return bundle


def train_agent(
    table: pl.DataFrame,
    *,
    settings: Settings,
    labels: pl.DataFrame | pl.LazyFrame | None = None,
    config: AgentTrainConfig | None = None,
    table_path: str = "",
    log_mlflow: bool = True,
    on_stage: Callable[[str], None] | None = None,
    on_case: Callable[[str], None] | None = None,
    on_iteration: Callable[[IterationResult], None] | None = None,
) -> AgentTrainResult:
    """Train the agent on ``table`` (module docstring); save it under ``<data_dir>/agent/``."""
    config = config or AgentTrainConfig()
    stage = on_stage or (lambda _: None)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()

    stage("cases and similar-case features")
    data = prepare_cases(table, labels=labels, costs=config.costs.evidence.by_group())
    seconds["cases"] = time.perf_counter() - t0
    splits = {k: (v.size, int(v.labels.sum())) for k, v in data.splits.items()}
    if data.valid.size == 0 or data.valid.labels.sum() == 0:
        raise ValueError("the valid split needs cases and scams (calibration, tuning, selection)")

    stage("masked belief")
    t = time.perf_counter()
    belief, calibration = _fit_belief(data, config)
    seconds["belief"] = time.perf_counter() - t

    stage("fixed-order baseline (tuned on valid)")
    fixed = tune_fixed_order(
        data.layout, belief, config.costs, data.valid.values, data.valid.labels
    )

    completion = {**config.completion, "seed": config.seed}
    folds, fold_models = _selfplay_models(data, belief, config, completion, stage, seconds)

    stage("expert iteration")
    t = time.perf_counter()
    # validation and every later use complete from the pool as of the training window's end;
    # self-play (above) from point-in-time rows, which never count labels decided after the case
    model = _case_model(data, belief, data.pool_values(), completion)
    net_config = NetConfig(
        n_features=data.layout.n_features,
        n_groups=data.layout.n_groups,
        n_actions=n_actions(data.layout),
        hidden=config.hidden,
        value_scale=config.value_scale,
    )
    net = make_network(net_config, seed=config.seed)
    train_env = InvestigationEnv(
        data.layout, data.train.values, data.train.labels, costs=config.costs
    )
    valid_env = InvestigationEnv(
        data.layout, data.valid.values, data.valid.labels, costs=config.costs
    )
    best, curve = expert_iteration(
        model,
        net,
        config.costs,
        train_env=train_env,
        train_owners=data.train.owners,
        valid_env=valid_env,
        valid_owners=data.valid.owners,
        config=config.expert,
        search=config.search,
        fold_models=fold_models,
        train_folds=folds,
        on_iteration=on_iteration,
        on_case=on_case,
    )
    seconds["expert iteration"] = time.perf_counter() - t

    stage("saving")
    info = {
        "trained_at": datetime.now(UTC).isoformat(),
        "table": table_path,
        "seed": config.seed,
        "splits": splits,
        "best_iteration": min(curve, key=lambda r: r.valid_mean_total_cost).iteration,
    }
    bundle = _bundle(data, config, belief, best, model, completion, fixed, info)
    path = bundle.save(bundle_dir(settings.data_dir))
    seconds["total"] = time.perf_counter() - t0

    run_id = None
    if log_mlflow:
        stage("logging to MLflow")
        run_id = _log_run(
            settings, config, bundle, path, curve, calibration, fixed, seconds, splits
        )
        bundle.info["run_id"] = run_id
        bundle.save(path)
    return AgentTrainResult(bundle, path, run_id, curve, calibration, fixed, seconds, splits)


def _log_run(
    settings: Settings,
    config: AgentTrainConfig,
    bundle: AgentBundle,
    path: Path,
    curve: list[IterationResult],
    calibration: dict[str, list[dict]],
    fixed: FixedOrderTuning,
    seconds: dict[str, float],
    splits: dict[str, tuple[int, int]],
) -> str:
    import mlflow

    with tracking.start_run(settings, EXPERIMENT_NAME, run_name="agent-train") as run:
        mlflow.set_tags(
            {"role": "investigation-agent", "text_model_source": bundle.layout.text_model_source}
        )
        mlflow.log_params(
            {
                **config.as_params(),
                "fixed_order": ",".join(bundle.layout.groups[g] for g in fixed.order),
                "fixed_threshold": fixed.threshold,
            }
        )
        for r in curve:
            metrics = {
                "valid_mean_total_cost": r.valid_mean_total_cost,
                "valid_scam_recall": r.valid_scam_recall,
                "valid_mean_evidence_cost": r.valid_mean_evidence_cost,
            }
            if r.selfplay_mean_total_cost is not None:
                metrics["selfplay_mean_total_cost"] = r.selfplay_mean_total_cost
            if r.policy_loss is not None and r.value_loss is not None:
                metrics.update(policy_loss=r.policy_loss, value_loss=r.value_loss)
            mlflow.log_metrics(metrics, step=r.iteration)
        for split, rows in calibration.items():
            for row in rows:
                mlflow.log_metric(f"{split}_belief_ece_mask{row['mask_size']}", row["ece"])
        mlflow.log_metrics({f"seconds_{k.replace(' ', '_')}": v for k, v in seconds.items()})
        mlflow.log_metric("fixed_order_valid_cost", fixed.valid_cost)
        mlflow.log_dict({"calibration_by_mask_size": calibration}, "calibration.json")
        mlflow.log_dict(
            {"groups": bundle.layout.describe(), "unassigned": list(bundle.layout.unassigned)},
            "groups.json",
        )
        mlflow.log_dict(
            {"splits": splits, "curve": [asdict(r) for r in curve]}, "learning_curve.json"
        )
        with tempfile.TemporaryDirectory() as tmp:
            mlflow.log_artifact(
                str(plot_learning_curve(curve, Path(tmp) / "learning_curve.png")),
                artifact_path="plots",
            )
        mlflow.log_artifacts(str(path), artifact_path="agent")
        return run.info.run_id


def load_training_table(settings: Settings, table: Path | None = None) -> tuple[pl.DataFrame, Path]:
    """The table to train on: ``table``, else ``features/training_text.parquet`` (with the
    ``textmodel_*`` columns) when present, else ``features/training.parquet``."""
    if table is None:
        text = settings.features_dir / "training_text.parquet"
        table = text if text.exists() else settings.features_dir / "training.parquet"
    if not table.exists():
        raise FileNotFoundError(f"no training table at {table}: run `scamguard features` first")
    return pl.read_parquet(table), table


def load_labels(settings: Settings) -> pl.LazyFrame | None:
    """The clean labels table (for point-in-time neighbour labels), or None if absent."""
    from scamguard.io import scan_table

    try:
        frame = scan_table(settings.clean_dir, "labels").select("user_id", "label", "decided_ts")
        if frame.head(1).collect().height == 0:
            return None
    except Exception:  # no clean data: every training label counts as known
        return None
    return frame
