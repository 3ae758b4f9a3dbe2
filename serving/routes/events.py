"""``POST /v1/events``: record an event in the online store without scoring it.

``/v1/score`` already records every scored event. This path is for what is never scored but
feeds features: reports (``reports_*``, ``reporters_total``) and labels (known-bad neighbours
and components), and for callers that want an endpoint event recorded without a decision.
Mounted under the score router (same ``/v1`` prefix and API key).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from scamguard.schema import LABELS, REPORT_REASONS
from serving.deps import OnlineDep
from serving.online import event_row
from serving.schemas import (
    Id,
    JobPostEvent,
    LoginEvent,
    MessageEvent,
    PaymentEvent,
    ProposalEvent,
    SignupEvent,
    UtcDatetime,
)

router = APIRouter(tags=["events"])


class _Recorded(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: Id
    ts: UtcDatetime = Field(default_factory=lambda: datetime.now(UTC))
    event_id: Id = Field(default_factory=lambda: uuid.uuid4().hex)


class ReportEvent(_Recorded):
    """``user_id`` reported ``reported_id`` (a row of the raw ``reports`` table)."""

    event_type: Literal["report"]
    reported_id: Id
    reason: Literal[REPORT_REASONS]  # type: ignore[valid-type]


class LabelEvent(_Recorded):
    """An investigator's decision on ``user_id`` at ``ts`` (a row of the raw ``labels`` table)."""

    event_type: Literal["label"]
    label: Literal[LABELS]  # type: ignore[valid-type]
    first_bad_ts: UtcDatetime | None = None


RecordedEvent = Annotated[
    SignupEvent
    | LoginEvent
    | JobPostEvent
    | ProposalEvent
    | MessageEvent
    | PaymentEvent
    | ReportEvent
    | LabelEvent,
    Field(discriminator="event_type"),
]


class Recorded(BaseModel):
    event_id: str
    event_type: str
    user_id: str
    table: str = Field(description="The raw table the event was recorded as.")


def recorded_row(event: RecordedEvent) -> tuple[str, dict]:
    """(raw table, row) of any recordable event."""
    if isinstance(event, ReportEvent):
        return "reports", {
            "report_id": event.event_id,
            "reporter_id": event.user_id,
            "reported_id": event.reported_id,
            "ts": event.ts,
            "reason": event.reason,
        }
    if isinstance(event, LabelEvent):
        return "labels", {
            "user_id": event.user_id,
            "label": event.label,
            "decided_ts": event.ts,
            "first_bad_ts": event.first_bad_ts,
        }
    return event_row(event)


@router.post("/events", response_model=Recorded)
def record_event(
    event: Annotated[
        RecordedEvent, Body(description="One event; `event_type` selects its fields.")
    ],
    online: OnlineDep,
) -> Recorded:
    """Record the event in the online store (no score, no audit record)."""
    table, row = recorded_row(event)
    online.ingest(table, row)
    return Recorded(
        event_id=event.event_id, event_type=event.event_type, user_id=event.user_id, table=table
    )
