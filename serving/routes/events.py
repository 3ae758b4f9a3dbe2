"""``POST /v1/events``: record an event in the online store without scoring it.

``/v1/score`` already records every scored event. This path is for what is never scored but
feeds features: reports (``reports_*``, ``reporters_total``) and labels (known-bad neighbours
and components), and for callers that want an endpoint event recorded without a decision.
Its own router with the same ``/v1`` prefix and API key as ``/v1/score`` (a router included in
another loses its prefix in the metrics' route label). Like ``/v1/score``, a coroutine that works
on the event loop (``serving.routes.score``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from serving.deps import ApiKeyDep, OnlineDep, StateDep
from serving.online import NOT_SEEN
from serving.schemas import EVENT_EXAMPLES, Recorded, RecordedEvent, error_responses
from serving.validation import check_event

router = APIRouter(
    prefix="/v1",
    tags=["events"],
    dependencies=[ApiKeyDep],
    responses=error_responses(401, 409, 422, 503),
)


@router.post("/events", response_model=Recorded)
async def record_event(
    event: Annotated[
        RecordedEvent,
        Body(
            description="One event; `event_type` selects its fields.",
            openapi_examples=EVENT_EXAMPLES,
        ),
    ],
    online: OnlineDep,
    state: StateDep,
) -> Recorded:
    """Record the event in the online store (no score, no audit record).

    **Repeats.** An `event_id` already recorded for the event's table (through this route or
    `/v1/score`) is not recorded again; the answer is the same.

    The event is checked against the store first (``serving.validation``) and recorded only if
    it passes: the acting user (and the recipient, payee or reported user) must have signed up,
    no earlier than the event; the event may not be dated more than ``max_clock_skew_s`` (default
    300 s) into the future. Each failure is a 422 naming the field. A second signup of an existing
    user is a **409 Conflict** (the account exists; a retried signup sees the same).
    """
    documents = (
        await state.text_model.documents(event.table, event.to_row()) if state.text_model else []
    )
    with online.exclusive():  # check and record atomically: a rejected event changes nothing
        if online.first_answer(event) is not NOT_SEEN:
            state.metrics.repeats.labels("/v1/events").inc()
        else:
            check_event(event, online, state.settings)
            online.ingest(event.table, event.to_row(), documents)
            online.remember(event, None)
    return Recorded(
        event_id=event.event_id,
        event_type=event.event_type,
        user_id=event.user_id,
        table=event.table,
    )
