"""Start-up over real HTTP: the server answers ``/healthz`` while the model and the store load
in the background; ``/readyz`` and the routes that need them answer 503 until then.

The load is held on a gate (``ServingState.load`` waits on an ``Event``), so "still loading" is
deterministic rather than a race against a fast machine.
"""

from __future__ import annotations

import threading

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scamguard.settings import Settings
from serving.app import create_app
from serving.deps import ServingState
from tests.serving.conftest import API_KEY, mirror_settings, wait_loaded
from tests.serving.factories import event, new_user
from tests.utils.server import live_server


def _ready_gauge(base_url: str) -> float:
    families = text_string_to_metric_families(httpx.get(f"{base_url}/metrics").text)
    return next(s.value for f in families for s in f.samples if s.name == "scamguard_ready")


def test_healthz_answers_while_loading_and_readyz_once_loaded(
    trained_env: Settings, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = mirror_settings(trained_env, tmp_path / "data")
    gate = threading.Event()
    load = ServingState.load

    def gated_load(self: ServingState) -> None:
        assert gate.wait(timeout=120), "the test never opened the gate"
        load(self)

    monkeypatch.setattr(ServingState, "load", gated_load)
    key = {"X-API-Key": API_KEY}
    # live_server returns once /healthz answers 200: the lifespan did not wait for the load
    with live_server(create_app(settings)) as url:
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        loading = httpx.get(f"{url}/readyz")
        assert loading.status_code == 503
        body = loading.json()
        assert body["ready"] is False and body["loading"] is True
        assert "still loading" in body["reason"]
        for path in ("/v1/score", "/v1/events"):
            response = httpx.post(f"{url}{path}", json=event("signup", new_user()), headers=key)
            assert response.status_code == 503, response.text
            assert response.json() == {"detail": f"not ready: {body['reason']}"}
        assert _ready_gauge(url) == 0

        gate.set()
        ready = wait_loaded(url)
        assert ready.status_code == 200, ready.text
        assert ready.json()["ready"] is True and ready.json()["reason"] is None
        assert _ready_gauge(url) == 1
        scored = httpx.post(f"{url}/v1/score", json=event("signup", new_user()), headers=key)
        assert scored.status_code == 200, scored.text
