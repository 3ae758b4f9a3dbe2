"""Case graphs as of the case's time: no future link, no future label, hubs left out, bounded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import polars as pl

from agent.pivots.graph import (
    KNOWN_SCAM,
    UNKNOWN,
    LabelIndex,
    LinkIndex,
    case_graph,
    table_values,
)

T = datetime(2026, 8, 1, tzinfo=UTC)
AS_OF = int(T.timestamp() * 1_000_000)


def _ts(days: float) -> datetime:
    return datetime.fromtimestamp(T.timestamp() + days * 86400, tz=UTC)


def _links(rows: Sequence[tuple[str, str, str, float]]) -> LinkIndex:
    return LinkIndex.from_links(
        pl.DataFrame(
            {
                "user_id": [r[0] for r in rows],
                "kind": [r[1] for r in rows],
                "ident": [r[2] for r in rows],
                "first_ts": [_ts(r[3]) for r in rows],
            }
        )
    )


def _labels(rows: list[tuple[str, str, float, float | None]]) -> LabelIndex:
    return LabelIndex.from_labels(
        pl.DataFrame(
            {
                "user_id": [r[0] for r in rows],
                "label": [r[1] for r in rows],
                "decided_ts": [_ts(r[2]) for r in rows],
                "first_bad_ts": [None if r[3] is None else _ts(r[3]) for r in rows],
            },
            schema_overrides={"first_bad_ts": pl.Datetime("us", "UTC")},
        )
    )


def _values(users: list[str]):  # type: ignore[no-untyped-def]
    at = np.full(len(users), np.datetime64(T.replace(tzinfo=None), "us"))
    return table_values(np.asarray(users), at, np.arange(len(users), dtype=float)[:, None])


def test_case_graph_ignores_future_links_and_labels() -> None:
    links = _links(
        [
            ("case", "device", "d1", -5),
            ("old", "device", "d1", -3),
            ("late", "device", "d1", 0.0),  # linked exactly at the case's time: not yet
            ("case", "ip", "i9", 1.0),  # the case's own future link
            ("other", "ip", "i9", -2),
        ]
    )
    labels = _labels(
        [
            ("old", "fraud_ring", 2.0, -4),  # decided after the case's time: not known yet
        ]
    )
    graph = case_graph("case", AS_OF, links, labels, _values(["case", "old"]))
    assert [i.kind for i in graph.identifiers] == ["device"]
    (account,) = graph.accounts
    assert account.user_id == "old"
    assert account.known == UNKNOWN  # the label came later
    assert account.label == 1  # its scam had begun before the case's time: the truth scored
    assert account.values[0] == 1.0  # its own row at the case's time


def test_case_graph_knows_labels_decided_before_and_drops_hubs() -> None:
    rows: list[tuple[str, str, str, float]] = [("case", "device", "hub", -9)]
    rows += [(f"u{k}", "device", "hub", -8) for k in range(60)]
    rows += [("case", "instrument", "card", -5), ("bad", "instrument", "card", -4)]
    labels = _labels([("bad", "payment_fraud", -1, -3)])
    graph = case_graph("case", AS_OF, _links(rows), labels, _values(["case"]), hub_limit=50)
    assert [i.kind for i in graph.identifiers] == ["instrument"]
    (account,) = graph.accounts
    assert account.known == KNOWN_SCAM
    assert np.isnan(account.values).all()  # no row that week
    assert graph.members_at_risk() == 0  # already known: nothing left to catch


def test_case_graph_is_bounded_and_lists_each_account_once() -> None:
    rows: list[tuple[str, str, str, float]] = [
        ("case", "device", "d1", -9),
        ("case", "ip", "i1", -9),
    ]
    rows += [(f"u{k}", "device", "d1", -8 + k * 0.1) for k in range(5)]
    rows += [("u0", "ip", "i1", -7), ("v", "ip", "i1", -6)]
    graph = case_graph(
        "case", AS_OF, _links(rows), _labels([]), _values([]), max_accounts=3, max_identifiers=2
    )
    assert [len(i.accounts) for i in graph.identifiers] == [3, 1]
    assert [a.user_id for a in graph.accounts] == ["u0", "u1", "u2", "v"]
    assert graph.accounts[0].shared == 2  # device and IP
