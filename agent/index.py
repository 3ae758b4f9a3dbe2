"""FAISS nearest-case search under partial evidence, and the ``similar_cases`` evidence group.

Feature vectors are put on one scale by :class:`Standardizer` (signed ``log1p``, then z-scores
from the training cases; a missing value becomes 0, the training mean) and each column is weighted
by ``1 / sqrt(columns in its group)`` so every evidence group weighs the same in a distance.

:class:`MaskedIndex` finds the nearest cases *using only the revealed groups* with one exact
``faiss.IndexFlatIP``. Each stored vector ``x`` [D] is augmented with its per-group squared norms
``n_g = ||x_g||^2`` [G]; a query ``q`` with revealed-group bits ``m`` [G] becomes
``[2 q * m_cols, -m]``. The inner product is then ``2 q_m . x_m - sum_{g in m} ||x_g||^2
= ||q_m||^2 - ||q_m - x_m||^2``, so the largest inner products are the smallest distances over the
revealed columns, for any mask, from a single index.

:class:`SimilarCases` turns the nearest *labelled* training cases into the ``similar_*`` features
(the ``similar_cases`` group). A neighbour counts as a known scam only if its scam label was
decided before the query's ``as_of`` (the labels table's ``decided_ts``), and a case never counts
its own user's rows, so the features are point-in-time correct for training rows as well.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import faiss
import numpy as np

SIMILAR_COLUMNS: tuple[str, ...] = (
    "similar_scam_share",
    "similar_nearest_scam_distance",
    "similar_nearest_distance",
)
SIMILAR_DESCRIPTIONS: dict[str, str] = {
    "similar_scam_share": "share of known scams among the most similar past cases",
    "similar_nearest_scam_distance": "distance to the most similar known scam case",
    "similar_nearest_distance": "distance to the most similar past case (how unusual the case is)",
}
NO_SCAM_DISTANCE = 1e3  # "no known scam among the candidates": far away, but finite for the GBM


SMALL_BATCH = 32  # queries; below this one OpenMP thread is far faster (no fork/join per query)


def _search(index: faiss.Index, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``index.search`` with one OpenMP thread for small batches (restored afterwards)."""
    if query.shape[0] >= SMALL_BATCH:
        return index.search(query, k)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(query, k)
    finally:
        faiss.omp_set_num_threads(threads)


class Standardizer:
    """Signed-log1p z-scores with per-column group weights; NaN -> 0 (the training mean).

    ``fit(X [N, D], group_of [D])`` learns ``center_`` / ``scale_`` [D] and ``weight_`` [D];
    ``transform(X [B, D]) -> float32 [B, D]``.
    """

    def __init__(self, *, min_scale: float = 1e-3) -> None:
        self.min_scale = min_scale

    @staticmethod
    def _squash(x: np.ndarray) -> np.ndarray:
        return np.sign(x) * np.log1p(np.abs(x))

    def fit(self, x: np.ndarray, group_of: np.ndarray) -> Standardizer:
        v = self._squash(np.asarray(x, dtype=np.float64))
        with warnings.catch_warnings():  # an all-missing column is fine: center 0, scale 1
            warnings.simplefilter("ignore", RuntimeWarning)
            center = np.nanmean(v, axis=0)
            scale = np.nanstd(v, axis=0)
        self.center_ = np.nan_to_num(center, nan=0.0)
        self.scale_ = np.maximum(np.nan_to_num(scale, nan=1.0), self.min_scale)
        sizes = np.bincount(group_of)
        self.weight_ = 1.0 / np.sqrt(sizes[group_of])
        return self

    def state(self) -> dict[str, np.ndarray]:
        return {"center": self.center_, "scale": self.scale_, "weight": self.weight_}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> Standardizer:
        out = cls()
        out.center_, out.scale_, out.weight_ = state["center"], state["scale"], state["weight"]
        return out

    def transform(self, x: np.ndarray) -> np.ndarray:
        z = (self._squash(np.asarray(x, dtype=np.float64)) - self.center_) / self.scale_
        return np.nan_to_num(z * self.weight_, nan=0.0).astype(np.float32)


class MaskedIndex:
    """Exact nearest neighbours over the revealed groups only, for any mask (see module docstring).

    ``z`` [N, D] float32 (standardized), ``group_of`` [D] group index per column, ``n_groups`` G.
    ``owners`` [N] int: a query never gets back a row of its own owner (its user), when given.
    """

    def __init__(
        self, z: np.ndarray, group_of: np.ndarray, n_groups: int, owners: np.ndarray | None = None
    ) -> None:
        z = np.ascontiguousarray(z, dtype=np.float32)
        self.group_of = np.asarray(group_of)
        self.n_groups = n_groups
        self.size = z.shape[0]
        self.owners = None if owners is None else np.asarray(owners, dtype=np.int64)
        # the most rows any one owner has: how many extra results to ask for before filtering
        self._margin = 0 if self.owners is None else int(np.bincount(self.owners).max())
        norms = np.zeros((z.shape[0], n_groups), dtype=np.float32)  # [N, G]
        for g in range(n_groups):
            cols = self.group_of == g
            norms[:, g] = (z[:, cols] ** 2).sum(axis=1)
        self._index = faiss.IndexFlatIP(z.shape[1] + n_groups)
        if self.size:
            self._index.add(np.ascontiguousarray(np.hstack([z, norms])))

    def search(
        self,
        q: np.ndarray,
        bits: np.ndarray,
        k: int,
        *,
        exclude_owners: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest rows to each query over its revealed columns.

        ``q`` [B, D] standardized queries, ``bits`` [B, G] revealed groups. Returns
        ``(distance [B, k] float32, index [B, k] int64)``, nearest first; index -1 and distance
        inf pad when fewer than ``k`` rows qualify. ``exclude_owners`` [B]: skip rows of that owner.
        """
        q = np.asarray(q, dtype=np.float32)
        bits = np.asarray(bits, dtype=bool)
        b = q.shape[0]
        if b == 0 or self.size == 0 or k <= 0:
            return np.full((b, k), np.inf, np.float32), np.full((b, k), -1, np.int64)
        cols = bits[:, self.group_of]  # [B, D]
        qm = np.where(cols, q, 0.0).astype(np.float32)
        query = np.hstack([2.0 * qm, -bits.astype(np.float32)])  # [B, D + G]
        extra = self._margin if exclude_owners is not None else 0
        kk = min(k + extra, self.size)
        score, idx = _search(self._index, np.ascontiguousarray(query), kk)  # [B, kk]
        dist2 = (qm.astype(np.float64) ** 2).sum(axis=1, keepdims=True) - score
        dist = np.sqrt(np.maximum(dist2, 0.0)).astype(np.float32)
        dist[idx < 0] = np.inf
        if exclude_owners is not None and self.owners is not None:
            own = np.asarray(exclude_owners, dtype=np.int64)[:, None]
            bad = (idx >= 0) & (self.owners[np.maximum(idx, 0)] == own)
            dist = np.where(bad, np.inf, dist)
            order = np.argsort(dist, axis=1, kind="stable")
            dist = np.take_along_axis(dist, order, axis=1)
            idx = np.take_along_axis(np.where(bad, -1, idx), order, axis=1)
        out_d = np.full((b, k), np.inf, np.float32)
        out_i = np.full((b, k), -1, np.int64)
        w = min(k, dist.shape[1])
        out_d[:, :w], out_i[:, :w] = dist[:, :w], idx[:, :w]
        out_i[~np.isfinite(out_d)] = -1
        return out_d, out_i


@dataclass
class SimilarCases:
    """The ``similar_*`` features from the nearest labelled training cases (module docstring).

    ``z`` [N, D] standardized training vectors over the groups before ``similar_cases``; ``label``
    [N] 0/1; ``decided_at`` [N] float seconds since epoch when a scam label became known (inf for
    benign); ``owners`` [N] int user codes. ``k`` neighbours give the scam share; the nearest
    known scam is looked for among ``scam_candidates`` scam cases.
    """

    z: np.ndarray = field(repr=False)
    group_of: np.ndarray = field(repr=False)
    n_groups: int
    label: np.ndarray = field(repr=False)
    decided_at: np.ndarray = field(repr=False)
    owners: np.ndarray = field(repr=False)
    k: int = 20
    scam_candidates: int = 64

    def __post_init__(self) -> None:
        self.label = np.asarray(self.label, dtype=np.int8)
        self.decided_at = np.asarray(self.decided_at, dtype=np.float64)
        self.owners = np.asarray(self.owners, dtype=np.int64)
        self.index = MaskedIndex(self.z, self.group_of, self.n_groups, owners=self.owners)
        scam = np.flatnonzero(self.label == 1)
        self._scam_rows = scam
        self.scam_index = MaskedIndex(
            self.z[scam], self.group_of, self.n_groups, owners=self.owners[scam]
        )

    def features(
        self,
        q: np.ndarray,
        bits: np.ndarray,
        as_of: np.ndarray,
        owners: np.ndarray | None = None,
        *,
        batch: int = 4096,
    ) -> np.ndarray:
        """``similar_*`` features [B, 3] (``SIMILAR_COLUMNS`` order) for queries ``q`` [B, D].

        ``bits`` [B, G] revealed groups used for the distance (normally every group but
        ``similar_cases``), ``as_of`` [B] epoch seconds of each query, ``owners`` [B] the query's
        user code (rows of that user are skipped) or None for cases outside the training set.
        """
        out = np.empty((q.shape[0], len(SIMILAR_COLUMNS)), dtype=np.float64)
        for start in range(0, q.shape[0], batch):
            sl = slice(start, start + batch)
            own = None if owners is None else owners[sl]
            dist, idx = self.index.search(q[sl], bits[sl], self.k, exclude_owners=own)
            ok = idx >= 0
            safe = np.maximum(idx, 0)
            known = ok & (self.label[safe] == 1) & (self.decided_at[safe] < as_of[sl, None])
            n = np.maximum(ok.sum(axis=1), 1)
            out[sl, 0] = known.sum(axis=1) / n
            out[sl, 2] = np.where(ok[:, 0], dist[:, 0], NO_SCAM_DISTANCE)
            sd, si = self.scam_index.search(
                q[sl], bits[sl], self.scam_candidates, exclude_owners=own
            )
            rows = self._scam_rows[np.maximum(si, 0)]
            known_s = (si >= 0) & (self.decided_at[rows] < as_of[sl, None])
            first = np.where(known_s.any(axis=1), known_s.argmax(axis=1), -1)
            out[sl, 1] = np.where(
                first >= 0, sd[np.arange(sd.shape[0]), np.maximum(first, 0)], NO_SCAM_DISTANCE
            )
        return out

    def neighbours(
        self, q: np.ndarray, bits: np.ndarray, k: int, owner: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar training rows to one query ``q`` [D]: (distance [k], row [k])."""
        own = None if owner is None else np.asarray([owner])
        d, i = self.index.search(q[None, :], bits[None, :], k, exclude_owners=own)
        return d[0], i[0]
