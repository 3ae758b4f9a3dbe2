"""``scamguard agent-eval-pivots``: rows with vs_greedy and ring members, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from scamguard.cli import app
from scamguard.settings import Settings, get_settings


def _env(settings: Settings) -> dict[str, str]:
    return {"SCAMGUARD_DATA_DIR": str(settings.data_dir), "SCAMGUARD_API_KEY": "test-key"}


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_agent_eval_pivots_json_rows(trained_env: Settings, fresh_settings: None) -> None:
    args = ["agent-eval-pivots", "--cases", "60", "--json"]
    result = CliRunner().invoke(app, args, env=_env(trained_env))
    assert result.exit_code == 0, result.output
    rows = {r["policy"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"gather-everything", "greedy", "greedy-macro", "expectimax"}
    assert rows["greedy"]["vs_greedy"] == {"diff": 0.0, "lo": 0.0, "hi": 0.0}
    for row in rows.values():
        assert set(row["vs_greedy"]) == {"diff", "lo", "hi"}
        assert row["vs_greedy"]["lo"] <= row["vs_greedy"]["diff"] <= row["vs_greedy"]["hi"]
        assert 0 <= row["ring_members_caught"] <= row["ring_members_at_risk"]
        assert row["fraud_ring"]["cases"] == rows["greedy"]["fraud_ring"]["cases"]
    assert rows["greedy"]["ring_members_caught"] == 0  # greedy never expands
    # in the model's currency the exact optimum expects no more than any other policy
    exact = rows["expectimax"]["mean_expected_cost"]
    assert all(exact <= r["mean_expected_cost"] + 1e-9 for r in rows.values())


def test_agent_eval_pivots_errors_are_one_line(
    tmp_settings: Settings, fresh_settings: None
) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["agent-eval-pivots", "--json"], env=_env(tmp_settings))
    assert missing.exit_code == 2
    assert "run `scamguard features`" in json.loads(missing.stdout)["error"]
    bad = runner.invoke(app, ["agent-eval-pivots", "--review-cost", "-1"], env=_env(tmp_settings))
    assert bad.exit_code == 2
    assert "pivots.review" in bad.output and len(bad.output.strip().splitlines()) == 1
