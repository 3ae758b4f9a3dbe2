"""The FastAPI app: ``create_app(settings)`` wires state, routers and middleware.

At start (lifespan) the champion scorer is loaded from the MLflow registry and the online store
(``<data_dir>/online/store.sqlite``, backfilled from the clean tables if missing) is opened; both
stay in memory. Loading failures do not kill the process: ``/readyz`` answers 503 with the reason
and the routes that need them answer 503.

Endpoints: ``POST /v1/score``, ``POST /v1/events``, ``POST /v1/investigate`` (API key),
``GET /healthz``, ``GET /readyz``, ``GET /metrics``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from scamguard.settings import Settings
from serving.deps import ServingState
from serving.metrics import MetricsMiddleware, ServingMetrics
from serving.routes import health, investigate, metrics, score

MAX_BODY_BYTES = (
    256 * 1024
)  # 413 above this (FastAPI's limit: by Content-Length or by counting chunks)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServingState = app.state.serving
    await run_in_threadpool(state.load)  # blocking: MLflow, the online store
    yield


def create_app(settings: Settings) -> FastAPI:
    """The scoring app for ``settings`` (nothing is loaded until the server starts)."""
    app = FastAPI(
        title="scamguard",
        summary="Real-time scam risk decisions for marketplace events.",
        version="1",
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.serving = ServingState(settings=settings, metrics=ServingMetrics())
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(score.router)
    app.include_router(investigate.router)
    app.add_middleware(MetricsMiddleware, metrics=app.state.serving.metrics)
    return app
