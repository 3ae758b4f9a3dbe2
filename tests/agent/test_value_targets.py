"""Expert iteration's value targets: the search's value of its own answer, and the mixed target."""

from __future__ import annotations

import numpy as np
import pytest

from agent.episode import Episode, Step
from agent.expert import _policy_value, _value_targets
from agent.mcts import SearchOutput
from scamguard.costs import CostModel


def _output(q: list[float], improved: list[float]) -> SearchOutput:
    legal = np.ones(len(q), dtype=bool)
    return SearchOutput(
        action=int(np.argmax(improved)),
        visit_counts=np.ones(len(q), dtype=np.int64),
        q_values=np.asarray(q),
        prior=np.full(len(q), 1 / len(q)),
        legal=legal,
        root_value=-99.0,
        belief=0.1,
        network_input=np.zeros(3),
        improved_policy=np.asarray(improved),
    )


def test_policy_value_averages_q_over_the_policy_skipping_unexpanded_actions() -> None:
    # reveal 0 never expanded (NaN): its policy mass is dropped and the rest renormalised
    out = _output([np.nan, -2.0, -10.0], [0.5, 0.25, 0.25])
    assert _policy_value(out) == pytest.approx(-6.0)
    # nothing with a Q under the policy: the root value
    assert _policy_value(_output([np.nan, -2.0], [1.0, 0.0])) == pytest.approx(-99.0)


def test_mixed_target_is_the_mean_of_the_search_value_and_the_expected_outcome() -> None:
    costs = CostModel(missed_scam=500.0, wrongful_block=100.0, review=10.0)
    step = Step(0, "reveal profile", 0.1, 0.02, {}, {}, 0.0)
    decision = Step(7, "allow", 0.02, 0.02, {}, {}, 0.0)
    episode = Episode(0, [step, decision], "allow", 1.0, 0.0, 0, 0.0)
    searches = [_output([-3.0, -20.0], [1.0, 0.0]), _output([-4.0, -20.0], [1.0, 0.0])]
    step_costs = np.asarray([1.0, 0.0])
    expected = _value_targets(episode, step_costs, costs, "expected", searches)
    # from step 0: the profile's cost 1 plus allowing at belief 0.02 (expected loss 10)
    np.testing.assert_allclose(expected, [-11.0, -10.0])
    np.testing.assert_allclose(
        _value_targets(episode, step_costs, costs, "search", searches), [-3.0, -4.0]
    )
    np.testing.assert_allclose(
        _value_targets(episode, step_costs, costs, "mixed", searches), [-7.0, -7.0]
    )
