"""``POST /v1/score``: one marketplace event in, a risk decision for its acting user out.

The event is checked against the clock and the online store (``serving.validation``), then
recorded in the store and the user's features are read just after it, so the event itself counts
(``serving.online``). ``POST /v1/events`` (``serving.routes.events``, recording without a score)
has its own router with the same ``/v1`` prefix and API key.

The route is a coroutine that does its work on the event loop (about a millisecond of CPU: the
store's transaction, the model, the audit line): the store serialises every event under one lock
anyway, so a thread per request would only add a hop to the thread pool and back and threads
waiting for the lock (measured: docs/results/serving.md).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, cast

from fastapi import APIRouter, Body

from features.event_rows import event_fields
from features.text import text_findings
from models.overrides import KnownLabel, apply_known_label
from models.rules import Rule, apply_rules
from scamguard.privacy import pseudonymise
from serving.deps import ApiKeyDep, KeyNameDep, OnlineDep, Scorer, ScorerDep, StateDep
from serving.online import NOT_SEEN, Features
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
async def score_event(
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
    key: KeyNameDep,
    rules: RulesDep,
) -> ScoreResponse:
    """Record the event in the online store and score its acting user on their features just
    after it (the event itself included).

    Known labels decide first, then the rules of the rules file (``SCAMGUARD_RULES_FILE``,
    re-read on change), then the model; every rule that fired is a reason (``rule R1 (owner):
    note``). Every decision is appended to the audit log with the event (personal fields and texts
    as keyed hashes), the reasons, the rules that fired, the reason features and their values
    (the evidence), the model version, the latency and the name of the API key used.

    **Repeats.** Delivery may repeat an event: an `event_id` already recorded for the event's
    table is not recorded again, and the first answer is returned (the event id, the event and
    its answer are committed together).

    The event is checked against the store first (``serving.validation``) and recorded only if
    it passes: the acting user (and the recipient or payee) must have signed up, no earlier than
    the event; the event may not be dated more than ``max_clock_skew_s`` (default 300 s) into
    the future. Each failure is a 422 naming the field. A second signup of an existing user
    (with a new `event_id`) is a **409 Conflict**.
    """
    started = time.perf_counter()
    # the event's documents are scored before the store is held (serving.text)
    documents = (
        await state.text_model.documents(event.table, event.to_row()) if state.text_model else []
    )
    with online.exclusive():  # check, record, score and remember atomically
        first = online.first_answer(event)
        if isinstance(first, str):  # a repeat of a scored event: the same answer
            state.metrics.repeats.labels("/v1/score").inc()
            return ScoreResponse.model_validate_json(first)
        if first is NOT_SEEN:
            check_event(event, online, state.settings)  # a rejected event changes nothing
            features = online.features_for(event, documents)
        else:  # recorded before through /v1/events: scored now, not counted again
            features = online.read_features(event.user_id, event.ts)
        known = online.known_label(event.user_id, event.ts)
        fired = rules.fired({**features, **event_fields(event)})
        response, record = _decide(event, features, known, fired, scorer, online.as_of)
        online.remember(event, response.model_dump_json())
    elapsed = time.perf_counter() - started
    state.metrics.score_latency.labels(event.event_type).observe(elapsed)
    state.metrics.decisions.labels(event.event_type, response.decision).inc()
    state.audit(
        {
            **record,
            "event": pseudonymise(
                event.model_dump(mode="json", exclude={"event_type", "user_id", "event_id", "ts"}),
                state.settings.pii_key,
            ),
            "api_key": key,
            "latency_ms": round(elapsed * 1000, 3),
        }
    )
    return response


def _decide(
    event: ScoreEvent,
    features: Features,
    known: KnownLabel | None,
    fired: list[Rule],
    scorer: Scorer,
    features_as_of: datetime,
) -> tuple[ScoreResponse, dict]:
    """The answer to ``event`` and its audit record (without the event's own fields): known
    labels first, then the rules that fired, then the model (``models.rules``)."""
    out = scorer.score_one(features)
    ruled = apply_rules(out["decision"], [str(r) for r in out["reasons"] or []], fired)
    decided = apply_known_label(ruled.decision, ruled.reasons, known)
    response = ScoreResponse(
        risk=float(out["risk"]),
        decision=cast(Decision, decided.decision),
        reasons=decided.reasons + event_text_reasons(event),
        model_version=scorer.model_version,
        event_type=event.event_type,
        event_id=event.event_id,
        user_id=event.user_id,
        features_as_of=features_as_of,
    )
    codes = [out.get(f"reason_{i}") for i in (1, 2, 3)]
    record = {
        "kind": "online",
        "event_id": event.event_id,
        "event_type": event.event_type,
        "user_id": event.user_id,
        "event_ts": event.ts.isoformat(),
        "risk": response.risk,
        "decision": response.decision,
        "reasons": response.reasons,  # words and feature values, never the event's text
        "reason_codes": [c for c in codes if c],
        "override": decided.rule or ruled.rule,
        "rules": [r.id for r in fired],
        "evidence": {c: features.get(c) for c in codes if c},
        "model_version": response.model_version,
        "features_as_of": features_as_of.isoformat(),
    }
    return response, record
