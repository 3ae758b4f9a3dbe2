"""The raw-data contract: tables, columns, keys and allowed values.

Raw data lives as Parquet under ``<data_dir>/raw/<table>/date=YYYY-MM-DD/``, partitioned by the
table's time column (UTC). The simulator writes this layout; a user may bring their own data in it.
``ingest`` validates it against these definitions and writes accepted rows to ``<data_dir>/clean``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

TS = pl.Datetime("us", "UTC")

ROLES = ("client", "freelancer")
KYC_STATUSES = ("none", "pending", "verified", "failed")
PAYMENT_KINDS = ("charge", "payout", "refund", "chargeback")
REPORT_REASONS = (
    "off_platform",
    "advance_fee",
    "fake_job",
    "harassment",
    "spam",
    "payment_issue",
    "other",
)
SCAM_TYPOLOGIES = (
    "fake_client",
    "fraud_ring",
    "account_takeover",
    "payment_fraud",
    "fake_freelancer",
)
LABELS = ("benign", *SCAM_TYPOLOGIES)
JOB_CATEGORIES = (
    "web_dev",
    "design",
    "writing",
    "data_entry",
    "marketing",
    "mobile_dev",
    "video",
    "translation",
    "admin_support",
    "accounting",
)


@dataclass(frozen=True)
class ForeignKey:
    column: str
    table: str  # referenced table; the referenced column is that table's primary key
    nullable: bool = False


@dataclass(frozen=True)
class TableSpec:
    """One raw table: its columns and dtypes, key, time column, and value constraints."""

    name: str
    columns: dict[str, pl.DataType]
    time_column: str
    primary_key: str | None
    nullable: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    allowed_values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # column -> (min, max); None means unbounded on that side
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema(self.columns)


TABLES: dict[str, TableSpec] = {
    "users": TableSpec(
        name="users",
        columns={
            "user_id": pl.String(),
            "role": pl.String(),
            "signup_ts": TS,
            "country": pl.String(),
            "email_domain": pl.String(),
            "phone_country": pl.String(),
            "signup_ip": pl.String(),
            "signup_device_id": pl.String(),
            "kyc_status": pl.String(),
            "profile_text": pl.String(),
        },
        time_column="signup_ts",
        primary_key="user_id",
        allowed_values={"role": ROLES, "kyc_status": KYC_STATUSES},
    ),
    "logins": TableSpec(
        name="logins",
        columns={
            "login_id": pl.String(),
            "user_id": pl.String(),
            "ts": TS,
            "ip": pl.String(),
            "device_id": pl.String(),
            "country": pl.String(),
            "success": pl.Boolean(),
        },
        time_column="ts",
        primary_key="login_id",
        foreign_keys=(ForeignKey("user_id", "users"),),
    ),
    "jobs": TableSpec(
        name="jobs",
        columns={
            "job_id": pl.String(),
            "client_id": pl.String(),
            "ts": TS,
            "title": pl.String(),
            "description": pl.String(),
            "budget_usd": pl.Float64(),
            "category": pl.String(),
        },
        time_column="ts",
        primary_key="job_id",
        foreign_keys=(ForeignKey("client_id", "users"),),
        allowed_values={"category": JOB_CATEGORIES},
        ranges={"budget_usd": (0.0, 1_000_000.0)},
    ),
    "proposals": TableSpec(
        name="proposals",
        columns={
            "proposal_id": pl.String(),
            "job_id": pl.String(),
            "freelancer_id": pl.String(),
            "ts": TS,
            "bid_usd": pl.Float64(),
            "cover_text": pl.String(),
        },
        time_column="ts",
        primary_key="proposal_id",
        foreign_keys=(ForeignKey("job_id", "jobs"), ForeignKey("freelancer_id", "users")),
        ranges={"bid_usd": (0.0, 1_000_000.0)},
    ),
    "messages": TableSpec(
        name="messages",
        columns={
            "message_id": pl.String(),
            "sender_id": pl.String(),
            "recipient_id": pl.String(),
            "job_id": pl.String(),
            "ts": TS,
            "text": pl.String(),
        },
        time_column="ts",
        primary_key="message_id",
        nullable=("job_id",),
        foreign_keys=(
            ForeignKey("sender_id", "users"),
            ForeignKey("recipient_id", "users"),
            ForeignKey("job_id", "jobs", nullable=True),
        ),
    ),
    "payments": TableSpec(
        name="payments",
        columns={
            "payment_id": pl.String(),
            "payer_id": pl.String(),
            "payee_id": pl.String(),
            "ts": TS,
            "amount_usd": pl.Float64(),
            "instrument_id": pl.String(),
            "kind": pl.String(),
        },
        time_column="ts",
        primary_key="payment_id",
        foreign_keys=(ForeignKey("payer_id", "users"), ForeignKey("payee_id", "users")),
        allowed_values={"kind": PAYMENT_KINDS},
        ranges={"amount_usd": (0.0, 1_000_000.0)},
    ),
    "reports": TableSpec(
        name="reports",
        columns={
            "report_id": pl.String(),
            "reporter_id": pl.String(),
            "reported_id": pl.String(),
            "ts": TS,
            "reason": pl.String(),
        },
        time_column="ts",
        primary_key="report_id",
        foreign_keys=(ForeignKey("reporter_id", "users"), ForeignKey("reported_id", "users")),
        allowed_values={"reason": REPORT_REASONS},
    ),
    "labels": TableSpec(
        name="labels",
        columns={
            "user_id": pl.String(),
            "label": pl.String(),
            "decided_ts": TS,
            # when the investigator found the first scam activity (null for benign)
            "first_bad_ts": TS,
        },
        time_column="decided_ts",
        primary_key="user_id",
        nullable=("first_bad_ts",),
        foreign_keys=(ForeignKey("user_id", "users"),),
        allowed_values={"label": LABELS},
    ),
}

# Order that respects foreign keys (referenced tables first).
LOAD_ORDER: tuple[str, ...] = (
    "users",
    "jobs",
    "logins",
    "proposals",
    "messages",
    "payments",
    "reports",
    "labels",
)
