"""Request and response models of the scoring endpoint.

The request bodies are the marketplace events of ``scamguard.events`` (one model per event type,
discriminated on ``event_type``, each turning itself into its raw-table row); this module adds the
responses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi.openapi.models import Example
from pydantic import BaseModel, ConfigDict, Field

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
    "EVENT_EXAMPLES",
    "SCORE_EXAMPLES",
    "ErrorBody",
    "HTTPValidationError",
    "error_responses",
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
    loading: bool = Field(
        default=False, description="The model and the online store are still being loaded."
    )
    model_version: str | None = None
    model_source: Literal["registry", "cache"] | None = Field(
        default=None,
        description=(
            "Where the served model came from: the registry, or the local verified cache when "
            "the registry was unreachable at start."
        ),
    )
    registry_error: str | None = Field(
        default=None, description="Why the registry could not be read (serving from the cache)."
    )
    text_model_uri: str | None = Field(
        default=None,
        description="The text model served for the textmodel_* features (none: not needed).",
    )
    text_model_source: Literal["registry", "cache"] | None = Field(
        default=None,
        description=(
            "Where the text model came from: the registry, or the local verified cache when the "
            "registry was unreachable at start."
        ),
    )
    text_registry_error: str | None = Field(
        default=None, description="Why the registry could not give the text model."
    )
    features_as_of: datetime | None = None
    online_users: int = 0
    reason: str | None = None


class Recorded(BaseModel):
    event_id: str
    event_type: str
    user_id: str
    table: str = Field(description="The raw table the event was recorded as.")


class ErrorBody(BaseModel):
    """The body of a 401, 404, 409 or 503: what went wrong, in words."""

    detail: str = Field(examples=["invalid API key"])


class ValidationErrorItem(BaseModel):
    """One problem with a request, as pydantic and FastAPI report it."""

    model_config = ConfigDict(title="ValidationError")

    loc: list[str | int] = Field(
        title="Location", description='Where: ["body", event_type, field].'
    )
    msg: str = Field(title="Message")
    type: str = Field(title="Error Type")
    input: Any = Field(default=None, title="Input")
    ctx: dict[str, Any] | None = Field(default=None, title="Context")


class HTTPValidationError(BaseModel):
    """The body of a 422 (FastAPI's shape): every problem found, each naming its field."""

    detail: list[ValidationErrorItem]


_ERROR_RESPONSES: dict[int, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong X-API-Key"},
    404: {"model": ErrorBody, "description": "Unknown user"},
    409: {"model": ErrorBody, "description": "A second signup of an existing user"},
    422: {
        "model": HTTPValidationError,
        "description": (
            "A bad body (each problem names its field) or, for an event, what the store refuses: "
            "a user or counterpart who has not signed up, a time before the user's signup or "
            "beyond the allowed clock skew into the future"
        ),
    },
    503: {"model": ErrorBody, "description": "Model or online store not loaded (yet)"},
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a router for these error statuses, each with its body schema."""
    return {code: _ERROR_RESPONSES[code] for code in codes}


def _example(summary: str, value: dict[str, Any]) -> Example:
    return Example(summary=summary, value=value)


SCORE_EXAMPLES: dict[str, Example] = {
    "signup": _example(
        "A new account (send it first: every other event needs its user signed up)",
        {
            "event_type": "signup",
            "user_id": "u9000001",
            "role": "client",
            "country": "US",
            "email_domain": "example.com",
            "phone_country": "US",
            "ip": "203.0.113.7",
            "device_id": "dev-9000001",
            "kyc_status": "none",
            "profile_text": "We build small online shops.",
        },
    ),
    "login": _example(
        "A login",
        {
            "event_type": "login",
            "user_id": "u9000001",
            "ip": "203.0.113.7",
            "device_id": "dev-9000001",
            "country": "US",
            "success": True,
        },
    ),
    "job_post": _example(
        "A client posts a job",
        {
            "event_type": "job_post",
            "user_id": "u9000001",
            "job_id": "j9000001",
            "title": "Build a landing page",
            "description": "A one-page site for a bakery.",
            "budget_usd": 500.0,
            "category": "web_dev",
        },
    ),
    "proposal": _example(
        "A freelancer bids on a job",
        {
            "event_type": "proposal",
            "user_id": "u9000002",
            "job_id": "j9000001",
            "bid_usd": 400.0,
            "cover_text": "I built a similar page last month.",
        },
    ),
    "message": _example(
        "A message (the recipient must have signed up)",
        {
            "event_type": "message",
            "user_id": "u9000001",
            "recipient_id": "u9000002",
            "job_id": "j9000001",
            "text": "To start, please send the $200 deposit via WhatsApp first.",
        },
    ),
    "payment": _example(
        "A payment (the payee must have signed up)",
        {
            "event_type": "payment",
            "user_id": "u9000001",
            "payee_id": "u9000002",
            "amount_usd": 250.0,
            "instrument_id": "pi_9000001",
            "kind": "charge",
        },
    ),
}
"""One request example per event type of ``POST /v1/score`` (``ts`` left out: it defaults to now)."""

EVENT_EXAMPLES: dict[str, Example] = {
    **SCORE_EXAMPLES,
    "report": _example(
        "A user reports another",
        {
            "event_type": "report",
            "user_id": "u9000002",
            "reported_id": "u9000001",
            "reason": "advance_fee",
        },
    ),
    "label": _example(
        "An investigator's decision on a user",
        {"event_type": "label", "user_id": "u9000001", "label": "fake_client"},
    ),
}
"""One request example per event type of ``POST /v1/events``: the scored ones, reports, labels."""
