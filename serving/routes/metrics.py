"""Prometheus scrape endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from serving.deps import StateDep
from serving.metrics import exposition

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
def metrics(state: StateDep) -> Response:
    """Request counts by route and status, score latency, decisions by type, model info (every
    worker's, added up, under ``scamguard serve --workers N``)."""
    return Response(exposition(state.metrics), media_type=CONTENT_TYPE_LATEST)
