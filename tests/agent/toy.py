"""Toy investigation worlds: a few groups with known information content, small enough for seconds.

Groups: ``event`` (free, noise), ``oracle`` (its column *is* the label), ``hint`` (label plus
gaussian noise: informative, not exact), ``noise`` (pure noise). Every group has one column, and
costs are per test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.belief import MaskedBelief
from agent.env import InvestigationEnv, n_actions
from agent.groups import GroupLayout
from agent.index import Standardizer
from agent.network import NetConfig, make_network
from agent.planner import CaseModel
from scamguard.costs import CostModel

TOY_GROUPS = ("event", "oracle", "hint", "noise")
TOY_COSTS = CostModel(missed_scam=100.0, wrongful_block=50.0, review=20.0)


def toy_layout(costs: dict[str, float] | None = None) -> GroupLayout:
    c = {"event": 0.0, "oracle": 1.0, "hint": 1.0, "noise": 1.0, **(costs or {})}
    return GroupLayout(
        columns=("event_x", "oracle_x", "hint_x", "noise_x"),
        group_of=np.arange(4),
        costs=np.asarray([c[g] for g in TOY_GROUPS], dtype=np.float64),
        groups=TOY_GROUPS,
    )


def toy_values(
    n: int, rng: np.random.Generator, *, base_rate: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """(values [n, 4], labels [n])."""
    y = (rng.random(n) < base_rate).astype(np.int8)
    values = np.stack(
        [
            rng.normal(size=n),
            y.astype(np.float64),
            y + rng.normal(scale=0.6, size=n),
            rng.normal(size=n),
        ],
        axis=1,
    )
    return values, y


@dataclass
class ToyWorld:
    layout: GroupLayout
    model: CaseModel
    belief: MaskedBelief
    train_env: InvestigationEnv
    valid_env: InvestigationEnv
    test_env: InvestigationEnv
    train_owners: np.ndarray
    costs: CostModel = TOY_COSTS

    def net_config(self) -> NetConfig:
        return NetConfig(
            n_features=self.layout.n_features,
            n_groups=self.layout.n_groups,
            n_actions=n_actions(self.layout),
            hidden=32,
            value_scale=50.0,
        )

    def untrained_net(self, seed: int = 0):  # type: ignore[no-untyped-def]
        return make_network(self.net_config(), seed=seed)


def toy_world(
    *, costs: dict[str, float] | None = None, n_train: int = 800, n_test: int = 200, seed: int = 0
) -> ToyWorld:
    """A fitted toy world: masked belief on ``n_train`` cases, calibrated on 400 more."""
    rng = np.random.default_rng(seed)
    layout = toy_layout(costs)
    x_train, y_train = toy_values(n_train, rng)
    x_cal, y_cal = toy_values(400, rng)
    x_valid, y_valid = toy_values(n_test, rng)
    x_test, y_test = toy_values(n_test, rng)
    belief = MaskedBelief(
        n_estimators=40, num_leaves=7, min_child_samples=10, copies=4, seed=seed, threads=1
    ).fit(x_train, y_train, layout, calib_values=x_cal, calib_labels=y_cal)
    owners = np.arange(n_train)
    std = Standardizer().fit(x_train, layout.group_of)
    model = CaseModel(layout, belief, std, x_train, y_train, owners, k_scam=8, k_benign=12)
    return ToyWorld(
        layout=layout,
        model=model,
        belief=belief,
        train_env=InvestigationEnv(layout, x_train, y_train, costs=TOY_COSTS),
        valid_env=InvestigationEnv(layout, x_valid, y_valid, costs=TOY_COSTS),
        test_env=InvestigationEnv(layout, x_test, y_test, costs=TOY_COSTS),
        train_owners=owners,
    )
