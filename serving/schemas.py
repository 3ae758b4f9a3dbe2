"""Request and response models of the scoring endpoint.

The request bodies are the marketplace events of ``scamguard.events`` (one model per event type,
discriminated on ``event_type``, each turning itself into its raw-table row); this module adds the
responses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from scamguard.events import (
    JobPostEvent,
    LabelEvent,
    LoginEvent,
    MessageEvent,
    PaymentEvent,
    ProposalEvent,
    RecordedEvent,
    ReportEvent,
    ScoreEvent,
    SignupEvent,
)

__all__ = [
    "Health",
    "JobPostEvent",
    "LabelEvent",
    "LoginEvent",
    "MessageEvent",
    "PaymentEvent",
    "ProposalEvent",
    "Readiness",
    "Recorded",
    "RecordedEvent",
    "ReportEvent",
    "ScoreEvent",
    "ScoreResponse",
    "SignupEvent",
]

Decision = Literal["allow", "review", "block"]
EventType = Literal["signup", "login", "job_post", "proposal", "message", "payment"]


class ScoreResponse(BaseModel):
    """A risk decision for one event's acting user."""

    risk: float = Field(
        ge=0.0, le=1.0, description="Calibrated probability that the user is a scammer."
    )
    decision: Decision
    reasons: list[str] = Field(description="Top reasons in words, most important first.")
    model_version: str
    event_type: EventType
    event_id: str
    user_id: str
    features_as_of: datetime = Field(
        description=(
            "Instant the online store was backfilled through (UTC); later events are "
            "recorded as they are scored or posted to /v1/events."
        )
    )


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    ready: bool
    model_version: str | None = None
    features_as_of: datetime | None = None
    online_users: int = 0
    reason: str | None = None


class Recorded(BaseModel):
    event_id: str
    event_type: str
    user_id: str
    table: str = Field(description="The raw table the event was recorded as.")
