"""The per-user ledger: every raw row turned into the rows that feed a user's features.

This is the row-level half of every feature definition, shared by the offline builder and the
online store. Each function maps one raw table (a ``DataFrame`` or ``LazyFrame`` in the contract
schema of ``scamguard.schema``) to rows keyed by the user whose features they feed:

- ``ledger_rows``: what a user did or had done to them, one row per (user, event):
  ``user_id, ts, kind, counterparty, amount, instrument`` and the text indicators of
  ``features.text.TEXT_INDICATORS`` (0 for events without text). Kinds: ``message`` (sender;
  counterparty = recipient), ``job`` (client; amount = budget), ``proposal`` (freelancer),
  ``payment`` (a charge, by its payer; counterparty = payee), ``chargeback`` (payer), ``payout``
  (payee), ``login`` / ``failed_login`` and ``report`` (the reported user; counterparty = reporter).
- ``sighting_rows``: identifiers seen on a user's account, ``user_id, ts, what, value``: the
  ``device`` and ``country`` of sign-up and of every successful login, each ``charge_instrument``
  a user paid with, each ``payout_instrument`` paid out to, and each ``reporter`` who reported them.
  Features read their first sighting (``min(ts)`` per user, what, value).

The offline builder applies these to whole tables; the online store applies the very same
functions to a one-row frame of each incoming event (``OnlineStore.ingest``).
"""

from __future__ import annotations

from functools import cache
from typing import TypeVar

import polars as pl

from scamguard.schema import TS

from .text import TEXT_INDICATORS, derived_indicators, text_flags

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

LEDGER_KINDS: tuple[str, ...] = (
    "message",
    "job",
    "proposal",
    "payment",
    "login",
    "failed_login",
    "chargeback",
    "payout",
    "report",
)
SIGHTINGS: tuple[str, ...] = (
    "device",
    "country",
    "charge_instrument",
    "payout_instrument",
    "reporter",
)
LEDGER_SCHEMA = pl.Schema(
    {
        "user_id": pl.String(),
        "ts": TS,
        "kind": pl.Enum(LEDGER_KINDS),
        "counterparty": pl.String(),
        "amount": pl.Float64(),
        "instrument": pl.String(),
        **{name: pl.Int8() for name in TEXT_INDICATORS},
    }
)
SIGHTING_SCHEMA = pl.Schema(
    {"user_id": pl.String(), "ts": TS, "what": pl.String(), "value": pl.String()}
)
# raw tables that produce ledger rows / sightings
LEDGER_TABLES = ("logins", "jobs", "proposals", "messages", "payments", "reports")
SIGHTING_TABLES = ("users", "logins", "payments", "reports")

_NULL_STR = pl.lit(None, dtype=pl.String)
_NULL_F64 = pl.lit(None, dtype=pl.Float64)
_NO_TEXT = tuple(pl.lit(0, dtype=pl.Int8).alias(name) for name in TEXT_INDICATORS)


def _ledger(
    user: pl.Expr,
    kind: pl.Expr,
    *,
    counterparty: pl.Expr = _NULL_STR,
    amount: pl.Expr = _NULL_F64,
    instrument: pl.Expr = _NULL_STR,
) -> tuple[pl.Expr, ...]:
    return (
        user.alias("user_id"),
        pl.col("ts"),
        kind.alias("kind"),
        counterparty.cast(pl.String).alias("counterparty"),
        amount.cast(pl.Float64).alias("amount"),
        instrument.cast(pl.String).alias("instrument"),
    )


@cache
def ledger_plan(table: str) -> tuple[tuple[pl.Expr, ...], pl.Expr | None]:
    """(ledger columns without text indicators, the event's text or None) for one raw table."""
    if table == "messages":
        return _ledger(
            pl.col("sender_id"), pl.lit("message"), counterparty=pl.col("recipient_id")
        ), pl.col("text")
    if table == "jobs":
        return _ledger(pl.col("client_id"), pl.lit("job"), amount=pl.col("budget_usd")), (
            pl.col("title") + pl.lit(" ") + pl.col("description")
        )
    if table == "proposals":
        return _ledger(pl.col("freelancer_id"), pl.lit("proposal")), pl.col("cover_text")
    if table == "logins":
        kind = pl.when(pl.col("success")).then(pl.lit("login")).otherwise(pl.lit("failed_login"))
        return _ledger(pl.col("user_id"), kind), None
    if table == "payments":
        kind = (
            pl.when(pl.col("kind") == "charge")
            .then(pl.lit("payment"))
            .when(pl.col("kind") == "chargeback")
            .then(pl.lit("chargeback"))
            .when(pl.col("kind") == "payout")
            .then(pl.lit("payout"))
        )
        user = (
            pl.when(pl.col("kind") == "payout")
            .then(pl.col("payee_id"))
            .otherwise(pl.col("payer_id"))
        )
        return _ledger(
            user,
            kind,
            counterparty=pl.when(pl.col("kind") == "charge").then(pl.col("payee_id")),
            amount=pl.col("amount_usd"),
            instrument=pl.col("instrument_id"),
        ), None
    if table == "reports":
        return _ledger(
            pl.col("reported_id"), pl.lit("report"), counterparty=pl.col("reporter_id")
        ), None
    return _ledger(_NULL_STR, _NULL_STR), None


@cache
def indicator_exprs() -> tuple[tuple[pl.Expr, ...], tuple[pl.Expr, ...]]:
    return tuple(text_flags(pl.col("_text"))), tuple(derived_indicators())


def _with_indicators(rows: Frame) -> Frame:
    """``rows`` plus the text indicators of column ``_text``: the regex flags, then the derived
    ones (each regex runs once per text)."""
    flags, derived = indicator_exprs()
    return rows.with_columns(flags).with_columns(derived)


def ledger_rows(table: str, frame: Frame, *, dedupe_text: bool = True) -> Frame:
    """Ledger rows of one raw table (see the module docstring); tables without any: no rows.

    ``dedupe_text``: evaluate the text regexes once per distinct text and join them back
    (marketplace text repeats a lot: templates, copy-paste). The values are identical either way;
    the online path, one row at a time, evaluates them in place.
    """
    if table not in LEDGER_TABLES:
        empty = pl.DataFrame(schema=LEDGER_SCHEMA)
        return empty.lazy() if isinstance(frame, pl.LazyFrame) else empty  # type: ignore[return-value]
    columns, text = ledger_plan(table)
    if text is None:
        rows = frame.select(*columns, *_NO_TEXT)
    elif not dedupe_text:
        rows = _with_indicators(frame.select(*columns, text.alias("_text")))
        rows = rows.drop("_text")
    else:
        keyed = frame.select(*columns, text.alias("_text"))
        distinct = _with_indicators(keyed.select("_text").unique())
        rows = (
            keyed.join(distinct, on="_text", how="left", nulls_equal=True)
            .drop("_text")
            .with_columns(pl.col(name).fill_null(0) for name in TEXT_INDICATORS)
        )
    return rows.filter(pl.col("kind").is_not_null()) if table == "payments" else rows


@cache
def sighting_plan(table: str) -> tuple[pl.Expr | None, tuple[pl.Expr, ...]]:
    """(row filter or None, columns with ``what`` / ``value`` as lists to explode)."""

    def of(user: str, ts: str, whats: list[str], values: list[str]) -> tuple[pl.Expr, ...]:
        return (
            pl.col(user).alias("user_id"),
            pl.col(ts).alias("ts"),
            pl.lit(whats, dtype=pl.List(pl.String)).alias("what"),
            pl.concat_list([pl.col(v).cast(pl.String) for v in values]).alias("value"),
        )

    if table == "users":
        return None, of(
            "user_id", "signup_ts", ["device", "country"], ["signup_device_id", "country"]
        )
    if table == "logins":
        return pl.col("success"), of(
            "user_id", "ts", ["device", "country"], ["device_id", "country"]
        )
    if table == "payments":
        charge, payout = pl.col("kind") == "charge", pl.col("kind") == "payout"
        return charge | payout, (
            pl.when(payout).then(pl.col("payee_id")).otherwise(pl.col("payer_id")).alias("user_id"),
            pl.col("ts"),
            pl.concat_list(
                pl.when(payout)
                .then(pl.lit("payout_instrument"))
                .otherwise(pl.lit("charge_instrument"))
            ).alias("what"),
            pl.concat_list(pl.col("instrument_id").cast(pl.String)).alias("value"),
        )
    if table == "reports":
        return None, of("reported_id", "ts", ["reporter"], ["reporter_id"])
    return None, ()


def sighting_rows(table: str, frame: Frame) -> Frame:
    """Identifier sightings of one raw table (see the module docstring)."""
    keep, columns = sighting_plan(table)
    if not columns:
        return frame.select(
            _NULL_STR.alias("user_id"),
            pl.lit(None, dtype=TS).alias("ts"),
            _NULL_STR.alias("what"),
            _NULL_STR.alias("value"),
        ).clear()
    rows = frame if keep is None else frame.filter(keep)
    return rows.select(*columns).explode(["what", "value"])


def build_ledger(tables: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    """All ledger rows of ``tables`` (raw table name -> frame), in the ``LEDGER_SCHEMA``."""
    parts = [ledger_rows(t, tables[t]).cast(LEDGER_SCHEMA) for t in LEDGER_TABLES if t in tables]
    return pl.concat(parts) if parts else pl.LazyFrame(schema=LEDGER_SCHEMA)


def first_sightings(tables: dict[str, pl.LazyFrame]) -> pl.LazyFrame:
    """``user_id, what, value, first_ts``: when each identifier was first seen on each account."""
    parts = [sighting_rows(t, tables[t]) for t in SIGHTING_TABLES if t in tables]
    rows = pl.concat(parts) if parts else pl.LazyFrame(schema=SIGHTING_SCHEMA)
    return rows.group_by("user_id", "what", "value").agg(pl.col("ts").min().alias("first_ts"))
