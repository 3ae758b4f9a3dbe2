"""Alert thresholds from each signal's own variability over its reference period.

A signal is judged against its own history (the same signal on the previous days, or on the
previous cohorts at the same label age): with mean ``m`` and spread ``s`` of that history, it
warns beyond ``m + k_warn·s`` and pages beyond ``m + k_page·s`` (below, for a signal whose bad
direction is down). The spread is the history's standard deviation, floored by the signal's own
sampling noise where that is known (binomial for a rate, Poisson for a count, the PSI of two equal
distributions for a PSI), so a history that happens to be flat (e.g. no row ever quarantined)
does not make any single row an alert. Ordinary week-to-week variation sits inside the band by
construction; nothing here is a fixed level of the signal itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

OK, WARN, PAGE, NO_BASELINE = "ok", "warn", "page", "no-baseline"
UP, DOWN, BOTH = "up", "down", "both"

K_WARN = 3.0  # standard deviations of the signal's history
K_PAGE = 6.0
MIN_HISTORY = 7  # points of history (days, or cohorts for performance) before judging
MIN_HISTORY_COHORTS = 2


@dataclass(frozen=True)
class Judgement:
    """A signal's value against its history; thresholds are None without enough history."""

    value: float
    mean: float | None
    sd: float | None  # the spread used: max(history sd, noise floor)
    n_history: int
    warn_at: float | None
    page_at: float | None
    direction: str
    severity: str  # ok | warn | page | no-baseline

    @property
    def z(self) -> float | None:
        """Signed distance from the history's mean in spreads (positive = the bad direction)."""
        if self.mean is None or not self.sd:
            return None
        z = (self.value - self.mean) / self.sd
        return -z if self.direction == DOWN else abs(z) if self.direction == BOTH else z


def judge(
    value: float,
    history: Sequence[float],
    *,
    direction: str = UP,
    noise_sd: float = 0.0,
    k_warn: float = K_WARN,
    k_page: float = K_PAGE,
    min_history: int = MIN_HISTORY,
) -> Judgement:
    """Judge ``value`` against ``history`` (earlier values of the same signal; NaNs ignored).

    ``noise_sd`` is the sampling noise of ``value`` itself (0 when unknown); the spread is
    ``sqrt(sd(history)² + noise_sd²)``. ``direction``: ``up`` (high is bad), ``down`` or ``both``.
    """
    points = [float(h) for h in history if h is not None and math.isfinite(float(h))]
    if not math.isfinite(value) or len(points) < min_history:
        return Judgement(value, None, None, len(points), None, None, direction, NO_BASELINE)
    mean = sum(points) / len(points)
    var = sum((p - mean) ** 2 for p in points) / max(len(points) - 1, 1)
    sd = math.sqrt(var + noise_sd**2)
    sign = -1.0 if direction == DOWN else 1.0
    warn_at, page_at = mean + sign * k_warn * sd, mean + sign * k_page * sd
    excess = (value - mean) * sign if direction != BOTH else abs(value - mean)
    severity = OK
    if sd > 0 and excess >= k_page * sd:
        severity = PAGE
    elif sd > 0 and excess >= k_warn * sd:
        severity = WARN
    return Judgement(value, mean, sd, len(points), warn_at, page_at, direction, severity)


def binomial_sd(history_rate: float, trials: float) -> float:
    """Sampling sd of a rate measured on ``trials`` rows when the true rate is ``history_rate``
    (kept off 0 and 1 by one pseudo-count, so a never-seen event still has some noise)."""
    if trials <= 0:
        return 0.0
    p = min(max(history_rate, 1.0 / (trials + 2)), 1 - 1.0 / (trials + 2))
    return math.sqrt(p * (1 - p) / trials)


def smoothed_rate(successes: Sequence[float], trials: Sequence[float]) -> float:
    """The pooled rate of a history, with one pseudo-success in two pseudo-trials."""
    return (sum(successes) + 1.0) / (sum(trials) + 2.0)


def psi_noise_sd(bins: int, n_current: int, n_reference: int) -> float:
    """The spread of the PSI between two samples of one distribution (asymptotically
    chi-square with ``bins - 1`` degrees of freedom scaled by ``1/n_current + 1/n_reference``)."""
    if n_current <= 0 or n_reference <= 0 or bins < 2:
        return 0.0
    return math.sqrt(2.0 * (bins - 1)) * (1.0 / n_current + 1.0 / n_reference)
