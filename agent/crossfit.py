"""Out-of-sample self-play: belief and completion models each fitted without one fold of users.

The masked belief is fitted on the training cases, so on those cases it is sharper than it will
ever be on a new case (its average precision is higher on train than on valid; the figures are in
docs/results/agent.md). Self-play on training cases with that belief teaches the network that
evidence settles a case more often than it does at decision time.

:func:`fold_case_models` therefore fits ``k`` extra beliefs, belief ``f`` without the users of
fold ``f`` (:func:`user_folds`), each with its own :class:`~agent.planner.CaseModel` whose
completions come from the other folds only. A self-play case of fold ``f`` is then investigated
as a new case is at decision time: by a belief never trained on its user's cases, with completions
from cases the belief was trained on. (Not perfectly: the standardizer and the ``similar_*``
features were built from every training case.) These models serve self-play only; validation,
evaluation and serving use the belief fitted on every training case.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agent.belief import MaskedBelief
from agent.groups import GroupLayout
from agent.index import Standardizer
from agent.planner import CaseModel


def user_folds(owners: np.ndarray, k: int, *, seed: int = 0) -> np.ndarray:
    """A fold in ``0 .. k-1`` per row [N] of integer user codes ``owners`` [N] (>= 0): every row of
    a user in the same fold, users assigned by a seeded draw."""
    owners = np.asarray(owners, dtype=np.int64)
    if k < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {k}")
    if owners.size and owners.min() < 0:
        raise ValueError("user codes must be non-negative")
    rng = np.random.default_rng(seed)
    size = int(owners.max()) + 1 if owners.size else 0
    return rng.integers(0, k, size=size)[owners]


def fold_case_models(
    layout: GroupLayout,
    standardizer: Standardizer,
    values: np.ndarray,
    labels: np.ndarray,
    owners: np.ndarray,
    folds: np.ndarray,
    *,
    belief_params: dict[str, Any],
    calib_values: np.ndarray | None = None,
    calib_labels: np.ndarray | None = None,
    completion: dict[str, Any],
) -> list[CaseModel]:
    """One :class:`CaseModel` per fold ``f`` (index ``f``), fitted on the rows [N] not in ``f``.

    ``values`` [N, D], ``labels`` [N], ``owners`` [N] and ``folds`` [N] are the training cases;
    each belief is calibrated on ``calib_values`` / ``calib_labels`` like the main one (not at all
    without them).
    """
    k = int(folds.max()) + 1
    models = []
    for f in range(k):
        keep = folds != f
        if keep.all():
            raise ValueError(f"fold {f} of {k} holds no case: fewer users than folds?")
        if not labels[keep].any():
            raise ValueError(f"fold {f}: the other folds hold no scam case")
        belief = MaskedBelief(**belief_params).fit(
            values[keep],
            labels[keep],
            layout,
            calib_values=calib_values,
            calib_labels=calib_labels,
        )
        models.append(
            CaseModel(
                layout, belief, standardizer, values[keep], labels[keep], owners[keep], **completion
            )
        )
    return models
