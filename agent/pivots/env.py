"""The pivoting investigation as a decision process: the case's evidence groups, plus pivots.

Actions (:class:`Action`):

* ``reveal g``: the case's own evidence group ``g`` (as in ``agent.env``), cost ``layout.costs[g]``;
* ``expand i``: list the accounts linked through the case's identifier ``i`` (cost
  ``costs.pivots.expand``); the listing itself says nothing about anyone;
* ``review i j``: look at account ``j`` of an expanded identifier ``i`` (cost
  ``costs.pivots.review``): its values as of the case's time, and its label if decided before;
* ``decide d members``: allow / block / escalate the case, and block the reviewed linked accounts
  in ``members`` with it ("block the ring together"). Ends the episode.

Costs, in the one cost model's unit: evidence and pivots as above; the case's decision loss as in
``agent.env``; and per linked account in the bounded graph (``agent.pivots.graph``) that is not
already known to be a scam: ``member_weight * missed_scam`` if it is a scam and not blocked,
``member_weight * wrongful_block`` if it is benign and blocked. The issue's "each scam account
caught earns its missed-scam loss" is the same accounting shifted by a constant per case (the
scams in the case's bounded graph), so every difference between policies is the same; this one
keeps costs >= 0. With pivots disabled (every graph empty) it is exactly ``agent.env``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from agent.env import DECISIONS, InvestigationEnv, realised_losses
from agent.groups import GroupLayout
from agent.pivots.graph import EMPTY, KNOWN_SCAM, CaseGraph
from scamguard.costs import CostModel

REVEAL, EXPAND, REVIEW, DECIDE = "reveal", "expand", "review", "decide"


@dataclass(frozen=True)
class Action:
    kind: str  # REVEAL, EXPAND, REVIEW or DECIDE
    group: int = 0  # REVEAL: group index (>= 1)
    ident: int = 0  # EXPAND / REVIEW: identifier index in the case graph
    account: int = 0  # REVIEW: account index under the identifier
    decision: int = 0  # DECIDE: 0 allow, 1 block, 2 escalate
    members: frozenset[tuple[int, int]] = frozenset()  # DECIDE: reviewed (ident, account) to block

    def name(self, layout: GroupLayout) -> str:
        if self.kind == REVEAL:
            return f"reveal {layout.groups[self.group]}"
        if self.kind == EXPAND:
            return f"expand identifier {self.ident}"
        if self.kind == REVIEW:
            return f"review account {self.ident}.{self.account}"
        ring = f" + block {len(self.members)} linked" if self.members else ""
        return DECISIONS[self.decision] + ring


@dataclass(frozen=True)
class PivotState:
    case: int
    mask: int
    expanded: frozenset[int] = frozenset()
    reviewed: frozenset[tuple[int, int]] = frozenset()
    evidence_cost: float = 0.0
    decision: int | None = None
    decision_loss: float = 0.0  # the case's
    member_loss: float = 0.0  # the linked accounts' (missed scams, wrongful blocks)
    members_caught: int = 0  # linked scam accounts blocked (not known before)
    members_at_risk: int = 0  # linked scam accounts in the bounded graph (not known before)
    members_wrongly_blocked: int = 0

    @property
    def done(self) -> bool:
        return self.decision is not None

    @property
    def total_cost(self) -> float:
        return self.evidence_cost + self.decision_loss + self.member_loss


class PivotEnv:
    """Cases with known values, labels and bounded pivot graphs (``graphs`` [N]; None: no pivots)."""

    def __init__(
        self,
        layout: GroupLayout,
        values: np.ndarray,
        labels: np.ndarray,
        graphs: Sequence[CaseGraph] | None = None,
        *,
        costs: CostModel | None = None,
    ) -> None:
        self.base = InvestigationEnv(layout, values, labels, costs=costs)
        self.layout, self.costs = layout, self.base.costs
        self.values, self.labels = self.base.values, self.base.labels
        n = self.labels.shape[0]
        self.graphs: list[CaseGraph] = [EMPTY] * n if graphs is None else list(graphs)
        if len(self.graphs) != n:
            raise ValueError(f"{len(self.graphs)} graphs for {n} cases")

    def reset(self, case: int) -> PivotState:
        return PivotState(case=int(case), mask=self.layout.event_mask)

    def graph(self, state: PivotState) -> CaseGraph:
        return self.graphs[state.case]

    def legal(self, state: PivotState) -> list[Action]:
        """Every legal action but decisions' member subsets (any reviewed subset is legal)."""
        if state.done:
            return []
        out = [
            Action(REVEAL, group=g)
            for g in range(1, self.layout.n_groups)
            if not state.mask >> g & 1
        ]
        graph = self.graph(state)
        for i, ident in enumerate(graph.identifiers):
            if i not in state.expanded:
                out.append(Action(EXPAND, ident=i))
                continue
            out += [
                Action(REVIEW, ident=i, account=j)
                for j in range(len(ident.accounts))
                if (i, j) not in state.reviewed
            ]
        return out + [Action(DECIDE, decision=d) for d in range(len(DECISIONS))]

    def step(self, state: PivotState, action: Action) -> tuple[PivotState, float]:
        """(next state, reward = minus what the step cost). ValueError on an illegal action."""
        if state.done:
            raise ValueError("the investigation is already decided")
        graph, pivots = self.graph(state), self.costs.pivots
        if action.kind == REVEAL:
            if not 1 <= action.group < self.layout.n_groups or state.mask >> action.group & 1:
                raise ValueError(f"cannot reveal group {action.group}")
            cost = float(self.layout.costs[action.group])
            nxt = replace(state, mask=state.mask | 1 << action.group)
        elif action.kind == EXPAND:
            if not 0 <= action.ident < len(graph.identifiers) or action.ident in state.expanded:
                raise ValueError(f"cannot expand identifier {action.ident}")
            cost = pivots.expand
            nxt = replace(state, expanded=state.expanded | {action.ident})
        elif action.kind == REVIEW:
            key = (action.ident, action.account)
            if action.ident not in state.expanded or key in state.reviewed:
                raise ValueError(f"cannot review account {key}: expand its identifier first")
            if action.account >= len(graph.identifiers[action.ident].accounts):
                raise ValueError(f"no account {key}")
            cost = pivots.review
            nxt = replace(state, reviewed=state.reviewed | {key})
        elif action.kind == DECIDE:
            return self._decide(state, action)
        else:
            raise ValueError(f"unknown action kind {action.kind!r}")
        return replace(nxt, evidence_cost=state.evidence_cost + cost), -cost

    def _decide(self, state: PivotState, action: Action) -> tuple[PivotState, float]:
        if not 0 <= action.decision < len(DECISIONS):
            raise ValueError(f"no decision {action.decision}")
        if not action.members <= state.reviewed:
            raise ValueError("only reviewed linked accounts can be blocked with the case")
        loss = float(
            realised_losses(self.costs, np.asarray([action.decision]), self.labels[[state.case]])[0]
        )
        weight = self.costs.pivots.member_weight
        caught = at_risk = wrong = 0
        member_loss = 0.0
        for i, ident in enumerate(self.graph(state).identifiers):
            for j, account in enumerate(ident.accounts):
                if account.known == KNOWN_SCAM:
                    continue  # already blocked by its label: nothing to catch
                blocked = (i, j) in action.members
                if account.label == 1:
                    at_risk += 1
                    caught += blocked
                    member_loss += 0.0 if blocked else weight * self.costs.missed_scam
                elif blocked:
                    wrong += 1
                    member_loss += weight * self.costs.wrongful_block
        done = replace(
            state,
            decision=action.decision,
            decision_loss=loss,
            member_loss=member_loss,
            members_caught=caught,
            members_at_risk=at_risk,
            members_wrongly_blocked=wrong,
        )
        return done, -(loss + member_loss)
