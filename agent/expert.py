"""Expert iteration: the search plays training cases, the network learns its visits and the outcome.

Each iteration:

1. **Self-play.** ``episodes`` training cases, drawn with ``scam_share`` of scams (importance
   weights restore the true class mix), are investigated by :class:`~agent.policy.MCTSPolicy`
   with the current network and root noise. Revealing a group returns the case's true values;
   the search itself completes unrevealed values from *other* users' cases. With cross-fitted
   models (``agent.crossfit``) the belief of a case's search was never trained on its user's
   cases, and its completions come from other users' folds.
2. **Targets.** For every step: the search's policy (the root visit shares with a PUCT root, the
   improved policy with a Gumbel root) and the outcome from
   that step on: minus the evidence still bought, minus the decision's loss. ``value_target``
   "realised" uses the true label; "expected" uses the expected loss of the decision taken at the
   belief reached with the case's true values (same mean if the belief is calibrated, far less
   variance with scams this rare); "search" uses the search's value of its own answer at that step
   (the policy target's mean Q, rather than the outcome of the noisy self-play actions); "mixed"
   is the mean of "search" and "expected".
3. **Fit.** Cross-entropy to the visits plus squared error to the outcome (in ``value_scale``
   units), weighted, on the samples of the last ``replay`` iterations.
4. **Validate.** The search with the new network (no noise) on a fixed stratified sample of the
   validation split; the network with the lowest validation cost is kept.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from agent.env import InvestigationEnv, decision_losses
from agent.episode import Episode
from agent.evaluate import CaseSample, play, stratified_cases, summarise
from agent.mcts import SearchOutput
from agent.network import PolicyValueNet
from agent.planner import CaseModel
from agent.policy import MCTSPolicy
from scamguard.costs import CostModel

VALUE_TARGETS: tuple[str, ...] = ("expected", "realised", "search", "mixed")


@dataclass(frozen=True)
class ExpertIterationConfig:
    iterations: int = 8  # self-play / fit / validate rounds
    episodes: int = 1000  # self-play episodes per iteration
    scam_share: float = 0.3  # share of scam cases among self-play episodes
    dirichlet_fraction: float = 0.25  # root noise in self-play
    dirichlet_alpha: float = 0.5
    epochs: int = 10  # passes over the replay samples per iteration
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    replay: int = 3  # iterations of samples kept
    valid_cases: int = 2000  # stratified validation cases per evaluation
    value_target: str = "expected"  # see VALUE_TARGETS
    seed: int = 0

    def __post_init__(self) -> None:
        if self.value_target not in VALUE_TARGETS:
            raise ValueError(f"value_target must be one of {VALUE_TARGETS}: {self.value_target!r}")

    def as_params(self) -> dict:
        return {f"ei_{k}": v for k, v in asdict(self).items()}


@dataclass
class Samples:
    """Training samples: inputs ``x`` [n, F], visit targets ``pi`` [n, A], ``legal`` [n, A],
    outcomes ``z`` [n] (cost units), weights ``w`` [n]."""

    x: np.ndarray
    pi: np.ndarray
    legal: np.ndarray
    z: np.ndarray
    w: np.ndarray

    @staticmethod
    def concat(parts: list[Samples]) -> Samples:
        return Samples(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("x", "pi", "legal", "z", "w")
            )
        )

    @property
    def size(self) -> int:
        return int(self.z.shape[0])


def _outcomes(
    episode: Episode, step_costs: np.ndarray, costs: CostModel, target: str
) -> np.ndarray:
    future_evidence = np.cumsum(step_costs[::-1])[::-1]  # [T] evidence bought from step t on
    last = episode.steps[-1]
    decision = ("allow", "block", "escalate").index(episode.decision)
    if target == "realised":
        loss = episode.decision_loss
    else:
        loss = float(decision_losses(costs, np.asarray([last.belief_before]))[0, decision])
    return -(future_evidence + loss)


def _policy_value(out: SearchOutput) -> float:
    """The value of the search's answer at its root: its policy target's mean Q over the
    actions with a Q (decisions always have one; reveals once expanded)."""
    known = out.legal & ~np.isnan(out.q_values)
    pi = np.where(known, out.policy, 0.0)
    if pi.sum() <= 0:
        return float(out.root_value)
    return float(np.dot(pi, np.where(known, out.q_values, 0.0)) / pi.sum())


def _value_targets(
    episode: Episode,
    step_costs: np.ndarray,
    costs: CostModel,
    target: str,
    searches: list[SearchOutput],
) -> np.ndarray:
    """Value targets [n] of an episode's ``n`` searched steps (cost units; see the module doc)."""
    n = len(searches)
    if target in ("expected", "realised"):
        return _outcomes(episode, step_costs, costs, target)[:n]
    root = np.asarray([_policy_value(o) for o in searches])
    if target == "search":
        return root
    return 0.5 * (root + _outcomes(episode, step_costs, costs, "expected")[:n])


def self_play(
    model: CaseModel,
    net: PolicyValueNet,
    costs: CostModel,
    env: InvestigationEnv,
    owners: np.ndarray,
    sample: CaseSample,
    *,
    config: ExpertIterationConfig,
    search: dict[str, Any],
    seed: int,
    fold_models: Sequence[CaseModel] = (),
    folds: np.ndarray | None = None,
    on_case: Callable[[], None] | None = None,
) -> tuple[Samples, list[Episode]]:
    """Self-play episodes on ``sample`` (env rows) and their training samples.

    With ``fold_models`` (``agent.crossfit``), a case of fold ``folds[row]`` is searched with
    ``fold_models[folds[row]]`` (a belief not trained on its user's cases), else with ``model``.
    """
    if fold_models and folds is None:
        raise ValueError("fold_models need the folds of the env rows")
    if folds is None or not fold_models:
        folds = np.zeros(env.labels.size, dtype=np.int64)  # every row: the one policy
    policies = [
        MCTSPolicy(
            m,
            net,
            costs,
            **search,
            dirichlet_fraction=config.dirichlet_fraction,
            dirichlet_alpha=config.dirichlet_alpha,
            seed=seed + i,
            record=True,
        )
        for i, m in enumerate(fold_models or [model])
    ]
    parts: list[Samples] = []
    episodes: list[Episode] = []
    group_cost = env.layout.costs
    for row, weight in zip(sample.rows, sample.weights, strict=True):
        policy = policies[int(folds[row])]
        policy.history.clear()
        (episode,) = play(policy, env, np.asarray([row]), owners=owners[[row]])
        episodes.append(episode)
        outs = policy.history
        step_costs = np.asarray(
            [
                group_cost[s.action + 1] if s.action < env.layout.n_groups - 1 else 0.0
                for s in episode.steps
            ]
        )
        n = len(outs)  # one search per step
        z = _value_targets(episode, step_costs, costs, config.value_target, outs)
        parts.append(
            Samples(
                x=np.stack([o.network_input for o in outs]),
                pi=np.stack([o.policy for o in outs]),
                legal=np.stack([o.legal for o in outs]),
                z=z,
                w=np.full(n, weight),
            )
        )
        if on_case is not None:
            on_case()
    return Samples.concat(parts), episodes


def fit_network(
    net: PolicyValueNet,
    samples: Samples,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    weight_decay: float,
    seed: int,
) -> dict[str, float]:
    """Fit ``net`` in place to the visit targets and outcomes; returns the last epoch's losses."""
    g = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(samples.x.astype(np.float32))
    pi = torch.from_numpy(samples.pi.astype(np.float32))
    legal = torch.from_numpy(samples.legal)
    z = torch.from_numpy((samples.z / net.config.value_scale).astype(np.float32))
    w = torch.from_numpy((samples.w / samples.w.mean()).astype(np.float32))
    opt = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
    net.train()
    stats = {"policy_loss": float("nan"), "value_loss": float("nan")}
    for _ in range(epochs):
        order = torch.randperm(samples.size, generator=g)
        tot_p = tot_v = tot_w = 0.0
        for start in range(0, samples.size, batch_size):
            idx = order[start : start + batch_size]
            logits, value = net(x[idx])
            logits = logits.masked_fill(~legal[idx], -1e9)
            policy_loss = -(pi[idx] * F.log_softmax(logits, dim=-1)).sum(-1)  # (B,)
            value_loss = (value - z[idx]) ** 2  # (B,)
            wb = w[idx]
            loss = (wb * (policy_loss + value_loss)).sum() / wb.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot_p += float((wb * policy_loss).sum().detach())
            tot_v += float((wb * value_loss).sum().detach())
            tot_w += float(wb.sum().detach())
        stats = {"policy_loss": tot_p / tot_w, "value_loss": tot_v / tot_w}
    net.eval()
    return stats


@dataclass
class IterationResult:
    iteration: int
    valid_mean_total_cost: float
    valid_scam_recall: float
    valid_mean_evidence_cost: float
    selfplay_mean_total_cost: float | None
    policy_loss: float | None
    value_loss: float | None
    samples: int
    seconds: float


def validate(
    model: CaseModel,
    net: PolicyValueNet,
    costs: CostModel,
    env: InvestigationEnv,
    sample: CaseSample,
    *,
    owners: np.ndarray,
    search: dict[str, Any],
    on_case: Callable[[], None] | None = None,
) -> tuple[float, float, float]:
    """(mean total cost, scam recall, mean evidence cost) of the search with ``net`` on ``sample``.

    ``owners`` [N] are the env rows' user codes: completions skip the case's own user's training
    rows, as in ``agent-eval`` (a user's earlier cases carry labels decided later).
    """
    policy = MCTSPolicy(model, net, costs, **search)
    episodes = play(policy, env, sample.rows, owners=owners[sample.rows], on_case=on_case)
    report = summarise("mcts", episodes, sample.weights)
    return report.mean_total_cost, report.scam_recall, report.mean_evidence_cost


def _selfplay_sample(
    y: np.ndarray, config: ExpertIterationConfig, rng: np.random.Generator
) -> CaseSample:
    """``config.episodes`` training rows for one round of self-play: ``scam_share`` of them scams
    (all the scams if there are fewer), the rest benign; weights restore the labels' mix."""
    n_scam = int(round(config.episodes * config.scam_share))
    scam_rows, benign_rows = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rows = np.concatenate(
        [
            rng.choice(scam_rows, min(n_scam, scam_rows.size), replace=False),
            rng.choice(benign_rows, config.episodes - min(n_scam, scam_rows.size), replace=False),
        ]
    )
    is_scam = y[rows] == 1
    share = is_scam.mean()
    prior = y.mean()
    weights = np.where(is_scam, prior / share, (1 - prior) / (1 - share))
    return CaseSample(rows, weights, int(is_scam.sum()), int((~is_scam).sum()), y.size)


def _fit_on_replay(
    net: PolicyValueNet, replay: list[Samples], config: ExpertIterationConfig, *, seed: int
) -> dict[str, float]:
    """Fit ``net`` in place on the samples of the rounds kept (``config.replay``); returns the
    last epoch's losses."""
    return fit_network(
        net,
        Samples.concat(replay),
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        seed=seed,
    )


def expert_iteration(
    model: CaseModel,
    net: PolicyValueNet,
    costs: CostModel,
    *,
    train_env: InvestigationEnv,
    train_owners: np.ndarray,
    valid_env: InvestigationEnv,
    valid_owners: np.ndarray,
    config: ExpertIterationConfig,
    search: dict[str, Any] | None = None,
    fold_models: Sequence[CaseModel] = (),
    train_folds: np.ndarray | None = None,
    on_iteration: Callable[[IterationResult], None] | None = None,
    on_case: Callable[[str], None] | None = None,
) -> tuple[PolicyValueNet, list[IterationResult]]:
    """Run ``config.iterations`` rounds (module docstring); returns the best network and the curve.

    ``search`` holds the search keyword arguments (``agent.mcts.search``), the same for
    self-play (plus root noise) and validation. ``fold_models`` / ``train_folds`` [N] make
    self-play out of sample (``agent.crossfit``); validation always uses ``model``.
    ``on_case(stage)`` is called after every played case (progress bars); ``on_iteration`` after
    every round, including round 0 (the untrained network on validation).
    """
    import time

    search = dict(search or {})
    rng = np.random.default_rng(config.seed)
    # the sample `agent-eval --split valid --cases <valid_cases> --seed <config.seed>` plays too
    valid_sample = stratified_cases(valid_env.labels, config.valid_cases, seed=config.seed)
    y = train_env.labels
    history: list[IterationResult] = []

    def tick(stage: str) -> Callable[[], None] | None:
        return None if on_case is None else (lambda: on_case(stage))

    def validation() -> tuple[float, float, float]:
        """(mean total cost, scam recall, mean evidence cost) of ``net`` as it is now."""
        return validate(
            model,
            net,
            costs,
            valid_env,
            valid_sample,
            owners=valid_owners,
            search=search,
            on_case=tick("validation"),
        )

    def finished(result: IterationResult) -> None:
        history.append(result)
        if on_iteration:
            on_iteration(result)

    started = time.perf_counter()
    cost, recall, evidence = validation()
    result = IterationResult(
        0, cost, recall, evidence, None, None, None, 0, time.perf_counter() - started
    )
    finished(result)
    best_net, best_cost = copy.deepcopy(net), cost
    replay: list[Samples] = []
    for it in range(1, config.iterations + 1):
        started = time.perf_counter()
        sample = _selfplay_sample(y, config, rng)
        samples, episodes = self_play(
            model,
            net,
            costs,
            train_env,
            train_owners,
            sample,
            config=config,
            search=search,
            seed=config.seed * 1000 + it,
            fold_models=fold_models,
            folds=train_folds,
            on_case=tick("self-play"),
        )
        replay = [*replay, samples][-config.replay :]
        stats = _fit_on_replay(net, replay, config, seed=config.seed * 1000 + it)
        selfplay_cost = float(np.average([e.total_cost for e in episodes], weights=sample.weights))
        cost, recall, evidence = validation()
        result = IterationResult(
            it,
            cost,
            recall,
            evidence,
            selfplay_cost,
            stats["policy_loss"],
            stats["value_loss"],
            samples.size,
            time.perf_counter() - started,
        )
        finished(result)
        if cost < best_cost:
            best_net, best_cost = copy.deepcopy(net), cost
    return best_net, history
