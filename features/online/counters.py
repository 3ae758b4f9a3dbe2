"""The online store's counters, kept in the database so several processes can share one file.

Each counter is a row of ``counters`` read and advanced inside the caller's write transaction
(``BEGIN IMMEDIATE``: SQLite lets one writer in at a time, across processes), so the values are
allocated in commit order: N processes writing one file hand out the ids that one process
writing the same events in the same commit order would. A counter held in a process's memory
would go stale as soon as another process wrote.

- ``ledger_seq``: the last ledger row's ``seq`` (the tie-breaker of rows at the same instant);
- ``comp_id``: the last component id handed out (``features.online.graph``);
- ``users``: accounts with a profile (``OnlineStore.info``).

A store written before this table existed, or by the bulk backfill, is seeded from its own rows
(:meth:`Counters.seed`).
"""

from __future__ import annotations

import sqlite3

COUNTERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
"""

# the value each counter has for the rows already in the store
SEEDS: dict[str, str] = {
    "ledger_seq": "SELECT COALESCE(MAX(seq), 0) FROM ledger",
    "comp_id": "SELECT COALESCE(MAX(comp_id), 0) FROM comps",
    "users": "SELECT COUNT(*) FROM profiles",
}


class Counters:
    """The ``counters`` table of the connection ``db`` (the caller owns the transactions)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def seed(self, *, overwrite: bool = False) -> None:
        """Set each counter from the rows in the store: only where it is missing, or every one
        (``overwrite``: after a bulk load wrote rows behind the counters' back). Call it inside a
        write transaction."""
        verb = "INSERT OR REPLACE" if overwrite else "INSERT OR IGNORE"
        for name, query in SEEDS.items():
            self.db.execute(f"{verb} INTO counters (name, value) VALUES (?, ({query}))", (name,))

    def next(self, name: str) -> int:
        """Advance counter ``name`` by one and return the new value (inside a write transaction)."""
        return self.add(name, 1)

    def add(self, name: str, delta: int) -> int:
        """Add ``delta`` to counter ``name``; its new value (inside a write transaction)."""
        if not self.db.in_transaction:
            raise RuntimeError(f"counter {name!r} advanced outside a write transaction")
        row = self.db.execute(
            "UPDATE counters SET value = value + ? WHERE name = ? RETURNING value", (delta, name)
        ).fetchone()
        if row is None:
            raise KeyError(f"no counter {name!r}: the store was not seeded")
        return int(row[0])

    def value(self, name: str) -> int:
        """The current value of counter ``name`` (as of the caller's snapshot)."""
        row = self.db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise KeyError(f"no counter {name!r}: the store was not seeded")
        return int(row[0])
