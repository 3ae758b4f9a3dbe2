"""The pivoting environment, its belief and planners on a toy graph world (tests/agent/pivot_toy.py)."""

from __future__ import annotations

import numpy as np
import pytest

from agent.env import InvestigationEnv
from agent.pivots.belief import SCAM_BIN, graph_bins
from agent.pivots.env import DECIDE, EXPAND, REVEAL, REVIEW, Action, PivotEnv
from agent.pivots.evaluate import play_case
from agent.pivots.planners import (
    EXPAND_STEP,
    STOP,
    Expectimax,
    Node,
    PivotModel,
    gather_everything,
    greedy,
    greedy_macro,
    hindsight_cost,
)
from scamguard.costs import CostModel
from tests.agent.pivot_toy import PIVOT_COSTS, PivotToy, pivot_toy


@pytest.fixture(scope="module")
def toy() -> PivotToy:
    return pivot_toy()


def _scam_case(toy: PivotToy) -> int:
    return next(
        c
        for c in range(toy.env.labels.size)
        if toy.env.labels[c] == 1 and all(a.label for a in toy.env.graphs[c].accounts)
    )


def test_expansion_lists_the_identifiers_accounts_and_charges_its_cost(toy: PivotToy) -> None:
    env = toy.env
    state = env.reset(0)
    assert not [a for a in env.legal(state) if a.kind == REVIEW]  # nothing listed yet
    state, reward = env.step(state, Action(EXPAND, ident=0))
    assert reward == -PIVOT_COSTS.pivots.expand
    assert state.evidence_cost == PIVOT_COSTS.pivots.expand
    reviews = {(a.ident, a.account) for a in env.legal(state) if a.kind == REVIEW}
    assert reviews == {(0, j) for j in range(len(env.graphs[0].identifiers[0].accounts))}
    state, reward = env.step(state, Action(REVIEW, ident=0, account=1))
    assert reward == -PIVOT_COSTS.pivots.review
    with pytest.raises(ValueError, match="cannot expand"):
        env.step(state, Action(EXPAND, ident=0))
    with pytest.raises(ValueError, match="cannot review"):
        env.step(state, Action(REVIEW, ident=0, account=1))


def test_reviewing_a_linked_scam_raises_the_case_belief(toy: PivotToy) -> None:
    case = _scam_case(toy)
    p0 = float(toy.belief.predict(toy.env.values[[case]], np.asarray([1]))[0])
    root = Node.root(p0, toy.env.graphs[case]).with_expanded(0)
    bins = graph_bins(toy.belief, toy.env.graphs[case])[0]
    after = root.with_bin(0, int(bins[0]))
    assert toy.pm.belief(after) > toy.pm.belief(root) + 0.05
    low = root.with_bin(0, 1)  # the lowest bin: a clean-looking account
    assert toy.pm.belief(low) < toy.pm.belief(root)
    assert toy.pm.belief(root.with_bin(0, SCAM_BIN)) > toy.pm.belief(root)


def test_blocking_the_ring_counts_each_member_caught(toy: PivotToy) -> None:
    env = toy.env
    case = _scam_case(toy)
    n = len(env.graphs[case].identifiers[0].accounts)
    state = env.step(env.reset(case), Action(EXPAND, ident=0))[0]
    for j in range(n):
        state = env.step(state, Action(REVIEW, ident=0, account=j))[0]
    members = frozenset((0, j) for j in range(n))
    done, _ = env.step(state, Action(DECIDE, decision=1, members=members))
    assert (done.members_caught, done.members_at_risk, done.member_loss) == (n, n, 0.0)
    assert done.total_cost == pytest.approx(
        PIVOT_COSTS.pivots.expand + n * PIVOT_COSTS.pivots.review
    )
    missed, _ = env.step(state, Action(DECIDE, decision=1))
    assert missed.members_caught == 0
    assert missed.member_loss == n * PIVOT_COSTS.missed_scam
    with pytest.raises(ValueError, match="only reviewed"):
        env.step(env.reset(case), Action(DECIDE, decision=1, members=members))


def test_pivots_disabled_is_the_old_environment(toy: PivotToy) -> None:
    old = InvestigationEnv(toy.env.layout, toy.env.values, toy.env.labels, costs=PIVOT_COSTS)
    new = PivotEnv(toy.env.layout, toy.env.values, toy.env.labels, costs=PIVOT_COSTS)
    rng = np.random.default_rng(1)
    for case in range(toy.env.labels.size):
        groups = rng.permutation(np.arange(1, toy.env.layout.n_groups))[: rng.integers(0, 4)]
        decision = int(rng.integers(0, 3))
        s_old, s_new = old.reset(case), new.reset(case)
        assert [a.kind for a in new.legal(s_new)].count(EXPAND) == 0
        for g in groups:
            s_old = old.step(s_old, int(g) - 1)[0]
            s_new = new.step(s_new, Action(REVEAL, group=int(g)))[0]
        s_old = old.step(s_old, toy.env.layout.n_groups - 1 + decision)[0]
        s_new = new.step(s_new, Action(DECIDE, decision=decision))[0]
        assert s_new.total_cost == s_old.total_cost
        assert s_new.members_at_risk == 0


def _policy_value(pm: PivotModel, node: Node, policy) -> float:  # type: ignore[no-untyped-def]
    """The policy's expected total cost from ``node`` in the model (exact policy evaluation)."""
    kind, i = policy(pm, node)
    if kind == STOP:
        return pm.stop_cost(node)[0]
    if kind == EXPAND_STEP:
        return pm.step_cost(kind) + _policy_value(pm, node.with_expanded(i), policy)
    return pm.step_cost(kind) + sum(
        p * _policy_value(pm, child, policy) for p, child in pm.outcomes(node, i)
    )


def test_expectimax_at_most_greedy_at_most_gather_everything(toy: PivotToy) -> None:
    """Case by case, expectimax <= every other policy (expected cost in the model), and no
    policy's cost where it decided (evidence + stop cost at the true outcomes) beats hindsight.
    On average greedy-macro <= gather-everything; plain greedy, which never expands, is *above*
    gather-everything in this world: the linked scams it never looks for are its blind spot."""
    values: dict[str, list[float]] = {
        "expectimax": [],
        "greedy": [],
        "macro": [],
        "gather": [],
        "hindsight": [],
    }
    for case in range(toy.env.labels.size):
        p0 = float(toy.belief.predict(toy.env.values[[case]], np.asarray([1]))[0])
        root = Node.root(p0, toy.env.graphs[case])
        ex = Expectimax(toy.pm)
        values["expectimax"].append(ex.value(root))
        assert _policy_value(toy.pm, root, ex) == pytest.approx(ex.value(root))
        values["greedy"].append(_policy_value(toy.pm, root, greedy))
        values["macro"].append(_policy_value(toy.pm, root, greedy_macro))
        values["gather"].append(_policy_value(toy.pm, root, gather_everything))
        bins = graph_bins(toy.belief, toy.env.graphs[case])
        values["hindsight"].append(hindsight_cost(toy.pm, root, bins))
        for policy in (ex, greedy, gather_everything):
            episode = play_case(policy, toy.env, case, toy.pm, toy.belief)
            assert episode.hindsight == pytest.approx(values["hindsight"][-1])
            assert episode.hindsight <= episode.expected_cost + 1e-9
        best = values["expectimax"][-1]
        for other in ("greedy", "macro", "gather"):
            assert best <= values[other][-1] + 1e-9
    mean = {k: float(np.mean(v)) for k, v in values.items()}
    assert mean["expectimax"] <= mean["macro"] <= mean["gather"] < mean["greedy"]
    assert mean["hindsight"] <= mean["expectimax"]


def test_greedy_never_expands_and_search_catches_the_ring(toy: PivotToy) -> None:
    case = _scam_case(toy)
    greedy_ep = play_case(greedy, toy.env, case, toy.pm, toy.belief)
    assert greedy_ep.expands == 0 and greedy_ep.members_caught == 0
    exact = play_case(Expectimax(toy.pm), toy.env, case, toy.pm, toy.belief)
    assert exact.expands == 1 and exact.members_caught >= 1
    assert exact.total_cost < greedy_ep.total_cost


def test_pivot_costs_live_in_the_cost_model() -> None:
    costs = CostModel()
    assert costs.pivots.expand > 0 and costs.pivots.review > 0
    assert "cost_pivots" not in costs.as_params(evidence=True)
    with pytest.raises(ValueError, match="pivots.review"):
        CostModel.model_validate({"pivots": {"review": -1.0}})
