"""Marketplace events as the endpoint receives them, and the raw-table row each one is.

One model per event type, discriminated on ``event_type``. Each carries the acting ``user_id``, the
event time ``ts`` (UTC; naive times are read as UTC; default: now) and an ``event_id`` (the
caller's, or a fresh uuid), plus its own fields. Unknown fields are rejected, so a typo in a field
name is a 422 naming it rather than a silently ignored value.

Inputs are strict: IPs must parse (stdlib ``ipaddress``), identifiers and email domains match
their patterns, amounts and flags are JSON numbers and booleans (not strings), and timestamps are
on or after ``EARLIEST_TS`` and in range once read as UTC. Text with a lone surrogate (``"\\ud800"``:
valid JSON, not Unicode) is refused by pydantic itself. What needs the store or the clock (the
user signed up, the time is not in the future) is checked by the endpoint
(``serving.validation``).

:meth:`Event.to_row` is the one mapping from an event to a row of the raw contract
(``scamguard.schema.TABLES``): the online store records exactly that row, so an event seen
through the endpoint and the same event ingested in batch give the same features.
"""

from __future__ import annotations

import ipaddress
import uuid
from abc import abstractmethod
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from scamguard.schema import (
    JOB_CATEGORIES,
    KYC_STATUSES,
    LABELS,
    PAYMENT_KINDS,
    REPORT_REASONS,
    ROLES,
)

MAX_TEXT = 10_000  # characters of free text (profile, job description, cover letter, message)
MAX_TITLE = 300
MAX_AMOUNT_USD = 1_000_000.0  # the raw contract's upper bound on amounts


# Anything older is a corrupt timestamp (e.g. epoch seconds read as microseconds): the raw
# contract's bound (``pipelines.contracts.EARLIEST_TS``).
EARLIEST_TS = datetime(2000, 1, 1, tzinfo=UTC)


def _as_utc(value: datetime) -> datetime:
    try:
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past the last representable instant
        raise ValueError("the time is out of range once converted to UTC") from None
    if utc < EARLIEST_TS:
        raise ValueError(f"the time is before {EARLIEST_TS.isoformat()}: a corrupt timestamp?")
    return utc


def _ip(value: str) -> str:
    """``value`` if it is an IPv4 or IPv6 address (kept as sent: the raw tables hold it so)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid IPv4 or IPv6 address") from None
    return value


def _now() -> datetime:
    return datetime.now(UTC)


def _event_id() -> str:
    return uuid.uuid4().hex


Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
# Device ids are fingerprints, uuids or hashes (base64 included): no spaces or control characters.
DeviceId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:+/=\-]+$")]
IpAddress = Annotated[
    str,
    Field(
        min_length=2, max_length=64, description="IPv4 or IPv6 address", examples=["203.0.113.7"]
    ),
    AfterValidator(_ip),
]
# Hostname labels (letters, digits, inner hyphens) separated by dots, ending in a letters-only TLD.
EmailDomain = Annotated[
    str,
    Field(
        min_length=4,
        max_length=253,
        pattern=r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$",
        examples=["example.com"],
    ),
]
Country = Annotated[
    str, Field(min_length=2, max_length=3, pattern=r"^[A-Z]{2,3}$", description="ISO country code")
]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
UsdAmount = Annotated[
    float, Field(strict=True, ge=0.0, le=MAX_AMOUNT_USD, allow_inf_nan=False)
]  # a JSON number: "500" or true is a 422
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class Event(BaseModel):
    """Fields every event has. Subclasses set ``table`` (the raw table it is a row of)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    table: ClassVar[str]
    # fields naming another user (recipient, payee, reported): that user must exist too
    counterpart_fields: ClassVar[tuple[str, ...]] = ()

    user_id: Id = Field(description="The acting user (sender, poster, bidder, payer, ...).")
    ts: UtcDatetime = Field(
        default_factory=_now, description="When the event happened (UTC); default: now."
    )
    event_id: Id = Field(
        default_factory=_event_id, description="Caller's id for the event; default: a fresh uuid."
    )

    @abstractmethod
    def to_row(self) -> dict[str, Any]:
        """The row of the raw table ``self.table`` that this event is (every contract column)."""

    def own_text(self) -> str | None:
        """The free text this event carries, as the text heuristics read it (None: no text)."""
        return None


class SignupEvent(Event):
    table: ClassVar[str] = "users"
    event_type: Literal["signup"]
    role: Literal[ROLES]  # type: ignore[valid-type]
    country: Country
    email_domain: EmailDomain
    phone_country: Country
    ip: IpAddress
    device_id: DeviceId
    kyc_status: Literal[KYC_STATUSES] = "none"  # type: ignore[valid-type]
    profile_text: Text = ""

    def to_row(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "role": self.role,
            "signup_ts": self.ts,
            "country": self.country,
            "email_domain": self.email_domain,
            "phone_country": self.phone_country,
            "signup_ip": self.ip,
            "signup_device_id": self.device_id,
            "kyc_status": self.kyc_status,
            "profile_text": self.profile_text,
        }


class LoginEvent(Event):
    table: ClassVar[str] = "logins"
    event_type: Literal["login"]
    ip: IpAddress
    device_id: DeviceId
    country: Country
    success: StrictBool = True

    def to_row(self) -> dict[str, Any]:
        return {
            "login_id": self.event_id,
            "user_id": self.user_id,
            "ts": self.ts,
            "ip": self.ip,
            "device_id": self.device_id,
            "country": self.country,
            "success": self.success,
        }


class JobPostEvent(Event):
    table: ClassVar[str] = "jobs"
    event_type: Literal["job_post"]
    job_id: Id
    title: Annotated[str, Field(min_length=1, max_length=MAX_TITLE)]
    description: Text
    budget_usd: UsdAmount
    category: Literal[JOB_CATEGORIES]  # type: ignore[valid-type]

    def own_text(self) -> str | None:
        return f"{self.title} {self.description}"  # as the ledger reads a job post

    def to_row(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "client_id": self.user_id,
            "ts": self.ts,
            "title": self.title,
            "description": self.description,
            "budget_usd": self.budget_usd,
            "category": self.category,
        }


class ProposalEvent(Event):
    table: ClassVar[str] = "proposals"
    event_type: Literal["proposal"]
    job_id: Id
    bid_usd: UsdAmount
    cover_text: Text

    def own_text(self) -> str | None:
        return self.cover_text

    def to_row(self) -> dict[str, Any]:
        return {
            "proposal_id": self.event_id,
            "job_id": self.job_id,
            "freelancer_id": self.user_id,
            "ts": self.ts,
            "bid_usd": self.bid_usd,
            "cover_text": self.cover_text,
        }


class MessageEvent(Event):
    table: ClassVar[str] = "messages"
    counterpart_fields: ClassVar[tuple[str, ...]] = ("recipient_id",)
    event_type: Literal["message"]
    recipient_id: Id
    job_id: Id | None = None
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]

    def own_text(self) -> str | None:
        return self.text

    def to_row(self) -> dict[str, Any]:
        return {
            "message_id": self.event_id,
            "sender_id": self.user_id,
            "recipient_id": self.recipient_id,
            "job_id": self.job_id,
            "ts": self.ts,
            "text": self.text,
        }


class PaymentEvent(Event):
    """``user_id`` is the payer (``payer_id`` of the raw table). A user paying out their own balance
    (an account-takeover drain) is a payout with ``payee_id == user_id``."""

    table: ClassVar[str] = "payments"
    counterpart_fields: ClassVar[tuple[str, ...]] = ("payee_id",)
    event_type: Literal["payment"]
    payee_id: Id
    amount_usd: UsdAmount
    instrument_id: Id
    kind: Literal[PAYMENT_KINDS]  # type: ignore[valid-type]

    def to_row(self) -> dict[str, Any]:
        return {
            "payment_id": self.event_id,
            "payer_id": self.user_id,
            "payee_id": self.payee_id,
            "ts": self.ts,
            "amount_usd": self.amount_usd,
            "instrument_id": self.instrument_id,
            "kind": self.kind,
        }


class ReportEvent(Event):
    """``user_id`` reported ``reported_id``."""

    table: ClassVar[str] = "reports"
    counterpart_fields: ClassVar[tuple[str, ...]] = ("reported_id",)
    event_type: Literal["report"]
    reported_id: Id
    reason: Literal[REPORT_REASONS]  # type: ignore[valid-type]

    def to_row(self) -> dict[str, Any]:
        return {
            "report_id": self.event_id,
            "reporter_id": self.user_id,
            "reported_id": self.reported_id,
            "ts": self.ts,
            "reason": self.reason,
        }


class LabelEvent(Event):
    """An investigator's decision on ``user_id`` at ``ts``."""

    table: ClassVar[str] = "labels"
    event_type: Literal["label"]
    label: Literal[LABELS]  # type: ignore[valid-type]
    first_bad_ts: UtcDatetime | None = None

    def to_row(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "label": self.label,
            "decided_ts": self.ts,
            "first_bad_ts": self.first_bad_ts,
        }


SCORED_EVENTS: tuple[type[Event], ...] = (
    SignupEvent,
    LoginEvent,
    JobPostEvent,
    ProposalEvent,
    MessageEvent,
    PaymentEvent,
)
RECORDED_ONLY_EVENTS: tuple[type[Event], ...] = (ReportEvent, LabelEvent)

ScoreEvent = Annotated[
    SignupEvent | LoginEvent | JobPostEvent | ProposalEvent | MessageEvent | PaymentEvent,
    Field(discriminator="event_type"),
]
"""An event the endpoint scores (``POST /v1/score``)."""

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
"""Any event the endpoint records (``POST /v1/events``): the scored ones, reports and labels."""
