"""The online feature store: the offline feature definitions, updated event by event.

``OnlineStore`` (``features.online.store``; SQLite, WAL) ingests raw rows one at a time and reads
every feature of a user at an instant; ``backfill`` (``features.online.load``) builds a store
as of an instant from the raw tables in bulk (``scamguard online-load``). See
``features.online.store`` for the time semantics. Names are imported on first use, so importing
the package (e.g. to mount ``features.online.cli``) loads nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .load import backfill
    from .store import OnlineStore, StoreInfo, to_micros

__all__ = ["OnlineStore", "StoreInfo", "backfill", "to_micros"]


def __getattr__(name: str) -> Any:
    if name == "backfill":
        from .load import backfill

        return backfill
    if name in ("OnlineStore", "StoreInfo", "to_micros"):
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
