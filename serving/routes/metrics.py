"""Prometheus scrape endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.deps import StateDep

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
def metrics(state: StateDep) -> Response:
    """Request counts by route and status, score latency, decisions by type, model info."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
