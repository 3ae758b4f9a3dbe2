"""Analysts' labels: an append-only store beside the platform's ``labels`` table.

One JSON object per line in ``<data_dir>/labels/analyst.jsonl`` (``Settings.analyst_labels_path``):
who (``analyst``), when (``decided_ts``, UTC, and ``recorded_at``), what (``label``: ``benign`` or
a scam typology, with an optional ``first_bad_ts``: when the scam began, if the analyst knows) and
why (``note``). Nothing is ever rewritten: a later label for the same user supersedes an earlier
one and both stay. ``features.labels.label_history`` merges this store with the platform's labels
(reports, chargebacks, the simulator's) and says which label wins.

``scamguard label`` and ``POST /v1/labels`` both write here; the endpoint also records the label in
the online store, so it decides the user's next events at once.
"""

from __future__ import annotations

import fcntl
import json
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

import polars as pl
from pydantic import Field, model_validator

from scamguard.events import Event, UtcDatetime
from scamguard.schema import LABELS
from scamguard.settings import Settings

MAX_NOTE = 2_000

# A login or a handle: starts with a letter; letters, digits and . _ @ - after it.
AnalystName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z][A-Za-z0-9_.@\-]*$",
        description="Who decided: a login name (letters, digits, . _ @ -; starts with a letter).",
        examples=["jdoe"],
    ),
]

ANALYST_LABEL_SCHEMA = pl.Schema(
    {
        "label_id": pl.String(),
        "user_id": pl.String(),
        "label": pl.String(),
        "decided_ts": pl.Datetime("us", "UTC"),
        "first_bad_ts": pl.Datetime("us", "UTC"),
        "analyst": pl.String(),
        "note": pl.String(),
        "recorded_at": pl.Datetime("us", "UTC"),
    }
)


class AnalystLabel(Event):
    """An analyst's decision on ``user_id`` at ``ts`` (the label's ``decided_ts``; default: now).

    ``event_id`` is the label's id. ``first_bad_ts``: when the scam began, if known (scam labels
    only, not after ``ts``); without it a scam label counts the account's whole life as scam.
    """

    table: ClassVar[str] = "labels"
    event_type: Literal["label"] = "label"
    label: Literal[LABELS] = Field(  # type: ignore[valid-type]
        description="`benign` or a scam typology.", examples=["fake_client"]
    )
    analyst: AnalystName
    note: str = Field(default="", max_length=MAX_NOTE, description="Why, in the analyst's words.")
    first_bad_ts: UtcDatetime | None = Field(
        default=None, description="When the scam began, if known (scam labels only)."
    )

    @model_validator(mode="after")
    def _first_bad_fits(self) -> AnalystLabel:
        if self.first_bad_ts is None:
            return self
        if self.label == "benign":
            raise ValueError("first_bad_ts is for scam labels; a benign label has none")
        if self.first_bad_ts > self.ts:
            raise ValueError("first_bad_ts is after the label's decision time ts")
        return self

    def to_row(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "label": self.label,
            "decided_ts": self.ts,
            "first_bad_ts": self.first_bad_ts,
        }

    def record(self) -> dict[str, Any]:
        """The store's row (``ANALYST_LABEL_SCHEMA``), recorded now."""
        return {
            "label_id": self.event_id,
            **self.to_row(),
            "analyst": self.analyst,
            "note": self.note,
            "recorded_at": datetime.now(UTC),
        }


def append_analyst_label(settings: Settings, label: AnalystLabel) -> dict[str, Any]:
    """Append ``label`` to the store (one line, under an exclusive lock: writers never interleave)
    and return the row written."""
    row = label.record()
    path = settings.analyst_labels_path
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()})
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.write(line + "\n")
            fh.flush()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return row


def read_analyst_labels(settings: Settings) -> pl.DataFrame:
    """Every analyst label in the order recorded (``ANALYST_LABEL_SCHEMA``; empty if none).

    Raises ValueError naming the line of a corrupt record.
    """
    path = settings.analyst_labels_path
    if not path.exists():
        return pl.DataFrame(schema=ANALYST_LABEL_SCHEMA)
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                rows.append({c: raw.get(c) for c in ANALYST_LABEL_SCHEMA.names()})
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not a JSON label record ({exc.msg})") from None
    if not rows:
        return pl.DataFrame(schema=ANALYST_LABEL_SCHEMA)
    times = [c for c, t in ANALYST_LABEL_SCHEMA.items() if isinstance(t, pl.Datetime)]
    strings = {c: pl.String() for c in ANALYST_LABEL_SCHEMA.names()}
    return (
        pl.DataFrame(rows, schema=strings, orient="row")
        .with_columns(
            pl.col(c).str.to_datetime(time_zone="UTC", time_unit="us", strict=True) for c in times
        )
        .cast(ANALYST_LABEL_SCHEMA)
    )
