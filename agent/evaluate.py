"""Policies side by side on the same held-out cases: costs, recall, block and escalation rates, latency.

Scams are rare (under 1% of case-weeks), so a plain random sample of a few thousand cases holds a
handful of them. :func:`stratified_cases` keeps every scam case (up to a cap) and a random sample
of benign ones, with weights ``class size / class sample size``; every mean below is weighted by
them, i.e. an unbiased estimate of the mean over the whole split. Rates within a class (scam recall,
benign block rate) need no weights.

The comparison is paired (every policy plays the same cases), and :func:`paired_difference` gives a
bootstrap interval of the difference in mean total cost between two policies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from agent.env import DECISIONS, InvestigationEnv, best_decision, decision_losses
from agent.episode import Episode, Policy, run_episode

if TYPE_CHECKING:
    from agent.belief import MaskedBelief
    from agent.bundle import AgentBundle
    from agent.groups import GroupLayout
    from scamguard.costs import CostModel

REPORT_KEYS: tuple[str, ...] = (
    "policy",
    "mean_total_cost",
    "mean_evidence_cost",
    "mean_decision_loss",
    "scam_recall",
    "benign_block_rate",
    "escalation_rate",
    "p50_latency_ms",
    "p99_latency_ms",
)


# Greedy's completions: (scam, benign) nearest cases, chosen on validation. With 12 / 20 (the
# searches' count before 48 / 80) greedy bought more evidence and cost more on validation
# (docs/results/agent.md: the neighbour counts tried; the cause is not isolated).
GREEDY_NEIGHBOURS: tuple[int, int] = (96, 160)


@dataclass(frozen=True)
class CaseSample:
    """Rows of a split to play (``rows`` [n]) and their weights [n] (see the module docstring)."""

    rows: np.ndarray
    weights: np.ndarray
    scams: int
    benign: int
    split_size: int


def stratified_cases(
    labels: np.ndarray, n: int, *, seed: int = 0, max_scams: int | None = None
) -> CaseSample:
    """Every scam row (at most ``max_scams``, default ``n // 2``) plus random benign rows, ``n`` in all.

    With ``n`` >= the split size, every row with weight 1.
    """
    y = np.asarray(labels).astype(np.int8)
    if n >= y.size:
        rows = np.arange(y.size)
        return CaseSample(rows, np.ones(y.size), int(y.sum()), int((y == 0).sum()), y.size)
    rng = np.random.default_rng(seed)
    scam, benign = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    cap = n // 2 if max_scams is None else max_scams
    take_s = rng.permutation(scam)[: min(cap, scam.size)]
    take_b = rng.permutation(benign)[: min(n - take_s.size, benign.size)]
    rows = np.sort(np.concatenate([take_s, take_b]))
    w_s = scam.size / max(take_s.size, 1)
    w_b = benign.size / max(take_b.size, 1)
    weights = np.where(y[rows] == 1, w_s, w_b)
    return CaseSample(rows, weights, int(take_s.size), int(take_b.size), y.size)


@dataclass(frozen=True)
class PolicyReport:
    policy: str
    mean_total_cost: float
    mean_evidence_cost: float
    mean_decision_loss: float
    scam_recall: float  # share of scam cases blocked or escalated
    benign_block_rate: float  # share of benign cases blocked
    escalation_rate: float  # weighted share of all cases escalated
    p50_latency_ms: float
    p99_latency_ms: float

    def as_dict(self) -> dict:
        return asdict(self)


def summarise(name: str, episodes: list[Episode], weights: np.ndarray) -> PolicyReport:
    """The report of ``episodes`` [n] weighted by ``weights`` [n]."""
    w = np.asarray(weights, dtype=np.float64)
    total = np.asarray([e.total_cost for e in episodes])
    evidence = np.asarray([e.evidence_cost for e in episodes])
    loss = np.asarray([e.decision_loss for e in episodes])
    decision = np.asarray([e.decision for e in episodes])
    y = np.asarray([e.label for e in episodes]).astype(bool)
    ms = np.asarray([e.seconds for e in episodes]) * 1000.0

    def rate(sel: np.ndarray, hit: np.ndarray) -> float:
        return float(hit[sel].mean()) if sel.any() else float("nan")

    return PolicyReport(
        policy=name,
        mean_total_cost=float(np.average(total, weights=w)),
        mean_evidence_cost=float(np.average(evidence, weights=w)),
        mean_decision_loss=float(np.average(loss, weights=w)),
        scam_recall=rate(y, decision != "allow"),
        benign_block_rate=rate(~y, decision == "block"),
        escalation_rate=float(np.average(decision == "escalate", weights=w)),
        p50_latency_ms=float(np.percentile(ms, 50)),
        p99_latency_ms=float(np.percentile(ms, 99)),
    )


def play(
    policy: Policy,
    env: InvestigationEnv,
    cases: np.ndarray,
    *,
    owners: np.ndarray | None = None,
    on_case: Callable[[], None] | None = None,
) -> list[Episode]:
    """One episode per env row in ``cases`` [n]; ``owners`` [n] user codes for completions."""
    episodes = []
    for i, case in enumerate(cases):
        own = None if owners is None else int(owners[i])
        episodes.append(run_episode(policy, env, int(case), owner=own))
        if on_case is not None:
            on_case()
    return episodes


def paired_difference(
    a: list[Episode],
    b: list[Episode],
    weights: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean total cost of ``a`` minus ``b`` on the same cases, with a 95% bootstrap interval.

    Cases are resampled within each class (the strata of :func:`stratified_cases`).
    """
    w = np.asarray(weights, dtype=np.float64)
    d = np.asarray([x.total_cost - y.total_cost for x, y in zip(a, b, strict=True)])
    y = np.asarray([x.label for x in a]).astype(bool)
    rng = np.random.default_rng(seed)
    point = float(np.average(d, weights=w))
    strata = [np.flatnonzero(y), np.flatnonzero(~y)]
    boots = np.empty(n_boot)
    for i in range(n_boot):
        idx = np.concatenate([rng.choice(s, s.size) for s in strata if s.size])
        boots[i] = np.average(d[idx], weights=w[idx])
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return point, float(lo), float(hi)


@dataclass
class AgentEvaluation:
    """The side-by-side run: one report per policy, on ``sample`` of ``split``."""

    reports: list[PolicyReport]
    episodes: dict[str, list[Episode]]
    sample: CaseSample
    split: str
    versus: dict[str, tuple[float, float, float]]  # "<a> - <b>" -> (diff, lo, hi)
    hindsight_bound: float  # see :func:`hindsight_bound`
    expected_cost: dict[str, float]  # policy -> weighted mean of :func:`expected_costs`
    typology_scams: dict[str, int]  # typology -> scam cases in the sample
    typology_recall: dict[str, dict[str, float]]  # policy -> typology -> scam recall
    cases: pl.DataFrame  # ``user_id, as_of`` of the sample's rows, in play order


def recall_by_group(
    episodes: list[Episode], groups: np.ndarray
) -> tuple[dict[str, int], dict[str, float]]:
    """(scam cases, scam recall) per group of the scam cases among ``episodes`` [n];
    ``groups`` [n] names each case's group, e.g. its typology (benign cases are skipped; an empty
    name is "unknown")."""
    caught: dict[str, list[bool]] = {}
    for episode, kind in zip(episodes, groups, strict=True):
        if episode.label == 1:
            name = "unknown" if kind is None or kind == "" else str(kind)
            caught.setdefault(name, []).append(episode.decision != "allow")
    names = sorted(caught)
    return (
        {k: len(caught[k]) for k in names},
        {k: float(np.mean(caught[k])) for k in names},
    )


def recall_by_policy(
    episodes: dict[str, list[Episode]], groups: np.ndarray
) -> tuple[dict[str, int], dict[str, dict[str, float]]]:
    """:func:`recall_by_group` for every policy's episodes (all on the same cases, ``groups``
    [n]): (scam cases per group, policy -> group -> scam recall)."""
    scams: dict[str, int] = {}
    recall: dict[str, dict[str, float]] = {}
    for name, eps in episodes.items():
        scams, recall[name] = recall_by_group(eps, groups)
    return scams, recall


def hindsight_costs(
    layout: GroupLayout,
    belief: MaskedBelief,
    costs: CostModel,
    values: np.ndarray,
) -> np.ndarray:
    """Per case [N], the cheapest ``cost(mask) + min_d E[loss(d) | belief(values on mask)]``.

    The minimum is over every mask, chosen *knowing* the case's values ``values`` [N, D], which no
    policy does: no policy that decides with ``belief`` has a lower cost in this currency on any
    case (see :func:`expected_costs`).
    """
    n = values.shape[0]
    best = np.full(n, np.inf)
    for mask in range(layout.event_mask, layout.full_mask + 1, 2):  # every mask with the event
        p = belief.predict(values, np.full(n, mask))
        best = np.minimum(best, layout.cost_of(mask) + best_decision(costs, p)[1])
    return best


def hindsight_bound(
    layout: GroupLayout,
    belief: MaskedBelief,
    costs: CostModel,
    values: np.ndarray,
    weights: np.ndarray,
) -> float:
    """A lower bound on the expected mean total cost of any policy that decides with ``belief``:
    :func:`hindsight_costs` [N] averaged with ``weights`` [N]. Not a policy: a reference for how
    much room the evidence leaves."""
    return float(np.average(hindsight_costs(layout, belief, costs, values), weights=weights))


def final_masks(layout: GroupLayout, episodes: list[Episode]) -> np.ndarray:
    """The mask [n] each episode decided at: the event group plus every group it revealed."""
    masks = np.full(len(episodes), layout.event_mask, dtype=np.int64)
    for i, episode in enumerate(episodes):
        for group in episode.groups_revealed:
            masks[i] |= 1 << layout.groups.index(group)
    return masks


def expected_costs(
    layout: GroupLayout,
    belief: MaskedBelief,
    costs: CostModel,
    values: np.ndarray,
    episodes: list[Episode],
) -> np.ndarray:
    """Per episode [n], its evidence cost plus the loss its decision is *expected* to cost under
    ``belief`` at the values it saw (``values`` [n, D], the episodes' cases in order).

    The currency of :func:`hindsight_costs`: the realised decision loss replaces this expectation
    by the case's label, so the two differ by label noise and by the belief's miscalibration on
    the split, while this one compares a policy with the hindsight reference case by case.
    """
    p = belief.predict(values, final_masks(layout, episodes))
    decided = np.asarray([DECISIONS.index(e.decision) for e in episodes])
    loss = decision_losses(costs, p)[np.arange(len(episodes)), decided]
    return np.asarray([e.evidence_cost for e in episodes]) + loss


def evaluate_agent(
    bundle: AgentBundle,
    table: pl.DataFrame,
    *,
    split: str = "test",
    cases: int = 4000,
    seed: int = 0,
    untrained_seed: int = 0,
    greedy_neighbours: tuple[int, int] = GREEDY_NEIGHBOURS,
    with_expectimax: bool = False,
    on_policy: Callable[[str, int], None] | None = None,
    on_case: Callable[[], None] | None = None,
) -> AgentEvaluation:
    """Every policy on the same stratified sample of ``split`` (module docstring).

    Policies: gather-everything, fixed order (order and threshold tuned on valid at training),
    greedy one-step value of information, MCTS with an untrained network, MCTS with the trained
    network. Greedy completes from its own ``greedy_neighbours`` = (scam, benign) nearest cases
    (:data:`GREEDY_NEIGHBOURS`), the searches from the bundle's completion settings.
    ``with_expectimax`` adds, last, the exact solution of the searches' model
    (:class:`agent.expectimax.ExpectimaxPolicy`, same completions and bins): the ceiling of search.
    ``on_policy(name, n)`` announces each policy, ``on_case`` ticks per case.
    """
    from agent.baselines import FixedOrder, GatherEverything, GreedyVOI

    part = table.filter(pl.col("split") == split) if "split" in table.columns else table
    if part.height == 0:
        raise ValueError(f"no {split} cases in the table")
    sample = stratified_cases(part["label"].to_numpy(), cases, seed=seed)
    sampled = part[sample.rows]
    chosen = bundle.cases_from_table(sampled)
    env = InvestigationEnv(bundle.layout, chosen.values, chosen.labels, costs=bundle.costs)
    policies: list[Policy] = [GatherEverything(bundle.layout, bundle.belief, bundle.costs)]
    if bundle.fixed_order is not None:
        policies.append(
            FixedOrder(
                bundle.layout,
                bundle.belief,
                bundle.costs,
                order=bundle.fixed_order.order,
                threshold=bundle.fixed_order.threshold,
            )
        )
    policies += [
        GreedyVOI(
            bundle.case_model().with_neighbours(*greedy_neighbours),
            bundle.costs,
        ),
        bundle.policy(net=bundle.untrained_net(seed=untrained_seed), name="mcts-untrained"),
        bundle.policy(name="mcts-trained"),
    ]
    if with_expectimax:
        from agent.expectimax import ExpectimaxPolicy
        from agent.mcts import DEFAULT_BINS

        bins = tuple(bundle.search.get("belief_bins", DEFAULT_BINS))
        policies.append(ExpectimaxPolicy(bundle.case_model(), bundle.costs, belief_bins=bins))
    rows = np.arange(chosen.size)
    episodes: dict[str, list[Episode]] = {}
    for policy in policies:
        if on_policy is not None:
            on_policy(policy.name, rows.size)
        episodes[policy.name] = play(policy, env, rows, owners=chosen.owners, on_case=on_case)
    reports = [summarise(name, eps, sample.weights) for name, eps in episodes.items()]
    versus = {}
    trained = episodes["mcts-trained"]
    for name, eps in episodes.items():
        if name != "mcts-trained":
            versus[f"mcts-trained - {name}"] = paired_difference(
                trained, eps, sample.weights, seed=seed
            )
    bound = hindsight_bound(
        bundle.layout, bundle.belief, bundle.costs, chosen.values, sample.weights
    )
    expected = {
        name: float(
            np.average(
                expected_costs(bundle.layout, bundle.belief, bundle.costs, chosen.values, eps),
                weights=sample.weights,
            )
        )
        for name, eps in episodes.items()
    }
    scams, by_typology = recall_by_policy(episodes, chosen.typology)
    return AgentEvaluation(
        reports,
        episodes,
        sample,
        split,
        versus,
        bound,
        expected,
        scams,
        by_typology,
        sampled.select("user_id", "as_of"),
    )
