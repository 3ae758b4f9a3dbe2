"""The belief's currency: a policy's expected cost against the hindsight reference, case by case."""

from __future__ import annotations

import numpy as np
import pytest

from agent.baselines import GatherEverything, GreedyVOI
from agent.env import best_decision
from agent.episode import CaseView, Choice
from agent.evaluate import expected_costs, final_masks, hindsight_costs, play
from tests.agent.toy import TOY_COSTS, ToyWorld, toy_world


@pytest.fixture(scope="module")
def world() -> ToyWorld:
    return toy_world(costs={"oracle": 30.0, "hint": 2.0, "noise": 1.0})


class AllowAtOnce:
    """Allows every case on the free event group alone, whatever the belief says."""

    name = "allow-at-once"

    def __init__(self, world: ToyWorld) -> None:
        self.world = world

    def act(self, view: CaseView) -> Choice:
        return Choice(action=self.world.layout.n_groups - 1, belief=0.0)


def test_no_policy_expects_to_cost_less_than_the_hindsight_reference(world: ToyWorld) -> None:
    env = world.test_env
    cases = np.arange(env.values.shape[0])
    floor = hindsight_costs(world.layout, world.belief, TOY_COSTS, env.values)
    policies = (
        GatherEverything(world.layout, world.belief, TOY_COSTS),
        GreedyVOI(world.model, TOY_COSTS),
        AllowAtOnce(world),
    )
    played = {policy.name: play(policy, env, cases) for policy in policies}
    for name, episodes in played.items():
        expected = expected_costs(world.layout, world.belief, TOY_COSTS, env.values, episodes)
        assert np.all(expected >= floor - 1e-9), name
    # not a trivial check: greedy stops at different masks on different cases
    assert len(set(final_masks(world.layout, played["greedy-voi"]))) > 1


def test_expected_cost_charges_the_decision_taken_not_the_best_one(world: ToyWorld) -> None:
    env = world.test_env
    cases = np.arange(env.values.shape[0])
    episodes = play(AllowAtOnce(world), env, cases)
    p = world.belief.predict(env.values, np.full(cases.size, world.layout.event_mask))
    expected = expected_costs(world.layout, world.belief, TOY_COSTS, env.values, episodes)
    np.testing.assert_allclose(expected, p * TOY_COSTS.missed_scam)
    # some of these cases are worth escalating or blocking at that belief: allowing costs more
    best = best_decision(TOY_COSTS, p)[1]
    assert np.any(expected > best + 1.0)


def test_gather_everything_expects_the_full_cost_and_the_best_loss_at_full_evidence(
    world: ToyWorld,
) -> None:
    env = world.test_env
    cases = np.arange(env.values.shape[0])
    episodes = play(GatherEverything(world.layout, world.belief, TOY_COSTS), env, cases)
    assert set(final_masks(world.layout, episodes)) == {world.layout.full_mask}
    p = world.belief.predict(env.values, np.full(cases.size, world.layout.full_mask))
    expected = expected_costs(world.layout, world.belief, TOY_COSTS, env.values, episodes)
    full = world.layout.cost_of(world.layout.full_mask)
    np.testing.assert_allclose(expected, full + best_decision(TOY_COSTS, p)[1])
