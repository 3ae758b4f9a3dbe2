"""Online features for the endpoint: the SQLite online store (``features.online``) behind one face.

``POST /v1/score`` updates the store with each scored event, then
reads the acting user's features just after it (``as_of = ts + 1us``: the event itself counts),
under one lock, so a burst of messages raises the sender's counts request by request.
``POST /v1/events`` ingests events that are not scored (reports, labels) or that a caller wants
recorded without a decision; ``scamguard online-load`` backfills the store from the clean tables.

Every feature comes from the same definitions as the offline builder (``features.build``); the
parity test (``tests/features/test_online_parity.py``) checks the two agree.

The store lives at ``<data_dir>/online/store.sqlite`` (``features.online.local``). At start, if it is missing, it is
backfilled from the clean tables as of midnight after the last event (the batch-scoring default),
so a fresh deployment serves real features without an extra step; ``as_of`` is that backfill
instant. Events scored before it (or replayed late) are still ingested; windows are always
exact as of the read time (see ``features.online.store`` for the time semantics).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import polars as pl

from features.build import FEATURE_COLUMNS
from features.online import OnlineStore
from features.online.local import open_store
from features.online.seen import NOT_SEEN
from features.online.store import Features, to_micros
from features.online.text import ScoredDocument
from features.text_scores import TEXT_SCORE_FEATURES
from models.overrides import KnownLabel
from scamguard.events import Event, ScoreEvent
from scamguard.settings import Settings

__all__ = ["NOT_SEEN", "Features", "OnlineFeatures", "feature_frame", "known_label"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def known_label(store: OnlineStore, user_id: str, before: datetime | int) -> KnownLabel | None:
    """``user_id``'s latest label in ``store`` decided strictly before ``before``."""
    known = store.known_label(user_id, before)
    if known is None:
        return None
    label, decided, reports_since = known
    return KnownLabel(label, _EPOCH + timedelta(microseconds=decided), reports_since)


def feature_frame(features: Features, names: list[str]) -> pl.DataFrame:
    """One Float64 row with the model's columns in order (a feature the view lacks is null)."""
    return pl.DataFrame(
        {n: [features.get(n)] for n in names}, schema={n: pl.Float64 for n in names}
    )


class OnlineFeatures:
    """The endpoint's view of the online store (thread-safe: the store serialises its calls)."""

    def __init__(self, store: OnlineStore):
        self.store = store
        loaded = store.info().loaded_through
        if loaded is None:
            raise ValueError(f"{store.path} was never backfilled: run `scamguard online-load`")
        self.as_of: datetime = _EPOCH + timedelta(microseconds=loaded)
        self.feature_names: list[str] = [*FEATURE_COLUMNS, *TEXT_SCORE_FEATURES]

    @classmethod
    def load(cls, settings: Settings) -> OnlineFeatures:
        """Open ``<data_dir>/online/store.sqlite``, backfilling it first if it does not exist."""
        return cls(open_store(settings))

    @property
    def n_users(self) -> int:
        """Accounts with a profile in the store."""
        return self.store.info().users

    def signup_time(self, user_id: str) -> datetime | None:
        """When ``user_id`` signed up (UTC); None for an account the store does not know."""
        signup = self.store.signup_ts(user_id)
        return None if signup is None else _EPOCH + timedelta(microseconds=signup)

    def known_label(self, user_id: str, before: datetime) -> KnownLabel | None:
        """``user_id``'s latest label decided strictly before ``before``, with the reports since."""
        return known_label(self.store, user_id, before)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the store (one write transaction) for a check followed by a record: no other
        request records an event in between, and an exception inside records nothing."""
        with self.store.transaction():
            yield

    def features_for(self, event: ScoreEvent, documents: Sequence[ScoredDocument] = ()) -> Features:
        """Record ``event`` (and its scored ``documents``: ``serving.text``) and return its acting
        user's features just after it (null = no data), the ``textmodel_*`` ones included."""
        with self.store.transaction():
            self.store.text.add(documents)
            features = self.store.score(event.table, event.to_row(), event.user_id, event.ts)
            return {**features, **self.store.text_features(event.user_id, to_micros(event.ts) + 1)}

    def first_answer(self, event: Event) -> object:
        """What was answered the first time ``event``'s id was recorded for its table: the
        answer (a JSON string), None (recorded without one), or :data:`NOT_SEEN`. Call it inside
        :meth:`exclusive`, before recording."""
        return self.store.seen.answer(event.table, event.event_id)

    def remember(self, event: Event, answer: str | None) -> None:
        """Record that ``event``'s id was seen, with the answer given (inside :meth:`exclusive`,
        so the id is committed with the event itself, or not at all)."""
        self.store.seen.remember(event.table, event.event_id, to_micros(event.ts), answer)

    def read_features(self, user_id: str, ts: datetime) -> Features:
        """``user_id``'s features just after ``ts`` without recording anything (a scored repeat
        of an event first recorded through ``POST /v1/events``)."""
        t = to_micros(ts) + 1
        with self.store.transaction():
            return {**self.store.features(user_id, t), **self.store.text_features(user_id, t)}

    def ingest(
        self, table: str, row: Mapping[str, object], documents: Sequence[ScoredDocument] = ()
    ) -> None:
        """Record one raw row (and its scored ``documents``) without reading features
        (``POST /v1/events``)."""
        with self.store.transaction():
            self.store.text.add(documents)
            self.store.ingest(table, row)
