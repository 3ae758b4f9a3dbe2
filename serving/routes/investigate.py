"""``POST /v1/investigate``: the analyst's investigation of one user, with the agent's trail, as JSON.

The body names the user; the answer is what ``scamguard investigate USER_ID --json`` prints
(``serving.investigation.investigate_user``): risk, reasons, profile, linked accounts, messages,
reports, labels and ``agent`` (each step's action, why, posterior and evidence, the decision and
the similar past cases). The work reads the clean tables, so it runs in the thread pool; the
trained agent is loaded once per process (``agent.trail.load_bundle``).
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


class AgentSection(BaseModel):
    model_config = ConfigDict(extra="allow")

    available: bool
    note: str | None = None
    decision: str | None = None  # allow / block / escalate
    posterior: float | None = None
    evidence_cost: float | None = None
    trail: list[AgentStep] = []
    similar_cases: list[dict] = []


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
