"""The policies the search must beat, on the same belief and the same neighbour completions.

* :class:`GatherEverything`: reveal every group, then the cost-optimal decision at the belief.
* :class:`FixedOrder`: reveal groups in one fixed order until the best decision's expected loss
  is at most ``threshold``; order and threshold are tuned on the validation split
  (:func:`tune_fixed_order`).
* :class:`GreedyVOI`: one-step value of information. For each unrevealed group ``g``, the expected
  loss of the best decision after seeing ``g`` is averaged over the neighbour completions of
  ``agent.planner`` (per completion, no binning); reveal the group with the largest
  ``loss now - expected loss after - cost(g)`` if positive, else decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.belief import MaskedBelief
from agent.env import best_decision, realised_losses
from agent.episode import CaseView, Choice
from agent.groups import GroupLayout
from agent.planner import CaseModel
from scamguard.costs import CostModel


def _decide(layout: GroupLayout, costs: CostModel, p: float) -> int:
    best, _ = best_decision(costs, np.asarray([p]))
    return layout.n_groups - 1 + int(best[0])


class GatherEverything:
    """Reveal every group (cheapest first), then the cost-optimal decision."""

    name = "gather-everything"

    def __init__(self, layout: GroupLayout, belief: MaskedBelief, costs: CostModel) -> None:
        self.layout, self.belief, self.costs = layout, belief, costs
        self.order = sorted(range(1, layout.n_groups), key=lambda g: (layout.costs[g], g))

    def act(self, view: CaseView) -> Choice:
        p = float(self.belief.predict(view.values[None, :], np.asarray([view.mask]), threads=1)[0])
        for g in self.order:
            if not view.mask >> g & 1:
                return Choice(action=g - 1, belief=p, why={"rule": "gather every group"})
        return Choice(action=_decide(self.layout, self.costs, p), belief=p, why={})


class FixedOrder:
    """Reveal ``order`` (group indices) until min expected loss <= ``threshold``, then decide."""

    name = "fixed-order"

    def __init__(
        self,
        layout: GroupLayout,
        belief: MaskedBelief,
        costs: CostModel,
        *,
        order: Sequence[int],
        threshold: float,
    ) -> None:
        self.layout, self.belief, self.costs = layout, belief, costs
        self.order = list(order)
        self.threshold = float(threshold)

    def act(self, view: CaseView) -> Choice:
        p = float(self.belief.predict(view.values[None, :], np.asarray([view.mask]), threads=1)[0])
        _, loss = best_decision(self.costs, np.asarray([p]))
        why = {"expected_loss": float(loss[0]), "threshold": self.threshold}
        if loss[0] > self.threshold:
            for g in self.order:
                if not view.mask >> g & 1:
                    return Choice(action=g - 1, belief=p, why=why)
        return Choice(action=_decide(self.layout, self.costs, p), belief=p, why=why)


@dataclass(frozen=True)
class FixedOrderTuning:
    order: tuple[int, ...]
    threshold: float
    valid_cost: float  # mean total cost per case on the tuning cases
    candidates: int


def _prefix_costs(
    layout: GroupLayout,
    belief: MaskedBelief,
    costs: CostModel,
    values: np.ndarray,
    labels: np.ndarray,
    order: Sequence[int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each prefix k of ``order``: min expected loss [k, N], realised loss [k, N], cost [k]."""
    mask, masks = layout.event_mask, [layout.event_mask]
    for g in order:
        mask |= 1 << g
        masks.append(mask)
    exp_loss, real_loss = [], []
    for m in masks:
        p = belief.predict(values, np.full(values.shape[0], m))
        d, loss = best_decision(costs, p)
        exp_loss.append(loss)
        real_loss.append(realised_losses(costs, d, labels))
    return (
        np.asarray(exp_loss),
        np.asarray(real_loss),
        np.asarray([layout.cost_of(m) for m in masks]),
    )


def _threshold_grid(costs: CostModel) -> np.ndarray:
    """0, then 60 thresholds from a thousandth of a review's cost to twice it (geometric): the grid
    scales with the prices. Only 0 when a review is free (escalating then always costs 0)."""
    top = 2.0 * costs.review
    return np.concatenate([[0.0], np.geomspace(top / 2000, top, 60) if top > 0 else []])


def tune_fixed_order(
    layout: GroupLayout,
    belief: MaskedBelief,
    costs: CostModel,
    values: np.ndarray,
    labels: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    thresholds: Sequence[float] | None = None,
) -> FixedOrderTuning:
    """The order and threshold with the lowest mean total cost on the tuning cases.

    Orders tried: cheapest first, and most informative per unit cost first (decision-loss drop of
    each group alone over the event group, divided by its cost, on these cases). ``weights`` [N]
    weight the mean (e.g. for a class-stratified sample).
    """
    w = np.ones(labels.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    grid = (
        np.asarray(thresholds, dtype=np.float64)
        if thresholds is not None
        else _threshold_grid(costs)
    )
    groups = list(range(1, layout.n_groups))
    by_cost = sorted(groups, key=lambda g: (layout.costs[g], g))
    base_p = belief.predict(values, np.full(values.shape[0], layout.event_mask))
    base = np.average(realised_losses(costs, best_decision(costs, base_p)[0], labels), weights=w)
    gain = {}
    for g in groups:
        p = belief.predict(values, np.full(values.shape[0], layout.event_mask | 1 << g))
        loss = np.average(realised_losses(costs, best_decision(costs, p)[0], labels), weights=w)
        gain[g] = (base - loss) / max(layout.costs[g], 1e-9)
    by_value = sorted(groups, key=lambda g: (-gain[g], g))
    best: FixedOrderTuning | None = None
    for order in {tuple(by_cost), tuple(by_value)}:
        exp_loss, real_loss, prefix_cost = _prefix_costs(
            layout, belief, costs, values, labels, order
        )
        k = len(order)
        for t in grid:
            # first prefix whose best decision is confident enough (the last one otherwise)
            ok = exp_loss <= t
            ok[k] = True
            stop = ok.argmax(axis=0)  # [N]
            total = prefix_cost[stop] + real_loss[stop, np.arange(stop.size)]
            mean = float(np.average(total, weights=w))
            if best is None or mean < best.valid_cost - 1e-12:
                best = FixedOrderTuning(
                    order=order, threshold=float(t), valid_cost=mean, candidates=0
                )
    assert best is not None
    return FixedOrderTuning(
        order=best.order,
        threshold=best.threshold,
        valid_cost=best.valid_cost,
        candidates=2 * grid.size,
    )


class GreedyVOI:
    """One-step value of information over the neighbour completions (module docstring)."""

    name = "greedy-voi"

    def __init__(self, model: CaseModel, costs: CostModel) -> None:
        self.model, self.costs = model, costs
        self.layout = model.layout

    def act(self, view: CaseView) -> Choice:
        layout = self.layout
        p = self.model.belief_of(view.values, view.mask)
        _, now = best_decision(self.costs, np.asarray([p]))
        free = [g for g in range(1, layout.n_groups) if not view.mask >> g & 1]
        if not free:
            return Choice(action=_decide(layout, self.costs, p), belief=p, why={})
        parts = self.model.particles(view.values, view.mask, belief=p, exclude_owner=view.owner)
        ids = np.arange(parts.size)
        parts.ensure({view.mask | 1 << g: ids for g in free})
        voi = {}
        for g in free:
            _, after = best_decision(self.costs, parts.belief(ids, view.mask | 1 << g))
            voi[g] = float(now[0] - np.dot(parts.weights, after) - layout.costs[g])
        g_best = max(free, key=lambda g: (voi[g], -g))
        why = {"net_value_of_information": {layout.groups[g]: voi[g] for g in free}}
        if voi[g_best] > 0:
            return Choice(action=g_best - 1, belief=p, why=why)
        return Choice(action=_decide(layout, self.costs, p), belief=p, why=why)
