"""Backfill: the online store's state as of an instant, built in bulk from the raw tables.

``backfill(path, tables, as_of)`` writes a fresh store equal to ingesting, one by one, every raw
row timed strictly before ``as_of``, with the same definitions (``features.ledger``,
``features.profile``, ``features.graph``, the running totals of ``features.aggregates``) evaluated
by Polars over whole tables; components come from one scipy ``connected_components`` pass. The
store is written to a temporary file and renamed over ``path``: a reader never sees half a store.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from features.aggregates import Count
from features.build import Tables, first_logins
from features.graph import (
    HUB_LIMIT,
    LinkGraph,
    connected_components_scipy,
    identifier_links,
    known_bad_users,
)
from features.labels import latest_labels
from features.ledger import build_ledger, first_sightings
from features.profile import STATIC_PROFILE_FEATURES, profile_rows
from scamguard.schema import SCAM_TYPOLOGIES, TABLES

from .store import (
    LEDGER_COLUMNS,
    NULL_VALUE,
    RETENTION_US,
    TOTALS,
    OnlineStore,
    StoreInfo,
    to_micros,
)

Progress = Callable[[str], None]
BATCH = 200_000


def _before(tables: Tables, as_of: datetime) -> Tables:
    frames = {
        name: frame.filter(pl.col(TABLES[name].time_column) < as_of)
        for name, frame in tables.as_dict().items()
    }
    return Tables.from_frames(frames)


def _micros(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Datetime("us", "UTC")).cast(pl.Int64)


def _insert(store: OnlineStore, sql: str, rows: Iterable[tuple]) -> int:
    n = 0
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            store.db.executemany(sql, batch)
            n += len(batch)
            batch = []
    if batch:
        store.db.executemany(sql, batch)
        n += len(batch)
    return n


def backfill(
    path: Path | str,
    tables: Tables,
    as_of: datetime,
    *,
    hub_limit: int = HUB_LIMIT,
    progress: Progress | None = None,
    text_scores: pl.DataFrame | None = None,
) -> StoreInfo:
    """Build the store at ``path`` as of ``as_of`` from ``tables`` (rows strictly before it).

    ``text_scores``: scored documents (``user_id``, ``ts``, ``kind``, ``score``; e.g. the training
    pipeline's cross-fitted ``features/text_scores.parquet``); those strictly before ``as_of``
    with a score feed the ``textmodel_*`` features, and the store's meta ``text_scores`` records
    how many. None: the store has no document scores (meta ``text_scores`` absent)."""
    step = progress or (lambda _name: None)
    path = Path(path)
    tmp = path.with_name(f"{path.name}.loading-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    t = to_micros(as_of)
    past = _before(tables, as_of)
    frames = past.as_dict()
    store = OnlineStore(tmp, hub_limit=hub_limit)
    db = store.db
    db.execute("BEGIN")

    _load_profiles(store, past)
    step("profiles")
    _load_ledger(store, frames, as_of)
    step("ledger")
    logins = first_logins(past.logins).collect(engine="streaming").lazy()  # as build_features
    _load_sightings(store, {**frames, "logins": logins})
    step("sightings")
    _load_graph(store, past, logins, t, hub_limit)
    step("graph")
    if text_scores is not None:
        store.set_meta("text_scores", str(_load_text_scores(store, text_scores, as_of)))
        step("text scores")

    store.set_meta("loaded_through", str(t))
    store.counters.seed(overwrite=True)  # the bulk load wrote rows behind the counters' back
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    os.replace(tmp, path)
    for side in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        side.unlink(missing_ok=True)
    opened = OnlineStore(path, hub_limit=hub_limit)
    info = opened.info()
    opened.close()
    return info


def _load_profiles(store: OnlineStore, past: Tables) -> None:
    """Every sign-up's profile row."""
    cols = ("user_id", "signup_ts", "profile_text", *STATIC_PROFILE_FEATURES)
    profiles = profile_rows(past.users).with_columns(_micros("signup_ts")).select(cols).collect()
    _insert(
        store,
        f"INSERT OR REPLACE INTO profiles ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        profiles.iter_rows(),
    )


def _load_ledger(store: OnlineStore, frames: dict[str, pl.LazyFrame], as_of: datetime) -> None:
    """Ledger rows of the retention window, running totals over all history."""
    ledger = build_ledger(frames).collect(engine="streaming")
    recent = (
        ledger.filter(pl.col("ts") >= as_of - timedelta(microseconds=RETENTION_US))
        .with_columns(_micros("ts"))
        .sort("user_id", "ts")
        .with_row_index("seq", offset=1)
        .select("user_id", "seq", *LEDGER_COLUMNS)
    )
    _insert(
        store,
        f"INSERT INTO ledger (user_id, seq, {', '.join(LEDGER_COLUMNS)}) "
        f"VALUES (?, ?, {', '.join('?' * len(LEDGER_COLUMNS))})",
        recent.iter_rows(),
    )
    for spec in TOTALS:
        hit = ledger.filter(pl.col("kind").is_in(list(spec.kinds)))
        if isinstance(spec, Count):
            value = (pl.len() if spec.where is None else pl.col(spec.where).sum()).cast(pl.Float64)
        else:
            value = pl.col(spec.column).max().cast(pl.Float64)
        totals = (
            hit.group_by("user_id").agg(value.alias("value")).filter(pl.col("value").is_not_null())
        )
        _insert(
            store,
            "INSERT INTO totals (user_id, name, value) VALUES (?, ?, ?)",
            ((u, spec.name, v) for u, v in totals.iter_rows()),
        )


def _load_sightings(store: OnlineStore, frames: dict[str, pl.LazyFrame]) -> None:
    """First sightings (``frames``' logins: each user's first logins, as ``build_features``)."""
    seen = first_sightings(frames).with_columns(_micros("first_ts")).collect(engine="streaming")
    _insert(
        store,
        "INSERT INTO sightings (user_id, what, value, first_ts) VALUES (?, ?, ?, ?)",
        (
            (u, w, NULL_VALUE if v is None else v, ts)
            for u, w, v, ts in seen.select("user_id", "what", "value", "first_ts").iter_rows()
        ),
    )


def _load_graph(
    store: OnlineStore, past: Tables, logins: pl.LazyFrame, t: int, hub_limit: int
) -> None:
    """Graph: links, identifiers, labels, components (as of ``t``, microseconds)."""
    links = identifier_links(users=past.users, logins=logins, payments=past.payments).collect()
    labels = latest_labels(past.labels).collect()  # the store keeps each user's latest label
    bad = known_bad_users(past.labels).collect()
    graph, _ = LinkGraph.encode(links, bad, pl.Series("user_id", [], dtype=pl.String))
    live = graph.live(t, hub_limit=hub_limit)  # every link is before as_of: the non-hub ones
    labels_of = connected_components_scipy(
        graph.user[live], graph.ident[live], graph.n_users, graph.n_idents
    )
    idents = (
        links.with_columns(
            pl.Series("ident_code", graph.ident),
            pl.Series("comp", np.where(live, labels_of[graph.user] + 1, -1)),
        )
        .group_by("kind", "ident", "ident_code")
        .agg(pl.len().alias("n_users"), pl.col("comp").max())
        .sort("ident_code")
        .with_row_index("ident_id", offset=1)
    )
    _insert(
        store,
        "INSERT INTO idents (ident_id, kind, ident, n_users, comp_id) VALUES (?, ?, ?, ?, ?)",
        (
            (i, k, ident, n, c if c > 0 else None)
            for i, k, ident, _, n, c in idents.select(
                "ident_id", "kind", "ident", "ident_code", "n_users", "comp"
            ).iter_rows()
        ),
    )
    _insert(
        store,
        "INSERT INTO links (user_id, ident_id, first_ts) VALUES (?, ?, ?)",
        links.join(idents.select("kind", "ident", "ident_id"), on=["kind", "ident"])
        .select("user_id", "ident_id", _micros("first_ts"))
        .iter_rows(),
    )
    user_comp = (
        pl.DataFrame(
            {"user_id": links["user_id"], "comp": np.where(live, labels_of[graph.user] + 1, -1)}
        )
        .group_by("user_id")
        .agg(pl.col("comp").max())
    )
    nodes = (
        user_comp.join(
            labels.select("user_id", "label", _micros("decided_ts").alias("decided_ts")),
            on="user_id",
            how="full",
            coalesce=True,
        )
        .with_columns(pl.col("comp").fill_null(-1))
        .with_columns(pl.col("label").is_in(list(SCAM_TYPOLOGIES)).fill_null(False).alias("bad"))
    )
    _insert(
        store,
        "INSERT INTO nodes (user_id, comp_id, label, decided_ts) VALUES (?, ?, ?, ?)",
        (
            (u, c if c > 0 else None, lab, d)
            for u, c, lab, d in nodes.select("user_id", "comp", "label", "decided_ts").iter_rows()
        ),
    )
    comps = (
        nodes.filter(pl.col("comp") > 0)
        .group_by("comp")
        .agg(pl.len().alias("size"), pl.col("bad").sum().alias("bad"))
    )
    _insert(store, "INSERT INTO comps (comp_id, size, bad) VALUES (?, ?, ?)", comps.iter_rows())


def _load_text_scores(store: OnlineStore, scored: pl.DataFrame, as_of: datetime) -> int:
    """Scored documents strictly before ``as_of`` into ``text_docs``; how many."""
    docs = (
        scored.lazy()
        .filter(
            (pl.col("ts") < as_of) & pl.col("score").is_not_null() & pl.col("score").is_not_nan()
        )
        .select("user_id", _micros("ts"), "kind", pl.col("score").cast(pl.Float64))
        .collect()
    )
    return store.text.add(docs.iter_rows())
