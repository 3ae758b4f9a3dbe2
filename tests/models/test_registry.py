"""The loaded scorer: the one-row path the endpoint uses equals the frame path."""

from __future__ import annotations

import math

import polars as pl

from models.registry import load_scorer
from scamguard.settings import Settings


def test_score_one_equals_score_on_the_same_rows(
    trained_env: Settings, training_table: pl.DataFrame
) -> None:
    scorer = load_scorer(trained_env)
    rows = training_table.sample(150, seed=0).select(scorer.feature_names)
    framed = scorer.score(rows)
    for i, row in enumerate(rows.iter_rows(named=True)):
        if i % 3 == 0:  # absent keys mean "no data", as None does
            row = {k: v for k, v in row.items() if v is not None}
        one, expected = scorer.score_one(row), framed.row(i, named=True)
        assert math.isclose(one["risk"], expected["risk"], rel_tol=0, abs_tol=1e-12)
        assert {k: v for k, v in one.items() if k != "risk"} == {
            k: v for k, v in expected.items() if k != "risk"
        }
