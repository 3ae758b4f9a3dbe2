"""Cost-based decisions: allow / review / block from a calibrated scam probability.

The prices come from :class:`scamguard.costs.CostModel` (``settings.costs``), in its one unit per
decided row. For a row with calibrated probability ``p`` of being a scam:

    allow  costs  p * missed_scam          (a scam goes through)
    block  costs  (1 - p) * wrongful_block (a good user is blocked)
    review costs  review                   (a human looks; a human is always right)

Choosing the cheapest gives two thresholds: review when ``p >= review / missed_scam`` and block
when ``p >= 1 - review / wrongful_block``. Review capacity (a fraction of the scored rows) then
narrows that band on the validation split; see :func:`thresholds_from_costs`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scamguard.costs import CostModel

ALLOW, REVIEW, BLOCK = "allow", "review", "block"
DECISIONS: tuple[str, ...] = (ALLOW, REVIEW, BLOCK)


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds on the calibrated probability: review if ``p >= review``, block if ``p >= block``.

    ``review <= block``; when they are equal no row is reviewed.
    """

    review: float
    block: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.review <= self.block <= 1.0:
            raise ValueError(f"need 0 <= review <= block <= 1, got {self}")


def uncapped_thresholds(costs: CostModel) -> Thresholds:
    """The cost-minimising thresholds with unlimited review capacity.

    When review costs at least as much as the allow/block break-even cost, review never wins and
    both thresholds sit at the allow/block break-even ``wrongful_block / (missed_scam + wrongful_block)``.
    """
    m, w, r = costs.missed_scam, costs.wrongful_block, costs.review
    if m + w == 0:
        return Thresholds(review=1.0, block=1.0)
    breakeven = w / (m + w)  # allow and block cost the same here
    if m == 0 or w == 0 or r >= m * w / (m + w):
        return Thresholds(review=breakeven, block=breakeven)
    return Thresholds(review=r / m, block=1.0 - r / w)


def thresholds_from_costs(p_valid: np.ndarray, costs: CostModel) -> Thresholds:
    """Thresholds from the costs, capped so at most ``review_capacity`` of ``p_valid`` is reviewed.

    ``p_valid`` [N] are calibrated probabilities on the validation split. If the uncapped review
    band ``[missed/review, 1 - review/wrongful)`` holds more than ``floor(review_capacity * N)``
    rows, the band is narrowed to the window of at most that many rows that minimises the expected
    cost (under the calibrated ``p``) of the rows in the band: band rows below the window are
    allowed, rows above it blocked. This raises the review threshold and, when that is cheaper,
    lowers the block threshold too (reviews go where they save most, around the allow/block
    break-even), rather than simply allowing everything the reviewers cannot take.
    """
    p = np.asarray(p_valid, dtype=np.float64).ravel()
    base = uncapped_thresholds(costs)
    capacity = int(np.floor(costs.review_capacity * p.size))
    in_band = p[(p >= base.review) & (p < base.block)]
    if in_band.size <= capacity:
        return base

    m, w, r = costs.missed_scam, costs.wrongful_block, costs.review
    values, counts = np.unique(in_band, return_counts=True)  # [U] ascending
    n_before = np.concatenate([[0], np.cumsum(counts)])  # [U+1] rows with value index < i
    allow_cost = np.concatenate([[0.0], np.cumsum(values * counts)]) * m  # [U+1] allow idx < i
    block_all = np.concatenate([np.cumsum(((1.0 - values) * counts)[::-1])[::-1], [0.0]]) * w
    # For each window start i, the largest end j (exclusive) with at most `capacity` rows inside.
    starts = np.arange(values.size)
    ends = np.searchsorted(n_before, n_before[:-1] + capacity, side="right") - 1  # [U]
    cost = allow_cost[starts] + r * (n_before[ends] - n_before[starts]) + block_all[ends]
    i = int(np.argmin(cost))
    j = int(ends[i])
    # Thresholds half-way between the last value kept out of the window and the first inside it.
    review = base.review if i == 0 else float((values[i - 1] + values[i]) / 2)
    if j == values.size:
        block = base.block
    elif j == 0:
        block = review
    else:
        block = float((values[j - 1] + values[j]) / 2)
    return Thresholds(review=review, block=max(block, review))


def decide(p: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """Decisions [N] (``"allow"`` / ``"review"`` / ``"block"``, dtype object) for probabilities ``p`` [N]."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, ALLOW, dtype=object)
    out[p >= thresholds.review] = REVIEW
    out[p >= thresholds.block] = BLOCK
    return out


def expected_cost(y: np.ndarray, decisions: np.ndarray, costs: CostModel) -> float:
    """Realised mean cost per row of ``decisions`` [N] against true labels ``y`` [N] (1 = scam)."""
    y = np.asarray(y).astype(bool)
    d = np.asarray(decisions)
    if y.size == 0:
        return float("nan")
    cost = (
        np.where((d == ALLOW) & y, costs.missed_scam, 0.0)
        + np.where((d == BLOCK) & ~y, costs.wrongful_block, 0.0)
        + np.where(d == REVIEW, costs.review, 0.0)
    )
    return float(cost.mean())
