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
from collections.abc import Sequence
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
from features.online import OnlineStore, backfill, to_micros
from features.profile import profile_rows
from features.text_scores import (
    TEXT_SCORE_FEATURES,
    add_text_score_features,
    document_rows,
    score_documents,
    text_documents,
    usable_text,
)
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
    assert_same_columns(online, offline, pairs, FEATURE_COLUMNS)


def assert_same_columns(
    online: list[dict], offline: pl.DataFrame, pairs: list[Pair], columns: Sequence[str]
) -> None:
    """Exact for counts, 1e-9 relative for floats, the same nulls."""
    mismatches = []
    for (user, t), got, want in zip(pairs, online, offline.iter_rows(named=True), strict=True):
        for name in columns:
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


# ------------------------------------------------------------------ textmodel_* features
# Offline, the textmodel_* features of training rows come from cross-fitted scores; online, the
# served text model scores new documents. Parity is about the aggregates: fed the same score per
# document, the store and the offline builder must agree. The scores come from a real (tiny,
# scratch) text model fitted on the world's documents, so they are the floats a model returns.


@pytest.fixture(scope="module")
def document_scores(world: dict[str, pl.DataFrame]) -> dict[str, float]:
    """text -> P(scam) from a tiny text model fitted on a sample of the world's documents
    (labelled by their author's scam label)."""
    from models.text.fit import fit_text_model
    from models.text.model import TextModelConfig

    docs = score_documents_frame(world)
    bad = world["labels"].filter(pl.col("label").is_in(SCAM_TYPOLOGIES))["user_id"]
    labelled = (
        docs.filter(pl.col("text").str.strip_chars() != "")
        .unique("text", keep="first", maintain_order=True)
        .with_columns(pl.col("user_id").is_in(bad.implode()).cast(pl.Int64).alias("label"))
    )
    sample = pl.concat(  # balanced, so that scores fall on both sides of HIGH_SCORE
        [labelled.filter(pl.col("label") == k).sample(400, seed=1) for k in (0, 1)]
    )
    fitted = fit_text_model(
        sample["text"].to_list(),
        sample["label"].to_numpy(),
        TextModelConfig.tiny(epochs=3),
        device="cpu",
    )
    texts = docs["text"].drop_nulls().unique().to_list()
    usable = [t for t in texts if usable_text(t)]
    return dict(zip(usable, fitted.predictor.predict_proba(usable).tolist(), strict=True))


def offline_text(scored: pl.DataFrame, pairs: list[Pair]) -> pl.DataFrame:
    """The offline builder's textmodel_* features at ``pairs``, in the pairs' order."""
    spine = pl.LazyFrame(
        {"user_id": [u for u, _ in pairs], "as_of": [t for _, t in pairs]},
        schema={"user_id": pl.String, "as_of": pl.Datetime("us", "UTC")},
    ).with_row_index("_row")
    return add_text_score_features(spine, scored=scored.lazy()).sort("_row").collect()


def replay_text(
    store: OnlineStore, events: list[Event], pairs: list[Pair], scores: dict[str, float]
) -> list[dict]:
    """``replay`` where each event also hands its documents' scores to the store (what the
    endpoint does), reading the textmodel_* features at each pair."""
    i, out = 0, []
    for user, t in pairs:
        while i < len(events) and events[i][0] < t:
            _, _, table, row = events[i]
            store.ingest(table, row)
            store.text.add(
                (u, to_micros(ts), kind, scores[text])
                for u, ts, kind, text in document_rows(table, row)
            )
            i += 1
        out.append(store.text_features(user, t))
    return out


def scored_documents(world: dict[str, pl.DataFrame], scores: dict[str, float]) -> pl.DataFrame:
    """The offline path: every document of the world with its score (``score_documents``)."""
    return score_documents(
        score_documents_frame(world), lambda texts: np.array([scores[t] for t in texts])
    )


def score_documents_frame(world: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return text_documents(
        users=world["users"].lazy(),
        messages=world["messages"].lazy(),
        jobs=world["jobs"].lazy(),
        proposals=world["proposals"].lazy(),
    ).collect()


def test_text_model_features_online_equal_offline_for_the_same_document_scores(
    tmp_path: Path,
    world: dict[str, pl.DataFrame],
    events: list[Event],
    pairs: list[Pair],
    document_scores: dict[str, float],
) -> None:
    """Each recorded event hands its documents' scores to the store (what the endpoint does);
    the offline builder aggregates the same scores: the textmodel_* values agree at every pair."""
    scored = scored_documents(world, document_scores)
    offline = offline_text(scored, pairs)
    store = OnlineStore(tmp_path / "store.sqlite", hub_limit=HUB)
    online = replay_text(store, events, pairs, document_scores)
    store.close()
    assert_same_columns(online, offline, pairs, TEXT_SCORE_FEATURES)
    varied = [c for c in TEXT_SCORE_FEATURES if offline[c].drop_nulls().n_unique() < 2]
    assert not varied, f"textmodel_* features constant over the pairs: {varied}"
    high = offline["textmodel_msg_high_30d"].to_list()
    assert max(high) > 0 and min(high) == 0  # scores on both sides of the 0.5 threshold


def test_a_backfill_with_stored_document_scores_gives_the_offline_text_features(
    tmp_path: Path,
    world: dict[str, pl.DataFrame],
    events: list[Event],
    pairs: list[Pair],
    document_scores: dict[str, float],
) -> None:
    """``online-load`` with the pipeline's stored document scores (here: the same scores), then
    live events with theirs: the textmodel_* features of the offline builder."""
    scored = scored_documents(world, document_scores)
    cut = events[len(events) // 2][0]
    path = tmp_path / "store.sqlite"
    backfill(path, Tables.from_frames(world), cut, hub_limit=HUB, text_scores=scored.drop("text"))
    store = OnlineStore(path, hub_limit=HUB)
    assert store.meta("text_scores") == str(
        scored.filter((pl.col("ts") < cut) & pl.col("score").is_not_null()).height
    )
    later = [p for p in pairs if p[1] > cut]
    online = replay_text(store, [e for e in events if e[0] >= cut], later, document_scores)
    store.close()
    offline = offline_text(scored, later)
    assert len(later) > 100
    assert_same_columns(online, offline, later, TEXT_SCORE_FEATURES)
