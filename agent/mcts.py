"""Monte-Carlo tree search over evidence actions, guided by a policy / value network (AlphaZero-style).

The root is the investigation now: a mask of revealed groups and :class:`Particles`, ``K``
completions of the case (its revealed values, plus unrevealed values taken from similar training
cases, ``agent.planner``) with weights summing to 1 and a belief function ``b(particle, mask)``.

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

Root rule: PUCT (the default) or ``root_rule="gumbel"``: sequential halving over the reveals with
Gumbel noise in self-play, the action by ``g + logits + sigma(Q)`` and the improved policy as the
network's target (:func:`_gumbel_search`). Below the root: PUCT (the default) or
``interior_rule="gumbel"``, Gumbel's deterministic selection (the action whose visit share falls
furthest below the improved policy); it scored the same as PUCT on validation (README).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special

from agent.env import DECISIONS, legal_actions, n_actions
from agent.groups import GroupLayout
from agent.network import state_features
from scamguard.costs import CostModel

# (particle ids [B], integer masks [B]) -> P(scam) [B]
BeliefFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
# network inputs [B, F] -> (policy logits [B, A], value [B] in cost units, <= 0)
Evaluator = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

ROOT_RULES: tuple[str, ...] = ("puct", "gumbel")  # root action selection, see search()
INTERIOR_RULES: tuple[str, ...] = ROOT_RULES  # the same two rules below the root
DEFAULT_BINS: tuple[float, ...] = tuple(float(v) for v in np.arange(-8.0, 5.5, 1.0))


class Particles:
    """``K`` completions of one case, their weights and a cached belief per (particle, mask).

    ``z`` [K, D] standardized values (the network's view; revealed columns are the case's own),
    ``weights`` [K] (sum 1), ``belief_fn`` scores particles under masks. ``root_belief`` is the
    belief of the case itself at the root mask (every particle shares it).

    ``recenter``: under every other mask, all ``K`` particles are scored and their logits shifted
    by one constant so that their weighted mean belief is ``root_belief``. If the particles were
    draws from the case's true predictive distribution this would hold already (a posterior is a
    martingale: what one expects to believe after a reveal is what one believes now); the
    neighbour completions do not keep it (README, investigation agent; the cause is not traced).
    """

    def __init__(
        self,
        z: np.ndarray,
        weights: np.ndarray,
        belief_fn: BeliefFn,
        *,
        root_mask: int,
        root_belief: float,
        recenter: bool = False,
    ) -> None:
        self.z = np.asarray(z, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or w.shape[0] != self.z.shape[0] or w.sum() <= 0:
            raise ValueError("weights must be [K] with a positive sum")
        self.weights = w / w.sum()
        self.belief_fn = belief_fn
        self.size = self.z.shape[0]
        self.root_mask, self.root_belief = root_mask, float(root_belief)
        self.recenter = recenter
        self._cache: dict[int, np.ndarray] = {root_mask: np.full(self.size, self.root_belief)}
        self.belief_rows = 0  # particle-mask pairs scored so far (for diagnostics)
        self.belief_calls = 0

    def ensure(self, requests: dict[int, np.ndarray]) -> None:
        """Score, in one call, every (particle, mask) of ``requests`` {mask: ids} not cached yet."""
        ids_all, masks_all = [], []
        for mask, ids in requests.items():
            row = self._cache.setdefault(mask, np.full(self.size, np.nan))
            # recentering needs the whole row of a mask at once
            todo = np.flatnonzero(np.isnan(row)) if self.recenter else ids[np.isnan(row[ids])]
            if todo.size:
                ids_all.append(todo)
                masks_all.append(np.full(todo.size, mask, dtype=np.int64))
        if not ids_all:
            return
        ids = np.concatenate(ids_all)
        masks = np.concatenate(masks_all)
        p = np.asarray(self.belief_fn(ids, masks), dtype=np.float64)
        self.belief_rows += ids.size
        self.belief_calls += 1
        for mask in np.unique(masks):
            sel = masks == mask
            row = self._cache[int(mask)]
            row[ids[sel]] = p[sel]
            if self.recenter and int(mask) != self.root_mask:
                row[:] = recentered(row, self.weights, self.root_belief)

    def belief(self, ids: np.ndarray, mask: int) -> np.ndarray:
        """Cached beliefs [n] of particles ``ids`` under ``mask`` (call :meth:`ensure` first)."""
        return self._cache[mask][ids]


def recentered(p: np.ndarray, weights: np.ndarray, target: float) -> np.ndarray:
    """``sigmoid(logit(p) + d)`` [K] with the one shift ``d`` that makes ``weights @ result``
    equal ``target`` (the weighted mean is increasing in ``d``: one root)."""
    logit = special.logit(np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12))
    t = min(max(float(target), 1e-12), 1 - 1e-12)
    d = optimize.brentq(lambda d: float(weights @ special.expit(logit + d)) - t, -60.0, 60.0)
    return special.expit(logit + d)


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


class _Node:
    __slots__ = (
        "mask",
        "members",
        "w",
        "belief",
        "stop",
        "legal",
        "prior",
        "visits",
        "value_sum",
        "n",
        "children",
        "evaluated",
        "leaf_value",
        "best",
        "n_legal_reveals",
        "x",
    )

    def __init__(self, mask: int, members: np.ndarray, w: np.ndarray, legal: np.ndarray) -> None:
        self.mask = mask
        self.members = members  # [n] particle ids
        self.w = w  # [n] weights, sum 1
        self.belief = 0.0
        self.stop = np.zeros(len(DECISIONS))  # values (minus expected losses) of each decision
        self.legal = legal  # [A]
        self.prior = np.zeros(legal.shape[0])
        self.visits = np.zeros(legal.shape[0], dtype=np.int64)  # [A] incl. virtual visits
        self.value_sum = 0.0
        self.n = 0
        self.children: dict[int, tuple[list[_Node], np.ndarray]] = {}  # a -> (children, pi)
        self.evaluated = False
        self.leaf_value = 0.0
        self.best = 0.0  # max-backup value, see _Search.record
        self.n_legal_reveals = 0
        self.x: np.ndarray | None = None


def _softmax(logits: np.ndarray, legal: np.ndarray) -> np.ndarray:
    z = np.where(legal, logits, -np.inf)
    z = z - z[legal].max()
    e = np.where(legal, np.exp(z), 0.0)
    return e / e.sum()


def _log_prior(node: _Node) -> np.ndarray:
    """The node's policy logits [A]: log prior on legal actions, -inf elsewhere."""
    return np.where(node.legal, np.log(np.clip(node.prior, 1e-30, None)), -np.inf)


class _Search:
    def __init__(
        self,
        root: SearchRoot,
        evaluate: Evaluator,
        *,
        c_puct: float,
        bins: np.ndarray,
        backup: str,
        value_unit: float,
        interior_rule: str = "puct",
        gumbel_c_visit: float = 50.0,
        gumbel_c_scale: float = 0.1,
    ) -> None:
        self.value_unit = value_unit
        self.interior_rule = interior_rule
        self.gumbel_c_visit = gumbel_c_visit
        self.gumbel_c_scale = gumbel_c_scale
        self.root_spec = root
        self.layout = root.layout
        self.costs = root.costs
        self.particles = root.particles
        self.evaluate_fn = evaluate
        self.c_puct = c_puct
        self.bins = bins
        self.backup = backup
        self.n_reveal = self.layout.n_groups - 1
        self.n_actions = n_actions(self.layout)
        self.reveal_cost = self.layout.costs[1:]  # [G-1]
        self.nodes = 0
        self._col_masks: dict[int, np.ndarray] = {}
        self._legal: dict[int, np.ndarray] = {}

    # ---------------------------------------------------------------------------- nodes
    def _make_node(self, mask: int, members: np.ndarray, w: np.ndarray) -> _Node:
        legal = self._legal.get(mask)
        if legal is None:
            legal = self._legal[mask] = legal_actions(self.layout, np.asarray([mask]))[0]
        node = _Node(mask, members, w, legal)
        b = float(np.dot(w, self.particles.belief(members, mask)))
        c = self.costs
        node.belief = b
        node.stop = np.array([-b * c.missed_scam, -(1.0 - b) * c.wrongful_block, -c.review])
        self.nodes += 1
        return node

    def _cols(self, mask: int) -> np.ndarray:
        if mask not in self._col_masks:
            self._col_masks[mask] = self.layout.column_mask(np.asarray([mask]))[0]
        return self._col_masks[mask]

    def _features(self, nodes: list[_Node]) -> np.ndarray:
        z = np.stack(
            [
                np.where(self._cols(nd.mask), nd.w @ self.particles.z[nd.members], 0.0)
                for nd in nodes
            ]
        )
        bits = self.layout.mask_bits(np.asarray([nd.mask for nd in nodes]))
        belief = np.asarray([nd.belief for nd in nodes])
        stop_loss = np.asarray([-nd.stop.max() for nd in nodes])
        return state_features(z, bits, belief, stop_loss, self.root_spec.value_scale)

    def _evaluate(self, nodes: list[_Node]) -> None:
        if not nodes:
            return
        x = self._features(nodes)
        logits, values = self.evaluate_fn(x)
        for i, nd in enumerate(nodes):
            nd.x = x[i]
            nd.prior = _softmax(np.asarray(logits[i], dtype=np.float64), nd.legal)
            stop = float(nd.stop.max())
            can_reveal = bool(nd.legal[: self.n_reveal].any())
            nd.leaf_value = min(0.0, max(float(values[i]), stop)) if can_reveal else stop
            nd.value_sum = nd.best = nd.leaf_value
            nd.n_legal_reveals = int(nd.legal[: self.n_reveal].sum())
            nd.n = 1
            nd.evaluated = True

    # --------------------------------------------------------------------------- values
    def value(self, node: _Node) -> float:
        """The node's current value estimate (O(1): kept up to date by :meth:`record`)."""
        if node.n == 0:
            return node.leaf_value
        if self.backup == "max":
            return node.best
        return node.value_sum / node.n

    def record(self, node: _Node, a: int) -> None:
        """Account one simulation through ``(node, a)``; children are already up to date."""
        node.n += 1
        if self.backup == "max":
            # the best of: deciding now, every expanded reveal, and, while some reveal is still
            # unexpanded, the network's estimate of continuing
            unexpanded = len(node.children) < node.n_legal_reveals
            best = max(float(node.stop.max()), node.leaf_value if unexpanded else -np.inf)
            for b in node.children:
                best = max(best, self.q(node, b))
            node.best = best
        else:
            node.value_sum += self.q(node, a)

    def q(self, node: _Node, a: int) -> float:
        if a >= self.n_reveal:
            return float(node.stop[a - self.n_reveal])
        children, pi = node.children[a]
        return -float(self.reveal_cost[a]) + float(
            sum(p * self.value(c) for c, p in zip(children, pi, strict=True))
        )

    def q_vector(self, node: _Node) -> np.ndarray:
        q = np.full(self.n_actions, np.nan)
        for a in range(self.n_actions):
            if node.legal[a] and (a >= self.n_reveal or a in node.children):
                q[a] = self.q(node, a)
        return q

    # ------------------------------------------------------------------------ selection
    def improved_logits(self, node: _Node, q: np.ndarray) -> np.ndarray:
        """``log prior + sigma(completed Q)`` [A] (Gumbel): unexpanded reveals are completed with
        the node's value; ``sigma = c_scale * (c_visit + max visits) * (Q - max Q) / value_unit``."""
        legal = node.legal
        q = np.where(legal & np.isnan(q), self.value(node), q)
        top = float(np.nanmax(np.where(legal, q, np.nan)))
        sigma = self.gumbel_c_scale * (self.gumbel_c_visit + float(node.visits.max()))
        return _log_prior(node) + sigma * (q - top) / self.value_unit

    def select_action(self, node: _Node) -> int:
        if self.interior_rule == "gumbel":
            return self._select_gumbel(node)
        q = self.q_vector(node)
        known = ~np.isnan(q)
        fpu = self.value(node)
        q = np.where(known, q, fpu)
        legal = node.legal
        qn = (q - q[legal].max()) / self.value_unit  # 0 for the best, -1 one unit below
        total = node.visits.sum()
        u = self.c_puct * node.prior * np.sqrt(total + 1.0) / (1.0 + node.visits)
        score = np.where(legal, qn + u, -np.inf)
        return int(np.argmax(score))

    def _select_gumbel(self, node: _Node) -> int:
        """Deterministic selection (Danihelka et al., 2022, section 5): the action whose share
        of the node's visits falls furthest below the improved policy."""
        target = _softmax(self.improved_logits(node, self.q_vector(node)), node.legal)
        visits = node.visits.astype(np.float64)
        score = np.where(node.legal, target - visits / (1.0 + visits.sum()), -np.inf)
        return int(np.argmax(score))

    def select_child(self, children: list[_Node], pi: np.ndarray) -> _Node:
        # |value| plus one value unit (not an absolute 1): the choice is the same at any price scale
        unit = self.value_unit
        score = [
            p * (abs(self.value(c)) + unit) / (1.0 + c.n) for c, p in zip(children, pi, strict=True)
        ]
        return children[int(np.argmax(score))]

    # ------------------------------------------------------------------------ expansion
    def expand(self, node: _Node, a: int) -> list[_Node]:
        """Create the bin children of reveal ``a`` at ``node`` (beliefs must be cached)."""
        new_mask = node.mask | (1 << (a + 1))
        b = self.particles.belief(node.members, new_mask)  # [n]
        children, pi = [], []
        for weight, sel in split_by_bin(b, node.w, self.bins):
            child = self._make_node(new_mask, node.members[sel], node.w[sel] / weight)
            children.append(child)
            pi.append(weight)
        total = sum(pi)
        node.children[a] = (children, np.asarray(pi) / total)
        return children


def split_by_bin(
    beliefs: np.ndarray, w: np.ndarray, bins: np.ndarray
) -> list[tuple[float, np.ndarray]]:
    """The chance step of a reveal: particles with beliefs ``beliefs`` [n] after it and weights
    ``w`` [n] grouped by the logit bin (``bins``, edges) their belief falls in. Returns
    (summed weight, boolean selector [n]) per bin with a positive weight."""
    logit = np.log(np.clip(beliefs, 1e-12, 1)) - np.log(np.clip(1 - beliefs, 1e-12, 1))
    which = np.digitize(logit, bins)
    out = []
    for bin_id in np.unique(which):
        sel = which == bin_id
        weight = float(w[sel].sum())
        if weight > 0:
            out.append((weight, sel))
    return out


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
    Gumbel's deterministic selection, :meth:`_Search._select_gumbel`).

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


def _run_wave(s: _Search, root_node: _Node, root_actions: list[int | None]) -> None:
    """One wave of simulations, one per entry of ``root_actions`` (the root action to take, or
    None for PUCT), with virtual visits; one belief batch and one network batch for the wave."""
    parts = s.particles
    paths: list[list[tuple[_Node, int]]] = []
    to_expand: list[tuple[_Node, int]] = []
    for forced in root_actions:
        path: list[tuple[_Node, int]] = []
        node = root_node
        while True:
            if not node.evaluated:  # created earlier in this wave: wait for its evaluation
                path.append((node, -1))
                break
            a = forced if (node is root_node and forced is not None) else s.select_action(node)
            node.visits[a] += 1  # virtual visit until the backup
            path.append((node, a))
            if a >= s.n_reveal:
                break
            if a not in node.children:
                if (node, a) not in to_expand:
                    to_expand.append((node, a))
                break
            children, pi = node.children[a]
            node = s.select_child(children, pi)
        paths.append(path)
    # one belief batch for every expansion of the wave, then one network batch
    requests: dict[int, list[np.ndarray]] = {}
    for node, a in to_expand:
        requests.setdefault(node.mask | (1 << (a + 1)), []).append(node.members)
    parts.ensure({m: np.unique(np.concatenate(v)) for m, v in requests.items()})
    fresh: list[_Node] = []
    for node, a in to_expand:
        fresh += s.expand(node, a)
    s._evaluate(fresh)
    for path in paths:
        for node, a in reversed(path):
            if a < 0:
                continue  # a node evaluated in this wave: its first visit is the evaluation
            s.record(node, a)


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
    when ``noise`` (self-play), else 0. ``logits + sigma(Q)`` is :meth:`_Search.improved_logits`
    (Q in units of the cheapest evidence, as PUCT's). The policy target is the improved policy
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
