"""The agent's cases: point-in-time ``similar_*`` for every row, and the completion pool's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from agent.data import prepare_cases
from agent.index import NO_SCAM_DISTANCE, SIMILAR_COLUMNS

DAY0 = datetime(2026, 7, 27, tzinfo=UTC)
# one constant column for each other group: every group needs one, and these move no distance
QUIET_COLUMNS = ("messages_24h", "msg_link_30d", "linked_users", "charges_total")


def _table() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Train weeks on days 0, 7 and 14 (the window's end), valid on day 21.

    ``s_early`` (a scam, decided on day 3) sits next to ``b_early``; ``s_late`` (decided on
    day 20, after the window) next to ``b_late``; fillers keep the neighbour lists full.
    """
    rows = [
        ("s_early", 0, 0.0, 1, "train"),
        ("b_early", 0, 0.1, 0, "train"),
        ("s_late", 14, 100.0, 1, "train"),
        ("b_late", 0, 100.1, 0, "train"),
        *[(f"f{i}", 7 * (i % 3), 20.0 + i, 0, "train") for i in range(6)],
        ("v_near_late", 21, 100.2, 0, "valid"),
        ("v_other", 21, 25.0, 0, "valid"),
    ]
    table = pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "as_of": [DAY0 + timedelta(days=r[1]) for r in rows],
            "label": [r[3] for r in rows],
            "typology": ["fake_client" if r[3] else "benign" for r in rows],
            "split": [r[4] for r in rows],
            "is_client": [1.0] * len(rows),
            "account_age_days": [r[2] for r in rows],
            **{c: [0.0] * len(rows) for c in QUIET_COLUMNS},
        }
    )
    labels = pl.DataFrame(
        {
            "user_id": ["s_early", "s_late"],
            "label": ["fake_client", "fake_client"],
            "decided_ts": [DAY0 + timedelta(days=3), DAY0 + timedelta(days=20)],
        }
    )
    return table, labels


def _similar(data, split: str, user: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    cases = data.splits[split]
    row = int(np.flatnonzero(cases.user_id == user)[0])
    cols = [data.layout.columns.index(c) for c in SIMILAR_COLUMNS]
    return cases.values[row, cols]


def test_pool_similar_counts_labels_decided_by_the_windows_end_and_no_later() -> None:
    table, labels = _table()
    data = prepare_cases(table, labels=labels, similar_k=2)
    share, scam_distance = 0, 1
    # point in time: on day 0 no scam label is known yet, so no scam counts near b_early
    assert _similar(data, "train", "b_early")[share] == 0.0
    assert _similar(data, "train", "b_early")[scam_distance] == NO_SCAM_DISTANCE
    pool = data.pool_values()
    cols = [data.layout.columns.index(c) for c in SIMILAR_COLUMNS]
    b_early = int(np.flatnonzero(data.train.user_id == "b_early")[0])
    b_late = int(np.flatnonzero(data.train.user_id == "b_late")[0])
    # as of day 14, s_early (decided on day 3) is a known scam among b_early's two nearest
    assert pool[b_early, cols[share]] == 0.5
    # s_late is b_late's nearest case, but its label (day 20) is after the window: not counted,
    # and the nearest *known* scam is the far s_early
    assert pool[b_late, cols[share]] == 0.0
    assert pool[b_late, cols[scam_distance]] > 1.0
    # the pool changes only the similar_* columns
    other = np.setdiff1d(np.arange(pool.shape[1]), cols)
    np.testing.assert_array_equal(pool[:, other], data.train.values[:, other])
    # a valid case on day 21 counts s_late (decided on day 20) as a known scam
    assert _similar(data, "valid", "v_near_late")[share] == 0.5
