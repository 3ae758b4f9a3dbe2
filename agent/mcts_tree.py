"""The tree of a search (``agent.mcts``): its nodes, their values, selection and expansion.

:class:`_Search` keeps the statistics of one search's tree: a node per (mask, posterior bin path),
its decisions' exact values, the network's prior and leaf value, visits and backed-up values; it
selects actions (PUCT, or Gumbel's deterministic rule) and chance children, and expands reveals
into their bin children. :func:`_run_wave` runs one wave of simulations through it. The search
itself (root rules, root noise, the answer) is :func:`agent.mcts.search`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agent.env import DECISIONS, legal_actions, n_actions
from agent.network import state_features
from agent.particles import split_by_bin

if TYPE_CHECKING:
    from agent.mcts import Evaluator, SearchRoot


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
