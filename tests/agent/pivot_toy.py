"""A toy graph world for the pivot tests: toy cases (``tests/agent/toy.py``) with one shared device.

A scam case's linked accounts are scams with probability 0.8, a benign case's with 0.05; an
account's values are toy values of its own label, so its review bin says what it is. The case's
own free ``event`` column is noise: only the pivots (or the paid oracle group) tell a scam apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.belief import MaskedBelief
from agent.pivots.belief import GraphModel, fit_graph_model
from agent.pivots.env import PivotEnv
from agent.pivots.graph import UNKNOWN, CaseGraph, Identifier, LinkedAccount
from agent.pivots.planners import PivotModel
from scamguard.costs import CostModel, PivotCosts
from tests.agent.toy import toy_layout, toy_values

PIVOT_COSTS = CostModel(
    missed_scam=100.0, wrongful_block=20.0, review=10.0, pivots=PivotCosts(expand=0.5, review=1.0)
)


def toy_graphs(
    labels: np.ndarray, rng: np.random.Generator, *, accounts: int = 2
) -> list[CaseGraph]:
    out = []
    for y in labels:
        member = (rng.random(accounts) < (0.8 if y else 0.05)).astype(np.int8)
        values, _ = toy_values(accounts, rng)
        values[:, 1] = member  # the oracle column is the account's own label
        values[:, 2] = member + rng.normal(scale=0.6, size=accounts)
        linked = tuple(
            LinkedAccount(f"a{i}", values[i], known=UNKNOWN, label=int(member[i]), shared=1)
            for i in range(accounts)
        )
        out.append(CaseGraph((Identifier("device", linked),)))
    return out


@dataclass
class PivotToy:
    belief: MaskedBelief
    model: GraphModel
    env: PivotEnv
    pm: PivotModel


def pivot_toy(n_test: int = 60, seed: int = 0) -> PivotToy:
    rng = np.random.default_rng(seed)
    layout = toy_layout()
    x_train, y_train = toy_values(800, rng)
    x_cal, y_cal = toy_values(400, rng)
    belief = MaskedBelief(
        n_estimators=40, num_leaves=7, min_child_samples=10, copies=4, seed=seed, threads=1
    ).fit(x_train, y_train, layout, calib_values=x_cal, calib_labels=y_cal)
    g_train = toy_graphs(y_train, rng)
    x_valid, y_valid = toy_values(400, rng)
    g_valid = toy_graphs(y_valid, rng)
    p0 = belief.predict(x_valid, np.full(y_valid.size, layout.event_mask))
    model = fit_graph_model(belief, (g_train, y_train), (g_valid, y_valid, p0), seed=seed)
    x_test, y_test = toy_values(n_test, rng)
    env = PivotEnv(layout, x_test, y_test, toy_graphs(y_test, rng), costs=PIVOT_COSTS)
    return PivotToy(belief, model, env, PivotModel(model, PIVOT_COSTS))
