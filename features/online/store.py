"""The online feature store: SQLite (WAL), updated event by event, read by the endpoint.

Every feature is computed from the same definitions as the offline builder:

- ``ingest(table, row)`` takes one raw row in the contract schema of ``scamguard.schema`` (a
  sign-up is a ``users`` row, a label a ``labels`` row) and evaluates the offline row-level
  definitions on it (the expressions behind ``features.ledger.ledger_rows`` / ``sighting_rows``,
  ``features.profile.profile_rows``, ``features.graph.link_rows``, by their plain-Python twin
  ``features.online.rows.map_row``, held equal to the Polars plans by a parity test), then
  stores their output: ledger rows (reads look back over the longest window,
  ``aggregates.retention``; ``compact`` drops older rows), running totals of the all-history
  aggregates (``aggregates.total_update``), first sightings, identifier links and components
  (``features.online.graph``), labels and profiles. A second sign-up of a known account is
  ignored, as the contract's ingest would quarantine it.
- ``features(user_id, as_of)`` evaluates every feature of ``features.build.FEATURE_COLUMNS`` for
  one user at one instant (integer microseconds, UTC) with ``aggregates.evaluate_online``, the
  online twin of each spec's offline evaluation.

Time semantics: as offline, features at ``as_of`` use events strictly before it. Windows,
sightings, links and labels are filtered by ``as_of``; running totals and components hold
everything ingested. Reading at ``as_of`` therefore equals the offline builder when every
ingested event is before ``as_of``: the real-time case (the endpoint ingests an event at ``ts``
and reads at ``ts + 1us``, so the event itself counts) and the parity test's replay.

One connection per store object, guarded by a lock: ``ingest`` and ``features`` are thread-safe;
``score`` (ingest then read, in one write transaction) is what the endpoint calls. Several
processes may share one file (the server's workers): every write is one ``BEGIN IMMEDIATE``
transaction (SQLite admits one writer at a time; the others wait up to ``BUSY_TIMEOUT_S``), and
the ids the store hands out (ledger ``seq``, component ids) and its user count are counters in the
database advanced inside that transaction (``features.online.counters``), so N processes give
the features and components one process gives for the same events in the same commit order.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

from features.aggregates import (
    Count,
    UserHistory,
    evaluate_online,
    micros,
    retention,
    running_totals,
    total_update,
)
from features.build import ACTIVITY_FEATURES, FEATURE_COLUMNS
from features.graph import GRAPH_FEATURES, HUB_LIMIT
from features.ledger import LEDGER_SCHEMA
from features.profile import STATIC_PROFILE_FEATURES, account_age_days
from scamguard.schema import TABLES

from .counters import COUNTERS_SCHEMA, Counters
from .graph import GRAPH_SCHEMA, ComponentIndex
from .rows import as_utc, map_row
from .seen import SEEN_SCHEMA, SeenEvents
from .text import TEXT_SCHEMA, TextDocuments

SCHEMA_VERSION = "1"
LEDGER_COLUMNS: tuple[str, ...] = tuple(c for c in LEDGER_SCHEMA.names() if c != "user_id")
_ROW_FIELDS = tuple(c for c in LEDGER_COLUMNS if c != "kind")
BUSY_TIMEOUT_S = 30.0  # a write waits this long for another process's transaction
NULL_VALUE = "\x00null"  # sighting values are part of a primary key: a null is stored as this

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS profiles (
    user_id TEXT PRIMARY KEY,
    signup_ts INTEGER NOT NULL,
    profile_text TEXT,
    {", ".join(f"{c} REAL" for c in STATIC_PROFILE_FEATURES)}
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS profiles_by_text ON profiles (profile_text, signup_ts);
CREATE TABLE IF NOT EXISTS ledger (
    user_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    {", ".join(f"{c}" for c in _ROW_FIELDS if c != "ts")},
    PRIMARY KEY (user_id, ts, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS totals (
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (user_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sightings (
    user_id TEXT NOT NULL,
    what TEXT NOT NULL,
    value TEXT NOT NULL,
    first_ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, what, value)
) WITHOUT ROWID;
{GRAPH_SCHEMA}
{SEEN_SCHEMA}
{COUNTERS_SCHEMA}
{TEXT_SCHEMA}
"""

TOTALS = running_totals(ACTIVITY_FEATURES)
RETENTION_US = micros(retention(ACTIVITY_FEATURES))
Features = dict[str, float | None]


def to_micros(value: datetime | int) -> int:
    """A UTC datetime (or integer microseconds) as integer microseconds since the epoch."""
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    delta = value - datetime(1970, 1, 1, tzinfo=value.tzinfo)
    return delta // timedelta(microseconds=1)


@dataclass(frozen=True)
class Compacted:
    """What ``OnlineStore.compact`` deleted."""

    ledger_rows: int
    seen_events: int  # remembered event ids of the same age as the ledger rows
    text_docs: int  # scored messages outside every textmodel_* window


@dataclass(frozen=True)
class StoreInfo:
    path: Path
    loaded_through: int | None  # the backfill's as_of (microseconds), None if never backfilled
    users: int  # accounts with a profile


class OnlineStore:
    """Online features of every user, in the SQLite file ``path`` (created if missing)."""

    def __init__(self, path: Path | str, *, hub_limit: int = HUB_LIMIT):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # timeout: how long a write waits for another process's transaction (SQLite's busy wait)
        self.db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S
        )
        for pragma in (
            "journal_mode = WAL",
            "synchronous = NORMAL",  # durable at checkpoints; a crash loses at most the last commits
            "temp_store = MEMORY",
            "cache_size = -262144",  # 256 MiB page cache
            "mmap_size = 1073741824",
            "wal_autocheckpoint = 10000",  # pages; fewer, larger checkpoints
        ):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.executescript(SCHEMA)
        self._lock = threading.RLock()
        self.counters = Counters(self.db)  # ids and counts, in the database (several processes)
        self.graph = ComponentIndex(self.db, self.counters, hub_limit=hub_limit)
        self.seen = SeenEvents(self.db)  # event ids recorded through the endpoint
        self.text = TextDocuments(self.db)  # scored documents: the textmodel_* features
        with self.transaction():
            self.counters.seed()  # a store from before the counters table: from its rows
            version = self.meta("schema_version")
            if version is None:
                self.set_meta("schema_version", SCHEMA_VERSION)
        if version is not None and version != SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} has store schema {version}, this code reads {SCHEMA_VERSION}: "
                "rebuild it with `scamguard online-load`"
            )

    # ------------------------------------------------------------------ bookkeeping
    def close(self) -> None:
        with self._lock:
            self.db.close()

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def info(self) -> StoreInfo:
        loaded = self.meta("loaded_through")
        return StoreInfo(self.path, int(loaded) if loaded else None, self.counters.value("users"))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (nested calls join the outer one)."""
        with self._lock:
            if self.db.in_transaction:
                yield
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    # ------------------------------------------------------------------ writes
    def ingest(self, table: str, row: Mapping[str, object]) -> None:
        """Apply one raw row of ``table`` (contract schema; timestamps as UTC datetimes)."""
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        with self.transaction():
            if table == "labels":
                decided = as_utc(row["decided_ts"])
                assert decided is not None  # the contract: never null
                self.graph.set_label(
                    cast(str, row["user_id"]), cast(str, row["label"]), to_micros(decided)
                )
                return
            if table == "users" and self._has_profile(cast(str, row["user_id"])):
                return  # a second sign-up breaks the users key: ingest would quarantine it
            mapped = map_row(table, row)  # the row-level plans in plain Python (rows.py)
            if mapped.profile is not None:
                self._put_profile(mapped.profile)
            if mapped.ledger is not None:
                self._put_ledger_row(mapped.ledger)
            for user_id, what, value, ts in mapped.sightings:
                self._put_sighting(user_id, what, value, to_micros(ts))
            for user_id, kind, ident, ts in mapped.links:
                self.graph.add_link(user_id, kind, ident, to_micros(ts))

    def _has_profile(self, user_id: str) -> bool:
        row = self.db.execute("SELECT 1 FROM profiles WHERE user_id = ?", (user_id,)).fetchone()
        return row is not None

    def _put_profile(self, r: dict) -> None:
        cols = ("user_id", "signup_ts", "profile_text", *STATIC_PROFILE_FEATURES)
        values = [r[c] for c in cols]
        values[1] = to_micros(r["signup_ts"])
        self.db.execute(
            f"INSERT OR REPLACE INTO profiles ({', '.join(cols)}) "
            f"VALUES ({', '.join('?' * len(cols))})",
            values,
        )
        self.counters.next("users")

    def _put_ledger_row(self, r: dict) -> None:
        ts = to_micros(r["ts"])
        seq = self.counters.next("ledger_seq")
        self.db.execute(
            f"INSERT INTO ledger (user_id, seq, {', '.join(LEDGER_COLUMNS)}) "
            f"VALUES (?, ?, {', '.join('?' * len(LEDGER_COLUMNS))})",
            (r["user_id"], seq, *(ts if c == "ts" else r[c] for c in LEDGER_COLUMNS)),
        )
        for spec in TOTALS:
            value = total_update(spec, r)
            if value is None:
                continue
            combine = (
                "value + excluded.value"
                if spec in _COUNT_TOTALS
                else (
                    "CASE WHEN value IS NULL OR excluded.value > value THEN excluded.value ELSE value END"
                )
            )
            self.db.execute(
                "INSERT INTO totals (user_id, name, value) VALUES (?, ?, ?) "
                f"ON CONFLICT (user_id, name) DO UPDATE SET value = {combine}",
                (r["user_id"], spec.name, value),
            )

    def _put_sighting(self, user_id: str, what: str, value: str | None, ts: int) -> None:
        self.db.execute(
            "INSERT INTO sightings (user_id, what, value, first_ts) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (user_id, what, value) DO UPDATE SET first_ts = MIN(first_ts, excluded.first_ts)",
            (user_id, what, NULL_VALUE if value is None else value, ts),
        )

    def compact(self, now: datetime | int) -> Compacted:
        """Delete what reads at ``now`` or later never look at: ledger rows (and remembered event
        ids, ``seen_events``) older than the longest window before ``now``, and scored messages
        older than the longest ``textmodel_*`` window (30 days) before the earlier of ``now`` and
        the store's latest event (:meth:`latest_event_ts`), so the text features of every read at
        or after that event are unchanged. Ingest keeps every row (reads in the past stay exact
        for windows); run this now and then to bound the file."""
        t = to_micros(now)
        with self.transaction():
            latest = self.latest_event_ts()
            cutoff = t - RETENTION_US
            ledger = self.db.execute("DELETE FROM ledger WHERE ts < ?", (cutoff,)).rowcount
            seen = self.seen.forget_before(cutoff)
            text_docs = self.text.forget_unreadable(min(t, latest)) if latest is not None else 0
        return Compacted(ledger_rows=ledger, seen_events=seen, text_docs=text_docs)

    def latest_event_ts(self) -> int | None:
        """The time (microseconds, UTC) of the latest event the store holds: ledger rows,
        sign-ups and scored documents (not labels); None for an empty store."""
        with self._lock:
            latest = [
                self.db.execute(f"SELECT MAX({column}) FROM {table}").fetchone()[0]
                for table, column in (("ledger", "ts"), ("profiles", "signup_ts"))
            ]
            latest.append(self.text.latest_ts())
        known = [int(v) for v in latest if v is not None]
        return max(known) if known else None

    # ------------------------------------------------------------------ reads
    def known_label(self, user_id: str, as_of: datetime | int) -> tuple[str, int, int] | None:
        """(label, decided_ts in microseconds, reports received since) of ``user_id``'s latest
        label if it was decided strictly before ``as_of``, else None.

        The store keeps the latest label only: one decided after ``as_of`` (a late replay) hides
        an earlier one, and then None is returned.
        """
        t = to_micros(as_of)
        with self._lock:
            row = self.db.execute(
                "SELECT label, decided_ts FROM nodes WHERE user_id = ? AND label IS NOT NULL",
                (user_id,),
            ).fetchone()
            if row is None or row[1] is None or row[1] >= t:
                return None
            (since,) = self.db.execute(
                "SELECT COUNT(*) FROM ledger WHERE user_id = ? AND kind = 'report' "
                "AND ts > ? AND ts < ?",
                (user_id, row[1], t),
            ).fetchone()
        return str(row[0]), int(row[1]), int(since)

    def features(self, user_id: str, as_of: datetime | int) -> Features:
        """Every feature of ``user_id`` as of ``as_of`` (events strictly before it), in
        ``FEATURE_COLUMNS`` order; null means "no data" as offline."""
        t = to_micros(as_of)
        with self._lock:
            out: Features = {}
            out.update(self._profile(user_id, t))
            history = self._history(user_id, t)
            activity = {s.name: evaluate_online(s, history) for s in ACTIVITY_FEATURES}
            graph = {**self.graph.component(user_id), **self.graph.neighbours(user_id, t)}
        out.update(activity)
        out.update({name: graph[name] for name in GRAPH_FEATURES})
        return {name: out[name] for name in FEATURE_COLUMNS}

    def text_features(self, user_id: str, as_of: datetime | int) -> Features:
        """The ``textmodel_*`` features of ``user_id`` from the scored documents strictly before
        ``as_of`` (``features.online.text``; documents are added with ``text.add``)."""
        with self._lock:
            return self.text.features(user_id, to_micros(as_of))

    def score(self, table: str, row: Mapping[str, object], user_id: str, ts: datetime) -> Features:
        """Ingest one event and read ``user_id``'s features just after it (``ts + 1us``), under
        one lock: what the endpoint does for each scored event."""
        with self.transaction():  # no other thread or process writes in between
            self.ingest(table, row)
            return self.features(user_id, to_micros(ts) + 1)

    def signup_ts(self, user_id: str) -> int | None:
        """When ``user_id`` signed up (microseconds, UTC); None if the store has no profile."""
        with self._lock:
            row = self.db.execute(
                "SELECT signup_ts FROM profiles WHERE user_id = ?", (user_id,)
            ).fetchone()
        return None if row is None else int(row[0])

    def last_event_ts(self, user_id: str) -> int | None:
        """The time (microseconds, UTC) of ``user_id``'s latest event still in the ledger (its
        sign-up when it has none); None if the store does not know the user."""
        with self._lock:
            (last,) = self.db.execute(
                "SELECT MAX(ts) FROM ledger WHERE user_id = ?", (user_id,)
            ).fetchone()
        return int(last) if last is not None else self.signup_ts(user_id)

    def profile_text(self, user_id: str) -> str | None:
        """The profile text ``user_id`` signed up with (None: no profile or no text)."""
        with self._lock:
            row = self.db.execute(
                "SELECT profile_text FROM profiles WHERE user_id = ?", (user_id,)
            ).fetchone()
        return None if row is None else row[0]

    def _profile(self, user_id: str, t: int) -> Features:
        cols = ("signup_ts", "profile_text", *STATIC_PROFILE_FEATURES)
        row = self.db.execute(
            f"SELECT {', '.join(cols)} FROM profiles WHERE user_id = ?", (user_id,)
        ).fetchone()
        if row is None:
            return {
                **dict.fromkeys(STATIC_PROFILE_FEATURES),
                "account_age_days": None,
                "profile_text_copies": 0.0,
            }
        signup, text = row[0], row[1]
        out: Features = {
            c: (None if v is None else float(v))
            for c, v in zip(STATIC_PROFILE_FEATURES, row[2:], strict=True)
        }
        out["account_age_days"] = account_age_days(t, signup)
        copies = 0
        if text:
            (before,) = self.db.execute(
                "SELECT COUNT(*) FROM profiles WHERE profile_text = ? AND signup_ts < ?",
                (text, t),
            ).fetchone()
            copies = before - int(signup < t)
        out["profile_text_copies"] = float(copies)
        return out

    def _history(self, user_id: str, t: int) -> UserHistory:
        rows: dict[str, list[tuple]] = {}
        for values in self.db.execute(
            f"SELECT kind, {', '.join(_ROW_FIELDS)} FROM ledger "
            "WHERE user_id = ? AND ts >= ? AND ts < ? ORDER BY ts",
            (user_id, t - RETENTION_US, t),
        ):
            rows.setdefault(values[0], []).append(values[1:])
        sightings: dict[str, dict[str | None, int]] = {}
        for what, value, first_ts in self.db.execute(
            "SELECT what, value, first_ts FROM sightings WHERE user_id = ? AND first_ts < ?",
            (user_id, t),
        ):
            sightings.setdefault(what, {})[None if value == NULL_VALUE else value] = first_ts
        totals = dict(
            self.db.execute("SELECT name, value FROM totals WHERE user_id = ?", (user_id,))
        )
        return UserHistory(
            as_of=t, fields=_ROW_FIELDS, rows=rows, sightings=sightings, totals=totals
        )


_COUNT_TOTALS = frozenset(s for s in TOTALS if isinstance(s, Count))
