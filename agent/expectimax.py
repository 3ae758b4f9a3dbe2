"""The exact solution of the search's model of a case: what MCTS would reach with unlimited simulations.

The search (``agent.mcts``) plans in a finite model: ``K`` weighted completions of the case
(``agent.planner``), a reveal splitting them by the bin of their posterior (``belief_bins``, logit
edges), a decision valued exactly at the node's weighted belief. That tree is finite (at most
``G - 1`` reveals deep, at most ``K`` children per reveal), so its value can be computed exactly by
expectimax:

    V(node) = max( max_d -E[loss(d) | node belief],
                   max_a -cost(a) + sum_b pi_b V(child_b) )

A search with this model can at best find this value and this action. :class:`ExpectimaxPolicy`
plays it (completing the case afresh at every step, as :class:`agent.policy.MCTSPolicy` does), so
``agent-eval --with-expectimax`` shows how much of the room below greedy the model itself leaves,
apart from how well the network and the simulations approximate it.

Pruning keeps it exact: every value is <= 0, so a reveal costing at least what the best choice
found so far loses (``-cost(a) <= best``) cannot win, and a reveal's partial sum over its bins plus
0 for the bins not yet valued is an upper bound that stops it once it cannot beat the best
(expectimax "star1" pruning). Subtrees are memoised by (mask, particles reaching the node).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.env import action_name, decision_losses, n_actions
from agent.episode import CaseView, Choice
from agent.groups import GroupLayout
from agent.mcts import DEFAULT_BINS
from agent.particles import Particles, split_by_bin
from agent.planner import CaseModel
from scamguard.costs import CostModel


@dataclass(frozen=True)
class ExpectimaxPlan:
    """The exact root values: ``q_values`` [A] (NaN for illegal or pruned reveals; a pruned reveal
    provably does not beat ``value``), the best ``action`` (ties: a decision, then the cheaper
    reveal, which is tried first) and ``value`` (minus the expected total cost still to pay). ``nodes``: subtrees
    valued."""

    action: int
    value: float
    q_values: np.ndarray
    nodes: int


class _Expectimax:
    def __init__(
        self,
        layout: GroupLayout,
        costs: CostModel,
        particles: Particles,
        bins: np.ndarray,
        max_nodes: int,
    ) -> None:
        self.layout, self.costs, self.particles = layout, costs, particles
        self.bins = bins
        self.max_nodes = max_nodes
        self.n_reveal = layout.n_groups - 1
        self.all_ids = np.arange(particles.size)
        self.memo: dict[tuple[int, bytes], float] = {}
        self.nodes = 0

    def beliefs(self, mask: int) -> np.ndarray:
        """Every particle's belief [K] under ``mask`` (scored once per mask)."""
        self.particles.ensure({mask: self.all_ids})
        return self.particles.belief(self.all_ids, mask)

    def stop_values(self, p: float) -> np.ndarray:
        return -decision_losses(self.costs, np.asarray([p]))[0]  # [3] allow, block, escalate

    def reveals(self, mask: int, ceiling: float) -> list[int]:
        """Unrevealed groups (action index ``g - 1``) cheaper than ``ceiling``, cheapest first."""
        free = [
            g
            for g in range(1, self.layout.n_groups)
            if not mask >> g & 1 and self.layout.costs[g] < ceiling
        ]
        return [g - 1 for g in sorted(free, key=lambda g: (self.layout.costs[g], g))]

    def children(
        self, mask: int, members: np.ndarray, w: np.ndarray, a: int
    ) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """(probability, members, renormalised weights) of each bin of reveal ``a``."""
        new_mask = mask | 1 << (a + 1)
        split = split_by_bin(self.beliefs(new_mask)[members], w, self.bins)
        total = sum(weight for weight, _ in split)
        return [(weight / total, members[sel], w[sel] / weight) for weight, sel in split]

    def value(self, mask: int, members: np.ndarray, w: np.ndarray) -> float:
        key = (mask, members.tobytes())
        cached = self.memo.get(key)
        if cached is not None:
            return cached
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise RuntimeError(f"expectimax exceeded max_nodes={self.max_nodes}")
        p = float(np.dot(w, self.beliefs(mask)[members]))
        best = float(self.stop_values(p).max())
        for a in self.reveals(mask, -best):
            q = self.reveal_value(mask, members, w, a, best)
            if q is not None and q > best:
                best = q
        self.memo[key] = best
        return best

    def reveal_value(
        self, mask: int, members: np.ndarray, w: np.ndarray, a: int, alpha: float
    ) -> float | None:
        """``Q(node, a)``, or None once it provably cannot exceed ``alpha``."""
        cost = float(self.layout.costs[a + 1])
        if -cost <= alpha:
            return None
        acc, left = -cost, 1.0
        for pi, m, ww in self.children(mask, members, w, a):
            acc += pi * self.value(mask | 1 << (a + 1), m, ww)
            left -= pi
            # every unvalued bin is worth at most 0: acc is an upper bound on Q
            if acc <= alpha and left > 1e-12:
                return None
        return acc


def plan(
    layout: GroupLayout,
    costs: CostModel,
    mask: int,
    particles: Particles,
    *,
    belief_bins: tuple[float, ...] = DEFAULT_BINS,
    max_nodes: int = 2_000_000,
) -> ExpectimaxPlan:
    """Solve the search's model of the case at ``mask`` exactly (module docstring).

    Every root action's Q is exact unless pruned (NaN); the chosen action maximises Q, a decision
    winning ties (a reveal that buys nothing is not worth its latency).
    """
    solver = _Expectimax(layout, costs, particles, np.asarray(belief_bins), max_nodes)
    ids = solver.all_ids
    root_belief = float(np.dot(particles.weights, solver.beliefs(mask)))
    stop = solver.stop_values(root_belief)
    q = np.full(n_actions(layout), np.nan)
    q[solver.n_reveal :] = stop
    best = float(stop.max())
    action = solver.n_reveal + int(np.argmax(stop))
    for a in solver.reveals(mask, -best):
        value = solver.reveal_value(mask, ids, particles.weights, a, best)
        if value is None:
            continue
        q[a] = value
        if value > best:
            best, action = value, a
    return ExpectimaxPlan(action=action, value=best, q_values=q, nodes=solver.nodes)


class ExpectimaxPolicy:
    """At each step: complete the case from similar training cases (as the searches do), solve
    the model exactly, take its best action. The ceiling of any search with this model."""

    def __init__(
        self,
        model: CaseModel,
        costs: CostModel,
        *,
        name: str = "expectimax",
        belief_bins: tuple[float, ...] = DEFAULT_BINS,
        max_nodes: int = 2_000_000,
    ) -> None:
        self.model, self.costs, self.name = model, costs, name
        self.belief_bins = belief_bins
        self.max_nodes = max_nodes

    def act(self, view: CaseView) -> Choice:
        p = self.model.belief_of(view.values, view.mask)
        parts = self.model.particles(view.values, view.mask, belief=p, exclude_owner=view.owner)
        out = plan(
            self.model.layout,
            self.costs,
            view.mask,
            parts,
            belief_bins=self.belief_bins,
            max_nodes=self.max_nodes,
        )
        layout = self.model.layout
        values = {
            action_name(layout, a): float(out.q_values[a])
            for a in range(out.q_values.shape[0])
            if not np.isnan(out.q_values[a])
        }
        return Choice(
            action=out.action,
            belief=p,
            why={"root_value": out.value, "exact_values": values, "nodes": out.nodes},
        )
