"""The investigation as a decision process: reveal evidence groups, then allow / block / escalate.

Actions (``A = G - 1 + 3``; ``G`` groups including the free ``event`` group, which is never an
action because it is always revealed):

* ``0 .. G-2``: reveal group ``a + 1`` (``profile``, ``velocity``, ...): reward ``-cost[group]``;
* ``G-1`` allow, ``G`` block, ``G+1`` escalate: end the episode with reward ``-loss(decision, y)``.

Decision losses come from the one cost model, :class:`scamguard.costs.CostModel`: an allowed
scam costs ``missed_scam``, a blocked benign user ``wrongful_block``, an escalation ``review`` (a
human looks, and is always right); the right allow / block costs nothing. Evidence costs are in
the same unit (``CostModel.evidence``, carried by the layout). A group is never revealed twice (:meth:`InvestigationEnv.step`
refuses it), so an episode has at most ``G - 1`` reveals and one decision.

The state is the mask of revealed groups (an int, bit ``g`` for group ``g``) and the case's
values on those groups (NaN elsewhere): :meth:`InvestigationEnv.observe`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from agent.groups import GroupLayout
from scamguard.costs import CostModel

ALLOW, BLOCK, ESCALATE = "allow", "block", "escalate"
DECISIONS: tuple[str, ...] = (ALLOW, BLOCK, ESCALATE)


def decision_losses(costs: CostModel, p: np.ndarray) -> np.ndarray:
    """Expected loss [B, 3] of (allow, block, escalate) at scam probabilities ``p`` [B]."""
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    return np.stack(
        [p * costs.missed_scam, (1.0 - p) * costs.wrongful_block, np.full_like(p, costs.review)],
        axis=1,
    )


def realised_losses(costs: CostModel, decision: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Realised loss [B] of decision indices ``decision`` [B] (0 allow, 1 block, 2 escalate)."""
    d = np.asarray(decision).reshape(-1)
    y = np.asarray(y).reshape(-1).astype(bool)
    return np.where(
        d == 0,
        np.where(y, costs.missed_scam, 0.0),
        np.where(d == 1, np.where(y, 0.0, costs.wrongful_block), costs.review),
    )


def best_decision(costs: CostModel, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(decision index [B], its expected loss [B]) minimising the expected loss at ``p`` [B]."""
    losses = decision_losses(costs, p)
    d = losses.argmin(axis=1)
    return d, losses[np.arange(losses.shape[0]), d]


def n_actions(layout: GroupLayout) -> int:
    """``A``: one reveal per non-event group plus the three decisions."""
    return layout.n_groups - 1 + len(DECISIONS)


def action_name(layout: GroupLayout, action: int) -> str:
    """``reveal <group>`` for a reveal action, else the decision."""
    r = layout.n_groups - 1
    return f"reveal {layout.groups[action + 1]}" if action < r else DECISIONS[action - r]


def reveal_action(layout: GroupLayout, group: str | int) -> int:
    """The action that reveals ``group`` (a name or an index >= 1)."""
    g = layout.groups.index(group) if isinstance(group, str) else int(group)
    if g <= 0:
        raise ValueError("the event group is always revealed; it is not an action")
    return g - 1


def legal_actions(layout: GroupLayout, masks: np.ndarray) -> np.ndarray:
    """Legal actions bool [B, A] at integer masks [B]: unrevealed groups, and every decision."""
    bits = layout.mask_bits(masks)  # [B, G]
    return np.concatenate([~bits[:, 1:], np.ones((bits.shape[0], len(DECISIONS)), bool)], axis=1)


@dataclass(frozen=True)
class EnvState:
    """One investigation in progress: the case row, the revealed mask and what it has cost so far."""

    case: int
    mask: int
    evidence_cost: float = 0.0
    decision: int | None = None  # 0 allow, 1 block, 2 escalate, once decided
    decision_loss: float = 0.0

    @property
    def done(self) -> bool:
        return self.decision is not None

    @property
    def total_cost(self) -> float:
        return self.evidence_cost + self.decision_loss


class InvestigationEnv:
    """Cases with known values and labels; revealing a group returns the case's true values.

    ``values`` [N, D] (columns in ``layout.columns`` order, NaN = no data), ``labels`` [N] 0/1.
    """

    def __init__(
        self,
        layout: GroupLayout,
        values: np.ndarray,
        labels: np.ndarray,
        *,
        costs: CostModel | None = None,
    ) -> None:
        self.layout = layout
        self.values = np.asarray(values, dtype=np.float64)
        self.labels = np.asarray(labels).astype(np.int8)
        self.costs = CostModel() if costs is None else costs
        if self.values.shape != (self.labels.shape[0], layout.n_features):
            raise ValueError(
                f"values {self.values.shape} do not match {self.labels.shape[0]} cases x "
                f"{layout.n_features} layout columns"
            )
        self.n_actions = n_actions(layout)

    def reset(self, case: int) -> EnvState:
        """A new investigation of ``case``: only the event group is known."""
        return EnvState(case=int(case), mask=self.layout.event_mask)

    def observe(self, state: EnvState) -> np.ndarray:
        """The revealed values [D] of the state's case (NaN on unrevealed columns)."""
        cols = self.layout.column_mask(np.asarray([state.mask]))[0]
        return np.where(cols, self.values[state.case], np.nan)

    def legal(self, state: EnvState) -> np.ndarray:
        """Legal actions bool [A] (none once decided)."""
        if state.done:
            return np.zeros(self.n_actions, bool)
        return legal_actions(self.layout, np.asarray([state.mask]))[0]

    def step(self, state: EnvState, action: int) -> tuple[EnvState, float]:
        """(next state, reward). Reward is minus the evidence cost or minus the decision loss.

        Raises ValueError on a decided state or a group already revealed.
        """
        if state.done:
            raise ValueError("the investigation is already decided")
        r = self.layout.n_groups - 1
        if action < r:
            group = action + 1
            if state.mask >> group & 1:
                raise ValueError(f"group {self.layout.groups[group]} is already revealed")
            cost = float(self.layout.costs[group])
            return (
                replace(
                    state, mask=state.mask | (1 << group), evidence_cost=state.evidence_cost + cost
                ),
                -cost,
            )
        decision = action - r
        if not 0 <= decision < len(DECISIONS):
            raise ValueError(f"no action {action}")
        loss = float(
            realised_losses(self.costs, np.asarray([decision]), self.labels[[state.case]])[0]
        )
        return replace(state, decision=decision, decision_loss=loss), -loss
