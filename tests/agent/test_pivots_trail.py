"""The analyst's pivot trail (``agent/pivots/trail.py``) and its saved model (``bundle.py``), on the
session's simulated world with the small trained agent (tests/agent/helpers.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from agent.bundle import AgentBundle, bundle_dir
from agent.env import DECISIONS
from agent.pivots.bundle import PivotBundle, fit_pivot_bundle, pivot_dir
from agent.pivots.env import DECIDE, EXPAND, REVEAL, REVIEW, Action, PivotEnv
from agent.pivots.planners import STOP, Expectimax, Node, PivotModel
from agent.pivots.trail import NOT_TRAINED, build_case_graph
from agent.trail import investigate_with_agent
from features.tables import load_clean_tables
from scamguard.cli import app
from scamguard.costs import CostModel
from scamguard.settings import Settings, get_settings
from tests.agent.helpers import device_scam_neighbours, small_agent, small_pivots


@pytest.fixture(scope="module")
def agent_settings(trained_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return small_agent(trained_env, tmp_path_factory.mktemp("agent"))[0]


@pytest.fixture(scope="module")
def pivot_settings(agent_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return small_pivots(agent_settings, tmp_path_factory.mktemp("pivots"))


def _walk(model: PivotModel, root: Node, outcome: int) -> list[tuple[str, int]]:
    """Expectimax's steps from ``root`` when every review shows bin ``outcome``, then its stop."""
    solver, node, steps = Expectimax(model), root, []
    while (step := solver(model, node))[0] != STOP:
        steps.append(step)
        node = (
            node.with_expanded(step[1]) if step[0] == "expand" else node.with_bin(step[1], outcome)
        )
    return [*steps, (STOP, model.stop_cost(node)[1])]


def test_the_saved_pivot_model_plans_as_the_fitted_one(pivot_settings: Settings) -> None:
    agent = AgentBundle.load(bundle_dir(pivot_settings.data_dir))
    fitted = fit_pivot_bundle(pivot_settings, agent)  # what agent-train-pivots fitted and saved
    saved = PivotBundle.load(pivot_dir(pivot_settings.data_dir))
    assert json.loads((pivot_dir(pivot_settings.data_dir) / "pivots.json").read_text())["model"]
    assert saved.info["agent_trained_at"] == agent.info["trained_at"]
    for name in ("likelihood", "member_scam", "unreviewed_scam", "platt"):
        np.testing.assert_array_equal(getattr(saved.model, name), getattr(fitted.model, name))
    costs = CostModel()
    pivoted = 0
    for p0 in (0.002, 0.3):
        for kinds, sizes in (((0, 2), (2, 3)), ((0, 1, 2), (1, 2, 3)), ((2,), (3,))):
            root = Node(p0, kinds, sizes, bins=tuple(() for _ in kinds))
            for outcome in (0, 1, 3):  # labelled scam, clean, high P(scam)
                walk = _walk(PivotModel(saved.model, costs), root, outcome)
                assert walk == _walk(PivotModel(fitted.model, costs), root, outcome)
                pivoted += len(walk) > 1
    assert pivoted  # the comparison covers plans that pivot, not only "stop at once"


def _check_section(section: dict, costs: CostModel) -> None:
    """The steps are legal in order, each costs its price, the sums and beliefs chain up."""
    assert section["available"], section
    expanded: set[int] = set()
    reviewed: dict[int, int] = {}
    sizes = {i["index"]: i["accounts"] for i in section["graph"]["identifiers"]}
    belief = section["start"]["belief"]
    for step in section["steps"]:
        i = step["identifier"]["index"]
        assert step["identifier"]["pseudonym"].startswith("h:")
        if step["action"] == "expand":
            assert i not in expanded and len(step["accounts"]) == sizes[i]
            assert step["cost"] == costs.pivots.expand
            expanded.add(i)
        else:
            assert i in expanded and step["account"]["index"] == reviewed.get(i, 0) < sizes[i]
            assert step["cost"] == costs.pivots.review
            reviewed[i] = reviewed.get(i, 0) + 1
        assert step["why"]["expected_cost"] < step["why"]["expected_cost_if_stopped"]
        assert step["belief_before"] == pytest.approx(belief, abs=1e-12)
        belief = step["belief_after"]
    assert section["pivot_cost"] == pytest.approx(sum(s["cost"] for s in section["steps"]))
    assert section["decision"] in DECISIONS
    reviewed_users = {s["account"]["user_id"] for s in section["steps"] if s["action"] == "review"}
    assert {r["user_id"] for r in section["ring"]} <= reviewed_users


def test_the_trail_pivots_through_a_device_shared_with_a_labelled_scammer(
    pivot_settings: Settings,
) -> None:
    pairs = device_scam_neighbours(pivot_settings)
    assert pairs, "the fixture world has no user sharing a device with a labelled scammer"
    tables = load_clean_tables(pivot_settings)
    costs = AgentBundle.load(bundle_dir(pivot_settings.data_dir)).costs
    found = []
    for user, scammer in pairs:
        section = investigate_with_agent(pivot_settings, user, tables=tables)["pivots"]
        _check_section(section, costs)
        device_expanded = any(
            s["action"] == "expand"
            and s["identifier"]["kind"] == "device"
            and scammer in s["accounts"]
            for s in section["steps"]
        )
        ring = {r["user_id"]: r for r in section["ring"]}
        if device_expanded and scammer in ring:
            assert ring[scammer]["already_labelled_scam"] and ring[scammer]["p_scam"] == 1.0
            found.append(user)
        assert "dev-" not in json.dumps(section)  # identifiers only as pseudonyms
    assert found, pairs


def test_the_trail_replays_as_legal_actions_of_the_environment(pivot_settings: Settings) -> None:
    """The reported steps, replayed on the case's graph, are legal and cost what was reported."""
    user, _ = device_scam_neighbours(pivot_settings)[0]
    tables = load_clean_tables(pivot_settings)
    report = investigate_with_agent(pivot_settings, user, tables=tables)
    section = report["pivots"]
    agent = AgentBundle.load(bundle_dir(pivot_settings.data_dir))
    path = Path(agent.info.get("table") or pivot_settings.features_dir / "training.parquet")
    case = agent.cases_from_table(pl.read_parquet(path).filter(user_id=user).sort("as_of").tail(1))
    pivots = PivotBundle.load(pivot_dir(pivot_settings.data_dir))
    at = int(case.as_of.astype("datetime64[us]").astype(np.int64)[0])
    graph = build_case_graph(agent, pivots, tables, user, at, path)
    env = PivotEnv(agent.layout, case.values, np.zeros(1, np.int8), [graph], costs=agent.costs)
    state = env.reset(0)
    for group in section["start"]["groups"][1:]:
        state = env.step(state, Action(REVEAL, group=agent.layout.groups.index(group)))[0]
    assert state.evidence_cost == pytest.approx(section["start"]["evidence_cost"])
    members = set()
    for step in section["steps"]:
        i = step["identifier"]["index"]
        if step["action"] == "expand":
            state = env.step(state, Action(EXPAND, ident=i))[0]
            listed = [a.user_id for a in graph.identifiers[i].accounts]
            assert step["accounts"] == listed
        else:
            j = step["account"]["index"]
            state = env.step(state, Action(REVIEW, ident=i, account=j))[0]
            assert graph.identifiers[i].accounts[j].user_id == step["account"]["user_id"]
            ring = {r["user_id"]: r for r in section["ring"]}
            hit = ring.get(step["account"]["user_id"])
            if hit and not hit["already_labelled_scam"]:
                members.add((i, j))
    decision = DECISIONS.index(section["decision"])
    done, _ = env.step(state, Action(DECIDE, decision=decision, members=frozenset(members)))
    assert done.evidence_cost - section["start"]["evidence_cost"] == pytest.approx(
        section["pivot_cost"]
    )
    assert section["steps"], "the replayed case pivots"


def test_without_a_pivot_model_the_section_says_so(agent_settings: Settings) -> None:
    user, _ = device_scam_neighbours(agent_settings)[0]
    report = investigate_with_agent(agent_settings, user)
    assert report["available"]
    assert report["pivots"] == {"available": False, "note": NOT_TRAINED}


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_agent_train_pivots_without_an_agent_fails_in_one_line(
    tmp_settings: Settings, fresh_settings: None
) -> None:
    env = {"SCAMGUARD_DATA_DIR": str(tmp_settings.data_dir), "SCAMGUARD_API_KEY": "test-key"}
    result = CliRunner().invoke(app, ["agent-train-pivots"], env=env)
    assert result.exit_code == 2
    assert "run `scamguard agent-train`" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_user_outside_the_feature_table_gets_its_links_features_computed_then(
    pivot_settings: Settings,
) -> None:
    """The case computed now: its linked accounts' values are computed as of the same time."""
    from features.graph import identifier_links

    tables = load_clean_tables(pivot_settings)
    in_table = pl.read_parquet(pivot_settings.features_dir / "training.parquet")["user_id"]
    links = identifier_links(users=tables.users, logins=tables.logins, payments=tables.payments)
    shared = (
        links.group_by("kind", "ident")
        .agg(pl.col("user_id").unique())
        .filter(pl.col("user_id").list.len().is_between(2, 50))
        .explode("user_id")
        .filter(~pl.col("user_id").is_in(in_table.implode()))
        .collect()
    )
    user = shared["user_id"].sort()[0]
    agent = AgentBundle.load(bundle_dir(pivot_settings.data_dir))
    report = investigate_with_agent(pivot_settings, user, tables=tables)
    assert report["case"]["source"] == "features computed now"
    section = report["pivots"]
    _check_section(section, agent.costs)
    assert section["graph"]["accounts"] > 0
    at = int(np.datetime64(report["case"]["as_of"].removesuffix("Z"), "us").astype(np.int64))
    pivots = PivotBundle.load(pivot_dir(pivot_settings.data_dir))
    graph = build_case_graph(agent, pivots, tables, user, at, None)
    assert len(graph.accounts) == section["graph"]["accounts"]
    assert any(not np.isnan(a.values).all() for a in graph.accounts)  # computed, not "no row"
