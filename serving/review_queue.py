"""The analysts' review queue: the ``review`` decisions of one day's batch scores, most valuable first.

:func:`review_queue` reads ``<data_dir>/scores/date=D/`` (default: the latest scored date) and keeps
the rows decided ``review`` whose user has no label decided since the start of ``D`` (a label
from the queue, the CLI, the API or the platform) and that an analyst's earlier ``benign`` label
did not cap (those wait for new evidence; ``models.overrides``).

Order: the value of a human review under the cost model (``scamguard.costs``), the expected loss
of the best automatic decision minus the review's cost::

    value = min(risk * missed_scam, (1 - risk) * wrongful_block) - review

(``risk`` is the calibrated scam probability; allow loses ``risk * missed_scam`` in expectation,
block ``(1 - risk) * wrongful_block``; a review always reaches the right answer). With the default
prices the most valuable case is one at risk 1/6, where allowing and blocking cost the same.

When an agent is trained (``scamguard agent-train``), the rows shown also get its recommendation
(``agent.recommend``, on the features the batch scored): tens of milliseconds per row, so only the
``limit`` rows listed are played.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from agent.recommend import recommend
from features.tables import load_clean_tables
from models.decisions import REVIEW
from models.overrides import BENIGN_LABEL_RULE
from pipelines.batch import feature_snapshot_path, read_scores, score_partition
from scamguard.costs import CostModel
from scamguard.settings import Settings

ORDERING = "min(risk x missed_scam, (1 - risk) x wrongful_block) - review"


def review_value(risk: pl.Expr, costs: CostModel) -> pl.Expr:
    """Expected saving of a human review over the best automatic decision, per case."""
    allow_loss = risk * costs.missed_scam
    block_loss = (1 - risk) * costs.wrongful_block
    return pl.min_horizontal(allow_loss, block_loss) - costs.review


def review_queue(
    settings: Settings,
    day: date | None = None,
    *,
    limit: int = 20,
    costs: CostModel | None = None,
    agent: bool = True,
) -> dict[str, Any]:
    """The queue of ``day`` (module docstring) as a JSON-able dict: ``rows`` (at most ``limit``),
    each with its rank, user, risk, expected losses, value of review, reasons and the agent's
    recommendation (``None`` without a trained agent or with ``agent=False``)."""
    if limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    if day is not None and not score_partition(settings, day).exists():
        raise FileNotFoundError(
            f"no batch scores for {day} under {settings.scores_dir}: "
            f"run `scamguard batch-score --date {day}` first"
        )
    costs = costs or settings.costs
    scores = read_scores(settings, day)
    as_of = scores["as_of"][0]
    day = as_of.date() - timedelta(days=1)
    start = as_of - timedelta(days=1)
    labelled = (
        load_clean_tables(settings)
        .labels.filter(pl.col("decided_ts") >= start)
        .select("user_id")
        .unique()
        .collect()
    )
    reviews = scores.filter(pl.col("decision") == REVIEW)
    capped = pl.col("override").fill_null("") == BENIGN_LABEL_RULE
    queue = (
        reviews.filter(~capped)
        .join(labelled, on="user_id", how="anti")
        .with_columns(
            (pl.col("risk") * costs.missed_scam).alias("allow_loss"),
            ((1 - pl.col("risk")) * costs.wrongful_block).alias("block_loss"),
            review_value(pl.col("risk"), costs).alias("review_value"),
        )
        .sort(["review_value", "user_id"], descending=[True, False])
    )
    shown = queue.head(limit)
    advice = _agent_advice(settings, day, shown["user_id"]) if agent else None
    rows = [
        {
            "rank": i,
            "user_id": r["user_id"],
            "risk": r["risk"],
            "allow_loss": r["allow_loss"],
            "block_loss": r["block_loss"],
            "review_value": r["review_value"],
            "rules": list(r.get("rules") or []),
            "reasons": list(r["reasons"] or []),
            "agent": None if advice is None else advice.get(r["user_id"]),
        }
        for i, r in enumerate(shown.iter_rows(named=True), 1)
    ]
    return {
        "date": day.isoformat(),
        "as_of": as_of.isoformat(),
        "review_decisions": reviews.height,
        "unlabelled": queue.height,
        "shown": len(rows),
        "ordering": ORDERING,
        "costs": {
            "missed_scam": costs.missed_scam,
            "wrongful_block": costs.wrongful_block,
            "review": costs.review,
        },
        "agent": "not trained (scamguard agent-train)" if advice is None and agent else None,
        "rows": rows,
    }


def _agent_advice(
    settings: Settings, day: date, users: pl.Series
) -> dict[str, dict[str, Any]] | None:
    path: Path = feature_snapshot_path(settings, day)
    if not path.exists() or users.is_empty():
        return {}  # nothing to play (a day scored before snapshots were kept)
    features = pl.read_parquet(path).join(users.to_frame(), on="user_id", how="semi")
    return recommend(settings, features)
