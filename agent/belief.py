"""Belief under partial evidence: P(scam | the revealed groups) for any mask.

:class:`MaskedBelief` is one LightGBM model trained with random group masking: every training case
is repeated ``copies`` times, each copy with a random subset of the non-event groups hidden (their
columns set to NaN) and the mask bits as extra inputs, so "not looked at" and "looked, no data"
stay distinct. A Platt calibration (logistic on the raw margin, with the mask size as a second
input) is then fitted on a *different* split (validation) under random masks, and
:func:`calibration_by_mask_size` checks it per number of revealed groups.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression

from agent.groups import GroupLayout


def random_masks(
    n: int, n_groups: int, rng: np.random.Generator, *, reveal_prob: float = 0.5
) -> np.ndarray:
    """``n`` random integer masks: event (bit 0) always set, other groups each with ``reveal_prob``."""
    bits = rng.random((n, n_groups - 1)) < reveal_prob  # [n, G-1]
    weights = 1 << np.arange(1, n_groups)
    return (bits * weights).sum(axis=1).astype(np.int64) | 1


def mask_size(masks: np.ndarray) -> np.ndarray:
    """Number of revealed groups (event included) of integer masks [B] (masks < 2**16)."""
    m = np.asarray(masks, dtype=np.int64)
    return _POPCOUNT[m & 0xFFFF]


_POPCOUNT = np.array([bin(i).count("1") for i in range(1 << 16)], dtype=np.int64)


class MaskedBelief:
    """Calibrated P(scam | revealed groups) from one masked-trained LightGBM (module docstring).

    ``fit(values [N, D], labels [N], layout)``; ``predict(values [B, D], masks [B]) -> p [B]``
    where ``values`` may hold the full case: columns outside the mask are hidden before scoring.
    """

    def __init__(
        self,
        *,
        copies: int = 4,
        reveal_prob: float = 0.5,
        n_estimators: int = 120,
        learning_rate: float = 0.1,
        num_leaves: int = 15,
        min_child_samples: int = 40,
        seed: int = 0,
        threads: int = 2,
    ) -> None:
        self.copies = copies
        self.reveal_prob = reveal_prob
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.seed = seed
        self.threads = threads

    # -------------------------------------------------------------------------------- inputs
    def _inputs(self, values: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Model inputs [B, D + G - 1]: values hidden outside ``masks``, then the mask bits."""
        layout = self.layout_
        cols = layout.column_mask(masks)  # [B, D]
        x = np.where(cols, np.asarray(values, dtype=np.float64), np.nan)
        bits = layout.mask_bits(masks)[:, 1:].astype(np.float64)  # [B, G-1]
        return np.hstack([x, bits])

    def _margin(
        self, values: np.ndarray, masks: np.ndarray, threads: int | None = None
    ) -> np.ndarray:
        x = self._inputs(values, masks)
        return np.asarray(
            self.booster_.predict(x, raw_score=True, num_threads=threads or self.threads),
            dtype=np.float64,
        )

    # ----------------------------------------------------------------------------------- fit
    def fit(
        self,
        values: np.ndarray,
        labels: np.ndarray,
        layout: GroupLayout,
        *,
        calib_values: np.ndarray | None = None,
        calib_labels: np.ndarray | None = None,
    ) -> MaskedBelief:
        """Train on ``copies`` randomly masked copies of each case; calibrate on the calib split.

        Without a calibration split the raw LightGBM probability is used (identity calibration).
        """
        self.layout_ = layout
        rng = np.random.default_rng(self.seed)
        values = np.asarray(values, dtype=np.float64)
        y = np.asarray(labels).astype(np.int8)
        n = values.shape[0]
        masks = random_masks(n * self.copies, layout.n_groups, rng, reveal_prob=self.reveal_prob)
        rows = np.tile(np.arange(n), self.copies)
        x = self._inputs(values[rows], masks)
        names = [*layout.columns, *(f"revealed_{g}" for g in layout.groups[1:])]
        params = {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "seed": self.seed,
            "deterministic": True,
            "num_threads": self.threads,
            "verbosity": -1,
        }
        data = lgb.Dataset(x, label=y[rows], feature_name=names, free_raw_data=True)
        self.booster_ = lgb.train(params, data, num_boost_round=self.n_estimators)
        self.calibration_: np.ndarray | None = None  # [3]: margin, mask size, intercept
        if calib_values is not None and calib_labels is not None:
            cy = np.asarray(calib_labels).astype(np.int8)
            cn = cy.shape[0]
            cmasks = random_masks(
                cn * self.copies, layout.n_groups, rng, reveal_prob=self.reveal_prob
            )
            crows = np.tile(np.arange(cn), self.copies)
            margin = self._margin(np.asarray(calib_values)[crows], cmasks)
            platt = LogisticRegression(C=1e4, max_iter=1000).fit(
                self._calib_features(margin, cmasks), cy[crows]
            )
            self.calibration_ = np.asarray([*platt.coef_[0], platt.intercept_[0]], dtype=np.float64)
        return self

    @staticmethod
    def _calib_features(margin: np.ndarray, masks: np.ndarray) -> np.ndarray:
        return np.stack([margin, mask_size(masks).astype(np.float64)], axis=1)

    # ------------------------------------------------------------------------------- predict
    def predict(
        self, values: np.ndarray, masks: np.ndarray, *, threads: int | None = None
    ) -> np.ndarray:
        """Calibrated P(scam) [B] of ``values`` [B, D] seen through integer ``masks`` [B]."""
        masks = np.asarray(masks, dtype=np.int64).reshape(-1)
        if masks.size == 0:
            return np.zeros(0)
        margin = self._margin(np.atleast_2d(values), masks, threads)
        if self.calibration_ is not None:  # Platt, applied by hand (sklearn's call costs ~1 ms)
            a, b, c = self.calibration_
            margin = a * margin + b * mask_size(masks) + c
        return 1.0 / (1.0 + np.exp(-margin))

    # --------------------------------------------------------------------------- persistence
    def save(self, directory: Path) -> None:
        """Write ``belief.lgb.txt`` and ``belief.json`` under ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(directory / "belief.lgb.txt"))
        meta = {
            "params": self.get_params(),
            "calibration": None if self.calibration_ is None else self.calibration_.tolist(),
        }
        (directory / "belief.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: Path, layout: GroupLayout) -> MaskedBelief:
        meta = json.loads((directory / "belief.json").read_text())
        belief = cls(**meta["params"])
        belief.layout_ = layout
        belief.booster_ = lgb.Booster(model_file=str(directory / "belief.lgb.txt"))
        cal = meta["calibration"]
        belief.calibration_ = None if cal is None else np.asarray(cal, dtype=np.float64)
        return belief

    def get_params(self) -> dict:
        return {
            "copies": self.copies,
            "reveal_prob": self.reveal_prob,
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "seed": self.seed,
            "threads": self.threads,
        }


def calibration_by_mask_size(
    belief: MaskedBelief,
    values: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int = 0,
    copies: int = 2,
    bins: int = 10,
) -> list[dict]:
    """Calibration of ``belief`` per number of revealed groups, under random masks.

    Returns one dict per mask size (1 = event only ... G = all): ``mask_size, rows, mean_p,
    scam_rate, ece`` (expected calibration error over ``bins`` equal-count bins of p), ``brier``.
    """
    layout = belief.layout_
    rng = np.random.default_rng(seed)
    y = np.asarray(labels).astype(np.int8)
    n = y.shape[0]
    masks = random_masks(n * copies, layout.n_groups, rng)
    rows = np.tile(np.arange(n), copies)
    p = belief.predict(np.asarray(values)[rows], masks)
    yy = y[rows]
    sizes = mask_size(masks)
    out = []
    for size in range(1, layout.n_groups + 1):
        sel = sizes == size
        if not sel.any():
            continue
        ps, ys = p[sel], yy[sel]
        order = np.argsort(ps, kind="stable")
        ece = 0.0
        for chunk in np.array_split(order, min(bins, ps.size)):
            if chunk.size:
                ece += chunk.size / ps.size * abs(ps[chunk].mean() - ys[chunk].mean())
        out.append(
            {
                "mask_size": size,
                "rows": int(sel.sum()),
                "mean_p": float(ps.mean()),
                "scam_rate": float(ys.mean()),
                "ece": float(ece),
                "brier": float(np.mean((ps - ys) ** 2)),
            }
        )
    return out
