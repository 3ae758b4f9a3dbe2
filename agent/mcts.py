"""Monte-Carlo tree search over evidence actions, guided by a policy / value network (AlphaZero-style).

The root is the investigation now: a mask of revealed groups and ``K`` completions of the case
(:class:`~agent.particles.Particles`: its revealed values, plus unrevealed values taken from
similar training cases, ``agent.planner``) with weights summing to 1 and a belief function
``b(particle, mask)``.

Tree. A *decision node* holds a mask, the particles that reach it and their renormalised weights;
its belief is their weighted mean belief. Its actions are the reveals of unrevealed groups and the
three decisions (``agent.env``). A decision is terminal and its value is exact: minus the expected
loss at the node's belief. A reveal is a *chance* step: each particle's belief under the new mask
falls in one bin of ``belief_bins`` (logit edges); one child per non-empty bin, reached with the
bin's share of the weight. Nodes are thus keyed by what was learned (the posterior bin), so later
choices may depend on earlier outcomes.

Values. ``Q(node, reveal a) = -cost(a) + sum_b pi_b V(child_b)`` (an exact expectation over the
bins); ``Q(node, decision d) = -E[loss(d)]``. A new node's value is the network's value, never
below the value of deciding now (nor above 0); after that ``V`` is the mean of the backed-up
``Q``s (``backup="mean"``, AlphaZero; the default, chosen on validation) or the best of deciding
now, the expanded reveals and, while a reveal is unexpanded, the network value (``backup="max"``;
it trusts every noisy leaf value it maximises over, and over-gathered on validation).

One simulation: descend from the root choosing actions by PUCT on Q in units of ``value_unit``
(``c_puct``) and chance children by weight x (|value| + ``value_unit``) / visits, until a
decision (valued exactly) or a reveal not expanded yet; expand it (all its bin children) and back
up. Simulations run in waves of ``batch_size`` with virtual visits, and the new nodes of a wave are
evaluated by the network in one batch; particle beliefs are computed in one batch per wave and
cached per mask.
The search is deterministic (Dirichlet root noise, for self-play only, comes from ``seed``).
The tree's nodes, values, selection and expansion are ``agent.mcts_tree``.

Root rule: PUCT (the default) or ``root_rule="gumbel"``: sequential halving over the reveals with
Gumbel noise in self-play, the action by ``g + logits + sigma(Q)`` and the improved policy as the
network's target (:func:`_gumbel_search`). Below the root: PUCT (the default) or
``interior_rule="gumbel"``, Gumbel's deterministic selection (the action whose visit share falls
furthest below the improved policy); it scored the same as PUCT on validation (docs/results/agent.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from agent.groups import GroupLayout
from agent.mcts_tree import _log_prior, _Node, _run_wave, _Search, _softmax
from agent.particles import Particles
from scamguard.costs import CostModel

# network inputs [B, F] -> (policy logits [B, A], value [B] in cost units, <= 0)
Evaluator = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

ROOT_RULES: tuple[str, ...] = ("puct", "gumbel")  # root action selection, see search()
INTERIOR_RULES: tuple[str, ...] = ROOT_RULES  # the same two rules below the root
DEFAULT_BINS: tuple[float, ...] = tuple(float(v) for v in np.arange(-8.0, 5.5, 1.0))


@dataclass(frozen=True)
class SearchRoot:
    """What a search starts from: the layout and costs, the revealed mask and the particles."""

    layout: GroupLayout
    costs: CostModel
    mask: int
    particles: Particles
    value_scale: float = 20.0  # the network's value unit, in cost units (NetConfig)


@dataclass(frozen=True)
class SearchOutput:
    """The search's answer at the root; arrays are [A] over ``agent.env`` actions."""

    action: int
    visit_counts: np.ndarray
    q_values: np.ndarray  # NaN where never expanded
    prior: np.ndarray  # network policy (softmax over legal actions, with any root noise)
    legal: np.ndarray
    root_value: float
    belief: float
    network_input: np.ndarray = field(repr=False)  # [F] the root state's features
    nodes: int = 0
    belief_rows: int = 0
    improved_policy: np.ndarray | None = field(default=None, repr=False)  # [A], Gumbel root only

    @property
    def policy(self) -> np.ndarray:
        """The network's policy target [A]: the visit distribution (PUCT root) or the improved
        policy ``softmax(logits + sigma(completed Q))`` (Gumbel root)."""
        if self.improved_policy is not None:
            return self.improved_policy
        n = self.visit_counts.astype(np.float64)
        return n / n.sum() if n.sum() > 0 else self.legal / self.legal.sum()


def search(
    root: SearchRoot,
    evaluate: Evaluator,
    *,
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
) -> SearchOutput:
    """Run ``num_simulations`` simulations from ``root`` and return the root statistics.

    ``root_rule="gumbel"`` replaces PUCT at the root by Gumbel sequential halving (Danihelka et al.,
    2022; :func:`_gumbel_search`); ``interior_rule`` picks the rule below the root (PUCT, or
    Gumbel's deterministic selection, :meth:`agent.mcts_tree._Search._select_gumbel`).

    ``evaluate`` maps network inputs [B, F] to (policy logits [B, A], values [B] in cost units).
    PUCT compares ``(Q - max Q) / value_unit`` (default: the cheapest evidence cost, the smallest
    difference that can decide between two reveals) with the prior term. ``dirichlet_fraction`` > 0 mixes Dirichlet(``dirichlet_alpha``) noise into the root prior
    (self-play exploration). The chosen action has the most root visits (ties: higher Q, then
    lower index).
    """
    if backup not in ("mean", "max"):
        raise ValueError(f"backup must be 'mean' or 'max', got {backup!r}")
    if root_rule not in ROOT_RULES:
        raise ValueError(f"root_rule must be one of {ROOT_RULES}, got {root_rule!r}")
    if interior_rule not in INTERIOR_RULES:
        raise ValueError(f"interior_rule must be one of {INTERIOR_RULES}, got {interior_rule!r}")
    if num_simulations < 1 or batch_size < 1:
        raise ValueError("num_simulations and batch_size must be positive")
    if value_unit is None:  # the cheapest lookup: the smallest cost difference that matters
        positive = root.layout.costs[root.layout.costs > 0]
        value_unit = float(positive.min()) if positive.size else max(root.costs.review, 1e-6)
    unit = float(value_unit)
    s = _Search(
        root,
        evaluate,
        c_puct=c_puct,
        bins=np.asarray(belief_bins),
        backup=backup,
        value_unit=unit,
        interior_rule=interior_rule,
        gumbel_c_visit=gumbel_c_visit,
        gumbel_c_scale=gumbel_c_scale,
    )
    parts = root.particles
    all_ids = np.arange(parts.size)
    root_node = s._make_node(root.mask, all_ids, parts.weights)
    s._evaluate([root_node])
    if root_rule == "gumbel":
        return _gumbel_search(
            s,
            root_node,
            num_simulations=num_simulations,
            batch_size=batch_size,
            noise=dirichlet_fraction > 0,
            seed=seed,
        )
    if dirichlet_fraction > 0:
        rng = np.random.default_rng(seed)
        legal = root_node.legal
        noise = np.zeros_like(root_node.prior)
        noise[legal] = rng.dirichlet(np.full(int(legal.sum()), dirichlet_alpha))
        root_node.prior = (1 - dirichlet_fraction) * root_node.prior + dirichlet_fraction * noise

    done = 0
    while done < num_simulations:
        wave = min(batch_size, num_simulations - done)
        _run_wave(s, root_node, [None] * wave)
        done += wave

    legal = root_node.legal
    q = s.q_vector(root_node)
    visits = root_node.visits.copy()
    order = np.lexsort((-np.arange(len(visits)), np.nan_to_num(q, nan=-np.inf), visits))
    action = int([i for i in order[::-1] if legal[i]][0])
    return _output(s, root_node, action, q)


def _output(
    s: _Search, root_node: _Node, action: int, q: np.ndarray, improved: np.ndarray | None = None
) -> SearchOutput:
    """The root's statistics; ``q`` [A] is its Q vector (NaN where never expanded)."""
    assert root_node.x is not None
    return SearchOutput(
        action=action,
        visit_counts=root_node.visits.copy(),
        q_values=q,
        prior=root_node.prior,
        legal=root_node.legal,
        root_value=s.value(root_node),
        belief=root_node.belief,
        network_input=root_node.x,
        nodes=s.nodes,
        belief_rows=s.particles.belief_rows,
        improved_policy=improved,
    )


def _gumbel_search(
    s: _Search,
    root: _Node,
    *,
    num_simulations: int,
    batch_size: int,
    noise: bool,
    seed: int,
) -> SearchOutput:
    """Gumbel root: sequential halving over the root's reveals, then the best of the survivor and
    the decisions by ``g + logits + sigma(Q)`` (Danihelka et al., 2022, "Policy improvement by
    planning with Gumbel").

    The decisions' values are exact, so only reveals take simulations. Every legal reveal is
    considered (at most ``G - 1``); each of the ``ceil(log2 m)`` phases splits its share of the
    budget evenly over the reveals still in, then keeps the better half. ``g`` is Gumbel noise
    when ``noise`` (self-play), else 0. ``logits + sigma(Q)`` is
    :meth:`agent.mcts_tree._Search.improved_logits` (Q in units of the cheapest evidence, as
    PUCT's). The policy target is the improved policy
    ``softmax(logits + sigma(completed Q))``, unvisited reveals completed with the root's value.
    """
    legal = root.legal
    logits = _log_prior(root)
    rng = np.random.default_rng(seed)
    n = legal.shape[0]
    g = np.asarray(rng.gumbel(size=n), dtype=np.float64) if noise else np.zeros(n)
    reveals = [int(a) for a in np.flatnonzero(legal) if a < s.n_reveal]
    remaining = sorted(reveals, key=lambda a: -(g[a] + logits[a]))

    phases = max(1, int(np.ceil(np.log2(len(remaining))))) if remaining else 0
    used = 0
    for phase in range(phases):
        if phase == phases - 1:
            per = max(1, (num_simulations - used) // len(remaining))
        else:
            per = max(1, num_simulations // (phases * len(remaining)))
        schedule: list[int | None] = [a for _ in range(per) for a in remaining]
        for start in range(0, len(schedule), batch_size):
            _run_wave(s, root, schedule[start : start + batch_size])
        used += len(schedule)
        if len(remaining) > 1:
            score = g + s.improved_logits(root, s.q_vector(root))
            remaining = sorted(remaining, key=lambda a: -score[a])[: (len(remaining) + 1) // 2]

    q = s.q_vector(root)
    improved_logits = s.improved_logits(root, q)
    score = g + improved_logits
    finalists = remaining[:1] + [int(a) for a in np.flatnonzero(legal) if a >= s.n_reveal]
    action = max(finalists, key=lambda a: (score[a], -a))
    return _output(s, root, action, q, _softmax(improved_logits, legal))
