"""CLI commands of the online store (mounted by ``scamguard.cli``).

``online-load``: backfill ``<data_dir>/online/store.sqlite`` from the clean tables as of an
instant (default: midnight after the last event); stop ``scamguard serve`` first, the file is
replaced. ``online-compact``: drop ledger rows older than the longest window, and scored messages
that no ``textmodel_*`` aggregate reads any more.

Heavy imports happen inside the commands, so mounting costs nothing. Only this module prints.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import typer

from scamguard.console import console, kv_table, parse_instant
from scamguard.settings import get_settings


def register(app: typer.Typer) -> None:
    @app.command("online-load")
    def online_load(
        as_of: Annotated[
            str | None,
            typer.Option(
                "--as-of",
                help="Backfill with events strictly before this instant (ISO, UTC); "
                "default: midnight after the last event.",
            ),
        ] = None,
    ) -> None:
        """Backfill the online feature store from the clean tables (stop `serve` first)."""
        from features.online import OnlineStore
        from features.online.local import default_as_of, load_store, store_path

        settings = get_settings()
        when = parse_instant(as_of, "--as-of") if as_of else default_as_of(settings)
        started = time.perf_counter()
        with console.status(f"backfilling the online store as of {when.isoformat()}"):
            load_store(settings, when).close()
        elapsed = time.perf_counter() - started
        store = OnlineStore(store_path(settings))
        counts = {
            table: store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in (
                "profiles",
                "ledger",
                "sightings",
                "links",
                "idents",
                "comps",
                "text_docs",
            )
        }
        store.close()
        rows = [("as of", when.isoformat()), ("wall time", f"{elapsed:.1f} s")]
        rows += [(f"{name} rows", f"{n:,}") for name, n in counts.items()]
        console.print(kv_table(f"Online store -> {store_path(settings)}", rows))

    @app.command("online-compact")
    def online_compact(
        now: Annotated[
            str | None,
            typer.Option(help="Reads happen at or after this instant (ISO, UTC); default: now."),
        ] = None,
    ) -> None:
        """Drop ledger rows older than the longest feature window before NOW, and scored messages
        older than the longest text-model window before the store's latest event (or NOW)."""
        from features.online import OnlineStore
        from features.online.local import store_path

        settings = get_settings()
        store = OnlineStore(store_path(settings))
        deleted = store.compact(parse_instant(now, "--now") if now else datetime.now(UTC))
        store.close()
        console.print(
            f"deleted {deleted.ledger_rows:,} ledger rows and {deleted.text_docs:,} scored "
            f"messages from {store_path(settings)}"
        )
