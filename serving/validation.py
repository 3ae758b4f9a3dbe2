"""Checks of an event against the clock and the online store, before anything is recorded.

The pydantic models (``scamguard.events``) check what a body says on its own; this module checks
what needs the server's state. ``POST /v1/score`` and ``POST /v1/events`` call
:func:`check_event` inside ``OnlineFeatures.exclusive()``, just before recording the event, so a
rejected event changes nothing and no other request records an event between the check and the
record.

Each problem is a 422 in FastAPI's shape (``{"detail": [{"loc", "msg", "type", "input", "ctx"}]}``,
``loc = ["body", event_type, field]``), all problems of one event together:

- ``ts_in_future``: ``ts`` is more than ``settings.max_clock_skew_s`` after the server's clock;
- ``user_not_signed_up``: the acting user has no profile in the store (a login by an unknown
  user would otherwise be scored on missing features);
- ``ts_before_signup``: the event is dated before its user signed up (a login 48 days before the
  signup gave an account age of -48.6 days);
- ``counterpart_not_signed_up``: the recipient, payee or reported user does not exist, or signed
  up after the event.

A second signup of an existing user is a 409 Conflict (:class:`SignupConflict`): the body is
valid, the account already exists (a retried signup sees it too).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import HTTPException, status
from fastapi.exceptions import RequestValidationError

from scamguard.events import Event, SignupEvent
from scamguard.settings import Settings
from serving.online import OnlineFeatures


class SignupConflict(HTTPException):
    """409: a signup for a user who already signed up."""

    def __init__(self, user_id: str, signed_up: datetime) -> None:
        super().__init__(
            status.HTTP_409_CONFLICT,
            detail=(
                f"user {user_id} has already signed up (at {signed_up.isoformat()}): "
                "a second signup is refused"
            ),
        )


def _problem(
    event: Event, field: str, type_: str, msg: str, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    problem: dict[str, Any] = {
        "type": type_,
        "loc": ("body", event.event_type, field),  # type: ignore[attr-defined]
        "msg": msg,
        "input": getattr(event, field),
    }
    if ctx:
        problem["ctx"] = ctx
    return problem


def check_event(
    event: Event, online: OnlineFeatures, settings: Settings, *, now: datetime | None = None
) -> None:
    """Raise ``RequestValidationError`` (422) listing every problem of ``event`` against the clock
    (``now``, default: the current UTC time) and the users the store knows, or
    :class:`SignupConflict` (409) for a second signup; return if the event may be recorded."""
    now = now or datetime.now(UTC)
    problems: list[dict[str, Any]] = []
    latest = now + timedelta(seconds=settings.max_clock_skew_s)
    if event.ts > latest:
        problems.append(
            _problem(
                event,
                "ts",
                "ts_in_future",
                f"ts {event.ts.isoformat()} is in the future: more than "
                f"{settings.max_clock_skew_s:g} s after the server's clock ({now.isoformat()})",
                {"now": now.isoformat(), "max_clock_skew_s": settings.max_clock_skew_s},
            )
        )

    signed_up = online.signup_time(event.user_id)
    if isinstance(event, SignupEvent):
        if problems:
            raise RequestValidationError(problems)
        if signed_up is not None:
            raise SignupConflict(event.user_id, signed_up)
        return

    if signed_up is None:
        problems.append(
            _problem(
                event,
                "user_id",
                "user_not_signed_up",
                f"user {event.user_id} has not signed up: send a signup event first",
            )
        )
    elif event.ts < signed_up:
        problems.append(
            _problem(
                event,
                "ts",
                "ts_before_signup",
                f"ts {event.ts.isoformat()} is before user {event.user_id} signed up "
                f"(signup_ts {signed_up.isoformat()})",
                {"signup_ts": signed_up.isoformat()},
            )
        )

    for field in event.counterpart_fields:
        other = getattr(event, field)
        if other == event.user_id:
            continue  # e.g. a payout of one's own balance: checked above
        other_signed_up = online.signup_time(other)
        if other_signed_up is None:
            problems.append(
                _problem(
                    event,
                    field,
                    "counterpart_not_signed_up",
                    f"{field} {other} has not signed up: send their signup event first",
                )
            )
        elif event.ts < other_signed_up:
            problems.append(
                _problem(
                    event,
                    field,
                    "counterpart_not_signed_up",
                    f"{field} {other} had not signed up by ts {event.ts.isoformat()} "
                    f"(signup_ts {other_signed_up.isoformat()})",
                    {"signup_ts": other_signed_up.isoformat()},
                )
            )
    if problems:
        raise RequestValidationError(problems)
