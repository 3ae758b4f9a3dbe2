"""``POST /v1/score``: one marketplace event in, a risk decision for its acting user out.

The event is recorded in the online store and the user's features are read just after it, so
the event itself counts (``serving.online``). ``POST /v1/events`` (``serving.routes.events``,
recording without a score) is mounted on this router: same ``/v1`` prefix and API key.
"""

from __future__ import annotations

import time
from typing import Annotated

import polars as pl
from fastapi import APIRouter, Body

from serving.deps import ApiKeyDep, OnlineDep, ScorerDep, StateDep
from serving.online import Features
from serving.routes import events
from serving.schemas import ScoreEvent, ScoreResponse

router = APIRouter(
    prefix="/v1",
    tags=["score"],
    dependencies=[ApiKeyDep],
    responses={
        401: {"description": "Missing or wrong X-API-Key"},
        503: {"description": "Model or features not loaded"},
    },
)


def feature_frame(features: Features, names: list[str]) -> pl.DataFrame:
    """One Float64 row with the model's columns in order (a feature the view lacks is null)."""
    return pl.DataFrame(
        {n: [features.get(n)] for n in names}, schema={n: pl.Float64 for n in names}
    )


@router.post("/score", response_model=ScoreResponse)
def score_event(
    event: Annotated[ScoreEvent, Body(description="One event; `event_type` selects its fields.")],
    scorer: ScorerDep,
    online: OnlineDep,
    state: StateDep,
) -> ScoreResponse:
    """Record the event in the online store and score its acting user on their features just
    after it (the event itself included).

    Every decision is appended to the audit log with the event, the reasons, the reason features
    and their values (the evidence), and the model version.
    """
    started = time.perf_counter()
    features = online.features_for(event)
    out = scorer.score(feature_frame(features, scorer.feature_names)).row(0, named=True)
    state.metrics.score_latency.labels(event.event_type).observe(time.perf_counter() - started)
    state.metrics.decisions.labels(event.event_type, out["decision"]).inc()

    response = ScoreResponse(
        risk=float(out["risk"]),
        decision=out["decision"],
        reasons=[str(r) for r in out.get("reasons") or []],
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
            "evidence": {c: features.get(c) for c in codes if c},
            "model_version": response.model_version,
            "features_as_of": online.as_of.isoformat(),
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        }
    )
    return response


router.include_router(events.router)
