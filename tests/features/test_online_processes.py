"""Several processes sharing one online store file give what one process gives.

Four real processes (``multiprocessing``, each opening its own ``OnlineStore`` on the file) record
interleaved events of shared users and identifiers, with a low hub limit so identifiers cross it
and components split (new component ids). Each event is recorded the way the endpoint records it:
in one write transaction, its event id checked against ``seen_events`` first, and every event is
sent by two processes (a repeat). The commit order is written down inside each transaction. One
process then replays the same events in that commit order into a fresh store: every table (ledger
rows with their ``seq``, totals, sightings, links, components and their ids, labels, counters,
seen ids) and every user's features must be identical; each event is counted once.
"""

from __future__ import annotations

import multiprocessing
import random
from pathlib import Path

from features.online import OnlineStore
from features.online.seen import NOT_SEEN
from tests.utils.event_factory import START, activity, signups

HUB = 4
WORKERS = 4
TABLES = ("profiles", "ledger", "totals", "sightings", "idents", "links", "nodes", "comps")


def _events() -> list[tuple[str, dict]]:
    rng = random.Random(8)
    return signups(rng, 40) + activity(rng, 40, 600)


def _record(store: OnlineStore, k: int, table: str, row: dict) -> bool:
    """Record event ``k`` unless its id was seen; True if this call recorded it."""
    with store.transaction():
        if store.seen.answer(table, str(k)) is not NOT_SEEN:
            return False
        store.ingest(table, row)
        store.seen.remember(table, str(k), 0, None)
        store.db.execute("INSERT INTO commit_order (event) VALUES (?)", (k,))
        return True


def _worker(path: str, mine: list[int], barrier: object) -> None:
    events = _events()
    store = OnlineStore(path, hub_limit=HUB)
    barrier.wait()  # type: ignore[attr-defined]
    for k in mine:
        _record(store, k, *events[k])
    store.close()


def _dump(store: OnlineStore) -> dict[str, list[tuple]]:
    out = {t: sorted(store.db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    out["counters"] = sorted(store.db.execute("SELECT * FROM counters").fetchall())
    out["seen"] = sorted(store.db.execute("SELECT tbl, event_id FROM seen_events").fetchall())
    return out


def test_processes_sharing_a_store_equal_one_process(tmp_path: Path) -> None:
    events = _events()
    shared = tmp_path / "shared.sqlite"
    store = OnlineStore(shared, hub_limit=HUB)
    store.db.execute("CREATE TABLE commit_order (n INTEGER PRIMARY KEY, event INTEGER NOT NULL)")
    n_signups = 40
    for k in range(n_signups):  # sign-ups first, as in the world they come from
        _record(store, k, *events[k])
    store.close()
    rest = list(range(n_signups, len(events)))
    # every event to two workers (the second delivery is a repeat), interleaved
    plans = [[k for k in rest if k % WORKERS in (w, (w + 1) % WORKERS)] for w in range(WORKERS)]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    procs = [ctx.Process(target=_worker, args=(str(shared), p, barrier)) for p in plans]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    multi = OnlineStore(shared, hub_limit=HUB)
    order = [k for (k,) in multi.db.execute("SELECT event FROM commit_order ORDER BY n")]
    assert sorted(order) == list(range(len(events)))  # each event recorded exactly once
    assert order[n_signups:] != rest  # the processes did interleave
    (hubs,) = multi.db.execute("SELECT COUNT(*) FROM idents WHERE n_users > ?", (HUB,)).fetchone()
    assert hubs > 0  # identifiers crossed the hub limit: components split under concurrency

    single = OnlineStore(tmp_path / "single.sqlite", hub_limit=HUB)
    single.db.execute("CREATE TABLE commit_order (n INTEGER PRIMARY KEY, event INTEGER NOT NULL)")
    for k in order:
        assert _record(single, k, *events[k])
    assert _dump(multi) == _dump(single)
    assert multi.info().users == single.info().users == n_signups
    as_of = max(r.get("ts", START) for _, r in events)
    for u in sorted({r["user_id"] for t, r in events if t == "users"}):
        assert multi.features(u, as_of) == single.features(u, as_of), u
