"""The exact solver of the search's model: equal to plain expectimax, and right on the toy world."""

from __future__ import annotations

import numpy as np
import pytest

from agent.env import decision_losses, n_actions
from agent.evaluate import play
from agent.expectimax import ExpectimaxPolicy, plan
from agent.mcts import DEFAULT_BINS
from agent.particles import Particles
from scamguard.costs import CostModel
from tests.agent.toy import TOY_COSTS, toy_layout, toy_world


def _random_particles(k: int, n_masks: int, seed: int, root_mask: int) -> Particles:
    """``k`` particles whose belief under each mask is a fixed random number (a table)."""
    rng = np.random.default_rng(seed)
    table = 1 / (1 + np.exp(-(rng.normal(scale=3.0, size=(k, n_masks)) - 1.5)))
    weights = rng.dirichlet(np.ones(k))

    def belief_fn(ids: np.ndarray, masks: np.ndarray) -> np.ndarray:
        return table[ids, masks]

    root = float(weights @ table[:, root_mask])
    return Particles(np.zeros((k, 4)), weights, belief_fn, root_mask=root_mask, root_belief=root)


def _naive_value(layout, costs, parts, mask, members, w) -> float:  # type: ignore[no-untyped-def]
    """Expectimax over the same bins with no pruning and no memo (the definition)."""
    parts.ensure({mask: members})
    p = float(w @ parts.belief(members, mask))
    best = float((-decision_losses(costs, np.asarray([p]))[0]).max())
    for g in range(1, layout.n_groups):
        if not mask >> g & 1:
            best = max(best, _naive_q(layout, costs, parts, mask, members, w, g))
    return best


def _naive_q(layout, costs, parts, mask, members, w, g) -> float:  # type: ignore[no-untyped-def]
    """Q of revealing group ``g`` at (mask, members), by the definition."""
    new = mask | 1 << g
    parts.ensure({new: members})
    b = parts.belief(members, new)
    which = np.digitize(np.log(b) - np.log1p(-b), np.asarray(DEFAULT_BINS))
    q = -float(layout.costs[g])
    for bin_id in np.unique(which):
        sel = which == bin_id
        pi = float(w[sel].sum())
        q += pi * _naive_value(layout, costs, parts, new, members[sel], w[sel] / pi)
    return q


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("cost", [0.5, 4.0])
def test_pruned_memoised_solver_equals_plain_expectimax(seed: int, cost: float) -> None:
    layout = toy_layout({"oracle": cost, "hint": 2 * cost, "noise": 0.5 * cost})
    costs = CostModel(missed_scam=100.0, wrongful_block=50.0, review=20.0)
    parts = _random_particles(24, 16, seed, root_mask=1)
    out = plan(layout, costs, 1, parts)
    fresh = _random_particles(24, 16, seed, root_mask=1)
    ref = _naive_value(layout, costs, fresh, 1, np.arange(24), fresh.weights)
    assert out.value == pytest.approx(ref, abs=1e-9)
    assert out.q_values[out.action] == pytest.approx(ref, abs=1e-9)
    # every root Q it reports is the true one for that action
    for a in range(layout.n_groups - 1):
        if not np.isnan(out.q_values[a]):
            naive = _naive_q(layout, costs, fresh, 1, np.arange(24), fresh.weights, a + 1)
            assert out.q_values[a] == pytest.approx(naive, abs=1e-9)
    assert out.q_values.shape == (n_actions(layout),)


def test_a_reveal_dearer_than_deciding_now_is_never_searched() -> None:
    layout = toy_layout({"oracle": 1000.0, "hint": 1000.0, "noise": 1000.0})
    parts = _random_particles(16, 16, 0, root_mask=1)
    out = plan(layout, TOY_COSTS, 1, parts)
    assert out.action >= layout.n_groups - 1  # a decision
    assert np.isnan(out.q_values[: layout.n_groups - 1]).all()
    assert out.nodes == 0


def test_expectimax_takes_the_exact_cheap_group_first_and_stops() -> None:
    world = toy_world(costs={"oracle": 1.0, "hint": 1.0, "noise": 1.0})
    episodes = play(ExpectimaxPolicy(world.model, world.costs), world.test_env, np.arange(30))
    for episode in episodes:
        assert [s.name for s in episode.steps] == [
            "reveal oracle",
            "block" if episode.label else "allow",
        ]
        values = episode.steps[0].why["exact_values"]
        assert max(values, key=values.get) == "reveal oracle"
