"""Cross-fitted self-play models: each fold's belief and completions never saw the fold's users."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from agent.belief import MaskedBelief
from agent.crossfit import fold_case_models, user_folds
from agent.evaluate import CaseSample
from agent.expert import ExpertIterationConfig, self_play
from agent.index import Standardizer
from tests.agent.toy import toy_layout, toy_world

# deep trees on few rows: the belief memorises its training labels
MEMORISING: dict[str, Any] = {  # MaskedBelief keyword arguments
    "n_estimators": 150,
    "num_leaves": 31,
    "min_child_samples": 2,
    "copies": 1,
    "reveal_prob": 1.0,
    "seed": 0,
    "threads": 1,
}


def test_user_folds_keep_a_users_rows_together_and_are_seeded() -> None:
    owners = np.repeat(np.arange(200), 3)
    folds = user_folds(owners, 4, seed=1)
    assert set(folds) == {0, 1, 2, 3}
    assert all(len(set(folds[owners == u])) == 1 for u in range(200))
    np.testing.assert_array_equal(folds, user_folds(owners, 4, seed=1))
    with pytest.raises(ValueError, match="at least 2 folds"):
        user_folds(owners, 1)


def test_fold_beliefs_are_out_of_sample_where_the_full_belief_is_not() -> None:
    rng = np.random.default_rng(0)
    layout = toy_layout()
    n = 600
    values = rng.normal(size=(n, 4))
    labels = (rng.random(n) < 0.3).astype(np.int8)  # independent of the values: nothing to learn
    owners = np.arange(n) // 2
    folds = user_folds(owners, 3, seed=0)
    full = np.full(n, layout.full_mask)
    in_sample = MaskedBelief(**MEMORISING).fit(values, labels, layout).predict(values, full)
    models = fold_case_models(
        layout,
        Standardizer().fit(values, layout.group_of),
        values,
        labels,
        owners,
        folds,
        belief_params=MEMORISING,
        completion={"k_scam": 4, "k_benign": 4},
    )
    out_of_fold = np.empty(n)
    for f, model in enumerate(models):
        rows = folds == f
        out_of_fold[rows] = model.belief.predict(values[rows], full[rows])
        assert not set(model.owners) & set(owners[rows])  # completions from other folds only
    assert roc_auc_score(labels, in_sample) > 0.9  # memorised
    assert abs(roc_auc_score(labels, out_of_fold) - 0.5) < 0.1  # what a new case would see


def test_self_play_searches_each_case_with_its_folds_model() -> None:
    world = toy_world()
    owners = np.arange(world.train_env.labels.size)
    folds = user_folds(owners, 2, seed=0)
    models = fold_case_models(
        world.layout,
        world.model.standardizer,
        world.train_env.values,
        world.train_env.labels,
        owners,
        folds,
        belief_params=world.belief.get_params(),
        completion={"k_scam": 8, "k_benign": 12},
    )
    rows = np.arange(12)
    sample = CaseSample(rows, np.ones(rows.size), 0, 0, rows.size)
    play = partial(
        self_play,
        world.model,
        world.untrained_net(),
        world.costs,
        world.train_env,
        owners,
        sample,
        fold_models=models,
        config=ExpertIterationConfig(),
        search={"num_simulations": 8, "batch_size": 4},
        seed=0,
    )
    samples, episodes = play(folds=folds)
    # the first step's belief is the case's own fold model's, not the full belief's
    mask = np.asarray([world.layout.event_mask])
    differs = 0
    for row, episode in zip(rows, episodes, strict=True):
        view = world.train_env.values[row][None, :]
        expected = models[folds[row]].belief.predict(view, mask)[0]
        assert episode.steps[0].belief_before == pytest.approx(expected)
        differs += abs(expected - world.belief.predict(view, mask)[0]) > 1e-6
    assert differs > 0
    assert samples.size == sum(len(e.steps) for e in episodes)
    with pytest.raises(ValueError, match="folds"):
        play()


def test_an_empty_fold_or_a_single_fold_is_refused() -> None:
    from agent.train import AgentTrainConfig

    world = toy_world()
    n = world.train_env.labels.size
    folds = np.where(np.arange(n) % 2 == 0, 0, 2)  # fold 1 holds nobody
    with pytest.raises(ValueError, match="fold 1 of 3 holds no case"):
        fold_case_models(
            world.layout,
            world.model.standardizer,
            world.train_env.values,
            world.train_env.labels,
            np.arange(n),
            folds,
            belief_params=world.belief.get_params(),
            completion={"k_scam": 4, "k_benign": 4},
        )
    with pytest.raises(ValueError, match="selfplay_folds"):
        AgentTrainConfig(selfplay_folds=1)
