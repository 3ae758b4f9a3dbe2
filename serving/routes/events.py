"""``POST /v1/events``: record an event in the online store without scoring it.

``/v1/score`` already records every scored event. This path is for what is never scored but
feeds features: reports (``reports_*``, ``reporters_total``) and labels (known-bad neighbours
and components), and for callers that want an endpoint event recorded without a decision.
Mounted under the score router (same ``/v1`` prefix and API key).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from serving.deps import OnlineDep
from serving.schemas import Recorded, RecordedEvent

router = APIRouter(tags=["events"])


@router.post("/events", response_model=Recorded)
def record_event(
    event: Annotated[
        RecordedEvent, Body(description="One event; `event_type` selects its fields.")
    ],
    online: OnlineDep,
) -> Recorded:
    """Record the event in the online store (no score, no audit record)."""
    online.ingest(event.table, event.to_row())
    return Recorded(
        event_id=event.event_id, event_type=event.event_type, user_id=event.user_id, table=event.table
    )
