"""v1 online features: the latest batch feature snapshot plus the events this process has scored.

``OnlineFeatures.features_for(event)`` records the event and returns the acting user's features as
if ``as_of`` were just after the event (the event itself counts, as it would in the next batch).

How a request's features are derived:

1. **Base row.** A user in the snapshot (``features/snapshots/date=D/features.parquet``: every
   user active in the 7 days before its ``as_of``) starts from their snapshot row, with
   ``account_age_days`` advanced to the event time. A user in the clean ``users`` table but not in
   the snapshot starts from their profile features (``features.profile.add_profile_features``) and
   zero activity. Anyone else is a **fresh account**: a signup's profile features are computed from
   the event's fields by the same ``add_profile_features`` as offline (``FREE_EMAIL``,
   ``DISPOSABLE_EMAIL``, ``text_flags``), with ``profile_text_copies`` counted against the known
   users' and this process's sign-ups; ``account_age_days`` is 0 and every count is 0; "no data"
   features (largest job budget / charge, flagged-message share) are null, as offline. A
   non-signup event from an unknown user leaves the profile features null (unknown), except
   ``is_client``, which a job post (client) or proposal (freelancer) implies.
2. **In-process activity.** Every event scored by this process is kept per user in memory (under a
   lock) and added to the base row with the offline window semantics (``ts - w < t <= ts`` for the
   event at ``ts``): event counts in every velocity window (``features.velocity.WINDOWS``),
   distinct message recipients, text flags of messages in 30 days and of job posts and proposals
   (``features.text.text_flags``: the same regexes as offline), largest job budget and charge,
   charges and chargebacks, payouts. A burst of messages from one user therefore raises that
   user's counts request by request.

Approximations of v1 (a later issue replaces this module with a real online store updated event
by event):

- Snapshot values are frozen at the snapshot's ``as_of``: events between ``as_of`` and the
  request are unknown unless this process scored them, and snapshot windows do not slide (a
  snapshot ``messages_1h`` stays until restart).
- Distinct recipients add this process's distinct recipients to the snapshot count (a recipient
  already counted in the snapshot is counted again).
- Identifier novelty (new devices / countries, distinct charge instruments, payouts to a new
  instrument) needs the account's history of identifiers, which v1 does not load. It is counted
  only for accounts whose whole history this process has seen (fresh accounts, above); for a user
  known to the snapshot or the users table a login never counts as a new device or country.
- Graph features (shared devices / IPs / instruments, known-bad neighbours) and reports are not
  updated online: they keep their snapshot values (0 for fresh accounts).
- In-process events are kept for 30 days (the longest window) past the user's latest event;
  all-history counts (flagged job posts and proposals, charges, chargebacks) are kept as running
  totals. Nothing is persisted: a restart starts again from the snapshot.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from features.graph import GRAPH_FEATURES
from features.profile import add_profile_features
from features.text import TEXT_FLAGS, text_flags
from features.velocity import EVENT_KINDS, WINDOWS
from scamguard.io import scan_table
from scamguard.schema import TABLES
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

KEY_COLUMNS = ("user_id", "as_of")
LONGEST = max(WINDOWS.values())
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
MONTH = timedelta(days=30)

# Profile features of features/profile.py (static attributes of the account).
PROFILE_FEATURES = (
    "is_client",
    "kyc_verified",
    "kyc_failed",
    "kyc_none",
    "email_disposable",
    "email_free",
    "phone_country_mismatch",
    "profile_text_len",
    "profile_text_flags",
    "profile_text_copies",
)
# Null offline when the user has no such activity ("no data"), not 0.
NO_DATA_FEATURES = frozenset({"job_budget_max", "charge_amount_max_30d", "msg_flagged_share_30d"})
# Counts that are 0 for an account with no history.
COUNT_FEATURES = frozenset(
    [f"{kind}s_{w}" for kind in EVENT_KINDS for w in WINDOWS]
    + [f"recipients_{w}" for w in WINDOWS]
    + [f"new_{what}_{w}" for what in ("devices", "countries") for w in ("7d", "30d")]
    + ["devices_total", "countries_total"]
    + [f"msg_{n}_30d" for n in TEXT_FLAGS]
    + ["msg_multi_flag_30d", "jobs_flagged_text", "proposals_flagged_text", "proposals_pay_outside"]
    + list(GRAPH_FEATURES)
    + [
        "charges_total",
        "chargebacks_total",
        "charge_instruments",
        "payouts_new_instrument_7d",
        "payout_amount_7d",
    ]
    + ["reports_7d", "reports_30d", "reporters_total"]
)

Features = dict[str, float | None]


def latest_snapshot_path(settings: Settings) -> Path:
    """The newest ``features/snapshots/date=D/features.parquet`` (written by batch scoring)."""
    paths = sorted(settings.features_dir.glob("snapshots/date=*/features.parquet"))
    if not paths:
        raise FileNotFoundError(
            f"no feature snapshot under {settings.features_dir / 'snapshots'}: "
            "run `scamguard batch-score` first"
        )
    return paths[-1]


def _flags(text: str) -> dict[str, int]:
    """``features.text.text_flags`` of one string: {flag name: 0/1}."""
    row = (
        pl.DataFrame({"text": [text]}, schema={"text": pl.String})
        .select(text_flags(pl.col("text")))
        .row(0)
    )
    return dict(zip(TEXT_FLAGS, row, strict=True))


@dataclass(frozen=True)
class _Act:
    """One in-process event of a user, reduced to what the windowed features need."""

    ts: datetime
    kind: str  # a velocity kind (message, job, proposal, payment, login, failed_login), chargeback or payout
    counterparty: str | None = None
    flags: dict[str, int] | None = None
    amount: float = 0.0
    instrument: str | None = None  # payout instrument


@dataclass
class _UserState:
    base: Features
    base_as_of: (
        datetime | None
    )  # the snapshot instant the base row's age refers to (None: use signup_ts)
    signup_ts: datetime | None
    history_known: bool  # True when every event of the account went through this process
    acts: list[_Act] = field(default_factory=list)
    totals: Counter[str] = field(default_factory=Counter)
    job_budget_max: float | None = None
    devices: dict[str, datetime] = field(default_factory=dict)
    countries: dict[str, datetime] = field(default_factory=dict)
    charge_instruments: set[str] = field(default_factory=set)
    payout_instruments: dict[str, datetime] = field(default_factory=dict)


class OnlineFeatures:
    """In-memory online feature view: a snapshot row per user plus this process's events.

    Thread-safe: one lock guards the per-user state; text flags and signup profiles are computed
    outside it.
    """

    def __init__(self, snapshot: pl.DataFrame, *, users: pl.DataFrame | None = None):
        """``snapshot``: ``user_id, as_of`` and feature columns, one ``as_of``. ``users``: the clean
        users table (optional) for profiles of users who are not in the snapshot."""
        if snapshot.height == 0:
            raise ValueError("the feature snapshot is empty")
        self.as_of: datetime = snapshot["as_of"].max()  # type: ignore[assignment]
        self.schema: dict[str, pl.DataType] = {
            c: t for c, t in snapshot.schema.items() if c not in KEY_COLUMNS
        }
        self.feature_names: list[str] = list(self.schema)
        self._snapshot = snapshot.select(*KEY_COLUMNS, *self.feature_names)
        self._snapshot_index = {u: i for i, u in enumerate(self._snapshot["user_id"].to_list())}
        self._profiles, self._profile_index, self._texts = self._known_profiles(users)
        self._state: dict[str, _UserState] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, settings: Settings) -> OnlineFeatures:
        """From the latest snapshot under ``settings.features_dir`` and the clean users table."""
        snapshot = pl.read_parquet(latest_snapshot_path(settings))
        users_dir = settings.clean_dir / "users"
        users = scan_table(settings.clean_dir, "users").collect() if users_dir.exists() else None
        return cls(snapshot, users=users)

    @property
    def n_users(self) -> int:
        """Users with a snapshot row."""
        return len(self._snapshot_index)

    # ------------------------------------------------------------------ public face
    def features_for(self, event: ScoreEvent) -> Features:
        """Record ``event`` and return its acting user's features (null = no data / unknown)."""
        flags = self._event_flags(event)
        profile = self._signup_profile(event) if isinstance(event, SignupEvent) else None
        with self._lock:
            state = self._state.get(event.user_id)
            if state is None:
                state = self._state[event.user_id] = self._new_state(event, profile)
            self._record(state, event, flags)
            return self._assemble(state, event.ts)

    # ------------------------------------------------------------------ base rows
    def _known_profiles(
        self, users: pl.DataFrame | None
    ) -> tuple[pl.DataFrame, dict[str, int], Counter[str]]:
        if users is None or users.height == 0:
            return pl.DataFrame(), {}, Counter()
        texts = Counter(
            dict(
                users.filter(pl.col("profile_text").str.len_chars() > 0)
                .group_by("profile_text")
                .len()
                .iter_rows()
            )
        )
        spine = (
            users.lazy()
            .select("user_id")
            .join(self._snapshot.lazy().select("user_id"), on="user_id", how="anti")
            .with_columns(pl.lit(self.as_of).cast(pl.Datetime("us", "UTC")).alias("as_of"))
        )
        profiles = (
            add_profile_features(spine, users=users.lazy())
            .join(users.lazy().select("user_id", "signup_ts"), on="user_id")
            .collect()
        )
        return profiles, {u: i for i, u in enumerate(profiles["user_id"].to_list())}, texts

    def _fresh_row(self) -> Features:
        row: Features = {
            name: (0.0 if name in COUNT_FEATURES else None) for name in self.feature_names
        }
        row["account_age_days"] = 0.0
        return row

    def _signup_profile(self, event: SignupEvent) -> Features:
        """Profile features of a new account from its signup event (``add_profile_features``)."""
        users = pl.DataFrame(
            [
                {
                    "user_id": event.user_id,
                    "role": event.role,
                    "signup_ts": event.ts,
                    "country": event.country,
                    "email_domain": event.email_domain.lower(),
                    "phone_country": event.phone_country,
                    "signup_ip": event.ip,
                    "signup_device_id": event.device_id,
                    "kyc_status": event.kyc_status,
                    "profile_text": event.profile_text,
                }
            ],
            schema=TABLES["users"].schema,
        )
        spine = pl.LazyFrame(
            {"user_id": [event.user_id], "as_of": [event.ts]},
            schema={"user_id": pl.String, "as_of": pl.Datetime("us", "UTC")},
        )
        row = add_profile_features(spine, users=users.lazy()).collect().row(0, named=True)
        row["account_age_days"] = 0.0
        return {k: v for k, v in row.items() if k not in KEY_COLUMNS}

    def _new_state(self, event: ScoreEvent, profile: Features | None) -> _UserState:
        i = self._snapshot_index.get(event.user_id)
        if i is not None:
            row = self._snapshot.row(i, named=True)
            base = {name: row[name] for name in self.feature_names}
            return _UserState(base=base, base_as_of=self.as_of, signup_ts=None, history_known=False)
        i = self._profile_index.get(event.user_id)
        if i is not None:
            row = self._profiles.row(i, named=True)
            base = self._fresh_row()
            base.update({k: row[k] for k in PROFILE_FEATURES if k in base and k in row})
            return _UserState(
                base=base, base_as_of=None, signup_ts=row["signup_ts"], history_known=False
            )
        base = self._fresh_row()
        if profile is not None:
            text = isinstance(event, SignupEvent) and event.profile_text
            base.update({k: v for k, v in profile.items() if k in base})
            if text and "profile_text_copies" in base:
                base["profile_text_copies"] = float(self._texts[text])
                self._texts[text] += 1  # a later sign-up with the same text sees this one
        elif isinstance(event, JobPostEvent | ProposalEvent) and "is_client" in base:
            base["is_client"] = float(isinstance(event, JobPostEvent))
        return _UserState(base=base, base_as_of=None, signup_ts=event.ts, history_known=True)

    # ------------------------------------------------------------------ events
    @staticmethod
    def _event_flags(event: ScoreEvent) -> dict[str, int] | None:
        if isinstance(event, MessageEvent):
            return _flags(event.text)
        if isinstance(event, JobPostEvent):
            return _flags(event.title + " " + event.description)  # the offline job text
        if isinstance(event, ProposalEvent):
            return _flags(event.cover_text)
        return None

    @staticmethod
    def _record(state: _UserState, event: ScoreEvent, flags: dict[str, int] | None) -> None:
        ts = event.ts
        act: _Act | None = None
        if isinstance(event, SignupEvent):
            if state.history_known:
                state.devices.setdefault(event.device_id, ts)
                state.countries.setdefault(event.country, ts)
        elif isinstance(event, LoginEvent):
            act = _Act(ts, "login" if event.success else "failed_login")
            if event.success and state.history_known:
                state.devices.setdefault(event.device_id, ts)
                state.countries.setdefault(event.country, ts)
        elif isinstance(event, MessageEvent):
            act = _Act(ts, "message", counterparty=event.recipient_id, flags=flags)
        elif isinstance(event, JobPostEvent):
            act = _Act(ts, "job", flags=flags, amount=event.budget_usd)
            state.totals["jobs_flagged_text"] += int(any((flags or {}).values()))
            state.job_budget_max = max(state.job_budget_max or 0.0, event.budget_usd)
        elif isinstance(event, ProposalEvent):
            act = _Act(ts, "proposal", flags=flags, amount=event.bid_usd)
            f = flags or {}
            state.totals["proposals_flagged_text"] += int(any(f.values()))
            state.totals["proposals_pay_outside"] += int(
                f.get("off_platform", 0) + f.get("money", 0) > 0
            )
        elif isinstance(event, PaymentEvent):
            if event.kind == "charge":
                act = _Act(ts, "payment", counterparty=event.payee_id, amount=event.amount_usd)
                state.totals["charges_total"] += 1
                state.charge_instruments.add(event.instrument_id)
            elif event.kind == "chargeback":
                act = _Act(ts, "chargeback", amount=event.amount_usd)
                state.totals["chargebacks_total"] += 1
            elif event.kind == "payout" and event.payee_id == event.user_id:
                state.payout_instruments.setdefault(event.instrument_id, ts)
                act = _Act(ts, "payout", amount=event.amount_usd, instrument=event.instrument_id)
        if act is not None:
            state.acts.append(act)
            newest = max(a.ts for a in state.acts)
            state.acts = [a for a in state.acts if a.ts > newest - LONGEST]

    # ------------------------------------------------------------------ assembly
    def _assemble(self, state: _UserState, ts: datetime) -> Features:
        f = dict(state.base)

        def add(name: str, delta: float) -> None:
            if name in f:
                f[name] = (f[name] or 0.0) + delta

        def top(name: str, value: float | None) -> None:
            if name in f and value is not None:
                f[name] = value if f[name] is None else max(f[name], value)  # type: ignore[type-var]

        if "account_age_days" in f:
            if state.signup_ts is not None:
                f["account_age_days"] = max((ts - state.signup_ts) / DAY, 0.0)
            elif state.base_as_of is not None and f["account_age_days"] is not None:
                f["account_age_days"] = max(
                    f["account_age_days"] + (ts - state.base_as_of) / DAY, 0.0
                )

        acts = [a for a in state.acts if a.ts <= ts]
        base_msgs_30d = f.get("messages_30d") or 0.0
        for name, width in WINDOWS.items():
            inside = [a for a in acts if a.ts > ts - width]
            kinds = Counter(a.kind for a in inside)
            for kind in EVENT_KINDS:
                add(f"{kind}s_{name}", kinds[kind])
            add(f"recipients_{name}", len({a.counterparty for a in inside if a.kind == "message"}))

        msgs = [a for a in acts if a.kind == "message" and a.ts > ts - MONTH]
        if msgs:
            n_flags = [sum((a.flags or {}).values()) for a in msgs]
            for n in TEXT_FLAGS:
                add(f"msg_{n}_30d", sum((a.flags or {}).get(n, 0) for a in msgs))
            add("msg_multi_flag_30d", sum(k >= 2 for k in n_flags))
            if "msg_flagged_share_30d" in f:
                flagged = (f["msg_flagged_share_30d"] or 0.0) * base_msgs_30d + sum(
                    k > 0 for k in n_flags
                )
                f["msg_flagged_share_30d"] = flagged / (base_msgs_30d + len(msgs))

        for name in (
            "jobs_flagged_text",
            "proposals_flagged_text",
            "proposals_pay_outside",
            "charges_total",
            "chargebacks_total",
        ):
            add(name, state.totals[name])
        top("job_budget_max", state.job_budget_max)
        top(
            "charge_amount_max_30d",
            max(
                (a.amount for a in acts if a.kind == "payment" and a.ts > ts - MONTH), default=None
            ),
        )
        payouts = [a for a in acts if a.kind == "payout" and a.ts > ts - WEEK]
        add("payout_amount_7d", sum(a.amount for a in payouts))

        if state.history_known:  # identifier novelty: only when the whole history is known
            add(
                "payouts_new_instrument_7d",
                sum(
                    state.payout_instruments[a.instrument] > ts - WEEK
                    for a in payouts
                    if a.instrument
                ),
            )
            for what, seen in (("devices", state.devices), ("countries", state.countries)):
                first = [t for t in seen.values() if t <= ts]
                for name, value in (
                    (f"{what}_total", len(first)),
                    (f"new_{what}_7d", sum(t > ts - WEEK for t in first)),
                    (f"new_{what}_30d", sum(t > ts - MONTH for t in first)),
                ):
                    if name in f:
                        f[name] = float(value)
            if "charge_instruments" in f:
                f["charge_instruments"] = float(len(state.charge_instruments))
        return {k: (float(v) if v is not None else None) for k, v in f.items()}
