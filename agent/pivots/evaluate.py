"""Pivot policies side by side on the same held-out cases.

:func:`play_case` runs one policy (a function ``(PivotModel, Node) -> step`` of
``agent.pivots.planners``) on one case of a :class:`~agent.pivots.env.PivotEnv`: it reveals the
case's own groups of ``own_mask`` first (every policy the same), then follows the policy's pivots
with the true review outcomes, and decides with the model (the case's best decision, and the
reviewed accounts worth blocking). :func:`report_rows` summarises the episodes per policy, with
the paired difference against greedy (``vs_greedy``: mean, 95% bootstrap interval) and the ring
members caught.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.belief import MaskedBelief
from agent.env import DECISIONS
from agent.evaluate import CaseSample, paired_difference, stratified_cases
from agent.pivots.belief import SCAM_BIN, graph_bins
from agent.pivots.env import DECIDE, EXPAND, REVEAL, REVIEW, Action, PivotEnv
from agent.pivots.planners import (
    EXPAND_STEP,
    REVIEW_STEP,
    STOP,
    Expectimax,
    Node,
    PivotModel,
    gather_everything,
    greedy,
    greedy_macro,
    hindsight_cost,
)
from agent.pivots.world import PivotData
from scamguard.costs import CostModel

StepFn = Callable[[PivotModel, Node], tuple[str, int]]


@dataclass(frozen=True)
class PivotEpisode:
    label: int
    decision: str
    total_cost: float
    evidence_cost: float
    decision_loss: float
    member_loss: float
    members_caught: int
    members_at_risk: int
    members_wrongly_blocked: int
    expected_cost: float  # evidence + the model's stop cost where it decided
    hindsight: float  # evidence of the own groups + :func:`hindsight_cost`
    expands: int
    reviews: int
    seconds: float


def play_case(
    policy: StepFn,
    env: PivotEnv,
    case: int,
    pm: PivotModel,
    belief: MaskedBelief,
    *,
    own_mask: int = 1,
) -> PivotEpisode:
    """One episode (module docstring)."""
    state = env.reset(case)
    for g in range(1, env.layout.n_groups):
        if own_mask >> g & 1:
            state, _ = env.step(state, Action(REVEAL, group=g))
    graph = env.graph(state)
    true_bins = graph_bins(belief, graph)
    start = time.perf_counter()
    p0 = float(belief.predict(env.values[[case]], np.asarray([state.mask]), threads=1)[0])
    node = Node.root(p0, graph)
    reviewed: list[tuple[int, int, int]] = []  # (identifier, account, bin)
    expands = 0
    while True:
        kind, i = policy(pm, node)
        if kind == STOP:
            break
        if kind == EXPAND_STEP:
            state, _ = env.step(state, Action(EXPAND, ident=i))
            node, expands = node.with_expanded(i), expands + 1
        elif kind == REVIEW_STEP:
            j = len(node.bins[i])
            state, _ = env.step(state, Action(REVIEW, ident=i, account=j))
            b = int(true_bins[i][j])
            node = node.with_bin(i, b)
            reviewed.append((i, j, b))
    stop, d = pm.stop_cost(node)
    b_case = pm.belief(node)
    members = frozenset(
        (i, j)
        for i, j, b in reviewed
        if b != SCAM_BIN and (q := pm.model.member_belief(b_case, b)) * pm.miss > (1 - q) * pm.wrong
    )
    seconds = time.perf_counter() - start
    state, _ = env.step(state, Action(DECIDE, decision=d, members=members))
    own = env.layout.cost_of(own_mask)
    return PivotEpisode(
        label=int(env.labels[case]),
        decision=DECISIONS[d],
        total_cost=state.total_cost,
        evidence_cost=state.evidence_cost,
        decision_loss=state.decision_loss,
        member_loss=state.member_loss,
        members_caught=state.members_caught,
        members_at_risk=state.members_at_risk,
        members_wrongly_blocked=state.members_wrongly_blocked,
        expected_cost=state.evidence_cost + stop,
        hindsight=own + hindsight_cost(pm, Node.root(p0, graph), true_bins),
        expands=expands,
        reviews=len(reviewed),
        seconds=seconds,
    )


def _mean(x: list[float], w: np.ndarray, sel: np.ndarray) -> float:
    return float(np.average(np.asarray(x)[sel], weights=w[sel])) if sel.any() else float("nan")


def report_rows(
    episodes: dict[str, list[PivotEpisode]],
    weights: np.ndarray,
    subsets: dict[str, np.ndarray],
    *,
    baseline: str = "greedy",
    seed: int = 0,
) -> list[dict]:
    """One row per policy: weighted means over every case and per subset (bool [n] masks), the
    ring members caught, and ``vs_greedy`` (paired difference in total cost against ``baseline``
    with its 95% bootstrap interval), overall and per subset."""
    w = np.asarray(weights, dtype=np.float64)
    rows = []
    for name, eps in episodes.items():
        every = np.ones(len(eps), bool)
        row: dict = {"policy": name}
        for subset, sel in {"all": every, **subsets}.items():
            part = [e for e, s in zip(eps, sel, strict=True) if s]
            stats: dict[str, Any] = {
                "cases": int(sel.sum()),
                "mean_total_cost": _mean([e.total_cost for e in eps], w, sel),
                "mean_expected_cost": _mean([e.expected_cost for e in eps], w, sel),
                "mean_hindsight": _mean([e.hindsight for e in eps], w, sel),
                "mean_evidence_cost": _mean([e.evidence_cost for e in eps], w, sel),
                "ring_members_caught": int(sum(e.members_caught for e in part)),
                "ring_members_at_risk": int(sum(e.members_at_risk for e in part)),
                "members_wrongly_blocked": int(sum(e.members_wrongly_blocked for e in part)),
                "scam_recall": float(np.mean([e.decision != "allow" for e in part if e.label]))
                if any(e.label for e in part)
                else float("nan"),
            }
            if baseline in episodes and sel.any():
                base = [e for e, s in zip(episodes[baseline], sel, strict=True) if s]
                diff, lo, hi = paired_difference(part, base, w[sel], seed=seed)
                stats["vs_greedy"] = {"diff": diff, "lo": lo, "hi": hi}
            if subset == "all":
                p50 = float(np.percentile([e.seconds for e in eps], 50) * 1000)
                row |= stats | {"p50_latency_ms": p50}
            else:
                row[subset] = stats
        rows.append(row)
    return rows


# name -> a policy for one case, given the model (expectimax keeps a memo per case)
POLICIES: dict[str, Callable[[PivotModel], StepFn]] = {
    "gather-everything": lambda pm: gather_everything,
    "greedy": lambda pm: greedy,
    "greedy-macro": lambda pm: greedy_macro,
}


@dataclass
class PivotEvaluation:
    rows: list[dict]  # :func:`report_rows`
    episodes: dict[str, list[PivotEpisode]]
    sample: CaseSample
    subsets: dict[str, np.ndarray]


def evaluate_pivots(
    pivots: PivotData,
    costs: CostModel,
    *,
    split: str = "test",
    cases: int = 2000,
    seed: int = 0,
    own_mask: int = 1,
    with_expectimax: bool = True,
    on_policy: Callable[[str, int], None] | None = None,
    on_case: Callable[[], None] | None = None,
) -> PivotEvaluation:
    """Every pivot policy on the same stratified sample of ``split`` (``agent.evaluate``'s
    sampling and weights), then :func:`report_rows` over every case, the fraud-ring scam cases,
    the cases with a linked scam to catch, and the cases with any graph."""
    part = pivots.data.splits[split]
    if part.size == 0:
        raise ValueError(f"no {split} cases")
    sample = stratified_cases(part.labels, cases, seed=seed)
    graphs = [pivots.graphs[split][r] for r in sample.rows]
    env = PivotEnv(
        pivots.data.layout, part.values[sample.rows], part.labels[sample.rows], graphs, costs=costs
    )
    pm = PivotModel(pivots.model, costs)
    policies = dict(POLICIES)
    if with_expectimax:
        policies["expectimax"] = Expectimax
    episodes: dict[str, list[PivotEpisode]] = {}
    for name, policy in policies.items():
        if on_policy is not None:
            on_policy(name, env.labels.size)
        episodes[name] = []
        for case in range(env.labels.size):
            episodes[name].append(
                play_case(policy(pm), env, case, pm, pivots.belief, own_mask=own_mask)
            )
            if on_case is not None:
                on_case()
    subsets = {
        "fraud_ring": part.typology[sample.rows] == "fraud_ring",
        "with_members_at_risk": np.asarray([g.members_at_risk() > 0 for g in graphs]),
        "with_graph": np.asarray([len(g.identifiers) > 0 for g in graphs]),
    }
    rows = report_rows(episodes, sample.weights, subsets, seed=seed)
    return PivotEvaluation(rows, episodes, sample, subsets)
