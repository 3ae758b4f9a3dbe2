"""``POST /v1/investigate``: the analyst's investigation of one user, with the agent's trail, as JSON.

The body names the user; the answer is what ``scamguard investigate USER_ID --json`` prints
(``serving.investigation.investigate_user``): risk, reasons, profile, linked accounts, messages,
reports, labels and ``agent`` (each step's action, why, posterior and evidence, the decision, the
similar past cases, and ``pivots``: the pivot trail through the entity graph and the ring found).
The work reads the clean tables, so it runs in the thread pool; the trained agent is loaded once
per process (``agent.trail.load_bundle``), the pivot model too (``agent.pivots.trail``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from serving.deps import ApiKeyDep, StateDep
from serving.schemas import error_responses

router = APIRouter(
    prefix="/v1",
    tags=["investigate"],
    dependencies=[ApiKeyDep],
    responses=error_responses(401, 404, 422),
)


class InvestigateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=64, description="The user, e.g. u0001234.")
    analyst: str = Field(
        default="api",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.@\-]+$",
        description="Who is looking (written to the audit log).",
    )


class AgentStep(BaseModel):
    model_config = ConfigDict(extra="allow")

    step: int
    action: str  # "reveal <group>" or the decision
    cost: float
    posterior_before: float
    posterior_after: float | None
    why: dict
    revealed: dict[str, float | None]


class PivotStep(BaseModel):
    model_config = ConfigDict(extra="allow")

    step: int
    action: str  # "expand" (an identifier) or "review" (one of its accounts)
    identifier: dict  # index, kind, pseudonym (a keyed hash: never the raw device / IP)
    accounts: list[str] | None = None  # expand: the accounts it listed
    account: dict | None = None  # review: user_id, known_label, p_scam_own, bin
    cost: float
    belief_before: float
    belief_after: float
    why: dict  # the model's expected cost of the step and of stopping instead


class PivotSection(BaseModel):
    model_config = ConfigDict(extra="allow")

    available: bool
    note: str | None = None  # why not available (e.g. no pivot model: agent-train-pivots)
    decision: str | None = None
    posterior: float | None = None
    pivot_cost: float | None = None
    steps: list[PivotStep] = []
    ring: list[dict] = []  # the reviewed accounts blocked with the case, with their P(scam)


class AgentSection(BaseModel):
    model_config = ConfigDict(extra="allow")

    available: bool
    note: str | None = None
    decision: str | None = None  # allow / block / escalate
    posterior: float | None = None
    evidence_cost: float | None = None
    trail: list[AgentStep] = []
    similar_cases: list[dict] = []
    pivots: PivotSection | None = None


class InvestigateResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    user_id: str
    risk: float | None
    decision: str | None
    reasons: list[str]
    agent: AgentSection


@router.post("/investigate", response_model=InvestigateResponse)
def investigate(
    request: Annotated[InvestigateRequest, Body(description="The user to investigate.")],
    state: StateDep,
) -> dict:
    """Investigate ``user_id``: the analyst view plus the agent's evidence trail and decision."""
    from serving.investigation import UnknownUserError, investigate_user

    online = state.online
    try:
        return investigate_user(
            state.settings,
            request.user_id,
            store=online.store if online is not None else None,
            scorer=state.scorer,
            analyst=request.analyst,
        )
    except UnknownUserError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
