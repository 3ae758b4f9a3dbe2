"""``scamguard online-compact`` on a real store (SQLite file, bulk backfill, then live events with
their scored documents, as the endpoint records them): it deletes the scored messages outside
every ``textmodel_*`` window as of the store's latest event, keeps every other document, and every
feature read at or after that event is the same before and after.

The world is simulated over 7 weeks, longer than the 30-day message window, so that messages
fall out of it; documents are scored by a real TF-IDF + logistic regression fitted on them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from features.build import Tables
from features.online import OnlineStore, backfill, to_micros
from features.online.local import store_path
from features.online.text import MESSAGE_WINDOW_US
from features.text_scores import TEXT_SCORE_FEATURES, document_rows, usable_text
from pipelines.simulator import SimulationConfig, simulate
from scamguard.schema import LOAD_ORDER, SCAM_TYPOLOGIES, TABLES
from tests.conftest import SMS_CSV, make_settings
from tests.features.test_online_parity import score_documents_frame, scored_documents

HUB = 20
DAY = 86_400_000_000  # microseconds


@pytest.fixture(scope="module")
def world() -> dict[str, pl.DataFrame]:
    return simulate(
        SimulationConfig(n_users=250, weeks=7, seed=5, scam_rate=0.1, sms_csv=SMS_CSV)
    ).tables


@pytest.fixture(scope="module")
def document_scores(world: dict[str, pl.DataFrame]) -> dict[str, float]:
    """text -> P(scam) from TF-IDF + logistic regression fitted on the world's documents
    (labelled by their author's scam label)."""
    from models.text.ensemble import fit_tfidf_lr

    docs = score_documents_frame(world).filter(pl.col("text").map_elements(usable_text))
    bad = world["labels"].filter(pl.col("label").is_in(SCAM_TYPOLOGIES))["user_id"]
    labels = docs["user_id"].is_in(bad.implode()).cast(pl.Int64).to_numpy()
    texts = docs["text"].to_list()
    model = fit_tfidf_lr(texts, labels)
    unique = sorted(set(texts))
    return dict(zip(unique, model.predict_proba(unique)[:, 1].tolist(), strict=True))


def _counts(store: OnlineStore) -> dict[str, int]:
    return dict(store.db.execute("SELECT kind, COUNT(*) FROM text_docs GROUP BY kind").fetchall())


def _reads(store: OnlineStore, users: list[str], instants: list[int]) -> list[dict]:
    return [{**store.features(u, t), **store.text_features(u, t)} for t in instants for u in users]


def test_online_compact_deletes_unreadable_messages_and_keeps_the_served_values(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    world: dict[str, pl.DataFrame],
    document_scores: dict[str, float],
) -> None:
    settings = make_settings(tmp_path / "data")
    path = store_path(settings)
    scored = scored_documents(world, document_scores)
    events = sorted(
        (
            (row[TABLES[name].time_column], order, name, row)
            for order, name in enumerate(LOAD_ORDER)
            for row in world[name].iter_rows(named=True)
        ),
        key=lambda e: (e[0], e[1]),
    )
    cut = events[len(events) * 3 // 4][0]
    backfill(path, Tables.from_frames(world), cut, hub_limit=HUB, text_scores=scored.drop("text"))
    store = OnlineStore(path, hub_limit=HUB)
    for ts, _, table, row in events:  # the rest live, each with its documents' scores
        if ts >= cut:
            store.ingest(table, row)
            store.text.add(
                (u, to_micros(t), kind, document_scores[text])
                for u, t, kind, text in document_rows(table, row)
                if text in document_scores
            )
    latest = store.latest_event_ts()
    # the latest event the store holds: labels are not events of a user's own
    assert latest == max(to_micros(ts) for ts, _, table, _ in events if table != "labels")
    # the edges of the message window at a read at ``latest``: kept at its start, gone before it
    edge = "u-window-edge"
    start = latest - MESSAGE_WINDOW_US
    store.text.add([(edge, start, "message", 0.9), (edge, start - 1, "message", 0.95)])
    store.text.add([(edge, start - DAY, "proposal", 0.7)])  # never leaves the aggregates

    users = sorted({u for (u,) in store.db.execute("SELECT DISTINCT user_id FROM text_docs")})
    now = latest + DAY  # the command's NOW, later than the latest event
    ledger_reads = [now, now + 3 * DAY, now + 29 * DAY]
    text_reads = [latest, latest + 1, latest + 10 * DAY, latest + MESSAGE_WINDOW_US + 1]
    before = _reads(store, users, ledger_reads)
    before_text = [store.text_features(u, t) for t in text_reads for u in users]
    counts = _counts(store)
    assert store.text_features(edge, latest)["textmodel_msg_max_30d"] == 0.9
    store.close()

    from scamguard.cli import app
    from scamguard.settings import get_settings

    monkeypatch.setenv("SCAMGUARD_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    try:
        iso = datetime.fromtimestamp(now / 1e6, UTC).isoformat()
        result = CliRunner().invoke(app, ["online-compact", "--now", iso])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output

    store = OnlineStore(path, hub_limit=HUB)
    after_counts = _counts(store)
    expected = store.db.execute(  # no message left from before the window's start at ``latest``
        "SELECT COUNT(*) FROM text_docs WHERE kind = 'message' AND ts < ?", (start,)
    ).fetchone()[0]
    assert expected == 0
    deleted = counts["message"] - after_counts["message"]
    assert deleted > 100 and f"{deleted:,} scored messages" in " ".join(result.output.split())
    assert {k: v for k, v in after_counts.items() if k != "message"} == {
        k: v for k, v in counts.items() if k != "message"
    }
    assert store.db.execute(
        "SELECT ts FROM text_docs WHERE user_id = ? AND kind = 'message'", (edge,)
    ).fetchall() == [(start,)]
    assert _reads(store, users, ledger_reads) == before
    assert [store.text_features(u, t) for t in text_reads for u in users] == before_text
    store.close()
    # what was compared varies: the message features are not all null at the reads
    maxima = [r["textmodel_msg_max_30d"] for r in before_text]
    assert sum(m is not None for m in maxima) > 20 and len(set(maxima)) > 20
    assert all(set(r) == set(TEXT_SCORE_FEATURES) for r in before_text)
    assert np.isfinite([v for r in before for v in r.values() if v is not None]).all()
