"""Liveness and readiness probes (no API key: orchestrators call them)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from serving.deps import StateDep
from serving.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is alive: 200 from the moment it accepts connections (says nothing about the
    model, which may still be loading)."""
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready"}},
)
def readyz(state: StateDep) -> Readiness | JSONResponse:
    """200 when the champion model and the online features are loaded, else 503 with the reason
    (``loading`` true and "still loading ..." while the start-up load runs). ``model_source`` says
    whether the model came from the registry or, the registry being unreachable at start, from
    the local verified cache (then ``registry_error`` says why); ``text_model_source`` and
    ``text_registry_error`` say the same of the text model of a champion with ``textmodel_*``
    features."""
    online = state.online
    body = Readiness(
        ready=state.ready,
        loading=state.loading,
        model_version=state.scorer.model_version if state.scorer is not None else None,
        model_source=state.model_source,  # type: ignore[arg-type]
        registry_error=state.registry_error,
        text_model_uri=state.text_model.model_uri if state.text_model is not None else None,
        text_model_source=state.text_model_source,  # type: ignore[arg-type]
        text_registry_error=state.text_registry_error,
        features_as_of=online.as_of if online is not None else None,
        online_users=online.n_users if online is not None else 0,
        reason=state.reason,
    )
    if not body.ready:
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    return body
