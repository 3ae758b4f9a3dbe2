"""The online store's plain-Python row mapping (``features.online.rows.map_row``) equals the
offline Polars plans evaluated on the same row (``map_row_polars``), over thousands of generated
rows of every table; and the text flags' fast path equals the Polars regexes."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from features.online.rows import Mapped, map_row, map_row_polars
from features.text import TEXT_FLAGS, flag_values, text_flags
from tests.utils.event_factory import TEXTS, activity, signups


def _assert_equal(python: Mapped, polars: Mapped, where: str) -> None:
    for part in ("ledger", "profile"):
        p, q = getattr(python, part), getattr(polars, part)
        assert (p is None) == (q is None), (where, part)
        if p is not None:
            assert p.keys() == q.keys(), (where, part)
            for key in p:
                assert p[key] == q[key] and (p[key] is None) == (q[key] is None), (where, key)
    assert python.sightings == polars.sightings, where
    assert python.links == polars.links, where


def test_map_row_equals_the_polars_plans() -> None:
    rng = random.Random(3)
    events = signups(rng, 60) + activity(rng, 60, 3_000)
    for k, (table, row) in enumerate(events):
        if table == "labels":  # recorded as a label, not mapped (OnlineStore.ingest)
            continue
        _assert_equal(map_row(table, row), map_row_polars(table, row), f"{k} {table}")


def test_map_row_reads_naive_and_offset_times_as_polars_does() -> None:
    rng = random.Random(4)
    table, row = next(e for e in activity(rng, 5, 50) if e[0] != "labels")
    for ts in (
        datetime(2024, 3, 2, 10, 30),
        datetime(2024, 3, 2, 10, 30, tzinfo=timezone(timedelta(hours=5))),
    ):
        r = {**row, "ts": ts} if "ts" in row else {**row, "decided_ts": ts}
        _assert_equal(map_row(table, r), map_row_polars(table, r), str(ts))


def test_flag_values_equal_the_polars_regexes() -> None:
    import polars as pl

    rng = random.Random(5)
    alphabet = "abcdefghijklmnopqrstuvwxyz @.:/+()-_0123456789\t\n\x1c\x85é½İſK\u0301"
    texts = [
        *TEXTS,
        None,
        *("".join(rng.choices(alphabet, k=rng.randrange(40))) for _ in range(400)),
    ]
    words = [
        "whats app",
        "t.me/x",
        "bit.ly",
        "gift card",
        "act now",
        "pay me directly",
        "@abcd",
        "+1 (555) 1234567",
    ]
    texts += [" ".join(rng.choices(words + ["x"] * 4, k=5)) for _ in range(200)]
    expected = pl.DataFrame({"t": texts}, schema={"t": pl.String}).select(text_flags(pl.col("t")))
    for text, row in zip(texts, expected.rows(), strict=True):
        assert flag_values(text) == row, (text, dict(zip(TEXT_FLAGS, row, strict=True)))
