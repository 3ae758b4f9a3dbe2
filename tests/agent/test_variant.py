"""Tagging the simulator's drift variant: which scam cases had sent a task / crypto message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from agent.variant import OTHER, VARIANT, first_variant_message, variant_of_cases
from pipelines.simulator import SimulationConfig
from pipelines.simulator.text import TextBanks, variant_message_prefixes
from tests.conftest import TEST_USERS, TEST_WEEKS

T0 = datetime(2026, 8, 17, tzinfo=UTC)


def _messages(rows: list[tuple[str, datetime, str]]) -> pl.LazyFrame:
    return pl.DataFrame(
        rows,
        schema={"sender_id": pl.String, "ts": pl.Datetime("us", "UTC"), "text": pl.String},
        orient="row",
    ).lazy()


def test_only_variant_messages_sent_before_as_of_tag_a_case() -> None:
    variant_text = TextBanks(np.random.default_rng(0), variants=20).banks["task_scam"][0]
    messages = _messages(
        [
            ("early", T0 - timedelta(days=2), variant_text),
            ("late", T0 + timedelta(days=1), variant_text),  # after the case's as_of
            ("exact", T0, variant_text),  # at as_of: not inside the features
            ("benign", T0 - timedelta(days=3), "Thanks, the milestone is approved."),
            ("quoting", T0 - timedelta(days=3), "Someone sent me: " + variant_text),
        ]
    )
    cases = pl.DataFrame(
        {
            "user_id": ["late", "early", "benign", "nobody", "exact", "quoting", "early"],
            "as_of": [T0, T0, T0, T0, T0, T0, T0 - timedelta(days=7)],
        },
        schema={"user_id": pl.String, "as_of": pl.Datetime("us", "UTC")},
    )
    tags = variant_of_cases(cases, messages)
    assert tags.tolist() == [OTHER, VARIANT, OTHER, OTHER, OTHER, OTHER, OTHER]


def test_prefixes_match_every_rendered_variant_message_and_no_other_bank() -> None:
    banks = TextBanks(np.random.default_rng(3), variants=60).banks
    prefixes = variant_message_prefixes()
    assert all(p.strip() for p in prefixes)
    for name, texts in banks.items():
        matched = [any(t.startswith(p) for p in prefixes) for t in texts]
        assert all(matched) if name == "task_scam" else not any(matched), name


def test_the_simulated_world_sends_the_variant_only_after_its_drift_start(small_world) -> None:
    config = SimulationConfig(n_users=TEST_USERS, weeks=TEST_WEEKS, seed=7)
    drift_start = config.end - timedelta(weeks=config.drift_weeks)
    first = first_variant_message(small_world.tables["messages"].lazy())
    assert first.height > 0
    assert (first["first_variant_ts"] >= drift_start).all()
    scams = small_world.truth.filter(pl.col("typology") != "benign")["user_id"]
    assert first["user_id"].is_in(scams.implode()).all()
