"""The FastAPI app: ``create_app(settings)`` wires state, routers, middleware and the API docs.

At start (lifespan) a background thread loads the champion scorer from the MLflow registry and
opens the online store (``<data_dir>/online/store.sqlite``, backfilled from the clean tables if
missing); the lifespan returns at once, so ``/healthz`` answers 200 while they load, and
``/readyz`` and the routes that need them answer 503 ("still loading") until both are in memory.
Loading failures do not kill the process: ``/readyz`` then answers 503 with the reason.

Endpoints: ``POST /v1/score``, ``POST /v1/events``, ``POST /v1/investigate``, ``POST /v1/labels``,
``GET /v1/rules`` (API key),
``GET /healthz``, ``GET /readyz``, ``GET /metrics``; the API docs at ``/docs`` (Swagger UI) and
``/redoc`` (ReDoc), with their scripts and styles served by the app itself from the pinned
``fastapi-offline`` package (under ``/docs-assets/``): no CDN, so the docs work offline.
``/metrics`` and the docs (with ``/openapi.json``) are served only where the settings say so
(``expose_metrics``, ``expose_docs``; by default in development only): elsewhere they are 404s.

Logs carry no personal data (``serving.logs``): one pseudonymised line per request instead of
uvicorn's access log, and unhandled errors without their message. :func:`server_config` is the
uvicorn configuration ``scamguard serve`` runs (and the tests' live server).
"""

from __future__ import annotations

import math
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from scamguard.settings import Settings
from serving.deps import ServingState
from serving.logs import RequestLogMiddleware, log_config, silence_uvicorn_access_log
from serving.metrics import MetricsMiddleware, ServingMetrics, multiprocess_dir, worker_exited
from serving.routes import events, health, investigate, labels, metrics, score
from serving.rules import RulesHolder

MAX_BODY_BYTES = (
    256 * 1024
)  # 413 above this (FastAPI's limit: by Content-Length or by counting chunks)

DOCS_ASSETS_URL = "/docs-assets"
SWAGGER_JS, SWAGGER_CSS, REDOC_JS, FAVICON = (
    "swagger-ui-bundle.js",
    "swagger-ui.css",
    "redoc.standalone.js",
    "favicon.png",
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServingState = app.state.serving
    # Blocking (MLflow, the online store): in a thread, so the server accepts connections now.
    # A daemon: a shutdown during loading does not wait for it.
    threading.Thread(target=state.load, name="scamguard-load", daemon=True).start()
    app.state.rules.start()  # the rules file, re-read on change and on SIGHUP (serving.rules)
    yield
    app.state.rules.stop()
    state.audit_log.close()
    worker_exited()


def _json_safe(value: Any) -> Any:
    """``value`` with what JSON cannot carry made printable: non-finite floats as strings
    (``"inf"``) and lone surrogates (from ``"\\ud800"`` escapes) backslash-escaped."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str) and not value.isascii():
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_json_safe(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 body, ``{"detail": [{"loc", "msg", "type", "input", ...}]}``, made JSON-safe:
    the echoed ``input`` of a rejected ``1e400`` or ``"\\ud800"`` would otherwise fail to render
    (a 500)."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        status_code=422, content={"detail": _json_safe(jsonable_encoder(exc.errors()))}
    )


def _mount_docs(app: FastAPI) -> None:
    """``/docs`` and ``/redoc`` over local assets (the app is created with both set to None)."""
    # Swagger UI 5.32 and ReDoc 2.5 (standalone bundle), as fastapi-offline 1.7.7 ships them
    assets = Path(str(resources.files("fastapi_offline") / "static"))
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=assets), name="docs-assets")

    def asset(request: Request, name: str) -> str:
        return f"{request.scope.get('root_path', '')}{DOCS_ASSETS_URL}/{name}"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{request.scope.get('root_path', '')}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=asset(request, SWAGGER_JS),
            swagger_css_url=asset(request, SWAGGER_CSS),
            swagger_favicon_url=asset(request, FAVICON),
            oauth2_redirect_url=None,  # the API key needs no OAuth2 redirect page
            # no badge from the public validator service; keep the key across reloads
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=f"{request.scope.get('root_path', '')}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=asset(request, REDOC_JS),
            redoc_favicon_url=asset(request, FAVICON),
            with_google_fonts=False,
        )


def create_app(settings: Settings) -> FastAPI:
    """The scoring app for ``settings`` (nothing is loaded until the server starts)."""
    app = FastAPI(
        title="scamguard",
        summary="Real-time scam risk decisions for marketplace events.",
        version="1",
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_exposed else None,
    )
    app.state.serving = ServingState(settings=settings, metrics=ServingMetrics())
    app.state.rules = RulesHolder(settings.rules_path, poll_s=settings.rules_poll_s)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.include_router(health.router)
    if settings.metrics_exposed:
        app.include_router(metrics.router)
    app.include_router(score.router)
    app.include_router(events.router)
    app.include_router(investigate.router)
    app.include_router(labels.router)
    if settings.docs_exposed:
        _mount_docs(app)
    app.add_middleware(MetricsMiddleware, metrics=app.state.serving.metrics)
    app.add_middleware(RequestLogMiddleware, pii_key=settings.pii_key)  # outermost
    return app


APP_FACTORY = "serving.app:app_from_environment"  # what each worker process imports


def app_from_environment() -> FastAPI:
    """The app for the settings of the environment (``scamguard.settings.get_settings``): the
    factory each uvicorn worker process calls (``scamguard serve --workers N``)."""
    from scamguard.settings import get_settings

    return create_app(get_settings())


def server_config(
    app: FastAPI | str,
    *,
    log_level: str = "info",
    configure_logging: bool = True,
    **kwargs: Any,
) -> uvicorn.Config:
    """How ``app`` is served: uvicorn with its access log off (``serving.logs`` writes a
    pseudonymised one) and, with ``configure_logging``, uvicorn's console logging extended to the
    ``scamguard`` loggers. ``kwargs`` go to ``uvicorn.Config`` (host, port, workers, ...);
    several workers need ``app`` as an import string (:data:`APP_FACTORY`, ``factory=True``)."""
    config = uvicorn.Config(
        app,
        log_level=log_level,
        log_config=log_config(log_level) if configure_logging else None,
        access_log=False,
        lifespan="on",
        **kwargs,
    )
    silence_uvicorn_access_log()
    return config


def serve(config: uvicorn.Config) -> None:
    """Run ``config`` until stopped: one process, or ``config.workers`` worker processes sharing
    one listening socket (uvicorn's supervisor restarts a worker that dies). The workers share
    the online store file (``features.online.store``: one writer transaction at a time, counters
    in the database) and their metrics (``serving.metrics``: multiprocess mode)."""
    if config.workers > 1:
        from uvicorn.supervisors import Multiprocess

        # asyncio sets TCP_NODELAY only on sockets whose proto is TCP; uvicorn's bound socket says
        # 0, so without this each small response waited for a delayed ACK (~44 ms a request)
        bound = config.bind_socket()
        sock = socket.socket(fileno=bound.detach())  # family, type and proto read from the fd
        with multiprocess_dir():  # before the workers start: they read it at import
            Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run()
