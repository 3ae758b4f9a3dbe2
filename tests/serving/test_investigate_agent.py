"""``POST /v1/investigate`` on a real server and ``scamguard investigate``: the agent's trail, and
its pivot trail once ``agent-train-pivots`` has run."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import polars as pl
import pytest
from typer.testing import CliRunner

from agent.pivots.trail import NOT_TRAINED
from scamguard.cli import app
from scamguard.settings import Settings, get_settings
from serving.app import create_app
from tests.agent.helpers import device_scam_neighbours, small_agent, small_pivots
from tests.serving.conftest import API_KEY, serve


@pytest.fixture(scope="module")
def agent_settings(trained_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings, _ = small_agent(trained_env, tmp_path_factory.mktemp("agent"))
    return settings


@pytest.fixture(scope="module")
def users(agent_settings: Settings) -> dict[str, str]:
    table = pl.read_parquet(agent_settings.features_dir / "training.parquet")
    scam = table.filter(pl.col("label") == 1).sort("as_of", "user_id")["user_id"][-1]
    benign = table.filter(pl.col("label") == 0).sort("as_of", "user_id")["user_id"][-1]
    return {"scam": scam, "benign": benign}


@pytest.fixture(scope="module")
def base_url(agent_settings: Settings) -> Iterator[str]:
    with serve(create_app(agent_settings)) as url:
        yield url


def _investigate(base_url: str, body: dict, key: str | None = API_KEY) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    return httpx.post(f"{base_url}/v1/investigate", json=body, headers=headers, timeout=120)


def _check_trail(agent: dict) -> None:
    trail = agent["trail"]
    assert agent["available"] and trail
    assert trail[-1]["action"] == agent["decision"]  # the trail ends in the returned decision
    assert agent["decision"] in {"allow", "block", "escalate"}
    reveals = [s["action"] for s in trail[:-1]]
    assert all(a.startswith("reveal ") for a in reveals) and len(reveals) == len(set(reveals))
    assert agent["evidence_cost"] == pytest.approx(sum(s["cost"] for s in trail))
    for before, after in zip(trail, trail[1:], strict=False):
        assert before["posterior_after"] == pytest.approx(after["posterior_before"])
    for step in trail:
        candidates = step["why"]["candidates"]
        assert candidates[0]["action"] == step["action"]  # the taken action is listed first
        assert sum(c["visits"] for c in candidates) > 0
        assert sum(c["policy"] for c in candidates) == pytest.approx(1.0)
        if step["action"].startswith("reveal "):
            assert step["revealed"]  # the group's columns and their values
    assert agent["similar_cases"] and all(c["distance"] >= 0 for c in agent["similar_cases"])


@pytest.mark.parametrize("kind", ["scam", "benign"])
def test_investigate_returns_the_agent_trail(
    base_url: str, users: dict[str, str], kind: str
) -> None:
    response = _investigate(base_url, {"user_id": users[kind]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user_id"] == users[kind]
    _check_trail(body["agent"])
    assert all(c["user_id"] != users[kind] for c in body["agent"]["similar_cases"])


def test_investigate_needs_a_key_a_known_user_and_a_valid_body(
    base_url: str, users: dict[str, str]
) -> None:
    assert _investigate(base_url, {"user_id": users["scam"]}, key=None).status_code == 401
    assert _investigate(base_url, {"user_id": "u_nobody"}).status_code == 404
    bad = _investigate(base_url, {"user": users["scam"]})
    assert bad.status_code == 422 and "user_id" in bad.text


@pytest.fixture
def cli_env(agent_settings: Settings) -> Iterator[dict[str, str]]:
    get_settings.cache_clear()
    yield {"SCAMGUARD_DATA_DIR": str(agent_settings.data_dir), "SCAMGUARD_API_KEY": API_KEY}
    get_settings.cache_clear()


def test_cli_shows_the_same_trail_as_the_endpoint(
    base_url: str, users: dict[str, str], cli_env: dict[str, str]
) -> None:
    runner = CliRunner()
    as_json = runner.invoke(app, ["investigate", users["scam"], "--json"], env=cli_env)
    assert as_json.exit_code == 0, as_json.output
    cli_agent = json.loads(as_json.stdout)["agent"]
    _check_trail(cli_agent)
    http_agent = _investigate(base_url, {"user_id": users["scam"]}).json()["agent"]
    assert [s["action"] for s in cli_agent["trail"]] == [s["action"] for s in http_agent["trail"]]
    assert cli_agent["decision"] == http_agent["decision"]
    rendered = runner.invoke(app, ["investigate", users["scam"]], env={**cli_env, "COLUMNS": "200"})
    assert rendered.exit_code == 0, rendered.output
    assert "Investigation agent trail" in rendered.output
    assert f"agent decision: {cli_agent['decision']}" in rendered.output
    assert "Similar past cases" in rendered.output


@pytest.fixture(scope="module")
def pivot_settings(agent_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return small_pivots(agent_settings, tmp_path_factory.mktemp("pivots"))


@pytest.fixture(scope="module")
def pivot_url(pivot_settings: Settings) -> Iterator[str]:
    with serve(create_app(pivot_settings)) as url:
        yield url


def test_investigate_returns_the_pivot_trail_and_the_ring(
    pivot_url: str, base_url: str, pivot_settings: Settings
) -> None:
    user, scammer = device_scam_neighbours(pivot_settings)[0]
    response = _investigate(pivot_url, {"user_id": user})
    assert response.status_code == 200, response.text
    pivots = response.json()["agent"]["pivots"]
    assert pivots["available"] and pivots["steps"]
    assert pivots["decision"] in {"allow", "block", "escalate"}
    assert pivots["pivot_cost"] == pytest.approx(sum(s["cost"] for s in pivots["steps"]))
    listed = {u for s in pivots["steps"] if s["action"] == "expand" for u in s["accounts"]}
    reviewed = {s["account"]["user_id"] for s in pivots["steps"] if s["action"] == "review"}
    assert reviewed <= listed and {r["user_id"] for r in pivots["ring"]} <= reviewed
    without = _investigate(base_url, {"user_id": user}).json()["agent"]["pivots"]
    assert without["available"] is False and without["note"] == NOT_TRAINED


def test_cli_renders_the_pivot_trail(pivot_settings: Settings) -> None:
    user, _ = device_scam_neighbours(pivot_settings)[0]
    env = {"SCAMGUARD_DATA_DIR": str(pivot_settings.data_dir), "SCAMGUARD_API_KEY": API_KEY}
    runner = CliRunner()
    get_settings.cache_clear()
    try:
        as_json = runner.invoke(app, ["investigate", user, "--json"], env=env)
        rendered = runner.invoke(app, ["investigate", user], env={**env, "COLUMNS": "220"})
    finally:
        get_settings.cache_clear()
    assert as_json.exit_code == 0 and rendered.exit_code == 0, as_json.output + rendered.output
    pivots = json.loads(as_json.stdout)["agent"]["pivots"]
    assert "Pivot trail" in rendered.output
    assert f"pivot decision: {pivots['action']}" in rendered.output
    for step in pivots["steps"]:
        assert step["identifier"]["pseudonym"] in rendered.output
