"""The masked belief (hides what is not revealed, calibrated per mask size) and the environment."""

from __future__ import annotations

import numpy as np
import pytest

from agent.belief import calibration_by_mask_size, mask_size, random_masks
from agent.env import (
    InvestigationEnv,
    best_decision,
    decision_losses,
    realised_losses,
    reveal_action,
)
from scamguard.costs import CostModel
from tests.agent.toy import TOY_COSTS, toy_values, toy_world


@pytest.fixture(scope="module")
def world():
    return toy_world(n_train=1500)


def test_unrevealed_values_do_not_move_the_belief(world) -> None:
    x = world.test_env.values[:50].copy()
    masks = np.full(50, 1 | 1 << 2)  # event and hint
    before = world.belief.predict(x, masks)
    x[:, 1] = 1.0 - x[:, 1]  # flip the hidden oracle
    np.testing.assert_array_equal(world.belief.predict(x, masks), before)


def test_the_oracle_group_settles_the_belief(world) -> None:
    x, y = world.test_env.values, world.test_env.labels
    p = world.belief.predict(x, np.full(y.size, 1 | 1 << 1))
    assert p[y == 1].min() > 0.9 and p[y == 0].max() < 0.1


def test_belief_is_calibrated_for_every_mask_size(world) -> None:
    x, y = toy_values(4000, np.random.default_rng(99))  # fresh cases
    rows = calibration_by_mask_size(world.belief, x, y, copies=2, bins=5)
    assert [r["mask_size"] for r in rows] == [1, 2, 3, 4]
    for r in rows:
        assert abs(r["mean_p"] - r["scam_rate"]) < 0.06
        assert r["ece"] < 0.08


def test_random_masks_always_reveal_the_event() -> None:
    masks = random_masks(1000, 5, np.random.default_rng(0))
    assert (masks & 1).all() and masks.max() < 32
    assert set(mask_size(masks).tolist()) == {1, 2, 3, 4, 5}


def test_env_rewards_and_refuses_a_second_reveal(world) -> None:
    env: InvestigationEnv = world.test_env
    case = int(np.flatnonzero(env.labels == 1)[0])
    state = env.reset(case)
    assert np.isnan(env.observe(state)[1:]).all()
    state, reward = env.step(state, reveal_action(env.layout, "hint"))
    assert reward == -1.0 and not np.isnan(env.observe(state)[2])
    with pytest.raises(ValueError, match="already revealed"):
        env.step(state, reveal_action(env.layout, "hint"))
    allow = env.layout.n_groups - 1
    done, reward = env.step(state, allow)
    assert reward == -TOY_COSTS.missed_scam and done.done and done.total_cost == 1.0 + 100.0
    with pytest.raises(ValueError, match="decided"):
        env.step(done, allow)


def test_decision_costs() -> None:
    costs = CostModel(missed_scam=500, wrongful_block=100, review=10)
    np.testing.assert_allclose(decision_losses(costs, np.asarray([0.1])), [[50.0, 90.0, 10.0]])
    np.testing.assert_array_equal(
        realised_losses(costs, np.asarray([0, 0, 1, 1, 2]), np.asarray([1, 0, 1, 0, 1])),
        [500, 0, 0, 100, 10],
    )
    assert best_decision(costs, np.asarray([0.001, 0.5, 0.99]))[0].tolist() == [0, 2, 1]
    with pytest.raises(ValueError):
        CostModel(missed_scam=-1)
