"""``POST /v1/labels``: an analyst's label; ``GET /v1/rules``: the rules the server applies now.

A label is checked like an event (``serving.validation``: the user signed up, not before the
label's time, not in the future), then recorded in the online store (so it decides the user's
next events at once: the store keeps each user's latest label), appended to the analysts' label
store (``scamguard.analyst_labels``: training and batch read it) and to the audit log. A refused
label (422) changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel

from scamguard.analyst_labels import AnalystLabel, append_analyst_label
from serving.deps import ApiKeyDep, OnlineDep, StateDep
from serving.rules import RulesHolder
from serving.schemas import error_responses
from serving.validation import check_event

router = APIRouter(prefix="/v1", tags=["labels"], dependencies=[ApiKeyDep])

LABEL_EXAMPLES = {
    "scam": {
        "summary": "a scam label",
        "value": {
            "user_id": "u0017311",
            "label": "fake_client",
            "analyst": "jdoe",
            "note": "asked three freelancers for a deposit on WhatsApp",
        },
    },
    "benign": {
        "summary": "cleared",
        "value": {"user_id": "u0000001", "label": "benign", "analyst": "jdoe"},
    },
}


class LabelRecorded(BaseModel):
    label_id: str
    user_id: str
    label: str
    decided_ts: datetime
    analyst: str
    previous: str | None  # the label this one supersedes in the online store, if any


class RulesInfo(BaseModel):
    path: str
    rules: list[str]
    loaded_at: str | None
    last_error: str | None  # the last reload that failed (the rules above were kept)


@router.post("/labels", response_model=LabelRecorded, responses=error_responses(401, 422, 503))
def record_label(
    label: Annotated[
        AnalystLabel,
        Body(description="An analyst's label of one user.", openapi_examples=LABEL_EXAMPLES),
    ],
    online: OnlineDep,
    state: StateDep,
) -> LabelRecorded:
    """Record an analyst's label: ``benign`` or a scam typology, decided at ``ts`` (default now).

    From ``ts`` on, a scam label blocks the user's events and a benign one caps the model at
    review until a new report. The label is appended to the analysts' store (the next training
    table and batch scores use it) beside the platform's labels; a later label supersedes an
    earlier one and both are kept.
    """
    with online.exclusive():  # check and record atomically: a refused label changes nothing
        check_event(label, online, state.settings)
        before = online.known_label(label.user_id, label.ts)
        online.ingest(label.table, label.to_row())
        row = append_analyst_label(state.settings, label)
    state.audit(
        {
            "kind": "label",
            "label_id": row["label_id"],
            "user_id": label.user_id,
            "label": label.label,
            "decided_ts": label.ts.isoformat(),
            "analyst": label.analyst,
            "note": label.note,
        }
    )
    return LabelRecorded(
        label_id=row["label_id"],
        user_id=label.user_id,
        label=label.label,
        decided_ts=label.ts,
        analyst=label.analyst,
        previous=before.label if before is not None else None,
    )


@router.get("/rules", response_model=RulesInfo, responses=error_responses(401))
def current_rules(request: Request) -> RulesInfo:
    """The rules the endpoint applies now (ids in file order), when they were loaded, and the
    problem of the last reload that failed (the rules listed were kept)."""
    holder: RulesHolder | None = getattr(request.app.state, "rules", None)
    if holder is None:
        return RulesInfo(path="", rules=[], loaded_at=None, last_error=None)
    s = holder.status()
    return RulesInfo(path=s.path, rules=s.rules, loaded_at=s.loaded_at, last_error=s.last_error)
