"""A champion with ``textmodel_*`` features, restarted while the registry is down, serves its text
model from the local cache verified by hash; a tampered cached text model is refused with the
reason. Real servers over the text world of ``conftest.text_env`` throughout."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from features.online import OnlineStore
from features.online.local import store_path
from models.cache import MANIFEST_FILE
from models.text.cache import ONNX_FILE, TOKENIZER_FILE, text_cache_dir
from scamguard.settings import Settings
from serving.app import create_app
from tests.conftest import make_settings
from tests.serving.conftest import API_KEY, serve
from tests.serving.factories import event
from tests.serving.test_model_cache import _unreachable_uri

SCAM = "URGENT: pay the refundable training fee by gift card today to get the job"


def _text_copy(settings: Settings) -> Path:
    (folder,) = text_cache_dir(settings).glob("scamguard-text-v*")
    return folder


@pytest.fixture(autouse=True)
def _fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")


@pytest.fixture(scope="module")
def offline_settings(
    text_env: Settings, text_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """A fresh data dir over ``text_env``'s tables and stored document scores (symlinked), with a
    copy of the model cache the ``text_url`` server wrote when it loaded the champion and its
    text model from the registry, no online store (backfilled at start), and the tracking URI
    pointing nowhere."""
    data_dir = tmp_path_factory.mktemp("text-offline") / "data"
    data_dir.mkdir()
    for entry in text_env.data_dir.iterdir():
        if entry.name not in ("audit", "online", "serving", "mlflow.db", "mlartifacts"):
            (data_dir / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    settings = make_settings(data_dir)
    shutil.copytree(text_env.model_cache_dir, settings.model_cache_dir)
    return settings.model_copy(update={"mlflow_uri": _unreachable_uri()})


def test_a_registry_load_writes_a_verified_text_model_copy(
    text_env: Settings, text_url: str
) -> None:
    ready = httpx.get(f"{text_url}/readyz").json()
    assert (ready["text_model_source"], ready["text_registry_error"]) == ("registry", None)
    folder = _text_copy(text_env)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert manifest["model_uri"] == ready["text_model_uri"] and manifest["format"] == "onnx"
    assert set(manifest["files"]) == {ONNX_FILE, TOKENIZER_FILE}
    assert all(len(h) == 64 for h in manifest["files"].values())
    (risk,) = text_env.model_cache_dir.glob(f"{text_env.risk_model_name}-v*")
    champion_run = json.loads((risk / MANIFEST_FILE).read_text())["run_id"]
    assert manifest["champion_run_ids"] == [champion_run]


def test_with_the_registry_down_the_cached_text_model_is_served(
    text_env: Settings, text_url: str, offline_settings: Settings
) -> None:
    """Ready from the cache alone, and a message scored there gets the score the registered text
    model gives it (ONNX Runtime against torch: 1e-6)."""
    from models.text.registry import load_text_scorer

    online = httpx.get(f"{text_url}/readyz").json()
    with serve(create_app(offline_settings)) as url:
        ready = httpx.get(f"{url}/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert (body["model_source"], body["text_model_source"]) == ("cache", "cache")
        assert body["text_model_uri"] == online["text_model_uri"]
        assert offline_settings.mlflow_uri in body["text_registry_error"]
        t0 = datetime.fromisoformat(body["features_as_of"]) + timedelta(hours=1)
        sender, recipient = "u-cache-sender", "u-cache-recipient"
        with httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}, timeout=30) as client:
            for i, user in enumerate((recipient, sender)):
                signup = event(
                    "signup",
                    user,
                    ts=(t0 + timedelta(minutes=i)).isoformat(),
                    ip=f"192.0.2.{30 + i}",
                    device_id=f"dev-cache-{i}",
                    profile_text="",
                )
                assert client.post("/v1/events", json=signup).status_code == 200
            message = {
                "event_type": "message",
                "user_id": sender,
                "recipient_id": recipient,
                "ts": (t0 + timedelta(minutes=5)).isoformat(),
                "text": SCAM,
            }
            scored = client.post("/v1/score", json=message)
        assert scored.status_code == 200, scored.text
    store = OnlineStore(store_path(offline_settings))
    (stored,) = store.db.execute(
        "SELECT score FROM text_docs WHERE user_id = ? AND kind = 'message'", (sender,)
    ).fetchall()
    store.close()
    want = load_text_scorer(text_env, "marketplace").predictor.predict_proba([SCAM])[0]
    assert abs(stored[0] - want) <= 1e-6


def test_a_tampered_cached_text_model_is_refused_with_the_reason(
    offline_settings: Settings,
) -> None:
    onnx = _text_copy(offline_settings) / ONNX_FILE
    original = onnx.read_bytes()
    onnx.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # one bit flipped
    try:
        with serve(create_app(offline_settings)) as url:
            ready = httpx.get(f"{url}/readyz")
    finally:
        onnx.write_bytes(original)
    assert ready.status_code == 503
    body = ready.json()
    assert body["model_source"] == "cache" and body["text_model_source"] is None
    reason = body["reason"]
    assert "refused" in reason and f"sha256 of {ONNX_FILE}" in reason and "registry" in reason


def test_only_a_registry_that_cannot_be_reached_sends_the_text_model_to_the_cache(
    text_env: Settings, offline_settings: Settings
) -> None:
    """A champion loaded from the registry falls back to the cached text model only when the
    registry's error is a connection failure, not when the registry answers "no such model"."""
    from models.text.registry import load_text_scorer_uri
    from serving.deps import _unreachable

    with pytest.raises(Exception) as down:
        load_text_scorer_uri(offline_settings, "models:/scamguard-text/1")
    with pytest.raises(Exception) as missing:
        load_text_scorer_uri(text_env, "models:/scamguard-text/999")
    assert _unreachable(down.value) and not _unreachable(missing.value)


def test_a_cached_ensemble_scores_as_the_registered_one(
    ensemble_text_env: Settings, ensemble_text_url: str
) -> None:
    """The ensemble text model is cached as its artifact folder (TF-IDF + LR and the
    transformer), every file hashed; loaded from the cache it scores as the registry's copy."""
    from models.text.cache import PREDICTOR_DIR, load_cached_text_model
    from models.text.ensemble import TFIDF_FILE, EnsemblePredictor
    from models.text.inference import FastEnsemble
    from models.text.registry import load_text_scorer

    ready = httpx.get(f"{ensemble_text_url}/readyz").json()
    assert ready["ready"] and ready["text_model_source"] == "registry", ready
    manifest = json.loads((_text_copy(ensemble_text_env) / MANIFEST_FILE).read_text())
    assert manifest["format"] == "predictor"
    assert f"{PREDICTOR_DIR}/{TFIDF_FILE}" in manifest["files"]
    cached = load_cached_text_model(ensemble_text_env, manifest["champion_run_ids"][0])
    assert isinstance(cached.predictor, FastEnsemble) and cached.predictor.member is not None
    registered = load_text_scorer(ensemble_text_env, "marketplace").predictor
    assert isinstance(registered, EnsemblePredictor)
    texts = [SCAM, "Hello, can you start on the logo tomorrow?", "Sure, I sent the draft."]
    got, want = cached.predictor.predict_proba(texts), registered.predict_proba(texts)
    assert abs(got - want).max() <= 1e-6
    alone = registered.finetuned.predict_proba(texts)
    assert abs(got - alone).max() > 1e-3  # TF-IDF + LR takes part
