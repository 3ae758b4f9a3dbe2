"""Online features for the endpoint: the SQLite online store (``features.online``) behind one face.

Design choice (issue 3): **``POST /v1/score`` updates the store with each scored event**, then
reads the acting user's features just after it (``as_of = ts + 1us``: the event itself counts),
under one lock, so a burst of messages raises the sender's counts request by request.
``POST /v1/events`` ingests events that are not scored (reports, labels) or that a caller wants
recorded without a decision; ``scamguard online-load`` backfills the store from the clean tables.

Every feature comes from the same definitions as the offline builder (``features.build``); the
parity test (``tests/features/test_online_parity.py``) checks the two agree.

The store lives at ``<data_dir>/online/store.sqlite``. At start, if it is missing, it is
backfilled from the clean tables as of midnight after the last event (the batch-scoring default),
so a fresh deployment serves real features without an extra step; ``as_of`` is that backfill
instant. Events scored before it (or replayed late) are still ingested; windows are always
exact as of the read time (see ``features.online.store`` for the time semantics).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from features.build import FEATURE_COLUMNS
from features.online import OnlineStore, backfill
from features.online.store import Features
from scamguard.settings import Settings
from serving.schemas import (
    JobPostEvent,
    LoginEvent,
    MessageEvent,
    PaymentEvent,
    ProposalEvent,
    ScoreEvent,
    SignupEvent,
)

log = logging.getLogger("scamguard.serving")

__all__ = ["Features", "OnlineFeatures", "event_row", "latest_snapshot_path", "store_path"]


def store_path(settings: Settings) -> Path:
    return settings.data_dir / "online" / "store.sqlite"


def latest_snapshot_path(settings: Settings) -> Path:
    """The newest batch feature snapshot ``features/snapshots/date=D/features.parquet``."""
    paths = sorted(settings.features_dir.glob("snapshots/date=*/features.parquet"))
    if not paths:
        raise FileNotFoundError(
            f"no feature snapshot under {settings.features_dir / 'snapshots'}: "
            "run `scamguard batch-score` first"
        )
    return paths[-1]


def default_as_of(settings: Settings) -> datetime:
    """Midnight (UTC) after the last event of the clean tables: what a backfill covers."""
    from pipelines.batch import latest_date, load_clean_tables

    day = latest_date(load_clean_tables(settings))
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def load_store(settings: Settings, as_of: datetime | None = None) -> OnlineStore:
    """Backfill ``store_path(settings)`` from the clean tables as of ``as_of`` (default: midnight
    after the last event) and open it."""
    from pipelines.batch import load_clean_tables

    when = as_of or default_as_of(settings)
    backfill(store_path(settings), load_clean_tables(settings), when)
    return OnlineStore(store_path(settings))


def event_row(event: ScoreEvent) -> tuple[str, dict]:
    """The raw-contract row (``scamguard.schema``) that an endpoint event is: (table, row)."""
    e = event
    if isinstance(e, SignupEvent):
        return "users", {
            "user_id": e.user_id,
            "role": e.role,
            "signup_ts": e.ts,
            "country": e.country,
            "email_domain": e.email_domain,
            "phone_country": e.phone_country,
            "signup_ip": e.ip,
            "signup_device_id": e.device_id,
            "kyc_status": e.kyc_status,
            "profile_text": e.profile_text,
        }
    if isinstance(e, LoginEvent):
        return "logins", {
            "login_id": e.event_id,
            "user_id": e.user_id,
            "ts": e.ts,
            "ip": e.ip,
            "device_id": e.device_id,
            "country": e.country,
            "success": e.success,
        }
    if isinstance(e, JobPostEvent):
        return "jobs", {
            "job_id": e.job_id,
            "client_id": e.user_id,
            "ts": e.ts,
            "title": e.title,
            "description": e.description,
            "budget_usd": e.budget_usd,
            "category": e.category,
        }
    if isinstance(e, ProposalEvent):
        return "proposals", {
            "proposal_id": e.event_id,
            "job_id": e.job_id,
            "freelancer_id": e.user_id,
            "ts": e.ts,
            "bid_usd": e.bid_usd,
            "cover_text": e.cover_text,
        }
    if isinstance(e, MessageEvent):
        return "messages", {
            "message_id": e.event_id,
            "sender_id": e.user_id,
            "recipient_id": e.recipient_id,
            "job_id": e.job_id,
            "ts": e.ts,
            "text": e.text,
        }
    if isinstance(e, PaymentEvent):
        return "payments", {
            "payment_id": e.event_id,
            "payer_id": e.user_id,
            "payee_id": e.payee_id,
            "ts": e.ts,
            "amount_usd": e.amount_usd,
            "instrument_id": e.instrument_id,
            "kind": e.kind,
        }
    raise TypeError(f"not an endpoint event: {type(event).__name__}")


class OnlineFeatures:
    """The endpoint's view of the online store (thread-safe: the store serialises its calls)."""

    def __init__(self, store: OnlineStore):
        self.store = store
        loaded = store.info().loaded_through
        if loaded is None:
            raise ValueError(f"{store.path} was never backfilled: run `scamguard online-load`")
        self.as_of: datetime = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=loaded)
        self.feature_names: list[str] = list(FEATURE_COLUMNS)

    @classmethod
    def load(cls, settings: Settings) -> OnlineFeatures:
        """Open ``<data_dir>/online/store.sqlite``, backfilling it first if it does not exist."""
        path = store_path(settings)
        if not path.exists():
            log.info("no online store at %s: backfilling it from the clean tables", path)
            return cls(load_store(settings))
        return cls(OnlineStore(path))

    @property
    def n_users(self) -> int:
        """Accounts with a profile in the store."""
        return self.store.info().users

    def features_for(self, event: ScoreEvent) -> Features:
        """Record ``event`` and return its acting user's features just after it (null = no data)."""
        table, row = event_row(event)
        return self.store.score(table, row, event.user_id, event.ts)

    def ingest(self, table: str, row: Mapping[str, object]) -> None:
        """Record one raw row without reading features (``POST /v1/events``)."""
        self.store.ingest(table, row)
