"""The search and the agent on toy worlds: minimum functionality, directional and invariance tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agent.env import n_actions, reveal_action
from agent.episode import CaseView
from agent.evaluate import play, stratified_cases, summarise
from agent.expert import ExpertIterationConfig, expert_iteration, validate
from agent.mcts import DEFAULT_BINS, SearchRoot, search
from agent.mcts_tree import _Search
from agent.particles import Particles
from agent.policy import MCTSPolicy
from tests.agent.toy import toy_world

SEARCH: dict[str, Any] = {"num_simulations": 24, "batch_size": 4}  # agent.mcts.search kwargs


@pytest.fixture(scope="module")
def trained_toy():
    world = toy_world(costs={"oracle": 1.0, "hint": 1.0, "noise": 1.0})
    net, curve = expert_iteration(
        world.model,
        world.untrained_net(),
        world.costs,
        train_env=world.train_env,
        train_owners=world.train_owners,
        valid_env=world.valid_env,
        valid_owners=np.full(world.valid_env.labels.size, -1),  # new users: nothing to skip
        # 80 episodes in all: a higher rate than the default (sized for 1,000 a round)
        config=ExpertIterationConfig(
            iterations=2, episodes=40, valid_cases=40, epochs=10, learning_rate=3e-3
        ),
        search=SEARCH,
    )
    return world, net, curve


def test_agent_takes_the_exact_cheap_group_first_and_stops(trained_toy) -> None:
    world, net, _ = trained_toy
    policy = MCTSPolicy(world.model, net, world.costs, **SEARCH)
    cases = np.arange(30)
    episodes = play(policy, world.test_env, cases)
    for episode in episodes:
        assert [s.name for s in episode.steps][0] == "reveal oracle"
        assert len(episode.steps) == 2  # the reveal, then a decision
        assert episode.decision == ("block" if episode.label else "allow")


def test_expert_iteration_records_a_learning_curve(trained_toy) -> None:
    _, _, curve = trained_toy
    assert [r.iteration for r in curve] == [0, 1, 2]
    assert curve[0].policy_loss is None and all(r.policy_loss is not None for r in curve[1:])
    assert all(np.isfinite(r.valid_mean_total_cost) for r in curve)


def _reveal_rate(group: str, cost: float) -> float:
    # the oracle is priced out, so the informative hint is what the agent weighs against its cost
    world = toy_world(costs={"oracle": 60.0, "hint": cost, "noise": 1.0})
    policy = MCTSPolicy(world.model, world.untrained_net(), world.costs, **SEARCH)
    episodes = play(policy, world.test_env, np.arange(40))
    return float(np.mean([group in e.groups_revealed for e in episodes]))


def test_raising_a_group_cost_lowers_how_often_the_agent_takes_it() -> None:
    rates = [_reveal_rate("hint", cost) for cost in (0.5, 4.0, 19.0)]
    assert rates[0] > 0.5
    assert rates[0] >= rates[1] >= rates[2]
    assert rates[2] < rates[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agent_never_reveals_a_group_twice(seed: int) -> None:
    world = toy_world(costs={"oracle": 3.0, "hint": 0.2, "noise": 0.1}, seed=seed)
    # a random network and a cheap noise group tempt long trails
    policy = MCTSPolicy(world.model, world.untrained_net(seed=seed), world.costs, **SEARCH)
    for episode in play(policy, world.test_env, np.arange(25)):
        revealed = episode.groups_revealed
        assert len(revealed) == len(set(revealed))
        assert episode.steps[-1].name in ("allow", "block", "escalate")


def test_search_never_proposes_a_revealed_group() -> None:
    world = toy_world()
    layout = world.layout
    values = world.test_env.values[0].copy()
    mask = layout.event_mask | 1 << layout.groups.index("hint")
    view = np.where(layout.column_mask(np.asarray([mask]))[0], values, np.nan)
    parts = world.model.particles(view, mask)
    root = SearchRoot(layout=layout, costs=world.costs, mask=mask, particles=parts)
    out = search(root, world.untrained_net().evaluate, num_simulations=40)
    hint = reveal_action(layout, "hint")
    assert not out.legal[hint] and out.visit_counts[hint] == 0
    assert out.visit_counts.sum() == 40
    assert out.visit_counts.shape == (n_actions(layout),)


def test_search_is_deterministic_for_a_seed() -> None:
    world = toy_world()
    policy_args: dict[str, Any] = {**SEARCH, "dirichlet_fraction": 0.5}
    view = CaseView(values=world.test_env.observe(world.test_env.reset(3)), mask=1)
    runs = [
        MCTSPolicy(world.model, world.untrained_net(), world.costs, seed=s, **policy_args).search(
            view
        )[0]
        for s in (7, 7, 8)
    ]
    assert np.array_equal(runs[0].visit_counts, runs[1].visit_counts)
    assert np.array_equal(runs[0].prior, runs[1].prior)
    assert not np.array_equal(runs[0].prior, runs[2].prior)  # other noise, other seed


def _gumbel_policy(world, **options) -> MCTSPolicy:  # type: ignore[no-untyped-def]
    """A Gumbel-root search over the toy world's untrained network; ``options`` override SEARCH."""
    return MCTSPolicy(
        world.model, world.untrained_net(), world.costs, root_rule="gumbel", **{**SEARCH, **options}
    )


@pytest.mark.parametrize("interior_rule", ["puct", "gumbel"])
def test_gumbel_root_takes_the_exact_cheap_group_first_and_stops(interior_rule: str) -> None:
    # Gumbel root, untrained network: sequential halving on the reveals' values finds the oracle
    # (with 24 simulations neither root does, untrained: the mean backup's values are still high)
    world = toy_world(costs={"oracle": 1.0, "hint": 1.0, "noise": 1.0})
    policy = _gumbel_policy(world, interior_rule=interior_rule, num_simulations=96)
    for episode in play(policy, world.test_env, np.arange(30)):
        assert [s.name for s in episode.steps][0] == "reveal oracle"
        assert len(episode.steps) == 2
        assert episode.decision == ("block" if episode.label else "allow")


def test_gumbel_root_budget_target_and_determinism() -> None:
    world = toy_world()
    view = CaseView(values=world.test_env.observe(world.test_env.reset(3)), mask=1)

    def run(seed: int, noise: float):  # type: ignore[no-untyped-def]
        return _gumbel_policy(world, dirichlet_fraction=noise, seed=seed).search(view)[0]

    out = run(7, 0.0)
    target = out.policy
    assert target.sum() == pytest.approx(1.0) and np.all(target[~out.legal] == 0)
    # the improved policy ranks actions by value, not by visit shares
    q = np.where(out.legal, out.q_values, np.nan)
    assert target[int(np.nanargmax(q))] > target[int(np.nanargmin(q))]
    n_reveals = int(out.legal[: world.layout.n_groups - 1].sum())
    assert (
        SEARCH["num_simulations"] <= out.visit_counts.sum() <= SEARCH["num_simulations"] + n_reveals
    )
    assert np.array_equal(run(7, 0.5).policy, run(7, 0.5).policy)
    assert np.array_equal(out.policy, run(8, 0.0).policy)  # no noise: the seed does not matter
    with pytest.raises(ValueError, match="root_rule"):
        MCTSPolicy(world.model, world.untrained_net(), world.costs, root_rule="ucb").search(view)


def test_gumbel_interior_selection_makes_visit_shares_follow_the_improved_policy() -> None:
    # Gumbel's deterministic rule below the root: after n selections, each action's share of the
    # visits is within a few 1/n of the improved policy softmax(log prior + sigma(Q))
    world = toy_world()
    values = world.test_env.observe(world.test_env.reset(3))
    p = world.model.belief_of(values, 1)
    root = SearchRoot(
        layout=world.layout,
        costs=world.costs,
        mask=1,
        particles=world.model.particles(values, 1, belief=p),
        value_scale=world.untrained_net().config.value_scale,
    )
    s = _Search(
        root,
        world.untrained_net().evaluate,
        c_puct=1.25,
        bins=np.asarray(DEFAULT_BINS),
        backup="mean",
        # sigma = 0.1 * (10_000 + max visits) / 1_000 ~ 1 per cost unit, nearly constant over the
        # loop: a fixed target, softmax([0, -2, -1]) for the Q's below
        value_unit=1_000.0,
        interior_rule="gumbel",
        gumbel_c_visit=10_000.0,
    )
    node = s._make_node(1, np.arange(root.particles.size), root.particles.weights)
    s._evaluate([node])
    node.legal = node.legal.copy()
    node.legal[: world.layout.n_groups - 1] = False  # decisions only: their Q is exact
    node.prior = np.where(node.legal, 1.0 / node.legal.sum(), 0.0)
    node.stop = np.array([-4.0, -6.0, -5.0])  # allow, block, escalate
    n = 300
    for _ in range(n):
        node.visits[s.select_action(node)] += 1
    q = s.q_vector(node)
    target = np.exp(s.improved_logits(node, q) - np.nanmax(s.improved_logits(node, q)))
    target = np.where(node.legal, np.nan_to_num(target), 0.0)
    target /= target.sum()
    shares = node.visits / n
    assert np.abs(shares - target).max() < 3 / n + 0.02
    assert shares[np.flatnonzero(node.legal)].min() > 0  # every decision is tried
    assert int(np.argmax(node.visits)) == int(np.argmax(target))
    with pytest.raises(ValueError, match="interior_rule"):
        search(root, world.untrained_net().evaluate, interior_rule="ucb")


def test_validation_skips_the_cases_own_user_as_agent_eval_does() -> None:
    # validate training cases, so that each case's own row is its nearest completion unless skipped
    world = toy_world()
    env, owners = world.train_env, world.train_owners
    sample = stratified_cases(env.labels, 60, seed=0)
    net = world.untrained_net()

    def played(case_owners: np.ndarray | None) -> float:
        policy = MCTSPolicy(world.model, net, world.costs, **SEARCH)
        episodes = play(policy, env, sample.rows, owners=case_owners)
        return summarise("mcts", episodes, sample.weights).mean_total_cost

    cost, _, _ = validate(world.model, net, world.costs, env, sample, owners=owners, search=SEARCH)
    assert cost == pytest.approx(played(owners[sample.rows]), abs=1e-12)
    assert cost != pytest.approx(played(None), abs=1e-6)  # its own row would change decisions


def test_recentered_particles_expect_to_believe_after_a_reveal_what_they_believe_now() -> None:
    weights = np.asarray([0.4, 0.3, 0.2, 0.1])
    after = np.asarray([0.001, 0.01, 0.5, 0.9])  # beliefs under mask 3; weighted mean 0.1934

    def belief_fn(ids: np.ndarray, masks: np.ndarray) -> np.ndarray:
        return after[ids]

    z = np.zeros((4, 2))
    plain = Particles(z, weights, belief_fn, root_mask=1, root_belief=0.3)
    centred = Particles(z, weights, belief_fn, root_mask=1, root_belief=0.3, recenter=True)
    for parts in (plain, centred):
        parts.ensure({3: np.asarray([0, 2])})
    every = np.arange(4)
    assert np.isnan(plain.belief(every, 3)[[1, 3]]).all()  # plain scores only what was asked for
    np.testing.assert_allclose(plain.belief(np.asarray([0, 2]), 3), after[[0, 2]])
    shifted = centred.belief(every, 3)
    assert weights @ shifted == pytest.approx(0.3, abs=1e-9)
    assert np.all(np.diff(shifted) > 0)  # one shift of the logits keeps the order
    np.testing.assert_allclose(centred.belief(every, 1), 0.3)  # the root mask is left alone
