"""The online store's scored documents, and the ``textmodel_*`` features read from them.

The offline builder (``features.text_scores``) aggregates per user the text-model scores of the
documents the user wrote (messages, job titles and descriptions, proposals, the profile). Online,
the scores come from outside the store: whoever records an event (the endpoint, the backfill)
scores its documents (``features.text_scores.document_rows``) and hands them over with the
event; this module keeps ``(user_id, ts, kind, score)`` rows and evaluates the same aggregates
(``text_score_values``) at read time. So the store's ``textmodel_*`` values equal the offline
builder's for the same per-document scores: the parity test feeds both the same scores.

Which scores those are is the caller's business, and it differs by path (docs/results/text.md):
a backfill loads the stored cross-fitted scores of the training pipeline
(``<data_dir>/features/text_scores.parquet``: each document scored by a model that never trained
on its author's texts), and the endpoint scores new documents with the served text model.

Time semantics as ``features.text_scores``: a document at ``ts`` counts for reads at
``as_of > ts`` (the endpoint reads at ``ts + 1us``, so the scored message itself counts);
messages only in the 30 days before ``as_of``. Job posts, proposals and profiles never leave the
aggregates and are kept for all history; a message stops counting 30 days after it was sent, so
:meth:`TextDocuments.forget_unreadable` (run by ``OnlineStore.compact``) deletes the messages
that no read at or after a given instant can see.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable
from datetime import timedelta

from features.text_scores import MESSAGE_WINDOW, TEXT_SCORE_FEATURES, text_score_values

TEXT_SCHEMA = """
CREATE TABLE IF NOT EXISTS text_docs (
    user_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    score REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS text_docs_by_user ON text_docs (user_id, ts);
"""

ScoredDocument = tuple[str, int, str, float]  # (user_id, ts in microseconds UTC, kind, score)
# the longest window a textmodel_* aggregate reads (the message features); the others read all
# history
MESSAGE_WINDOW_US = MESSAGE_WINDOW // timedelta(microseconds=1)


class TextDocuments:
    """The ``text_docs`` table of a store's connection (the store serialises access)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add(self, documents: Iterable[ScoredDocument]) -> int:
        """Record scored documents; a NaN or None score (a text the model could not read) is
        skipped, as offline. Returns how many were recorded."""
        rows = [
            (u, int(ts), kind, float(s))
            for u, ts, kind, s in documents
            if s is not None and not math.isnan(s)
        ]
        self.db.executemany(
            "INSERT INTO text_docs (user_id, ts, kind, score) VALUES (?, ?, ?, ?)", rows
        )
        return len(rows)

    def features(self, user_id: str, as_of: int) -> dict[str, float | None]:
        """The ``textmodel_*`` features of ``user_id`` from documents strictly before ``as_of``
        (microseconds), in ``TEXT_SCORE_FEATURES`` order; counts as floats like every feature."""
        docs = self.db.execute(
            "SELECT ts, kind, score FROM text_docs WHERE user_id = ? AND ts < ?", (user_id, as_of)
        ).fetchall()
        values = text_score_values(docs, as_of)
        return {n: None if (v := values[n]) is None else float(v) for n in TEXT_SCORE_FEATURES}

    def count(self) -> int:
        """Scored documents held."""
        return int(self.db.execute("SELECT COUNT(*) FROM text_docs").fetchone()[0])

    def latest_ts(self) -> int | None:
        """The time of the latest scored document (microseconds, UTC), None when there is none."""
        (latest,) = self.db.execute("SELECT MAX(ts) FROM text_docs").fetchone()
        return None if latest is None else int(latest)

    def forget_unreadable(self, horizon: int) -> int:
        """Delete the messages that no read at ``as_of >= horizon`` (microseconds) can see: those
        sent before ``horizon - 30 days`` (a message counts while ``ts >= as_of - 30 days``).
        Every other kind counts for all history and stays. Returns how many were deleted."""
        return self.db.execute(
            "DELETE FROM text_docs WHERE kind = 'message' AND ts < ?",
            (horizon - MESSAGE_WINDOW_US,),
        ).rowcount
