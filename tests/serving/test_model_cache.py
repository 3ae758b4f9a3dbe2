"""A server restarted while the registry is down serves the last champion it loaded, from the local
cache verified by hash; a tampered cache is refused with the reason. Real servers throughout."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import httpx
import pytest

from models.cache import MANIFEST_FILE, MODEL_FILE
from scamguard.settings import Settings
from serving.app import create_app
from tests.serving.conftest import API_KEY, mirror_settings, serve
from tests.serving.factories import event, new_user


def _unreachable_uri() -> str:
    """An http URI on a localhost port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _cached_copy(settings: Settings) -> Path:
    (folder,) = settings.model_cache_dir.glob(f"{settings.risk_model_name}-v*")
    return folder


@pytest.fixture(scope="module")
def offline_settings(
    base_url: str,
    trained_env: Settings,
    serve_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    """Settings over a fresh mirror of ``trained_env`` holding a copy of the session server's
    model cache (written when it loaded the champion from the registry), with the tracking URI
    pointing nowhere."""
    mirrored = mirror_settings(trained_env, tmp_path_factory.mktemp("offline") / "data")
    shutil.copytree(serve_settings.model_cache_dir, mirrored.model_cache_dir)
    return mirrored.model_copy(update={"mlflow_uri": _unreachable_uri()})


@pytest.fixture(autouse=True)
def _fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")


def test_a_registry_load_writes_a_verified_copy(base_url: str, serve_settings: Settings) -> None:
    ready = httpx.get(f"{base_url}/readyz").json()
    assert ready["model_source"] == "registry" and ready["registry_error"] is None
    folder = _cached_copy(serve_settings)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert folder.name == f"{serve_settings.risk_model_name}-v{ready['model_version']}"
    assert manifest["version"] == ready["model_version"] and len(manifest["sha256"]) == 64
    assert (folder / MODEL_FILE).stat().st_size == manifest["bytes"]


def test_with_the_registry_down_the_cached_champion_is_served(
    base_url: str, offline_settings: Settings
) -> None:
    served = httpx.get(f"{base_url}/readyz").json()["model_version"]
    with serve(create_app(offline_settings)) as url:
        ready = httpx.get(f"{url}/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert (body["model_source"], body["model_version"]) == ("cache", served)
        assert (
            "registry" in body["registry_error"]
            and offline_settings.mlflow_uri in (body["registry_error"])
        )
        assert "scamguard_model_cached 1.0" in httpx.get(f"{url}/metrics").text
        with httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}) as client:
            scored = client.post("/v1/score", json=event("signup", new_user()))
        assert scored.status_code == 200, scored.text
        assert scored.json()["model_version"] == served


def test_a_tampered_cache_is_refused_with_the_reason(offline_settings: Settings) -> None:
    model = _cached_copy(offline_settings) / MODEL_FILE
    original = model.read_bytes()
    model.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # one bit flipped
    try:
        with serve(create_app(offline_settings)) as url:
            ready = httpx.get(f"{url}/readyz")
    finally:
        model.write_bytes(original)
    assert ready.status_code == 503
    reason = ready.json()["reason"]
    assert "refused" in reason and "sha256" in reason and "registry" in reason
    assert ready.json()["model_version"] is None
