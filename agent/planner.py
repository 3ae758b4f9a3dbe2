"""The search's model of a case: the masked belief plus completions sampled from similar cases.

At decision time the unrevealed values of a case are unknown. :class:`CaseModel` completes them
from the nearest training cases *given what is revealed* (``agent.index.MaskedIndex`` over the
revealed groups only), one FAISS index per class:

    P(unrevealed | revealed) = sum_y P(y | revealed) P(unrevealed | revealed, y)

``P(y | revealed)`` is the calibrated belief (``agent.belief``); ``P(unrevealed | revealed, y)``
is approximated by the ``k_scam`` nearest scam cases and the ``k_benign`` nearest benign cases,
weighted ``p / k_scam`` and ``(1 - p) / k_benign``. Sampling per class keeps scam scenarios in
the particle set even when ``p`` is small, which is exactly when missing one is expensive.
A training case never draws on its own user's rows (``exclude_owner``), so self-play does not
peek at the answer.
"""

from __future__ import annotations

import copy

import numpy as np

from agent.belief import MaskedBelief
from agent.groups import GroupLayout
from agent.index import MaskedIndex, Standardizer
from agent.particles import Particles


class CaseModel:
    """Belief and neighbour completions over the training cases ``values`` [N, D], ``labels`` [N].

    ``owners`` [N] are user codes (a query skips its own user's rows when ``exclude_owner`` is
    given). Each class's index holds at most ``max_rows_per_class`` cases, a seeded random sample.
    ``threads`` is the LightGBM thread count for the small batches of a search; ``recenter`` is
    passed to the particles (``agent.particles.Particles``).
    """

    def __init__(
        self,
        layout: GroupLayout,
        belief: MaskedBelief,
        standardizer: Standardizer,
        values: np.ndarray,
        labels: np.ndarray,
        owners: np.ndarray,
        *,
        k_scam: int = 12,
        k_benign: int = 20,
        max_rows_per_class: int = 20_000,
        threads: int = 1,
        seed: int = 0,
        recenter: bool = False,
    ) -> None:
        self.layout = layout
        self.belief = belief
        self.standardizer = standardizer
        self.values = np.asarray(values, dtype=np.float64)
        self.labels = np.asarray(labels).astype(np.int8)
        self.owners = np.asarray(owners, dtype=np.int64)
        self.k_scam = k_scam
        self.k_benign = k_benign
        self.threads = threads
        self.recenter = recenter
        z = standardizer.transform(self.values)
        # a seeded shuffle (and cap) per class: ties in distance, common when few groups are
        # revealed, then fall on a random sample of cases rather than on the first rows
        rng = np.random.default_rng(seed)
        self._rows = {
            y: rng.permutation(np.flatnonzero(self.labels == y))[:max_rows_per_class]
            for y in (0, 1)
        }
        self._index = {
            y: MaskedIndex(z[rows], layout.group_of, layout.n_groups, owners=self.owners[rows])
            for y, rows in self._rows.items()
        }

    def with_neighbours(self, k_scam: int, k_benign: int) -> CaseModel:
        """This model completing from ``k_scam`` / ``k_benign`` nearest cases instead; the pool,
        the indices and the belief are shared, not rebuilt, and this model is left as it is."""
        other = copy.copy(self)
        other.k_scam, other.k_benign = k_scam, k_benign
        return other

    def belief_of(self, values: np.ndarray, mask: int) -> float:
        """P(scam) of one case's ``values`` [D] under ``mask``."""
        return float(
            self.belief.predict(values[None, :], np.asarray([mask]), threads=self.threads)[0]
        )

    def neighbours(
        self, values: np.ndarray, mask: int, label: int, k: int, *, exclude_owner: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(distance [k], training row [k]) of the nearest class-``label`` cases over ``mask``."""
        z = self.standardizer.transform(values[None, :])
        bits = self.layout.mask_bits(np.asarray([mask]))
        own = None if exclude_owner is None else np.asarray([exclude_owner])
        d, i = self._index[label].search(z, bits, k, exclude_owners=own)
        ok = i[0] >= 0
        return d[0][ok], self._rows[label][i[0][ok]]

    def particles(
        self,
        values: np.ndarray,
        mask: int,
        *,
        belief: float | None = None,
        exclude_owner: int | None = None,
    ) -> Particles:
        """Completions of the case whose revealed values are ``values`` [D] (NaN = no data / not
        revealed) under ``mask``; see the module docstring for the weights."""
        p = self.belief_of(values, mask) if belief is None else float(belief)
        rows, weights = [], []
        for label, k, share in ((1, self.k_scam, p), (0, self.k_benign, 1.0 - p)):
            if k <= 0 or share <= 0:
                continue
            _, r = self.neighbours(values, mask, label, k, exclude_owner=exclude_owner)
            if r.size:
                rows.append(r)
                weights.append(np.full(r.size, share / r.size))
        if not rows:
            raise ValueError("no training case to complete the evidence from")
        idx = np.concatenate(rows)
        raw = self.values[idx].copy()  # [K, D]
        cols = self.layout.column_mask(np.asarray([mask]))[0]
        raw[:, cols] = values[cols]
        z = self.standardizer.transform(raw)
        threads = self.threads

        def belief_fn(ids: np.ndarray, masks: np.ndarray) -> np.ndarray:
            return self.belief.predict(raw[ids], masks, threads=threads)

        return Particles(
            z,
            np.concatenate(weights),
            belief_fn,
            root_mask=mask,
            root_belief=p,
            recenter=self.recenter,
        )
