"""Prometheus metrics of the scoring endpoint, one registry per app (several apps can share a process).

Under ``scamguard serve --workers N`` each worker process records its metrics in files under
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode, switched on by that variable
before the workers start: :func:`multiprocess_dir`), and ``/metrics``, whichever worker answers,
adds up every worker's (:func:`exposition`): counters and histograms summed over the workers, dead
ones included; ``scamguard_ready`` the least and ``scamguard_model_cached`` the largest over the
live workers; ``scamguard_model_info`` one series per live worker (label ``pid``).

Exposed at ``GET /metrics`` in the Prometheus text format:

- ``scamguard_http_requests_total{method, route, status}``: every request, by route *template*
  (``/v1/score``, not the raw path; ``unmatched`` for unknown paths, so scanners cannot blow up
  the label cardinality);
- ``scamguard_http_request_duration_seconds{route}``: request latency;
- ``scamguard_score_latency_seconds{event_type}``: time to build features and score one event;
- ``scamguard_decisions_total{event_type, decision}``: decisions by type;
- ``scamguard_model_info{model_name, model_version, features_as_of}``: 1 for the served model;
- ``scamguard_ready``: 1 when the model and features are loaded;
- ``scamguard_model_cached``: 1 when the model was loaded from the local cache (registry down);
- ``scamguard_repeated_events_total{route}``: events whose id was already recorded (a redelivery),
  answered with the first answer and not counted again.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.logs import route_label

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServingMetrics:
    """The endpoint's metric families in their own ``CollectorRegistry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "scamguard_http_requests_total",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "scamguard_http_request_duration_seconds",
            "HTTP request latency.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.score_latency = Histogram(
            "scamguard_score_latency_seconds",
            "Time to build online features and score one event.",
            ["event_type"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "scamguard_decisions_total",
            "Risk decisions by event type and decision.",
            ["event_type", "decision"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "scamguard_model_info",
            "The served model (value 1).",
            ["model_name", "model_version", "features_as_of"],
            registry=self.registry,
            multiprocess_mode="liveall",
        )
        self.ready = Gauge(
            "scamguard_ready",
            "1 when the model and the online features are loaded.",
            registry=self.registry,
            multiprocess_mode="livemin",
        )
        self.model_cached = Gauge(
            "scamguard_model_cached",
            "1 when the served model was loaded from the local cache (the registry was down).",
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.repeats = Counter(
            "scamguard_repeated_events_total",
            "Events whose event_id was already recorded: the first answer is returned again.",
            ["route"],
            registry=self.registry,
        )


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def exposition(metrics: ServingMetrics) -> bytes:
    """The text ``/metrics`` answers: every worker's metrics added up in multiprocess mode,
    else this app's own registry."""
    if not os.environ.get(MULTIPROC_ENV):
        return generate_latest(metrics.registry)
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return generate_latest(registry)


def worker_exited() -> None:
    """Drop this worker's live gauges (multiprocess mode only): a stopped worker is not ready."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(os.getpid())


@contextmanager
def multiprocess_dir() -> Iterator[str]:
    """Multiprocess mode for the worker processes started inside the block: the directory in
    ``PROMETHEUS_MULTIPROC_DIR`` (the operator's, emptied of files of earlier runs, or a fresh
    temporary one, removed afterwards)."""
    given = os.environ.get(MULTIPROC_ENV)
    folder = given or tempfile.mkdtemp(prefix="scamguard-metrics-")
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))  # counts of an earlier run would be added
    os.environ[MULTIPROC_ENV] = folder
    try:
        yield folder
    finally:
        if given is None:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(folder, ignore_errors=True)


class MetricsMiddleware:
    """Pure ASGI middleware counting every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # if the app raises before a response starts
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = route_label(scope, status)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.request_latency.labels(route).observe(time.perf_counter() - started)
