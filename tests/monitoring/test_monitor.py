"""The monitor on a small marketplace: the new variant pages, and nothing before it does; planted
faults raise their own alert; the outputs are what other systems read."""

from __future__ import annotations

import json
from datetime import timedelta
from html.parser import HTMLParser

import numpy as np
import polars as pl
import pytest

from monitoring.monitor import run_monitor
from monitoring.signals import METRICS_SCHEMA
from pipelines.daily import run_day
from pipelines.simulator.text import variant_message_prefixes
from tests.monitoring.conftest import MONITORED, VARIANT_START, score_day
from tests.utils.daily_factory import RandomScorer

FAULT_DAY = VARIANT_START - timedelta(days=1)  # 08-09, a Sunday: its cohort week is complete


def _pages(result) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(a["kind"], a["subject"]) for a in result.alerts if a["severity"] == "page"}


def test_no_page_before_the_variant(monitor_env):
    for day in MONITORED[:-1]:
        assert _pages(monitor_env.monitored[day]) == set(), day


def test_the_variant_pages_on_its_first_day_with_its_texts_and_accounts(monitor_env):
    result = monitor_env.monitored[VARIANT_START]
    pages = [a for a in result.alerts if a["severity"] == "page"]
    assert {a["kind"] for a in pages} == {"emerging_pattern"}
    pattern = pages[0]
    prefixes = variant_message_prefixes()
    assert pattern["examples"] and all(t.startswith(prefixes) for t in pattern["examples"])
    assert pattern["n_accounts"] >= 5 and len(pattern["accounts"]) == pattern["n_accounts"]
    assert pattern["value"] >= pattern["threshold"]
    assert "new text pattern" in pattern["what"] and pattern["examples"][0][:40] in pattern["what"]


def test_outputs_metrics_alerts_textfile_and_report(monitor_env):
    from prometheus_client.parser import text_string_to_metric_families

    result = monitor_env.monitored[VARIANT_START]
    metrics = pl.read_parquet(result.metrics_path)
    assert dict(metrics.schema) == METRICS_SCHEMA
    assert metrics.height == len(result.signals)
    assert metrics.select("kind", "signal", "subject").is_unique().all()
    assert set(metrics["kind"]) >= {
        "data_quality",
        "feature_drift",
        "score_drift",
        "decision_mix",
        "emerging_pattern",
        "performance",
    }
    saved = json.loads((result.report_path.parent / "alerts.json").read_text())
    assert saved == json.loads(json.dumps(result.to_json(), default=str))
    prom = (result.report_path.parent / "metrics.prom").read_text()
    families = {f.name: f for f in text_string_to_metric_families(prom)}
    pages = {
        s.labels["kind"]: s.value
        for s in families["scamguard_monitor_alerts"].samples
        if s.labels["severity"] == "page"
    }
    assert pages["emerging_pattern"] >= 1 and pages["data_quality"] == 0
    page = result.report_path.read_text()
    for section in (
        "Data quality",
        "Feature drift",
        "Decision mix",
        "cohort week",
        "Emerging patterns",
    ):
        assert section.lower() in page.lower(), section
    assert "data:image/png;base64," in page and 'src="http' not in page and "<script" not in page
    assert prom.count("scamguard_monitor_signal{") == len(result.signals)


class _Strict(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images = 0

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        if tag == "img":
            self.images += 1
            assert dict(attrs)["src"].startswith("data:image/png;base64,")
        elif tag not in ("meta", "br"):
            self.stack.append(tag)

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-3:])
        self.stack.pop()


def test_the_report_is_well_formed_self_contained_html(monitor_env):
    parser = _Strict()
    parser.feed(monitor_env.monitored[VARIANT_START].report_path.read_text())
    assert parser.stack == [] and parser.images >= 5


def test_a_rerun_gives_the_same_outputs(monitor_env, env_copy):
    day = VARIANT_START
    first = monitor_env.monitored[day]
    again = run_monitor(env_copy, day, scorer=monitor_env.scorer, log_mlflow=False)
    assert pl.read_parquet(again.metrics_path).equals(pl.read_parquet(first.metrics_path))
    assert again.alerts == first.alerts
    assert again.report_path.read_bytes() == first.report_path.read_bytes()


def test_thirty_percent_nulls_in_a_required_column_raise_a_data_quality_page_only(
    monitor_env, env_copy
):
    folder = env_copy.raw_dir / "proposals" / f"date={FAULT_DAY}"
    (path,) = folder.glob("*.parquet")
    raw = pl.read_parquet(path)
    hit = np.random.default_rng(0).random(raw.height) < 0.3
    raw.with_columns(
        pl.when(pl.Series(hit)).then(None).otherwise(pl.col("cover_text")).alias("cover_text")
    ).write_parquet(path)
    results = {}
    record = run_day(
        env_copy,
        FAULT_DAY,
        scorer=monitor_env.scorer,
        monitor=lambda s, d: _keep(
            results, run_monitor(s, d, scorer=monitor_env.scorer, log_mlflow=False)
        ),
        log_mlflow=False,
    )
    assert record.ok, record.error
    pages = _pages(results["result"])
    assert pages == {("data_quality", "proposals")}
    alert = next(a for a in results["result"].alerts if a["subject"] == "proposals")
    assert alert["signal"] == "quarantine_rate" and 0.2 < alert["value"] < 0.4
    assert "expect_column_values_to_not_be_null(cover_text)" in alert["what"]


def _keep(store: dict, result):  # type: ignore[no-untyped-def]
    from pipelines.daily import StepOutput

    store["result"] = result
    return StepOutput(rows={"alerts": len(result.alerts)})


def test_a_zeroed_feature_raises_feature_drift_on_that_feature_only(monitor_env, env_copy):
    feature = "account_age_days"
    results = {}
    record = run_day(
        env_copy,
        FAULT_DAY,
        scorer=monitor_env.scorer,
        feature_hook=lambda frame: frame.with_columns(pl.lit(0.0).alias(feature)),
        monitor=lambda s, d: _keep(
            results, run_monitor(s, d, scorer=monitor_env.scorer, log_mlflow=False)
        ),
        log_mlflow=False,
    )
    assert record.ok, record.error
    result = results["result"]
    assert _pages(result) == {("feature_drift", feature)}
    # the scores and decisions it moved are there, as warnings that name their cause
    for alert in result.alerts:
        if alert["kind"] in ("score_drift", "decision_mix") and "inhibited_by" in alert:
            assert alert["severity"] == "warn"
            assert alert["inhibited_by"] == f"feature_drift:{feature}"


def test_a_model_scoring_at_random_raises_score_drift_and_performance(monitor_env, env_copy):
    week = [FAULT_DAY - timedelta(days=6 - i) for i in range(7)]  # the cohort week 08-03..08-09
    for day in week:
        score_day(env_copy, day, RandomScorer())
    # the first day of the random model: its scores jump away from the reference
    first = run_monitor(env_copy, week[0], scorer=monitor_env.scorer, log_mlflow=False)
    assert {kind for kind, _ in _pages(first)} == {"score_drift"}
    decisions = [a for a in first.alerts if a["kind"] == "decision_mix"]
    assert all(a["severity"] == "warn" for a in decisions)  # inhibited by the score drift
    # the end of its week: the cohort's PR-AUC, with the labels known so far, has collapsed
    last = run_monitor(env_copy, FAULT_DAY, scorer=monitor_env.scorer, log_mlflow=False)
    pages = _pages(last)
    assert ("performance", f"cohort={week[0]}") in pages
    assert {kind for kind, _ in pages} <= {"performance", "score_drift"}


def test_the_monitor_command_prints_one_json_object_and_exits_zero(
    monitor_env, env_copy, monkeypatch
):
    from typer.testing import CliRunner

    from scamguard.cli import app
    from scamguard.settings import get_settings

    monkeypatch.setenv("SCAMGUARD_DATA_DIR", str(env_copy.data_dir))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["monitor", "--date", str(VARIANT_START), "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"date", "alerts", "report"} and out["date"] == str(VARIANT_START)
    assert any(a["severity"] == "page" and a["kind"] == "emerging_pattern" for a in out["alerts"])
    assert all(a["severity"] in ("warn", "page") and a["what"] for a in out["alerts"])
    assert out["report"].endswith("report.html")


def test_the_monitor_command_fails_in_one_line_without_a_champion(tmp_settings, monkeypatch):
    from typer.testing import CliRunner

    from scamguard.cli import app
    from scamguard.settings import get_settings

    monkeypatch.setenv("SCAMGUARD_DATA_DIR", str(tmp_settings.data_dir))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["monitor", "--date", "2026-08-10", "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2  # no model: the user can fix it
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "champion" in errors[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday"])
def test_a_bad_date_is_a_one_line_error(bad):
    from typer.testing import CliRunner

    from scamguard.cli import app

    result = CliRunner().invoke(app, ["monitor", "--date", bad])
    assert result.exit_code == 2 and "is not a date" in result.stderr
