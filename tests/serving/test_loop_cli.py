"""``scamguard label``, ``queue``, ``rules check`` and ``rules backtest`` on the session's world."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.batch import read_scores
from scamguard.analyst_labels import read_analyst_labels
from scamguard.cli import app
from scamguard.settings import Settings, get_settings
from tests.agent.helpers import small_agent
from tests.serving.conftest import mirror_settings

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world(trained_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return mirror_settings(trained_env, tmp_path_factory.mktemp("loopcli") / "data")


def _env(settings: Settings) -> dict[str, str]:
    return {"SCAMGUARD_DATA_DIR": str(settings.data_dir), "SCAMGUARD_API_KEY": "test-key"}


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _run(settings: Settings, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=_env(settings))


def _a_user(settings: Settings) -> str:
    return read_scores(settings).sort("user_id")["user_id"][0]


BAD_LABELS = [
    (["--scam", "--benign", "--typology", "fake_client"], "exactly one of --scam and --benign"),
    ([], "exactly one of --scam and --benign"),
    (["--scam"], "--scam needs --typology"),
    (["--scam", "--typology", "phishing"], "--scam needs --typology, one of fake_client"),
    (["--benign", "--typology", "fake_client"], "--typology is for --scam"),
    (["--benign", "--analyst", "j doe"], "analyst"),
    (["--benign", "--at", "yesterday"], "--at must be an ISO date"),
    (["--benign", "--at", "2001-01-01"], "is before"),
    (["--benign", "--since", "2026-07-01"], "first_bad_ts is for scam labels"),
]


@pytest.mark.parametrize(("args", "names"), BAD_LABELS, ids=[n for _, n in BAD_LABELS])
def test_a_malformed_label_is_one_line_exit_2_and_writes_nothing(
    world: Settings, args: list[str], names: str
) -> None:
    before = read_analyst_labels(world).height
    result = _run(world, "label", _a_user(world), *args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and names in lines[0], result.output
    assert read_analyst_labels(world).height == before


def test_an_unknown_user_is_one_line_exit_2(world: Settings) -> None:
    result = _run(world, "label", "u-nobody", "--benign")
    assert result.exit_code == 2 and "unknown user u-nobody" in result.output


def test_a_label_is_appended_and_a_later_one_supersedes_it(world: Settings) -> None:
    user_id = _a_user(world)
    first = _run(
        world,
        "label",
        user_id,
        "--scam",
        "--typology",
        "fake_client",
        "--note",
        "deposit ask",
        "--analyst",
        "jdoe",
        "--at",
        "2026-08-01T10:00",
        "--json",
    )
    assert first.exit_code == 0, first.output
    second = _run(
        world, "label", user_id, "--benign", "--analyst", "asmith", "--at", "2026-08-02", "--json"
    )
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["supersedes"].startswith("fake_client (analyst, 2026-08-01")
    mine = read_analyst_labels(world).filter(pl.col("user_id") == user_id)
    assert mine["label"].to_list() == ["fake_client", "benign"]
    assert mine["analyst"].to_list() == ["jdoe", "asmith"]
    assert mine["note"].to_list() == ["deposit ask", ""]


def test_the_queue_lists_unlabelled_reviews_by_the_value_of_a_review(world: Settings) -> None:
    result = _run(world, "queue", "--limit", "5", "--json")
    assert result.exit_code == 0, result.output
    queue = json.loads(result.stdout)
    scores = read_scores(world)
    reviews = scores.filter(pl.col("decision") == "review")
    assert queue["review_decisions"] == reviews.height
    assert 0 < queue["shown"] <= 5
    values = [r["review_value"] for r in queue["rows"]]
    assert values == sorted(values, reverse=True)
    costs = world.costs
    for row in queue["rows"]:
        risk = row["risk"]
        expected = min(risk * costs.missed_scam, (1 - risk) * costs.wrongful_block) - costs.review
        assert row["review_value"] == pytest.approx(expected)
        assert row["user_id"] in set(reviews["user_id"])
        assert row["agent"] is None  # no agent trained in this data dir
    assert queue["agent"].startswith("not trained")

    # a label decided since the start of the day takes the user off the queue
    top = queue["rows"][0]["user_id"]
    day = scores["as_of"][0] - timedelta(hours=1)
    assert _run(world, "label", top, "--benign", "--at", day.isoformat()).exit_code == 0
    after = json.loads(_run(world, "queue", "--json").stdout)
    assert top not in {r["user_id"] for r in after["rows"]}
    assert after["unlabelled"] == queue["unlabelled"] - 1


def test_the_queue_shows_the_agents_recommendation_when_one_is_trained(
    trained_env: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings, _ = small_agent(trained_env, tmp_path_factory.mktemp("agent"))
    result = _run(settings, "queue", "--limit", "3", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert rows and all(r["agent"]["decision"] in ("allow", "block", "escalate") for r in rows)
    assert all(0.0 <= r["agent"]["posterior"] <= 1.0 for r in rows)
    table = _run(settings, "queue", "--limit", "3")
    assert table.exit_code == 0 and "Review queue" in table.output


def test_queue_of_a_day_without_scores_is_one_line(world: Settings) -> None:
    result = _run(world, "queue", "--date", "2020-01-01")
    assert (
        result.exit_code == 2 and "run `scamguard batch-score --date 2020-01-01`" in result.output
    )


def test_rules_check_lists_every_problem_and_exits_2(world: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n- {id: A, owner: o, note: n, action: blok, when: {text: x}}\n"
        "- {id: B, owner: o, note: n, action: block, when: {features: {nope: {gt: 1}}}}\n"
    )
    result = runner.invoke(app, ["rules", "check", str(bad)], env=_env(world))
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 2
    assert lines[0].startswith(f"{bad}: rule A: action") and "rule B: when" in lines[1]
    good = _run(world, "rules", "check", str(ROOT / "docs" / "rules" / "variant.yaml"))
    assert good.exit_code == 0 and "ok, 1 enabled rule(s): task-crypto-variant" in good.output
    missing = _run(world, "rules", "check", str(tmp_path / "none.yaml"))
    assert missing.exit_code == 2 and "no rules file at" in missing.output


def test_rules_backtest_reports_each_rule(world: Settings) -> None:
    last = read_scores(world)["as_of"][0].date() - timedelta(days=1)
    args = ["--from", (last - timedelta(days=1)).isoformat(), "--to", last.isoformat()]
    variant = str(ROOT / "docs" / "rules" / "variant.yaml")
    result = _run(world, "rules", "backtest", variant, *args, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [r["rule"] for r in report["rules"]] == ["task-crypto-variant", "(all rules)"]
    rule = report["rules"][0]
    assert rule["hits"] > 0 and rule["users"] <= rule["hits"]
    assert rule["precision"] is None or 0 <= rule["precision"] <= 1
    assert report["scored_in_memory"] == [(last - timedelta(days=1)).isoformat()]  # the last day
    # was scored by the batch run (with model_decision), the day before it is scored in memory
    table = _run(world, "rules", "backtest", variant, *args)
    assert table.exit_code == 0 and "task-crypto-variant" in table.output


def test_batch_scores_apply_the_rules_file(world: Settings, tmp_path: Path) -> None:
    from features.tables import load_clean_tables
    from models.registry import load_scorer
    from models.rules import load_rules
    from pipelines.batch import score_day

    rules = load_rules(ROOT / "docs" / "rules" / "variant.yaml")
    day = read_scores(world)["as_of"][0].date() - timedelta(days=1)
    scores, _ = score_day(
        load_clean_tables(world), day, load_scorer(world, alias="champion"), rules
    )
    hit = scores.filter(pl.col("rules").list.contains("task-crypto-variant"))
    assert hit.height > 0
    assert (hit["decision"] == "block").all()
    for reasons in hit["reasons"].to_list():
        assert any(r.startswith("rule task-crypto-variant (trust-ops): ") for r in reasons)
    ruled = hit.filter(pl.col("override").is_null() | pl.col("override").str.starts_with("rule:"))
    assert (ruled["override"].fill_null("") == "rule:task-crypto-variant").sum() >= 1
