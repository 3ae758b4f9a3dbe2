"""Online / offline parity: replaying a simulated history event by event through the online store
(a real SQLite file) gives, for a few hundred (user, time) pairs, the offline builder's feature
vector at that time: exact for counts, 1e-9 relative for floats, the same nulls.

Pairs: random instants, plus the edges where an off-by-one would show: an event exactly at a
window's lower boundary (inside), at ``as_of`` itself (outside), one microsecond past a boundary,
just after each kind of event (the endpoint's read), when an identifier link appears, when an
identifier passes ``HUB_LIMIT`` users, when a neighbour's scam label is decided, when a copied
profile signs up.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from features.build import FEATURE_COLUMNS, Tables, build_features
from features.graph import (
    LinkGraph,
    connected_components_polars,
    connected_components_scipy,
    identifier_links,
    known_bad_users,
)
from features.ledger import ledger_rows
from features.online import OnlineStore, backfill
from features.profile import profile_rows
from features.velocity import WINDOWS
from pipelines.simulator import SimulationConfig, simulate
from scamguard.schema import LOAD_ORDER, SCAM_TYPOLOGIES, TABLES
from tests.conftest import SMS_CSV

US = timedelta(microseconds=1)
# identifiers shared by more users than this link no one; the small world's busiest IPs have ~40
# users, so the test lowers the limit (production: HUB_LIMIT) to exercise hubs on both paths
HUB = 20
Event = tuple[datetime, int, str, dict]  # (time, table order, table, raw row)
Pair = tuple[str, datetime]


@pytest.fixture(scope="module")
def world() -> dict[str, pl.DataFrame]:
    """1 000 users over 4 weeks, 8% scammers: about 14 500 events, shared identifiers, rings,
    chargebacks, late labels. The simulator never writes a profile that trips a text heuristic, so
    one such sign-up is planted (with a message, so the account is active)."""
    tables = simulate(
        SimulationConfig(n_users=1_000, weeks=4, seed=11, scam_rate=0.08, sms_csv=SMS_CSV)
    ).tables
    first = tables["messages"]["ts"].min()
    assert isinstance(first, datetime)
    planted = {
        "users": {
            "user_id": "u-planted",
            "role": "client",
            "signup_ts": first + timedelta(days=3),
            "country": "US",
            "email_domain": "mailinator.com",
            "phone_country": "NG",
            "signup_ip": "203.0.113.9",
            "signup_device_id": "dev-planted",
            "kyc_status": "none",
            "profile_text": "Hiring now! Message me on WhatsApp, refundable deposit required today.",
        },
        "messages": {
            "message_id": "m-planted",
            "sender_id": "u-planted",
            "recipient_id": tables["users"]["user_id"][0],
            "job_id": None,
            "ts": first + timedelta(days=3, hours=1),
            "text": "Pay the training fee upfront via gift card, urgent.",
        },
    }
    for name, row in planted.items():
        tables[name] = pl.concat([tables[name], pl.DataFrame([row], schema=TABLES[name].schema)])
    return tables


@pytest.fixture(scope="module")
def events(world: dict[str, pl.DataFrame]) -> list[Event]:
    """Every raw row as an event at its time (sign-ups at sign-up, labels when decided)."""
    out: list[Event] = []
    for order, name in enumerate(LOAD_ORDER):
        when = TABLES[name].time_column
        out += [(row[when], order, name, row) for row in world[name].iter_rows(named=True)]
    return sorted(out, key=lambda e: (e[0], e[1]))


def _actor(table: str, row: dict) -> str:
    for column in ("sender_id", "client_id", "freelancer_id", "reported_id", "user_id"):
        if column in row:
            return row[column]
    return row["payee_id"] if row["kind"] == "payout" else row["payer_id"]


@pytest.fixture(scope="module")
def pairs(world: dict[str, pl.DataFrame], events: list[Event]) -> list[Pair]:
    rng = random.Random(5)
    signup = dict(world["users"].select("user_id", "signup_ts").iter_rows())
    start, end = world["messages"]["ts"].min(), events[-1][0]
    assert isinstance(start, datetime)
    out: list[Pair] = []
    users = sorted(signup)
    while len(out) < 300:  # random (user, instant) pairs
        user = rng.choice(users)
        t = start + (end - start) * rng.random()
        out.append((user, t))

    by_table: dict[str, list[Event]] = {}
    for e in events:
        by_table.setdefault(e[2], []).append(e)
    # window edges: an event exactly w before as_of is inside; at as_of, or w + 1us before, outside
    for e in rng.sample(by_table["messages"], 12) + rng.sample(by_table["logins"], 6):
        user = _actor(e[2], e[3])
        out += [(user, e[0]), (user, e[0] + US)]
        for width in WINDOWS.values():
            out += [(user, e[0] + width), (user, e[0] + width + US)]
    # just after each kind of event: the endpoint reads at ts + 1us
    for name in ("jobs", "proposals", "payments", "reports"):
        for e in rng.sample(by_table[name], min(8, len(by_table[name]))):
            out.append((_actor(name, e[3]), e[0] + US))
    for kind in ("chargeback", "payout", "refund"):
        rows = [e for e in by_table["payments"] if e[3]["kind"] == kind]
        for e in rng.sample(rows, min(4, len(rows))):
            out.append((_actor("payments", e[3]), e[0] + US))
    failed = [e for e in by_table["logins"] if not e[3]["success"]]
    out += [(e[3]["user_id"], e[0] + timedelta(minutes=5)) for e in rng.sample(failed, 6)]
    outside = ledger_rows("proposals", world["proposals"]).filter(pl.col("pays_outside") == 1)
    out += [(r["user_id"], r["ts"] + US) for r in outside.head(6).iter_rows(named=True)]
    flagged = profile_rows(world["users"]).filter(pl.col("profile_text_flags") > 0)
    out += [
        (u, t + timedelta(days=1)) for u, t in flagged.select("user_id", "signup_ts").iter_rows()
    ]

    # graph edges: a link appearing, an identifier becoming a hub, a neighbour's label decided
    tables = Tables.from_frames(world)
    links = (
        identifier_links(users=tables.users, logins=tables.logins, payments=tables.payments)
        .collect()
        .sort("first_ts")
    )
    for r in links.sample(10, seed=3).iter_rows(named=True):
        out += [(r["user_id"], r["first_ts"]), (r["user_id"], r["first_ts"] + US)]
    per_ident = links.group_by("kind", "ident").agg(
        pl.col("user_id"), pl.col("first_ts"), pl.len().alias("n")
    )
    shared = per_ident.filter((pl.col("kind") != "ip") & (pl.col("n") > 1)).head(8)
    for r in shared.iter_rows(named=True):  # just after the second user links to it
        out += [(u, sorted(r["first_ts"])[1] + US) for u in r["user_id"]]
    hubs = per_ident.filter(pl.col("n") > HUB).head(4)
    assert hubs.height, "the simulated world should have identifiers shared by > HUB users"
    for r in hubs.iter_rows(named=True):
        crossing = sorted(r["first_ts"])[HUB]  # when its (HUB + 1)-th user arrives
        for user in r["user_id"][:3]:
            out += [(user, crossing), (user, crossing + US)]
    bad = world["labels"].filter(pl.col("label").is_in(SCAM_TYPOLOGIES))
    linked = links.join(
        links.select("kind", "ident", pl.col("user_id").alias("other")), on=["kind", "ident"]
    )
    neighbours = linked.filter(pl.col("user_id") != pl.col("other")).join(
        bad, left_on="other", right_on="user_id"
    )
    for r in neighbours.head(6).iter_rows(named=True):
        out += [(r["user_id"], r["decided_ts"]), (r["user_id"], r["decided_ts"] + US)]
    copies = world["users"].filter(pl.col("profile_text").is_duplicated()).sort("signup_ts")
    for r in copies.tail(4).iter_rows(named=True):
        out += [(r["user_id"], r["signup_ts"] + US)]
        out += [
            (u, r["signup_ts"])
            for u in copies.filter(
                (pl.col("profile_text") == r["profile_text"]) & (pl.col("user_id") != r["user_id"])
            )["user_id"].head(2)
        ]
    # profiles are defined from sign-up on: the store has no account before it exists
    return sorted({(u, t) for u, t in out if signup[u] < t}, key=lambda p: (p[1], p[0]))


def replay(
    store: OnlineStore, events: list[Event], pairs: list[Pair], *, after: datetime | None = None
) -> list[dict]:
    """Ingest events in time order; read each pair's features once every event before it is in."""
    todo = [e for e in events if after is None or e[0] >= after]
    i, out = 0, []
    for user, t in pairs:
        while i < len(todo) and todo[i][0] < t:
            store.ingest(todo[i][2], todo[i][3])
            i += 1
        out.append(store.features(user, t))
    return out


@pytest.fixture(scope="module")
def offline(world: dict[str, pl.DataFrame], pairs: list[Pair]) -> pl.DataFrame:
    spine = pl.LazyFrame(
        {"user_id": [u for u, _ in pairs], "as_of": [t for _, t in pairs]},
        schema={"user_id": pl.String, "as_of": pl.Datetime("us", "UTC")},
    )
    return build_features(spine, Tables.from_frames(world), hub_limit=HUB).collect()


def assert_same(online: list[dict], offline: pl.DataFrame, pairs: list[Pair]) -> None:
    mismatches = []
    for (user, t), got, want in zip(pairs, online, offline.iter_rows(named=True), strict=True):
        for name in FEATURE_COLUMNS:
            a, b = got[name], want[name]
            if a is None or b is None:
                same = a is None and b is None
            elif isinstance(b, int):
                same = a == b
            else:
                same = abs(a - b) <= 1e-9 * max(1.0, abs(b))
            if not same:
                mismatches.append(f"{user} @ {t.isoformat()} {name}: online {a}, offline {b}")
    assert not mismatches, f"{len(mismatches)} mismatches, e.g.\n" + "\n".join(mismatches[:20])


def test_replaying_events_gives_the_offline_features(
    tmp_path: Path, events: list[Event], pairs: list[Pair], offline: pl.DataFrame
) -> None:
    store = OnlineStore(tmp_path / "store.sqlite", hub_limit=HUB)
    online = replay(store, events, pairs)
    store.close()
    assert len(pairs) >= 300
    assert_same(online, offline, pairs)


def test_a_backfilled_store_then_replayed_gives_the_offline_features(
    tmp_path: Path,
    world: dict[str, pl.DataFrame],
    events: list[Event],
    pairs: list[Pair],
    offline: pl.DataFrame,
) -> None:
    """``online-load`` at mid-history, then live events: the same features as offline."""
    cut = events[len(events) // 2][0]
    path = tmp_path / "store.sqlite"
    info = backfill(path, Tables.from_frames(world), cut, hub_limit=HUB)
    assert info.users == world["users"].filter(pl.col("signup_ts") < cut).height
    later = [i for i, (_, t) in enumerate(pairs) if t > cut]
    store = OnlineStore(path, hub_limit=HUB)
    online = replay(store, events, [pairs[i] for i in later], after=cut)
    store.close()
    assert len(later) > 100
    assert_same(online, offline[later], [pairs[i] for i in later])


def test_the_pairs_exercise_every_feature(offline: pl.DataFrame) -> None:
    """Guards the tests above against passing on all-zero columns: every feature varies."""
    constant = [c for c in FEATURE_COLUMNS if offline[c].drop_nulls().n_unique() < 2]
    assert not constant, f"features constant over the pairs: {constant}"


def test_polars_label_propagation_finds_the_scipy_components(
    world: dict[str, pl.DataFrame],
) -> None:
    tables = Tables.from_frames(world)
    links = identifier_links(users=tables.users, logins=tables.logins, payments=tables.payments)
    graph, _ = LinkGraph.encode(
        links.collect(), known_bad_users(tables.labels).collect(), pl.Series([], dtype=pl.String)
    )
    live = graph.live(int(graph.first_ts.max()) + 1, hub_limit=HUB)
    u, i = graph.user[live], graph.ident[live]
    scipy_labels = connected_components_scipy(u, i, graph.n_users, graph.n_idents)[: graph.n_users]
    polars_labels, iterations = connected_components_polars(u, i, graph.n_users, graph.n_idents)
    # the same partition: each scipy component maps to exactly one label-propagation label
    pairs = pl.DataFrame({"scipy": scipy_labels, "polars": polars_labels}).unique()
    assert pairs["scipy"].is_unique().all() and pairs["polars"].is_unique().all()
    assert iterations > 2 and np.bincount(scipy_labels).max() > 10  # a non-trivial graph
