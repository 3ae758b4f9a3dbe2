"""Drift: PSI of each feature and of the scores against the champion's training reference, and
the decision mix (block and review rates).

PSI (population stability index) over the reference's decile bins: ``sum((c - r) · ln(c / r))``
over bins, with the missing values as one more bin and empty bins floored at ``EPS``. Bins are
the reference's quantiles with duplicate edges merged, so a count feature that is mostly zero
has few bins; a value beyond the reference's range falls in an end bin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

BINS = 10
EPS = 1e-4


@dataclass(frozen=True)
class Binned:
    """One reference distribution: inner bin edges and the share of rows per bin (last: null)."""

    edges: np.ndarray  # [E] increasing inner edges; bins are (-inf, e0], (e0, e1], ..., (eE, inf)
    shares: np.ndarray  # [E + 2]: E + 1 value bins, then the null bin
    n: int

    @property
    def bins(self) -> int:
        return int((self.shares > 0).sum())


def _values(column: pl.Series) -> np.ndarray:
    """Float64 values with NaN for null (and for NaN)."""
    return column.cast(pl.Float64).fill_nan(None).to_numpy().astype(np.float64)


def _counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    missing = np.isnan(values)
    idx = np.searchsorted(edges, values[~missing], side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)
    return np.append(counts, missing.sum())


def fit_bins(reference: pl.Series, bins: int = BINS) -> Binned:
    values = _values(reference)
    present = values[~np.isnan(values)]
    if present.size:
        quantiles = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1], method="lower")
        edges = np.unique(quantiles)
    else:
        edges = np.array([], dtype=np.float64)
    counts = _counts(values, edges)
    return Binned(edges=edges, shares=counts / max(len(values), 1), n=len(values))


def psi(binned: Binned, current: pl.Series) -> float:
    """PSI of ``current`` against the reference ``binned``; NaN when ``current`` is empty."""
    values = _values(current)
    if values.size == 0:
        return float("nan")
    cur = _counts(values, binned.edges) / values.size
    ref = binned.shares
    used = (cur > 0) | (ref > 0)
    c, r = np.maximum(cur[used], EPS), np.maximum(ref[used], EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def fit_reference(frame: pl.DataFrame, columns: list[str]) -> dict[str, Binned]:
    return {c: fit_bins(frame.get_column(c)) for c in columns if c in frame.columns}


def feature_psi(reference: dict[str, Binned], frame: pl.DataFrame) -> dict[str, float]:
    """PSI per feature of ``frame`` (a day's feature snapshot); a missing column is all null."""
    out = {}
    for name, binned in reference.items():
        column = (
            frame.get_column(name)
            if name in frame.columns
            else pl.Series(name, [None] * frame.height, dtype=pl.Float64)
        )
        out[name] = psi(binned, column)
    return out


def model_rows(scores: pl.DataFrame) -> pl.DataFrame:
    """The rows the model decided alone (no known-label override)."""
    if "override" not in scores.columns:
        return scores
    return scores.filter(pl.col("override").is_null())


def decision_rates(scores: pl.DataFrame) -> dict[str, float]:
    """Share of block and review among the model's own decisions, with the row count."""
    rows = model_rows(scores)
    n = rows.height
    if n == 0:
        return {"block_rate": float("nan"), "review_rate": float("nan"), "n": 0}
    counts = dict(rows["decision"].value_counts().iter_rows())
    return {
        "block_rate": counts.get("block", 0) / n,
        "review_rate": counts.get("review", 0) / n,
        "n": n,
    }
