"""Emerging patterns: near-duplicate new texts from several accounts, not one-off new texts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from monitoring.patterns import TextIndex, embed_days, find_patterns, largest_cluster_accounts

DAY = date(2026, 8, 24)
KNOWN = [
    f"Hi, I can build your {p} in {n} days, I have done similar work."
    for p in ("shop", "blog", "app", "site")
    for n in range(2, 9)
] + ["Thanks for the quick payment!", "Can we move the deadline to Friday?"]


def _day_texts(rows: list[tuple[str, str]]) -> pl.DataFrame:
    ts = datetime(2026, 8, 24, 12, tzinfo=UTC)
    return pl.DataFrame(
        {
            "text": [t for t, _ in rows],
            "sender_id": [s for _, s in rows],
            "ts": [ts] * len(rows),
            "source": ["message"] * len(rows),
        }
    )


def test_a_campaign_from_several_accounts_is_one_pattern_with_examples_and_accounts():
    index = TextIndex(KNOWN)
    campaign = [
        (
            f"Your task balance shows ${900 + 37 * i} profit. Recharge {40 + i} USDT to withdraw.",
            f"s{i}",
        )
        for i in range(6)
    ]
    ordinary = [(KNOWN[i], f"b{i}") for i in range(10)] + [
        ("lol see you at the gym later?", "b20"),
        ("Has the invoice for March been approved", "b21"),
    ]
    texts = _day_texts(campaign + ordinary)
    day = embed_days(texts, index, [DAY])[DAY]
    signups = {f"s{i}": datetime(2026, 8, 20, tzinfo=UTC) for i in range(6)}
    signups |= {f"b{i}": datetime(2025, 1, 1, tzinfo=UTC) for i in range(30)}
    patterns = find_patterns(day, index, signups)
    top = patterns[0]
    assert top.accounts == [f"s{i}" for i in range(6)] and top.new_accounts == top.accounts
    assert top.messages == 6 and all(e.startswith("Your task balance") for e in top.examples)
    assert {"recharge", "usdt"} & set(top.name.split())
    assert top.similarity_to_training < 0.5
    assert [len(p.accounts) for p in patterns[1:]] == [1, 1]  # the one-off new texts
    assert largest_cluster_accounts(patterns) == 6


def test_texts_the_models_saw_are_not_new():
    index = TextIndex(KNOWN)
    assert (index.nearest(KNOWN[:5]) == 1.0).all()
    near = index.nearest(["Hi, I can build your shop in 3 days, I have done similar work!"])
    assert near[0] > 0.5  # a near copy of a training text is not new
    texts = _day_texts([(t, f"u{i}") for i, t in enumerate(KNOWN)])
    day = embed_days(texts, index, [DAY, DAY + timedelta(days=1)])
    assert find_patterns(day[DAY], index, {}) == []
    assert day[DAY + timedelta(days=1)].groups.height == 0
