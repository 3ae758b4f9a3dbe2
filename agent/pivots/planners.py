"""Policies over the pivots, in the model of ``agent.pivots.belief``, and the exact solution of it.

Every policy sees a :class:`Node`: the case's own belief ``p0`` (at the evidence mask the
investigation starts from), each identifier's kind and number of accounts (the case's own record:
the bounded graph's shape, not who is behind it), which identifiers are expanded and the bins of
the accounts reviewed so far. Accounts behind one identifier are exchangeable before review, so
"review the next account of identifier i" is the one review action per identifier.

In the model a node's *stop cost* is the expected cost of deciding now: the case's best decision at
its belief ``b``, each reviewed unlabelled account blocked when ``q M > (1 - q) W`` (its belief q),
and each account not reviewed expected to be a missed scam with the model's rate. Policies:

* :func:`gather_everything`: expand every identifier, review every account, then decide;
* :func:`greedy`: one-step value of information: a review is worth the drop of the stop cost it is
  expected to bring, less its cost; an expansion alone changes no belief, so greedy never expands
  (and, with nothing expanded, never reviews);
* :func:`greedy_macro`: greedy where "expand i, then review its first account" is one step;
* :class:`Expectimax`: the exact optimum of the model over the whole pivot tree (memoised);
* :func:`hindsight_cost`: per case, the cheapest set of reviews chosen knowing every account's
  bin (the model's currency): no policy expects less on that case.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from agent.env import decision_losses
from agent.pivots.belief import SCAM_BIN, GraphModel, kind_index
from agent.pivots.graph import CaseGraph
from scamguard.costs import CostModel

EXPAND_STEP, REVIEW_STEP, STOP = "expand", "review", "stop"


@dataclass(frozen=True)
class Node:
    p0: float
    kinds: tuple[int, ...]  # [I] kind index per identifier
    sizes: tuple[int, ...]  # [I] accounts per identifier
    expanded: frozenset[int] = frozenset()
    bins: tuple[tuple[int, ...], ...] = ()  # [I] sorted bins of the accounts reviewed so far

    @classmethod
    def root(cls, p0: float, graph: CaseGraph) -> Node:
        kinds = tuple(kind_index(i.kind) for i in graph.identifiers)
        return cls(
            p0,
            kinds,
            tuple(len(i.accounts) for i in graph.identifiers),
            bins=tuple(() for _ in kinds),
        )

    @property
    def depth(self) -> int:
        return sum(len(b) for b in self.bins)

    def with_expanded(self, i: int) -> Node:
        return replace(self, expanded=self.expanded | {i})

    def with_bin(self, i: int, b: int) -> Node:
        bins = list(self.bins)
        bins[i] = tuple(sorted((*bins[i], b)))
        return replace(self, bins=tuple(bins))

    def steps(self) -> list[tuple[str, int]]:
        out = [(EXPAND_STEP, i) for i in range(len(self.kinds)) if i not in self.expanded]
        return out + [
            (REVIEW_STEP, i) for i in sorted(self.expanded) if len(self.bins[i]) < self.sizes[i]
        ]


class PivotModel:
    """The model's belief, stop cost and chance step at a :class:`Node`."""

    def __init__(self, model: GraphModel, costs: CostModel) -> None:
        self.model, self.costs = model, costs
        w = costs.pivots.member_weight
        self.miss, self.wrong = w * costs.missed_scam, w * costs.wrongful_block
        self._beliefs: dict[tuple, float] = {}  # (p0, kinds, bins) -> belief

    def belief(self, node: Node) -> float:
        key = (node.p0, node.kinds, node.bins)
        cached = self._beliefs.get(key)
        if cached is None:
            s = sum(self.model.llr(node.kinds[i], b) for i, bs in enumerate(node.bins) for b in bs)
            cached = self._beliefs[key] = self.model.case_belief(node.p0, s, node.depth)
            if len(self._beliefs) > 1_000_000:
                self._beliefs.clear()
        return cached

    def members_to_block(self, node: Node) -> list[tuple[int, int]]:
        """(identifier, position in its sorted bins) of the reviewed accounts worth blocking."""
        b = self.belief(node)
        out = []
        for i, bs in enumerate(node.bins):
            for k, bin_ in enumerate(bs):
                q = self.model.member_belief(b, bin_)
                if bin_ != SCAM_BIN and q * self.miss > (1 - q) * self.wrong:
                    out.append((i, k))
        return out

    def stop_cost(self, node: Node) -> tuple[float, int]:
        """(expected cost of deciding now, the case's best decision index)."""
        b = self.belief(node)
        case = decision_losses(self.costs, np.asarray([b]))[0]
        d = int(case.argmin())
        total = float(case[d])
        for i, bs in enumerate(node.bins):
            for bin_ in bs:
                if bin_ != SCAM_BIN:
                    q = self.model.member_belief(b, bin_)
                    total += min(q * self.miss, (1 - q) * self.wrong)
            left = node.sizes[i] - len(bs)
            total += left * self.model.unreviewed_belief(b, node.kinds[i]) * self.miss
        return total, d

    def outcomes(self, node: Node, i: int) -> list[tuple[float, Node]]:
        """(probability, child) of reviewing the next account of identifier ``i``."""
        probs = self.model.bin_probs(self.belief(node), node.kinds[i])
        return [(float(p), node.with_bin(i, b)) for b, p in enumerate(probs) if p > 0]

    def step_cost(self, step: str) -> float:
        return self.costs.pivots.expand if step == EXPAND_STEP else self.costs.pivots.review


def one_step(pm: PivotModel, node: Node, step: tuple[str, int]) -> float:
    """Expected stop cost after ``step`` plus its cost (an expansion: the stop cost unchanged)."""
    kind, i = step
    if kind == EXPAND_STEP:
        return pm.step_cost(kind) + pm.stop_cost(node)[0]
    return pm.step_cost(kind) + sum(p * pm.stop_cost(c)[0] for p, c in pm.outcomes(node, i))


def greedy(pm: PivotModel, node: Node) -> tuple[str, int]:
    now = pm.stop_cost(node)[0]
    best, choice = now, (STOP, -1)
    for step in node.steps():
        q = one_step(pm, node, step)
        if q < best - 1e-12:
            best, choice = q, step
    return choice


def greedy_macro(pm: PivotModel, node: Node) -> tuple[str, int]:
    """Greedy, valuing "expand i then review its first account" as one step."""
    now = pm.stop_cost(node)[0]
    best, choice = now, (STOP, -1)
    for step in node.steps():
        kind, i = step
        if kind == EXPAND_STEP:
            q = pm.step_cost(kind) + one_step(pm, node.with_expanded(i), (REVIEW_STEP, i))
        else:
            q = one_step(pm, node, step)
        if q < best - 1e-12:
            best, choice = q, step
    return choice


def gather_everything(pm: PivotModel, node: Node) -> tuple[str, int]:
    steps = node.steps()
    return steps[0] if steps else (STOP, -1)


class Expectimax:
    """The exact minimum expected cost of the model from a node (memoised over nodes)."""

    def __init__(self, pm: PivotModel, *, max_nodes: int = 2_000_000) -> None:
        self.pm, self.max_nodes = pm, max_nodes
        self.memo: dict[Node, float] = {}

    def value(self, node: Node) -> float:
        cached = self.memo.get(node)
        if cached is not None:
            return cached
        if len(self.memo) >= self.max_nodes:
            raise RuntimeError(f"expectimax exceeded max_nodes={self.max_nodes}")
        best = self.pm.stop_cost(node)[0]
        for step in node.steps():
            q = self.q_value(node, step, best)
            best = min(best, q)
        self.memo[node] = best
        return best

    def q_value(self, node: Node, step: tuple[str, int], bound: float = np.inf) -> float:
        kind, i = step
        acc = self.pm.step_cost(kind)
        if acc >= bound:
            return np.inf  # every value is >= 0: cannot beat the bound
        if kind == EXPAND_STEP:
            return acc + self.value(node.with_expanded(i))
        for p, child in self.pm.outcomes(node, i):
            acc += p * self.value(child)
        return acc

    def __call__(self, pm: PivotModel, node: Node) -> tuple[str, int]:
        best, choice = self.value(node), (STOP, -1)
        stop = pm.stop_cost(node)[0]
        if stop <= best + 1e-12:
            return choice
        for step in node.steps():
            if self.q_value(node, step) <= best + 1e-12:
                return step
        return choice


def hindsight_cost(pm: PivotModel, node: Node, true_bins: list[np.ndarray]) -> float:
    """The cheapest (evidence + stop cost) over every set of reviews, knowing each account's bin
    (``true_bins`` [I] arrays). Expansions are paid only where a review needs them."""
    per_ident = []
    for bins in true_bins:
        options = []
        for r in range(len(bins) + 1):
            for subset in itertools.combinations(range(len(bins)), r):
                cost = 0.0 if r == 0 else pm.costs.pivots.expand + r * pm.costs.pivots.review
                options.append((cost, tuple(sorted(int(bins[j]) for j in subset))))
        per_ident.append(options)
    best = np.inf
    for combo in itertools.product(*per_ident):
        cost = sum(c for c, _ in combo)
        leaf = replace(node, bins=tuple(b for _, b in combo))
        best = min(best, cost + pm.stop_cost(leaf)[0])
    return float(best)
