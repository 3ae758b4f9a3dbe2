"""The weekly retrain and ``scamguard replay`` on a small simulated world (3,000 users, 6 weeks,
the variant in the last 2): the report's shape, point-in-time labels, the promote guard, and
one-line CLI errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from features.tables import end_of_day, load_clean_tables
from models.registry import load_scorer
from pipelines.replay import ReplayConfig, _with_analyst, replay_features, run_replay
from pipelines.replay_report import MEASURES, report_replay
from pipelines.retrain import retrain_table, snapshot_plan, weekly_retrain
from scamguard import tracking
from scamguard.cli import app
from scamguard.settings import Settings, get_settings
from tests.conftest import FAST_PARAMS, make_settings

FIRST, LAST = date(2026, 8, 8), date(2026, 8, 16)  # a Saturday to the world's last day
RETRAIN_DAY = date(2026, 8, 9)  # the Sunday in between (the default retrain weekday)
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Replayed:
    settings: Settings
    report: dict


@pytest.fixture(scope="module")
def world(small_world, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from pipelines.ingest import ingest
    from pipelines.raw import write_world

    settings = make_settings(tmp_path_factory.mktemp("replay") / "data")
    write_world(small_world, settings.raw_dir, truth_dir=settings.data_dir / "simulator")
    ingest(settings.raw_dir, settings.clean_dir, settings.quarantine_dir)
    return settings


@pytest.fixture(scope="module")
def replayed(world: Settings) -> Replayed:
    config = ReplayConfig(FIRST, LAST, capacity=20, params=FAST_PARAMS)
    days = run_replay(world, config)
    out = world.data_dir / "replay" / "test"
    report = report_replay(world, config, days, out_dir=out, rules_file=None, seconds=0.0)
    assert report.plot.exists() and report.plot.stat().st_size > 0
    return Replayed(world, report.to_json())


def test_replay_reports_both_arms_for_every_week(replayed: Replayed) -> None:
    weeks = replayed.report["weeks"]
    assert [w["week"] for w in weeks] == ["2026-08-08", "2026-08-10"]  # cut to the replayed days
    for week in weeks:
        assert set(week) == {"week", "static", "loop"}
        for arm in ("static", "loop"):
            assert set(MEASURES) <= set(week[arm])
            assert week[arm]["user_days"] > 0 and week[arm]["scam_user_days"] > 0
    assert weeks[0]["static"]["labels"] == 0 and weeks[-1]["loop"]["labels"] > 0
    # the starting champion and one weekly retrain, each through the registry
    assert [r["known_by"][:10] for r in replayed.report["retrains"]] == ["2026-08-08", "2026-08-10"]
    runs = tracking.client(replayed.settings).search_runs(
        [tracking.ensure_experiment(replayed.settings, "scamguard-replay")]
    )
    assert len(runs) == 1 and "static_expected_cost" in runs[0].data.metrics


def test_the_static_arm_keeps_its_champion_and_the_loop_scores_with_the_day_s(
    replayed: Replayed,
) -> None:
    first = replayed.report["weeks"][0]  # Saturday and Sunday: both arms score with v1
    for key in ("pr_auc", "recall", "expected_cost"):
        assert first["static"][key] == pytest.approx(first["loop"][key], abs=0.05)
    retrain = replayed.report["retrains"][1]
    assert retrain["champion_before"] == "1"
    assert retrain["champion_after"] == ("2" if retrain["promoted"] else "1")


def test_a_retrain_never_sees_a_label_decided_at_or_after_its_training_time(world: Settings):
    base = load_clean_tables(world, analyst_labels=False)
    known_by = end_of_day(RETRAIN_DAY)
    times = snapshot_plan(base, known_by, world)
    features = replay_features(base, times)
    before = retrain_table(base, known_by, times, features=features)
    user = before.filter(pl.col("label") == 0).sort("user_id")["user_id"][0]

    def planted(at) -> pl.DataFrame:  # type: ignore[no-untyped-def]
        label = {"user_id": [user], "label": ["fraud_ring"], "decided_ts": [at]}
        frame = pl.DataFrame(label | {"first_bad_ts": [None]}).with_columns(
            pl.col("decided_ts").cast(pl.Datetime("us", "UTC")),
            pl.col("first_bad_ts").cast(pl.Datetime("us", "UTC")),
        )
        tables = _with_analyst(base, frame)
        return retrain_table(tables, known_by, times, features=features)

    assert planted(known_by).equals(before)  # decided at the training time: not seen
    assert planted(known_by + timedelta(hours=12)).equals(before)  # the analyst's next noon
    seen = planted(known_by - timedelta(hours=1)).filter(pl.col("user_id") == user)
    assert seen.height >= 1 and (seen["label"] == 1).all()


def test_the_weekly_retrain_promotes_only_through_the_guard(
    world: Settings, tmp_path: Path
) -> None:
    settings = world.model_copy(update={"risk_model_name": "guarded"})
    base = load_clean_tables(world, analyst_labels=False)
    known_by = end_of_day(LAST)  # labels as known at the end: the test window holds scams
    table = retrain_table(base, known_by, snapshot_plan(base, end_of_day(RETRAIN_DAY), world))
    assert table.filter(pl.col("split") == "test")["label"].sum() > 0
    first = weekly_retrain(settings, known_by, table, params=FAST_PARAMS)
    assert first.promoted and first.champion_before is None  # the first model becomes champion

    worse = {"n_estimators": 1, "num_leaves": 2, "max_depth": 1, "learning_rate": 0.01}
    second = weekly_retrain(settings, known_by, table, params=worse)
    assert not second.promoted and "does not win on expected cost" in second.reason
    assert load_scorer(settings, "champion").model_version == first.version
    client = tracking.client(settings)
    runs = client.search_runs(
        [tracking.ensure_experiment(settings, "scamguard-retrain")],
        filter_string="params.model_name = 'guarded'",
    )
    assert sorted(r.data.tags["decision"] for r in runs) == ["kept", "promoted"]
    kept = next(r for r in runs if r.data.tags["decision"] == "kept")
    assert kept.data.params["champion_after"] == first.version


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-08-32", "--to", "2026-08-16"], "--from must be a date"),
        (["--from", "2026-08-16", "--to", "2026-08-08"], "is before --from"),
        (["--from", "2026-08-08", "--to", "2026-09-30"], "after the data's last day"),
        (["--from", "2026-07-08", "--to", "2026-07-20"], "too little history"),
        (["--from", "2026-08-08", "--to", "2026-08-16", "--rules", "nope.yaml"], "no such file"),
    ],
)
def test_replay_input_errors_are_one_line_and_exit_2(
    world: Settings, fresh_settings: None, args: list[str], message: str
) -> None:
    env = {"SCAMGUARD_DATA_DIR": str(world.data_dir), "SCAMGUARD_API_KEY": "test-key"}
    result = CliRunner().invoke(app, ["replay", *args], env=env)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
