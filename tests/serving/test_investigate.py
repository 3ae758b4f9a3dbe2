"""The analyst's investigation view: the report, its Rich rendering, and ``scamguard investigate``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import polars as pl
import pytest
from rich.console import Console
from typer.testing import CliRunner

from features.tables import load_clean_tables
from pipelines.batch import read_scores
from scamguard.cli import app
from scamguard.schema import SCAM_TYPOLOGIES
from scamguard.settings import Settings, get_settings
from serving.investigation import UnknownUserError, investigate_user, render_investigation


@pytest.fixture(scope="module")
def scam_user(trained_env: Settings) -> str:
    """A labelled scammer in the latest scores, preferring one linked to other accounts (a ring)."""
    labels = (
        load_clean_tables(trained_env)
        .labels.filter(pl.col("label").is_in(SCAM_TYPOLOGIES))
        .collect()
    )
    scored = read_scores(trained_env).join(labels, on="user_id")
    assert scored.height, "no scored scammer in trained_env"
    rings = scored.filter(pl.col("label") == "fraud_ring")
    return (rings if rings.height else scored).sort("risk", descending=True)["user_id"][0]


@pytest.fixture(scope="module")
def report(trained_env: Settings, scam_user: str) -> dict:
    return investigate_user(trained_env, scam_user)


@pytest.fixture
def cli_env(trained_env: Settings) -> Iterator[dict[str, str]]:
    get_settings.cache_clear()
    yield {"SCAMGUARD_DATA_DIR": str(trained_env.data_dir), "SCAMGUARD_API_KEY": "test-key"}
    get_settings.cache_clear()


def test_report_on_a_known_scammer_has_risk_reasons_and_links(report: dict, scam_user: str) -> None:
    assert report["user_id"] == scam_user
    assert 0.0 <= report["risk"] <= 1.0 and report["decision"] in {"allow", "review", "block"}
    assert (
        report["model_version"]
        and report["scored"]["source"] == "batch"
        and report["scored"]["date"]
    )
    assert report["reasons"] and all(isinstance(r, str) for r in report["reasons"])
    assert all(code["description"] for code in report["reason_codes"])
    assert report["profile"]["role"] in {"client", "freelancer"} and report["profile"]["signup_ts"]
    assert report["labels"] and report["labels"][0]["label"] in SCAM_TYPOLOGIES
    assert isinstance(report["linked_accounts"], list) and report["linked_accounts"]
    linked = report["linked_accounts"][0]
    assert set(linked) >= {"user_id", "via", "label", "risk"} and linked["user_id"] != scam_user
    assert set(linked["via"]) <= {"device", "ip", "instrument"}
    assert report["linked_accounts_total"] >= len(report["linked_accounts"])
    assert len(report["recent_messages"]) <= 10
    json.dumps(report)  # JSON-serialisable without a default


def test_a_user_missing_from_the_batch_scores_is_scored_now(trained_env: Settings) -> None:
    users = load_clean_tables(trained_env).users.select("user_id").collect()
    unscored = users.join(read_scores(trained_env).select("user_id"), on="user_id", how="anti")[
        "user_id"
    ][0]
    report = investigate_user(trained_env, unscored)
    assert (
        report["scored"]["source"] == "live"
        and "not in the batch scores" in report["scored"]["note"]
    )
    assert 0.0 <= report["risk"] <= 1.0 and report["decision"] in {"allow", "review", "block"}


def test_an_unknown_user_raises_with_a_clear_message(trained_env: Settings) -> None:
    with pytest.raises(UnknownUserError, match=r"unknown user u999: not in .*users"):
        investigate_user(trained_env, "u999")


def test_render_prints_the_sections(report: dict) -> None:
    console = Console(record=True, width=160)
    render_investigation(report, console)
    text = console.export_text()
    for section in (
        f"user {report['user_id']}",
        "Profile",
        "Labels",
        "Linked accounts",
        "Recent messages",
        "Reports received",
    ):
        assert section in text


def test_cli_investigate_json_prints_valid_json(cli_env: dict[str, str], scam_user: str) -> None:
    result = CliRunner().invoke(app, ["investigate", scam_user, "--json"], env=cli_env)
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.stdout)
    assert parsed["user_id"] == scam_user and parsed["decision"] in {"allow", "review", "block"}


def test_cli_investigate_prints_tables(cli_env: dict[str, str], scam_user: str) -> None:
    result = CliRunner().invoke(app, ["investigate", scam_user], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "Linked accounts" in result.stdout


def test_cli_investigate_an_unknown_user_exits_2_with_one_line(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["investigate", "u999"], env={**cli_env, "COLUMNS": "400"})
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown user u999" in lines[0]
