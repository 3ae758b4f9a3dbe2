"""Scorers and digests for the daily-job tests: no registry needed, and faults on demand."""

from __future__ import annotations

import hashlib
import os
import signal
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from scamguard.schema import LOAD_ORDER
from scamguard.settings import Settings


class StubScorer:
    """A deterministic stand-in for the champion: risk from flagged messages and reports."""

    model_version = "stub"
    feature_names = ("msg_flagged_share_30d", "reports_30d")  # the columns it reads

    def score(self, df: pl.DataFrame) -> pl.DataFrame:
        x = (
            df.select(
                pl.col("msg_flagged_share_30d").cast(pl.Float64).fill_null(0)
                + pl.col("reports_30d").cast(pl.Float64).fill_null(0)
            )
            .to_series()
            .to_numpy()
        )
        risk = 1 - np.exp(-x)
        decision = np.where(risk > 0.9, "block", np.where(risk > 0.5, "review", "allow"))
        reason = [("messages tripping scam heuristics" if r > 0.5 else None) for r in risk]
        return pl.DataFrame(
            {
                "risk": risk,
                "decision": decision.tolist(),
                "reason_1": reason,
                "reason_2": [None] * len(risk),
                "reason_3": [None] * len(risk),
                "reasons": [[r] if r else [] for r in reason],
            },
            schema={
                "risk": pl.Float64,
                "decision": pl.String,
                "reason_1": pl.String,
                "reason_2": pl.String,
                "reason_3": pl.String,
                "reasons": pl.List(pl.String),
            },
        )


class RandomScorer(StubScorer):
    """A broken model: uniform random risk, whatever the features (seeded by row count)."""

    model_version = "random"

    def score(self, df: pl.DataFrame) -> pl.DataFrame:
        out = super().score(df)
        risk = np.random.default_rng(df.height).random(df.height)
        decision = np.where(risk > 0.98, "block", np.where(risk > 0.95, "review", "allow"))
        return out.with_columns(pl.Series("risk", risk), pl.Series("decision", decision.tolist()))


class FailingScorer(StubScorer):
    model_version = "failing"

    def score(self, df: pl.DataFrame) -> pl.DataFrame:
        raise RuntimeError("the model server is gone")


class KillingScorer(StubScorer):
    """Kills its own process the moment scoring starts (SIGKILL: no cleanup runs)."""

    def score(self, df: pl.DataFrame) -> pl.DataFrame:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


def _frame_digest(path: Path, drop: tuple[str, ...] = ()) -> str:
    frame = pl.read_parquet(path)
    frame = frame.drop([c for c in drop if c in frame.columns])
    digest = hashlib.sha256(str(frame.schema).encode())
    digest.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    return digest.hexdigest()


def day_outputs(settings: Settings, day: date) -> dict[str, str]:
    """A digest of every output of ``day`` (data, not run metadata): clean and quarantine
    partitions, the feature snapshot and the scores, without the wall-clock columns."""
    out = {}
    part = f"date={day.isoformat()}"
    for table in LOAD_ORDER:
        for root, kind in ((settings.clean_dir, "clean"), (settings.quarantine_dir, "quarantine")):
            for f in sorted((root / table / part).glob("*.parquet")):
                out[f"{kind}/{table}/{f.name}"] = _frame_digest(f, drop=("_ingested_at",))
    snapshot = settings.features_dir / "snapshots" / part / "features.parquet"
    scores = settings.scores_dir / part / "scores.parquet"
    for name, path in (("snapshot", snapshot), ("scores", scores)):
        if path.exists():
            out[name] = _frame_digest(path, drop=("scored_at",))
    return out


def file_digests(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative path -> digest)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
