"""Events as rows of named fields, the same online and in batch: what rules look at.

The endpoint sees one event at a time (``scamguard.events``); batch scoring sees the raw tables.
Both become rows of ``EVENT_FIELDS``: the acting ``user_id``, ``event_type``, ``text`` (the event's
own text as the text heuristics read it: a message, a job post's title and description, a
proposal's cover letter; null for other events) and each event type's own fields under the
endpoint's names (a signup's ``ip`` and ``device_id`` are the ``signup_ip`` / ``signup_device_id``
of the ``users`` table). A field an event type lacks is null.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from scamguard.events import Event

from .build import Tables

EVENT_FIELDS = pl.Schema(
    {
        "user_id": pl.String(),
        "event_type": pl.String(),
        "ts": pl.Datetime("us", "UTC"),
        "text": pl.String(),
        # signup
        "role": pl.String(),
        "country": pl.String(),  # signup and login
        "email_domain": pl.String(),
        "phone_country": pl.String(),
        "ip": pl.String(),  # signup and login
        "device_id": pl.String(),  # signup and login
        "kyc_status": pl.String(),
        "profile_text": pl.String(),
        # login
        "success": pl.Boolean(),
        # job post (and the job a proposal or message is about)
        "job_id": pl.String(),
        "title": pl.String(),
        "description": pl.String(),
        "budget_usd": pl.Float64(),
        "category": pl.String(),
        # proposal
        "bid_usd": pl.Float64(),
        "cover_text": pl.String(),
        # message
        "recipient_id": pl.String(),
        # payment
        "payee_id": pl.String(),
        "amount_usd": pl.Float64(),
        "instrument_id": pl.String(),
        "kind": pl.String(),
    }
)
EVENT_TYPES = ("signup", "login", "job_post", "proposal", "message", "payment")


def event_fields(event: Event) -> dict[str, Any]:
    """One endpoint event as a row of ``EVENT_FIELDS`` (fields it lacks are None)."""
    values = event.model_dump()
    row = {name: values.get(name) for name in EVENT_FIELDS.names()}
    row["text"] = event.own_text()
    return row


def day_events(tables: Tables, start: datetime, end: datetime) -> pl.LazyFrame:
    """Every scored-type event with ``start <= ts < end`` as rows of ``EVENT_FIELDS``, by acting
    user (the sender, poster, bidder, payer, the user who logged in or signed up)."""

    def within(frame: pl.LazyFrame, column: str = "ts") -> pl.LazyFrame:
        return frame.filter((pl.col(column) >= start) & (pl.col(column) < end))

    parts = [
        within(tables.users, "signup_ts").select(
            "user_id",
            pl.lit("signup").alias("event_type"),
            pl.col("signup_ts").alias("ts"),
            *("role", "country", "email_domain", "phone_country"),
            pl.col("signup_ip").alias("ip"),
            pl.col("signup_device_id").alias("device_id"),
            "kyc_status",
            "profile_text",
        ),
        within(tables.logins).select(
            "user_id",
            pl.lit("login").alias("event_type"),
            "ts",
            "ip",
            "device_id",
            "country",
            "success",
        ),
        within(tables.jobs).select(
            pl.col("client_id").alias("user_id"),
            pl.lit("job_post").alias("event_type"),
            "ts",
            pl.concat_str("title", "description", separator=" ").alias("text"),
            *("job_id", "title", "description", "budget_usd", "category"),
        ),
        within(tables.proposals).select(
            pl.col("freelancer_id").alias("user_id"),
            pl.lit("proposal").alias("event_type"),
            "ts",
            pl.col("cover_text").alias("text"),
            *("job_id", "bid_usd", "cover_text"),
        ),
        within(tables.messages).select(
            pl.col("sender_id").alias("user_id"),
            pl.lit("message").alias("event_type"),
            "ts",
            "text",
            "recipient_id",
            "job_id",
        ),
        within(tables.payments).select(
            pl.col("payer_id").alias("user_id"),
            pl.lit("payment").alias("event_type"),
            *("ts", "payee_id", "amount_usd", "instrument_id", "kind"),
        ),
    ]
    empty = pl.LazyFrame(schema=EVENT_FIELDS)
    return pl.concat([empty, *parts], how="diagonal_relaxed").select(
        pl.col(c).cast(t) for c, t in EVENT_FIELDS.items()
    )
