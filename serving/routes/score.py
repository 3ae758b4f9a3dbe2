"""``POST /v1/score``: one marketplace event in, a risk decision for its acting user out.

The event is checked against the clock and the online store (``serving.validation``), then
recorded in the store and the user's features are read just after it, so the event itself counts
(``serving.online``). ``POST /v1/events`` (``serving.routes.events``, recording without a score)
has its own router with the same ``/v1`` prefix and API key.
"""

from __future__ import annotations

import time
from typing import Annotated, cast

from fastapi import APIRouter, Body

from features.event_rows import event_fields
from features.text import text_findings
from models.overrides import apply_known_label
from models.rules import apply_rules
from serving.deps import ApiKeyDep, OnlineDep, ScorerDep, StateDep
from serving.online import feature_frame
from serving.rules import RulesDep
from serving.schemas import SCORE_EXAMPLES, Decision, ScoreEvent, ScoreResponse, error_responses
from serving.validation import check_event

router = APIRouter(
    prefix="/v1",
    tags=["score"],
    dependencies=[ApiKeyDep],
    responses=error_responses(401, 409, 422, 503),
)


def event_text_reasons(event: ScoreEvent) -> list[str]:
    """What the text heuristics found in the event's own text (a message, job post or proposal)."""
    text = event.own_text()
    found = text_findings(text) if text else []
    return [f"this {event.event_type.replace('_', ' ')}: {', '.join(found)}"] if found else []


@router.post("/score", response_model=ScoreResponse)
def score_event(
    event: Annotated[
        ScoreEvent,
        Body(
            description="One event; `event_type` selects its fields.",
            openapi_examples=SCORE_EXAMPLES,
        ),
    ],
    scorer: ScorerDep,
    online: OnlineDep,
    state: StateDep,
    rules: RulesDep,
) -> ScoreResponse:
    """Record the event in the online store and score its acting user on their features just
    after it (the event itself included).

    Known labels decide first, then the rules of the rules file (``SCAMGUARD_RULES_FILE``,
    re-read on change), then the model; every rule that fired is a reason (``rule R1 (owner):
    note``). Every decision is appended to the audit log with the event, the reasons, the rules
    that fired, the reason features and their values (the evidence), and the model version.

    The event is checked against the store first (``serving.validation``) and recorded only if
    it passes: the acting user (and the recipient or payee) must have signed up, no earlier than
    the event; the event may not be dated more than ``max_clock_skew_s`` (default 300 s) into
    the future. Each failure is a 422 naming the field. A second signup of an existing user is a
    **409 Conflict** (the account exists; a retried signup sees the same).
    """
    with online.exclusive():  # check and record atomically: a rejected event changes nothing
        check_event(event, online, state.settings)
        started = time.perf_counter()
        features = online.features_for(event)
        known = online.known_label(event.user_id, event.ts)
    out = scorer.score(feature_frame(features, scorer.feature_names)).row(0, named=True)
    fired = rules.fired({**features, **event_fields(event)})
    # known labels first, then the rules, then the model (models.rules)
    ruled = apply_rules(out["decision"], [str(r) for r in out["reasons"] or []], fired)
    decided = apply_known_label(ruled.decision, ruled.reasons, known)
    reasons = decided.reasons + event_text_reasons(event)
    state.metrics.score_latency.labels(event.event_type).observe(time.perf_counter() - started)
    state.metrics.decisions.labels(event.event_type, decided.decision).inc()

    response = ScoreResponse(
        risk=float(out["risk"]),
        decision=cast(Decision, decided.decision),
        reasons=reasons,
        model_version=scorer.model_version,
        event_type=event.event_type,
        event_id=event.event_id,
        user_id=event.user_id,
        features_as_of=online.as_of,
    )
    codes = [out.get(f"reason_{i}") for i in (1, 2, 3)]
    state.audit(
        {
            "kind": "online",
            "event_id": event.event_id,
            "event_type": event.event_type,
            "user_id": event.user_id,
            "event_ts": event.ts.isoformat(),
            "risk": response.risk,
            "decision": response.decision,
            "reasons": response.reasons,
            "reason_codes": [c for c in codes if c],
            "override": decided.rule or ruled.rule,
            "rules": [r.id for r in fired],
            "evidence": {c: features.get(c) for c in codes if c},
            "model_version": response.model_version,
            "features_as_of": online.as_of.isoformat(),
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        }
    )
    return response
