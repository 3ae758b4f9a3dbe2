"""The MCTS investigation policy: neighbour completions, then a network-guided search per step."""

from __future__ import annotations

from typing import Any

import numpy as np

from agent.env import action_name
from agent.episode import CaseView, Choice
from agent.mcts import DEFAULT_BINS, SearchOutput, SearchRoot, search
from agent.network import PolicyValueNet
from agent.planner import CaseModel
from scamguard.costs import CostModel


class MCTSPolicy:
    """At each step: complete the case from similar training cases, search, take the most visited
    action. ``record=True`` keeps every :class:`~agent.mcts.SearchOutput` in ``history`` (self-play).

    Tuning arguments are keyword-only and passed to :func:`agent.mcts.search`; ``seed`` seeds the
    root noise of successive searches (used only when ``dirichlet_fraction`` > 0).
    """

    def __init__(
        self,
        model: CaseModel,
        net: PolicyValueNet,
        costs: CostModel,
        *,
        name: str = "mcts",
        num_simulations: int = 48,
        batch_size: int = 8,
        c_puct: float = 1.25,
        belief_bins: tuple[float, ...] = DEFAULT_BINS,
        backup: str = "mean",
        value_unit: float | None = None,
        dirichlet_alpha: float = 0.5,
        dirichlet_fraction: float = 0.0,
        root_rule: str = "puct",
        gumbel_c_visit: float = 50.0,
        gumbel_c_scale: float = 0.1,
        interior_rule: str = "puct",
        seed: int = 0,
        record: bool = False,
    ) -> None:
        self.model, self.net, self.costs = model, net, costs
        self.name = name
        self.search_kwargs: dict[str, Any] = {
            "num_simulations": num_simulations,
            "batch_size": batch_size,
            "c_puct": c_puct,
            "belief_bins": belief_bins,
            "backup": backup,
            "value_unit": value_unit,
            "dirichlet_alpha": dirichlet_alpha,
            "dirichlet_fraction": dirichlet_fraction,
            "root_rule": root_rule,
            "gumbel_c_visit": gumbel_c_visit,
            "gumbel_c_scale": gumbel_c_scale,
            "interior_rule": interior_rule,
        }
        self._rng = np.random.default_rng(seed)
        self.record = record
        self.history: list[SearchOutput] = []

    def search(self, view: CaseView) -> tuple[SearchOutput, float]:
        """The search at ``view`` and the case's belief there."""
        p = self.model.belief_of(view.values, view.mask)
        parts = self.model.particles(view.values, view.mask, belief=p, exclude_owner=view.owner)
        root = SearchRoot(
            layout=self.model.layout,
            costs=self.costs,
            mask=view.mask,
            particles=parts,
            value_scale=self.net.config.value_scale,
        )
        seed = int(self._rng.integers(2**31 - 1))
        return search(root, self.net.evaluate, seed=seed, **self.search_kwargs), p

    def act(self, view: CaseView) -> Choice:
        out, p = self.search(view)
        if self.record:
            self.history.append(out)
        layout = self.model.layout
        candidates: list[dict[str, Any]] = [
            {
                "action": action_name(layout, int(a)),
                "visits": int(out.visit_counts[a]),
                "value": None if np.isnan(out.q_values[a]) else float(out.q_values[a]),
                "prior": float(out.prior[a]),
                "policy": float(out.policy[a]),  # the search's answer: visit shares or improved
            }
            for a in np.flatnonzero(out.legal)
        ]
        # the action taken first, then by the search's policy (PUCT: visits; Gumbel: the improved
        # policy, which may prefer a reveal that sequential halving eliminated early)
        taken = action_name(layout, out.action)
        candidates.sort(
            key=lambda c: (
                c["action"] != taken,
                -float(c["policy"]),
                -int(c["visits"]),
                c["action"],
            )
        )
        return Choice(
            action=out.action,
            belief=p,
            why={"root_value": float(out.root_value), "candidates": candidates},
        )
