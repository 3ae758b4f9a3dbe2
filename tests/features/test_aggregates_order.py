"""Float aggregates do not depend on the order in which a join hands rows to a group."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from features.aggregates import Sum, add_aggregates

AS_OF = datetime(2026, 8, 17, tzinfo=UTC)
TS = pl.Datetime("us", "UTC")
# summed in these two orders, the amounts differ in the last bit
AMOUNTS = [0.64, 0.27, 0.04, 0.02]


def _payout_sum(amounts: list[float], *, days_ago: int = 0) -> float:
    ledger = pl.DataFrame(
        {
            "user_id": ["u1"] * len(amounts),
            "ts": [AS_OF - timedelta(days=days_ago, hours=i + 1) for i in range(len(amounts))],
            "kind": ["payout"] * len(amounts),
            "amount": amounts,
        },
        schema={"user_id": pl.String, "ts": TS, "kind": pl.String, "amount": pl.Float64},
    )
    first_seen = pl.DataFrame(
        schema={"user_id": pl.String, "what": pl.String, "value": pl.String, "first_ts": TS}
    )
    spine = pl.DataFrame(
        {"user_id": ["u1"], "as_of": [AS_OF]}, schema={"user_id": pl.String, "as_of": TS}
    )
    spec = Sum("payout_amount_7d", ("payout",), "amount", timedelta(days=7))
    out = add_aggregates(spine, ledger=ledger, first_seen=first_seen, specs=[spec])
    return out["payout_amount_7d"][0]


def test_a_sum_does_not_depend_on_the_order_of_the_ledger_rows():
    assert sum(AMOUNTS) != sum(AMOUNTS[::-1])  # the premise
    assert _payout_sum(AMOUNTS) == _payout_sum(AMOUNTS[::-1])


def test_a_sum_with_rows_only_outside_its_window_is_zero():
    assert _payout_sum(AMOUNTS, days_ago=8) == 0.0
