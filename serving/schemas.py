"""Request and response models of the scoring endpoint.

``ScoreEvent`` is a discriminated union on ``event_type``: one model per marketplace event, each
with the acting ``user_id``, the event time ``ts`` (UTC; naive times are read as UTC; default:
now) and the event's own fields, mirroring the raw tables of ``scamguard.schema``. Unknown fields
are rejected, so a typo in a field name is a 422 naming it rather than a silently ignored value.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from scamguard.schema import JOB_CATEGORIES, KYC_STATUSES, PAYMENT_KINDS, ROLES

MAX_TEXT = 10_000  # characters of free text (profile, job description, cover letter, message)
MAX_TITLE = 300
MAX_AMOUNT_USD = 1_000_000.0  # the raw contract's upper bound on amounts

Decision = Literal["allow", "review", "block"]
EventType = Literal["signup", "login", "job_post", "proposal", "message", "payment"]


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _event_id() -> str:
    return uuid.uuid4().hex


Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Short = Annotated[str, Field(min_length=1, max_length=128)]
Country = Annotated[
    str, Field(min_length=2, max_length=3, pattern=r"^[A-Z]{2,3}$", description="ISO country code")
]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
UsdAmount = Annotated[float, Field(ge=0.0, le=MAX_AMOUNT_USD, allow_inf_nan=False)]
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: Id = Field(description="The acting user (sender, poster, bidder, payer, ...).")
    ts: UtcDatetime = Field(
        default_factory=_now, description="When the event happened (UTC); default: now."
    )
    event_id: Id = Field(
        default_factory=_event_id, description="Caller's id for the event; default: a fresh uuid."
    )


class SignupEvent(_Event):
    event_type: Literal["signup"]
    role: Literal[ROLES]  # type: ignore[valid-type]
    country: Country
    email_domain: Annotated[
        str, Field(min_length=3, max_length=253, pattern=r"^[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")
    ]
    phone_country: Country
    ip: Short
    device_id: Short
    kyc_status: Literal[KYC_STATUSES] = "none"  # type: ignore[valid-type]
    profile_text: Text = ""


class LoginEvent(_Event):
    event_type: Literal["login"]
    ip: Short
    device_id: Short
    country: Country
    success: bool = True


class JobPostEvent(_Event):
    event_type: Literal["job_post"]
    job_id: Id
    title: Annotated[str, Field(min_length=1, max_length=MAX_TITLE)]
    description: Text
    budget_usd: UsdAmount
    category: Literal[JOB_CATEGORIES]  # type: ignore[valid-type]


class ProposalEvent(_Event):
    event_type: Literal["proposal"]
    job_id: Id
    bid_usd: UsdAmount
    cover_text: Text


class MessageEvent(_Event):
    event_type: Literal["message"]
    recipient_id: Id
    job_id: Id | None = None
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


class PaymentEvent(_Event):
    """``user_id`` is the payer (``payer_id`` of the raw table). A user paying out their own balance
    (an account-takeover drain) is a payout with ``payee_id == user_id``."""

    event_type: Literal["payment"]
    payee_id: Id
    amount_usd: UsdAmount
    instrument_id: Id
    kind: Literal[PAYMENT_KINDS]  # type: ignore[valid-type]


ScoreEvent = Annotated[
    SignupEvent | LoginEvent | JobPostEvent | ProposalEvent | MessageEvent | PaymentEvent,
    Field(discriminator="event_type"),
]


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
