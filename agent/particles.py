"""The chance model of a search: ``K`` weighted completions of a case and their beliefs.

:class:`Particles` holds the completions (``agent.planner`` draws them from similar training
cases) with weights summing to 1 and a cached belief per (particle, mask); :func:`split_by_bin`
is the chance step of a reveal, the particles grouped by the posterior bin their belief falls in.
Both searches of this model use them: ``agent.mcts`` (sampled) and ``agent.expectimax`` (exact).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize, special

# (particle ids [B], integer masks [B]) -> P(scam) [B]
BeliefFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


class Particles:
    """``K`` completions of one case, their weights and a cached belief per (particle, mask).

    ``z`` [K, D] standardized values (the network's view; revealed columns are the case's own),
    ``weights`` [K] (sum 1), ``belief_fn`` scores particles under masks. ``root_belief`` is the
    belief of the case itself at the root mask (every particle shares it).

    ``recenter``: under every other mask, all ``K`` particles are scored and their logits shifted
    by one constant so that their weighted mean belief is ``root_belief``. If the particles were
    draws from the case's true predictive distribution this would hold already (a posterior is a
    martingale: what one expects to believe after a reveal is what one believes now); the
    neighbour completions do not keep it (the cause is not traced).
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
