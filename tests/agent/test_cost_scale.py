"""Only the ratios of the prices matter: every price times ``k`` leaves every policy's actions as
they were and multiplies every cost by ``k`` (the one cost model can change its unit freely)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import pytest

from agent.baselines import FixedOrder, GatherEverything, GreedyVOI, tune_fixed_order
from agent.env import InvestigationEnv
from agent.episode import CaseView, Episode
from agent.evaluate import play
from agent.expectimax import ExpectimaxPolicy
from agent.groups import GroupLayout
from agent.mcts import SearchRoot, search
from agent.network import PolicyValueNet, make_network
from agent.planner import CaseModel
from agent.policy import MCTSPolicy
from scamguard.costs import CostModel
from tests.agent.toy import TOY_COSTS, ToyWorld, toy_world

CASES = np.arange(40)
SCALES = (5.0, 0.2)  # 0.2: the agent's move from 500 / 100 / 10 to the risk model's unit


@dataclass
class Priced:
    """The toy world's test cases with every price times ``k``."""

    layout: GroupLayout
    costs: CostModel
    model: CaseModel
    env: InvestigationEnv
    net: PolicyValueNet  # untrained, value_scale times k


def _priced(world: ToyWorld, k: float) -> Priced:
    layout = replace(world.layout, costs=world.layout.costs * k)
    costs = CostModel(
        missed_scam=TOY_COSTS.missed_scam * k,
        wrongful_block=TOY_COSTS.wrongful_block * k,
        review=TOY_COSTS.review * k,
    )
    model = copy.copy(world.model)  # the same belief and neighbours; only the layout's prices
    model.layout = layout
    env = InvestigationEnv(layout, world.test_env.values, world.test_env.labels, costs=costs)
    config = replace(world.net_config(), value_scale=world.net_config().value_scale * k)
    return Priced(layout, costs, model, env, make_network(config, seed=0))


@pytest.fixture(scope="module")
def world() -> ToyWorld:
    # the oracle priced out: the searches weigh the informative hint against its price and deciding
    return toy_world(costs={"oracle": 30.0, "hint": 6.0, "noise": 1.0})


def _same_play_scaled(base: list[Episode], scaled: list[Episode], k: float) -> None:
    for a, b in zip(base, scaled, strict=True):
        assert [s.name for s in b.steps] == [s.name for s in a.steps], a.case
        assert b.total_cost == pytest.approx(k * a.total_cost, rel=1e-9, abs=1e-12)
        assert b.evidence_cost == pytest.approx(k * a.evidence_cost, rel=1e-9, abs=1e-12)
    total = sum(e.total_cost for e in scaled)
    assert total == pytest.approx(k * sum(e.total_cost for e in base), rel=1e-9)


def _policies(p: Priced, world: ToyWorld, mcts: dict) -> dict[str, object]:
    return {
        "gather-everything": GatherEverything(p.layout, world.belief, p.costs),
        "greedy-voi": GreedyVOI(p.model, p.costs),
        "mcts": MCTSPolicy(p.model, p.net, p.costs, **mcts),
        "expectimax": ExpectimaxPolicy(p.model, p.costs),
    }


@pytest.mark.parametrize("k", SCALES)
@pytest.mark.parametrize(
    "mcts",
    [
        {"num_simulations": 32, "batch_size": 4, "root_rule": "puct"},
        {"num_simulations": 32, "batch_size": 4, "root_rule": "gumbel"},
    ],
    ids=["puct", "gumbel"],
)
def test_every_policy_plays_the_same_at_any_price_scale(world: ToyWorld, k: float, mcts) -> None:  # type: ignore[no-untyped-def]
    base, scaled = _priced(world, 1.0), _priced(world, k)
    base_policies, scaled_policies = _policies(base, world, mcts), _policies(scaled, world, mcts)
    played = {}
    for name, policy in base_policies.items():
        episodes = play(policy, base.env, CASES)  # type: ignore[arg-type]
        _same_play_scaled(episodes, play(scaled_policies[name], scaled.env, CASES), k)  # type: ignore[arg-type]
        played[name] = episodes
    # not a vacuous check: the trails differ from case to case, and every decision is taken
    episodes = played["greedy-voi"] + played["mcts"] + played["expectimax"]
    assert len({tuple(s.name for s in e.steps) for e in episodes}) >= 4
    assert {e.decision for e in episodes} == {"allow", "block", "escalate"}


@pytest.mark.parametrize("k", SCALES)
def test_the_search_statistics_scale_with_the_prices(world: ToyWorld, k: float) -> None:
    # visits and priors are the same; every Q and the root value are k times
    base, scaled = _priced(world, 1.0), _priced(world, k)
    values = world.test_env.observe(world.test_env.reset(3))
    p = world.model.belief_of(values, 1)
    outs = []
    for priced in (base, scaled):
        root = SearchRoot(
            layout=priced.layout,
            costs=priced.costs,
            mask=1,
            particles=priced.model.particles(values, 1, belief=p),
            value_scale=priced.net.config.value_scale,
        )
        outs.append(search(root, priced.net.evaluate, num_simulations=48, batch_size=4))
    a, b = outs
    assert np.array_equal(a.visit_counts, b.visit_counts)
    np.testing.assert_allclose(b.prior, a.prior, rtol=1e-6)
    np.testing.assert_allclose(b.q_values, k * a.q_values, rtol=1e-9)
    assert b.root_value == pytest.approx(k * a.root_value, rel=1e-9)


@pytest.mark.parametrize("k", SCALES)
def test_the_tuned_fixed_order_keeps_its_order_and_scales_its_threshold(
    world: ToyWorld, k: float
) -> None:
    env = world.valid_env
    base, scaled = _priced(world, 1.0), _priced(world, k)
    tunings = [
        tune_fixed_order(p.layout, world.belief, p.costs, env.values, env.labels)
        for p in (base, scaled)
    ]
    assert tunings[1].order == tunings[0].order
    assert tunings[1].threshold == pytest.approx(k * tunings[0].threshold, rel=1e-9)
    assert tunings[1].valid_cost == pytest.approx(k * tunings[0].valid_cost, rel=1e-9)
    episodes = [
        play(
            FixedOrder(p.layout, world.belief, p.costs, order=t.order, threshold=t.threshold),
            p.env,
            CASES,
        )
        for p, t in zip((base, scaled), tunings, strict=True)
    ]
    _same_play_scaled(episodes[0], episodes[1], k)


def test_a_search_view_is_unchanged_by_the_unit(world: ToyWorld) -> None:
    # the network's input (the stop loss over value_scale) is the same at any scale
    base, scaled = _priced(world, 1.0), _priced(world, 5.0)
    view = CaseView(values=world.test_env.observe(world.test_env.reset(5)), mask=1)
    a = MCTSPolicy(base.model, base.net, base.costs, num_simulations=16).search(view)[0]
    b = MCTSPolicy(scaled.model, scaled.net, scaled.costs, num_simulations=16).search(view)[0]
    np.testing.assert_allclose(b.network_input, a.network_input, rtol=1e-9)
