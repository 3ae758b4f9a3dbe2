"""What is already known decides before the model: labelled scammers are blocked.

The simplest rule of all, applied beside the model in batch scoring and in the endpoint:

* a user with a scam label decided before the decision time is blocked, with the reason
  ``labelled <typology> on <date>``, whatever the model's risk;
* a user whose latest label is ``benign`` (an analyst cleared them) gets at most ``review`` from
  the model, until new evidence arrives: a report received after the label, or a newer label.

Both apply as of the label's decision time, never before it (``features.labels``). Each returns
the rule that fired, so a rules layer can list it beside its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from .decisions import BLOCK, REVIEW

SCAM_LABEL_RULE = "known-scam-label"
BENIGN_LABEL_RULE = "analyst-cleared"


@dataclass(frozen=True)
class KnownLabel:
    """A user's latest label decided before the decision time, and the reports since."""

    label: str
    decided_ts: datetime
    reports_since: int = 0

    @property
    def is_scam(self) -> bool:
        return self.label != "benign"


@dataclass(frozen=True)
class Overridden:
    decision: str
    reasons: list[str]
    rule: str | None  # the rule that changed or confirmed the decision; None: the model's alone


def apply_known_label(decision: str, reasons: list[str], known: KnownLabel | None) -> Overridden:
    """The decision and reasons once the user's known label is taken into account."""
    if known is None:
        return Overridden(decision, reasons, None)
    day = known.decided_ts.date().isoformat()
    if known.is_scam:
        return Overridden(BLOCK, [f"labelled {known.label} on {day}", *reasons], SCAM_LABEL_RULE)
    if decision == BLOCK and known.reports_since == 0:
        why = f"labelled benign on {day}: at most review until new evidence"
        return Overridden(REVIEW, [why, *reasons], BENIGN_LABEL_RULE)
    return Overridden(decision, reasons, None)


def apply_known_labels(scored: pl.DataFrame, known: pl.DataFrame) -> pl.DataFrame:
    """``scored`` (``user_id``, ``decision``, ``reasons``, ...) with the known labels applied.

    ``known`` has the columns of ``features.labels.known_labels``. Adds ``override`` (String, the
    rule that fired, null where the model decided alone); other columns are kept. An ``override``
    already in ``scored`` (a rule's, ``models.rules``) stays where no label fires.
    """
    labelled = scored.select("user_id", "decision", "reasons").join(known, on="user_id")
    changes = {}
    for row in labelled.iter_rows(named=True):
        label = KnownLabel(row["label"], row["decided_ts"], row["reports_since"])
        changes[row["user_id"]] = apply_known_label(row["decision"], list(row["reasons"]), label)
    fired = {u: o for u, o in changes.items() if o.rule is not None}
    patch = pl.DataFrame(
        {
            "user_id": list(fired),
            "_decision": [o.decision for o in fired.values()],
            "_reasons": [o.reasons for o in fired.values()],
            "_override": [o.rule for o in fired.values()],
        },
        schema={
            "user_id": pl.String(),
            "_decision": pl.String(),
            "_reasons": pl.List(pl.String()),
            "_override": pl.String(),
        },
    )
    earlier = pl.col("override") if "override" in scored.columns else pl.lit(None, pl.String)
    return (
        scored.join(patch, on="user_id", how="left", maintain_order="left")
        .with_columns(
            pl.coalesce("_decision", "decision").alias("decision"),
            pl.when(pl.col("_reasons").is_not_null())
            .then(pl.col("_reasons"))
            .otherwise(pl.col("reasons"))
            .alias("reasons"),
            pl.coalesce("_override", earlier).alias("override"),
        )
        .drop("_decision", "_reasons", "_override")
    )
