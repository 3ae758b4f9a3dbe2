"""Event ids the online store has recorded, and the first answer given for each.

Delivery to the endpoint is at least once: a caller that timed out sends the same event again.
The store keys every event recorded through the endpoint by ``(table, event_id)`` in the same
transaction as the event itself, so a repeat is recognised and not counted twice, and the answer
of the first delivery (the endpoint's JSON response, opaque here) is returned to the repeat.

Rows are dropped by ``OnlineStore.compact`` with the ledger rows of the same age: a repeat
arriving later than the longest feature window after its event is not recognised.
"""

from __future__ import annotations

import sqlite3

SEEN_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_events (
    tbl TEXT NOT NULL,
    event_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    answer TEXT,
    PRIMARY KEY (tbl, event_id)
) WITHOUT ROWID;
"""

NOT_SEEN = object()  # what :meth:`SeenEvents.answer` returns for an event id never recorded


class SeenEvents:
    """The ``seen_events`` table of a store's connection (the store serialises access)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def answer(self, table: str, event_id: str) -> object:
        """The answer stored for ``(table, event_id)``: a string, None (recorded without an
        answer), or :data:`NOT_SEEN`."""
        row = self.db.execute(
            "SELECT answer FROM seen_events WHERE tbl = ? AND event_id = ?", (table, event_id)
        ).fetchone()
        return NOT_SEEN if row is None else row[0]

    def remember(self, table: str, event_id: str, ts: int, answer: str | None) -> None:
        """Record ``(table, event_id)`` at ``ts`` (microseconds) with ``answer``; an answer given
        later (a scored repeat of an event first recorded without one) fills a null."""
        self.db.execute(
            "INSERT INTO seen_events (tbl, event_id, ts, answer) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (tbl, event_id) DO UPDATE SET answer = COALESCE(answer, excluded.answer)",
            (table, event_id, ts, answer),
        )

    def forget_before(self, ts: int) -> int:
        """Drop the ids of events dated before ``ts`` (microseconds); returns how many."""
        return self.db.execute("DELETE FROM seen_events WHERE ts < ?", (ts,)).rowcount
