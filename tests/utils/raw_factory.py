"""A tiny hand-made raw dataset that conforms to ``scamguard.schema``, for ingest tests.

All timestamps are UTC and lie in March 2024, before :data:`NOW`. Four users (two clients, two
freelancers), two jobs, and a few rows in every other table, each referencing existing ids.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from scamguard.io import write_partitioned
from scamguard.schema import TABLES

BASE = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2024, 6, 1, tzinfo=UTC)


def at(days: float) -> datetime:
    """``BASE`` plus ``days`` days."""
    return BASE + timedelta(days=days)


def frame(table: str, rows: list[dict]) -> pl.DataFrame:
    """``rows`` as a frame with the contract's schema (missing keys are null)."""
    schema = TABLES[table].schema
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema, orient="row")


def user(user_id: str | None, role: str = "client", *, days: float = 0, **kw: object) -> dict:
    return {
        "user_id": user_id,
        "role": role,
        "signup_ts": at(days),
        "country": "US",
        "email_domain": "example.com",
        "phone_country": "US",
        "signup_ip": "10.0.0.1",
        "signup_device_id": f"dev-{user_id}",
        "kyc_status": "verified",
        "profile_text": "hello",
    } | kw


def job(
    job_id: str, client_id: str, *, days: float = 1, budget: float = 500.0, **kw: object
) -> dict:
    return {
        "job_id": job_id,
        "client_id": client_id,
        "ts": at(days),
        "title": "Build a site",
        "description": "A small site",
        "budget_usd": budget,
        "category": "web_dev",
    } | kw


def login(login_id: str, user_id: str, *, days: float = 2, **kw: object) -> dict:
    return {
        "login_id": login_id,
        "user_id": user_id,
        "ts": at(days),
        "ip": "10.0.0.2",
        "device_id": "dev",
        "country": "US",
        "success": True,
    } | kw


def message(
    message_id: str,
    sender: str,
    recipient: str,
    job_id: str | None = None,
    *,
    days: float = 3,
    **kw: object,
) -> dict:
    return {
        "message_id": message_id,
        "sender_id": sender,
        "recipient_id": recipient,
        "job_id": job_id,
        "ts": at(days),
        "text": "hi",
    } | kw


def proposal(
    proposal_id: str, job_id: str, freelancer_id: str, *, days: float = 3, **kw: object
) -> dict:
    return {
        "proposal_id": proposal_id,
        "job_id": job_id,
        "freelancer_id": freelancer_id,
        "ts": at(days),
        "bid_usd": 100.0,
        "cover_text": "me",
    } | kw


def payment(payment_id: str, payer: str, payee: str, *, days: float = 6, **kw: object) -> dict:
    return {
        "payment_id": payment_id,
        "payer_id": payer,
        "payee_id": payee,
        "ts": at(days),
        "amount_usd": 450.0,
        "instrument_id": "card1",
        "kind": "charge",
    } | kw


def label(user_id: str, value: str, *, first_bad_days: float | None = None) -> dict:
    first_bad = None if first_bad_days is None else at(first_bad_days)
    return {"user_id": user_id, "label": value, "decided_ts": at(20), "first_bad_ts": first_bad}


def valid_raw_tables() -> dict[str, pl.DataFrame]:
    """Every contract table with a few valid, mutually consistent rows."""
    return {
        "users": frame(
            "users",
            [
                user("u1", "client"),
                user("u2", "freelancer", days=0.5),
                user("u3", "freelancer", days=1),
                user("u4", "client", days=1.5, kyc_status="none"),
            ],
        ),
        "jobs": frame("jobs", [job("j1", "u1"), job("j2", "u4", days=2, budget=80.0)]),
        "logins": frame(
            "logins",
            [login("l1", "u1"), login("l2", "u2", days=3), login("l3", "u4", success=False)],
        ),
        "proposals": frame(
            "proposals", [proposal("p1", "j1", "u2", days=2), proposal("p2", "j2", "u3")]
        ),
        "messages": frame(
            "messages",
            [
                message("m1", "u1", "u2", "j1"),
                message("m2", "u2", "u1", None, days=4),  # job_id is nullable
                message("m3", "u4", "u3", "j2", days=5),
            ],
        ),
        "payments": frame(
            "payments",
            [payment("pay1", "u1", "u2"), payment("pay2", "u1", "u2", days=7, kind="payout")],
        ),
        "reports": frame(
            "reports",
            [
                {
                    "report_id": "r1",
                    "reporter_id": "u3",
                    "reported_id": "u4",
                    "ts": at(6),
                    "reason": "off_platform",
                }
            ],
        ),
        "labels": frame(
            "labels", [label("u1", "benign"), label("u4", "fake_client", first_bad_days=5)]
        ),
    }


def write_raw(tables: dict[str, pl.DataFrame], raw_dir: Path) -> None:
    """Write each table under ``raw_dir`` in the contract layout (``<table>/date=.../``)."""
    for name, df in tables.items():
        write_partitioned(df, Path(raw_dir) / name, TABLES[name].time_column)


def add_raw_file(raw_dir: Path, table: str, df: pl.DataFrame, *, date: str, name: str) -> Path:
    """Drop an extra Parquet file (any dtypes) into ``<raw_dir>/<table>/date=<date>/``."""
    path = Path(raw_dir) / table / f"date={date}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    df.write_parquet(path)
    return path
