"""Policies act on one investigation at a time; :func:`run_episode` plays one case to a decision.

A policy sees only what is revealed (:class:`CaseView`) and returns a :class:`Choice`. The runner
applies it to the environment, where revealing a group returns the case's true values, and
records the :class:`Step` trail. Decision latency is the policy's own thinking time summed over
the steps of a case (the evidence lookups themselves are array reads in this simulation).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from agent.env import DECISIONS, EnvState, InvestigationEnv, action_name, best_decision


@dataclass(frozen=True)
class CaseView:
    """What a policy may look at: the revealed values [D] (NaN elsewhere) and the mask.

    ``owner`` is the case's user code when the case is a training case (so completions skip that
    user's rows), else None.
    """

    values: np.ndarray
    mask: int
    owner: int | None = None


@dataclass(frozen=True)
class Choice:
    """A policy's next action, the belief it acted on, and why (policy-specific, JSON-able)."""

    action: int
    belief: float
    why: dict = field(default_factory=dict)


class Policy(Protocol):
    name: str

    def act(self, view: CaseView) -> Choice: ...


@dataclass
class Step:
    """One step of a trail: the action, why, the posterior after it and what it revealed."""

    action: int
    name: str
    belief_before: float
    belief_after: float | None
    why: dict
    revealed: dict[str, float | None]
    seconds: float


@dataclass
class Episode:
    case: int
    steps: list[Step]
    decision: str
    evidence_cost: float
    decision_loss: float
    label: int
    seconds: float  # decision latency: the policy's thinking time over all steps

    @property
    def total_cost(self) -> float:
        return self.evidence_cost + self.decision_loss

    @property
    def groups_revealed(self) -> list[str]:
        return [s.name.removeprefix("reveal ") for s in self.steps if s.name.startswith("reveal ")]


def _json_value(v: float) -> float | None:
    return None if np.isnan(v) else float(v)


def run_episode(
    policy: Policy,
    env: InvestigationEnv,
    case: int,
    *,
    owner: int | None = None,
    max_steps: int | None = None,
) -> Episode:
    """Play ``case`` with ``policy`` until it decides (or ``max_steps``, then the best decision
    at the last belief is forced). Raises ValueError if the policy picks an illegal action."""
    state: EnvState = env.reset(case)
    steps: list[Step] = []
    limit = max_steps if max_steps is not None else env.layout.n_groups + 1
    thinking = 0.0
    while not state.done:
        view = CaseView(values=env.observe(state), mask=state.mask, owner=owner)
        started = time.perf_counter()
        choice = policy.act(view)
        seconds = time.perf_counter() - started
        thinking += seconds
        action = choice.action
        if len(steps) >= limit and action < env.layout.n_groups - 1:
            best, _ = best_decision(env.costs, np.asarray([choice.belief]))
            action = env.layout.n_groups - 1 + int(best[0])
        if not env.legal(state)[action]:
            raise ValueError(f"{policy.name} chose an illegal action {action} at mask {state.mask}")
        if steps:
            steps[-1].belief_after = choice.belief
        before = state.mask
        state, _ = env.step(state, action)
        revealed_cols = env.layout.column_mask(np.asarray([state.mask & ~before]))[0]
        steps.append(
            Step(
                action=action,
                name=action_name(env.layout, action),
                belief_before=choice.belief,
                belief_after=None,
                why=choice.why,
                revealed={
                    c: _json_value(env.values[case, i])
                    for i, c in enumerate(env.layout.columns)
                    if revealed_cols[i]
                },
                seconds=seconds,
            )
        )
    assert state.decision is not None
    steps[-1].belief_after = steps[-1].belief_before  # a decision reveals nothing
    return Episode(
        case=case,
        steps=steps,
        decision=DECISIONS[state.decision],
        evidence_cost=state.evidence_cost,
        decision_loss=state.decision_loss,
        label=int(env.labels[case]),
        seconds=thinking,
    )
