"""One raw row as the online store records it: the row-level definitions, evaluated per event.

The offline builder evaluates the row-level plans (``features.ledger.ledger_plan`` /
``sighting_plan``, ``features.graph.link_plan``, ``features.profile.profile_exprs`` and the text
indicators) as Polars expressions over whole tables. The online store meets one row at a time,
where a Polars query costs far more than the arithmetic it runs, so it uses :func:`map_row`, a
plain-Python twin of those plans. :func:`map_row_polars` evaluates the plans themselves on a
one-row frame; ``tests/features/test_online_rows.py`` holds the two equal over thousands of
generated rows (every table, every payment kind, failed logins, nulls where the contract allows
them, texts that trip each heuristic, non-ASCII texts).

Text flags: an ASCII text is matched with Python's ``re``, any other with the Polars regexes
(``features.text.flag_values``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import polars as pl

from features.graph import LINK_TABLES, link_plan
from features.ledger import (
    LEDGER_SCHEMA,
    LEDGER_TABLES,
    SIGHTING_TABLES,
    indicator_exprs,
    ledger_plan,
    sighting_plan,
)
from features.profile import DISPOSABLE_EMAIL, FREE_EMAIL, profile_exprs
from features.text import TEXT_INDICATORS, derived_values, flag_values, text_flags
from scamguard.schema import TABLES

_NO_TEXT = dict.fromkeys(TEXT_INDICATORS, 0)
_DISPOSABLE, _FREE = frozenset(DISPOSABLE_EMAIL), frozenset(FREE_EMAIL)
_PAYMENT_KIND = {"charge": "payment", "chargeback": "chargeback", "payout": "payout"}


@dataclass(frozen=True)
class Mapped:
    """What one raw row becomes: at most one ledger row and one profile (dicts keyed by the
    plans' column names), and its sightings ``(user_id, what, value, ts)`` and links
    ``(user_id, kind, ident, ts)``. Times are UTC datetimes."""

    ledger: dict | None
    profile: dict | None
    sightings: list[tuple]
    links: list[tuple]


def as_utc(value: object) -> datetime | None:
    """A timestamp as Polars' ``Datetime("us", "UTC")`` column gives it back: aware, in UTC (a
    naive datetime is read as UTC)."""
    if value is None:
        return None
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _text(table: str, r: Mapping[str, object]) -> str | None:
    """The event's text as ``ledger_plan`` reads it (a job: title + " " + description)."""
    if table == "jobs":
        title, description = r.get("title"), r.get("description")
        return None if title is None or description is None else f"{title} {description}"
    return r.get({"messages": "text", "proposals": "cover_text"}[table])  # type: ignore[return-value]


def _indicators(text: str | None) -> dict[str, int]:
    flags = flag_values(text)
    return dict(zip(TEXT_INDICATORS, (*flags, *derived_values(flags)), strict=True))


def _ledger_row(table: str, r: Mapping[str, object]) -> dict | None:
    """``ledger_plan(table)``: user, kind, counterparty, amount, instrument (no text yet)."""
    counterparty = amount = instrument = None
    kind: str | None
    if table == "messages":
        user, kind, counterparty = r.get("sender_id"), "message", r.get("recipient_id")
    elif table == "jobs":
        user, kind, amount = r.get("client_id"), "job", r.get("budget_usd")
    elif table == "proposals":
        user, kind = r.get("freelancer_id"), "proposal"
    elif table == "logins":
        user, kind = r.get("user_id"), "login" if r.get("success") else "failed_login"
    elif table == "payments":
        pay = r.get("kind")
        kind = _PAYMENT_KIND.get(str(pay))
        if kind is None:
            return None  # a refund, or no kind: no ledger row
        user = r.get("payee_id") if pay == "payout" else r.get("payer_id")
        counterparty = r.get("payee_id") if pay == "charge" else None
        amount, instrument = r.get("amount_usd"), r.get("instrument_id")
    else:  # reports
        user, kind, counterparty = r.get("reported_id"), "report", r.get("reporter_id")
    return {
        "user_id": user,
        "ts": as_utc(r.get("ts")),
        "kind": kind,
        "counterparty": None if counterparty is None else str(counterparty),
        "amount": None if amount is None else float(amount),  # type: ignore[arg-type]
        "instrument": None if instrument is None else str(instrument),
    }


def _sightings(table: str, r: Mapping[str, object]) -> list[tuple]:
    """``sighting_plan(table)``, filtered and exploded."""
    if table == "users":
        at, user = as_utc(r.get("signup_ts")), r.get("user_id")
        return [
            (user, "device", r.get("signup_device_id"), at),
            (user, "country", r.get("country"), at),
        ]
    at = as_utc(r.get("ts"))
    if table == "logins":
        if not r.get("success"):
            return []
        user = r.get("user_id")
        return [(user, "device", r.get("device_id"), at), (user, "country", r.get("country"), at)]
    if table == "payments":
        pay = r.get("kind")
        if pay == "payout":
            return [(r.get("payee_id"), "payout_instrument", r.get("instrument_id"), at)]
        if pay == "charge":
            return [(r.get("payer_id"), "charge_instrument", r.get("instrument_id"), at)]
        return []
    if table == "reports":
        return [(r.get("reported_id"), "reporter", r.get("reporter_id"), at)]
    return []


def _links(table: str, r: Mapping[str, object]) -> list[tuple]:
    """``link_plan(table)``, filtered and exploded."""
    if table == "users":
        at, user = as_utc(r.get("signup_ts")), r.get("user_id")
        return [
            (user, "device", r.get("signup_device_id"), at),
            (user, "ip", r.get("signup_ip"), at),
        ]
    if table == "logins":
        if not r.get("success"):
            return []
        at, user = as_utc(r.get("ts")), r.get("user_id")
        return [(user, "device", r.get("device_id"), at), (user, "ip", r.get("ip"), at)]
    if table == "payments":
        owner = (
            r.get("payer_id") if r.get("kind") in ("charge", "chargeback") else r.get("payee_id")
        )
        return [(owner, "instrument", r.get("instrument_id"), as_utc(r.get("ts")))]
    return []


def _is(value: object, *choices: object) -> int | None:
    return None if value is None else int(value in choices)


def _profile(r: Mapping[str, object]) -> dict:
    """``profile_exprs()`` of one users row."""
    text = r.get("profile_text")
    phone, country = r.get("phone_country"), r.get("country")
    kyc, email = r.get("kyc_status"), r.get("email_domain")
    return {
        "user_id": r.get("user_id"),
        "signup_ts": as_utc(r.get("signup_ts")),
        "profile_text": text,
        "is_client": _is(r.get("role"), "client"),
        "kyc_verified": _is(kyc, "verified"),
        "kyc_failed": _is(kyc, "failed"),
        "kyc_none": _is(kyc, "none"),
        "email_disposable": None if email is None else int(email in _DISPOSABLE),
        "email_free": None if email is None else int(email in _FREE),
        "phone_country_mismatch": None
        if phone is None or country is None
        else int(phone != country),
        "profile_text_len": len(text or ""),  # type: ignore[arg-type]
        "profile_text_flags": sum(flag_values(text)),  # type: ignore[arg-type]
    }


def map_row(table: str, row: Mapping[str, object]) -> Mapped:
    """The row-level definitions on one raw row of ``table`` (contract schema), in plain Python:
    equal to :func:`map_row_polars`."""
    ledger = None
    if table in LEDGER_TABLES:
        ledger = _ledger_row(table, row)
        if ledger is not None:
            text_table = table in ("messages", "jobs", "proposals")
            ledger.update(_indicators(_text(table, row)) if text_table else _NO_TEXT)
    profile = _profile(row) if table == "users" else None
    return Mapped(ledger, profile, _sightings(table, row), _links(table, row))


def map_row_polars(table: str, row: Mapping[str, object]) -> Mapped:
    """The offline plans (``ledger_plan``, ``sighting_plan``, ``link_plan``, ``profile_exprs``)
    on a one-row frame, in one Polars select: filters become boolean columns, list columns are
    unpacked in Python. The reference :func:`map_row` is held equal to."""
    frame = pl.DataFrame([dict(row)], schema=TABLES[table].schema, orient="row")
    exprs: list[pl.Expr] = []
    text = None
    if table in LEDGER_TABLES:
        columns, text = ledger_plan(table)
        exprs += columns
        exprs += _text_flags_of(table) if text is not None else _NO_TEXT_EXPRS
    for prefix, plan, tables in (
        ("s.", sighting_plan, SIGHTING_TABLES),
        ("k.", link_plan, LINK_TABLES),
    ):
        if table in tables:
            keep, columns = plan(table)
            exprs += [c.name.prefix(prefix) for c in columns]
            exprs.append((pl.lit(True) if keep is None else keep).alias(f"{prefix}keep"))
    if table == "users":
        exprs += [e.name.prefix("p.") for e in profile_exprs()]
    out = frame.select(exprs)
    if text is not None:
        out = out.with_columns(indicator_exprs()[1])  # the derived indicators, from the flags
    r = out.row(0, named=True)
    ledger = None
    if table in LEDGER_TABLES and r["kind"] is not None:
        ledger = {c: r[c] for c in LEDGER_SCHEMA.names()}
    sightings, links = [], []
    if r.get("s.keep"):
        sightings = [
            (r["s.user_id"], w, v, r["s.ts"])
            for w, v in zip(r["s.what"], r["s.value"], strict=True)
        ]
    if r.get("k.keep"):
        links = [
            (r["k.user_id"], k, i, r["k.ts"])
            for k, i in zip(r["k.kind"], r["k.ident"], strict=True)
        ]
    profile = {k[2:]: v for k, v in r.items() if k.startswith("p.")} if table == "users" else None
    return Mapped(ledger, profile, sightings, links)


_NO_TEXT_EXPRS = [pl.lit(0, dtype=pl.Int8).alias(name) for name in TEXT_INDICATORS]


@cache
def _text_flags_of(table: str) -> list[pl.Expr]:
    """``features.text.text_flags`` of the table's text expression (``ledger_plan``)."""
    text = ledger_plan(table)[1]
    assert text is not None
    return text_flags(text)
