"""The text model online, through the real HTTP server: a champion trained with ``textmodel_*``
features, a (tiny, scratch) text model registered beside it, and a store backfilled with the
pipeline's stored document scores.

The world (``text_env``) is built in ``conftest.py``, shared with ``test_text_model_cache.py``.
A new account's sign-up, messages and proposal scored through ``/v1/score`` change its
``textmodel_*`` features exactly as the offline builder computes them from the same documents
scored by the same registered text model, whether that is the fine-tuned transformer (served
through ONNX Runtime) or its ensemble with TF-IDF + LR; a champion that needs the text model without one is
a start-up error on ``/readyz``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

import httpx
import polars as pl
import pytest

from features.online import OnlineStore
from features.online.local import store_path
from features.text_scores import (
    TEXT_SCORE_FEATURES,
    add_text_score_features,
    score_documents,
)
from scamguard.settings import Settings
from serving.app import create_app
from tests.serving.conftest import API_KEY, serve

US = timedelta(microseconds=1)


@pytest.fixture(params=["finetuned", "ensemble"])
def text_world(request: pytest.FixtureRequest) -> tuple[Settings, str, str]:
    """(settings, server URL, text model kind): the fine-tuned transformer alone, or its ensemble
    with TF-IDF + LR (what ``text-features`` registers when it measures best out of fold)."""
    prefix = "" if request.param == "finetuned" else "ensemble_"
    settings = request.getfixturevalue(f"{prefix}text_env")
    return settings, request.getfixturevalue(f"{prefix}text_url"), request.param


def test_scored_messages_change_the_text_features_as_offline(
    text_world: tuple[Settings, str, str],
) -> None:
    from models.text.ensemble import EnsemblePredictor
    from models.text.registry import load_text_scorer

    text_env, text_url, kind = text_world
    ready = httpx.get(f"{text_url}/readyz").json()
    assert ready["ready"], ready
    t0 = datetime.fromisoformat(ready["features_as_of"]) + timedelta(hours=1)
    user, other = "u-text-online", "u-text-other"
    texts = {
        "profile": "Recruiter. Contact me on WhatsApp for paid remote work, deposit required.",
        "m1": "Hello, can you start on the logo tomorrow?",
        "m2": "URGENT: pay the refundable training fee by gift card today to get the job",
        "p1": "I can build this in React within a week.",
    }
    events = [
        {
            "event_type": "signup",
            "user_id": other,
            "role": "freelancer",
            "ts": t0,
            "country": "DE",
            "email_domain": "example.org",
            "phone_country": "DE",
            "ip": "192.0.2.7",
            "device_id": "dev-other",
            "profile_text": "",
        },
        {
            "event_type": "signup",
            "user_id": user,
            "role": "client",
            "ts": t0 + timedelta(minutes=1),
            "country": "US",
            "email_domain": "example.com",
            "phone_country": "US",
            "ip": "192.0.2.8",
            "device_id": "dev-text",
            "profile_text": texts["profile"],
        },
        {
            "event_type": "message",
            "user_id": user,
            "recipient_id": other,
            "ts": t0 + timedelta(minutes=5),
            "text": texts["m1"],
        },
        {
            "event_type": "message",
            "user_id": user,
            "recipient_id": other,
            "ts": t0 + timedelta(minutes=9),
            "text": texts["m2"],
        },
    ]
    with httpx.Client(base_url=text_url, headers={"X-API-Key": API_KEY}, timeout=30) as client:
        for event in events:
            body = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in event.items()}
            response = client.post("/v1/score", json=body)
            assert response.status_code == 200, response.text

    # offline: the same documents, scored by the same registered text model
    scorer = load_text_scorer(text_env, "marketplace")
    assert isinstance(scorer.predictor, EnsemblePredictor) == (kind == "ensemble")
    assert scorer.model_uri == ready["text_model_uri"]
    ts = pl.Datetime("us", "UTC")
    docs = pl.DataFrame(
        {
            "user_id": [user] * 3,
            "ts": [e["ts"] for e in events[1:]],
            "kind": ["profile", "message", "message"],
            "text": [texts["profile"], texts["m1"], texts["m2"]],
        },
        schema={"user_id": pl.String, "ts": ts, "kind": pl.String, "text": pl.String},
    )
    scored = score_documents(docs, scorer.predictor.predict_proba)
    reads: list[datetime] = [cast(datetime, e["ts"]) + US for e in events[1:]]
    spine = pl.LazyFrame(
        {"user_id": [user] * 3, "as_of": reads}, schema={"user_id": pl.String, "as_of": ts}
    )
    offline = add_text_score_features(spine, scored=scored.lazy()).sort("as_of").collect()

    store = OnlineStore(store_path(text_env))
    online = [store.text_features(user, t) for t in reads]
    store.close()
    for got, want in zip(online, offline.iter_rows(named=True), strict=True):
        for name in TEXT_SCORE_FEATURES:
            a, b = got[name], want[name]
            assert (a is None and b is None) or abs(float(a or 0) - float(b)) <= 1e-6, (name, a, b)
    assert online[0]["textmodel_msg_max_30d"] is None  # before the first message
    assert online[2]["textmodel_msg_max_30d"] is not None
    assert (online[2]["textmodel_max"] or 0.0) >= (online[0]["textmodel_profile"] or 1.0)


def test_a_champion_with_text_features_and_no_text_model_is_not_ready(
    text_env: Settings, tmp_path: Path
) -> None:
    """Without the registered text model (an empty registry beside the same champion's files),
    the server starts but ``/readyz`` says why it is not ready."""
    import shutil

    broken = tmp_path / "data"
    shutil.copytree(text_env.data_dir, broken, symlinks=True)
    settings = Settings(data_dir=broken, api_key=API_KEY)
    from scamguard import tracking

    client = tracking.client(settings)
    client.delete_registered_model("scamguard-text")
    with serve(create_app(settings)) as url:
        response = httpx.get(f"{url}/readyz")
    assert response.status_code == 503
    assert "textmodel_* features but no text model" in response.json()["reason"]
