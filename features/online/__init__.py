"""The online feature store: the offline feature definitions, updated event by event.

``OnlineStore`` (SQLite, WAL) ingests raw rows one at a time and reads every feature of a user at
an instant; ``backfill`` builds a store as of an instant from the raw tables in bulk
(``scamguard online-load``). See ``features.online.store`` for the time semantics.
"""

from .backfill import backfill
from .store import OnlineStore, StoreInfo, to_micros

__all__ = ["OnlineStore", "StoreInfo", "backfill", "to_micros"]
