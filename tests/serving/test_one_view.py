"""One view of a user: the analyst view reads the online store as well as the batch tables, shows
the live score beside the batch one, and writes who looked at whom to the audit log."""

from __future__ import annotations

import json

import httpx
import polars as pl

from pipelines.batch import read_scores
from scamguard.settings import Settings
from tests.serving.factories import event, signed_up


def _audit(settings: Settings) -> list[dict]:
    return [json.loads(line) for line in settings.audit_log.read_text().splitlines()]


def test_a_user_who_signed_up_through_the_api_can_be_investigated(
    client: httpx.Client, serve_settings: Settings
) -> None:
    user_id = signed_up(client)
    assert client.post("/v1/score", json=event("login", user_id)).status_code == 200
    response = client.post("/v1/investigate", json={"user_id": user_id, "analyst": "ana"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scored"]["source"] == "live" and body["live"]["available"]
    assert 0.0 <= body["risk"] <= 1.0 and body["risk"] == body["live"]["risk"]
    assert body["profile"]["signup_ts"] is not None
    looked = [r for r in _audit(serve_settings) if r.get("kind") == "investigation"]
    assert {"analyst": "ana", "user_id": user_id}.items() <= looked[-1].items()


def test_a_batch_scored_user_shows_the_live_score_beside_the_batch_one(
    client: httpx.Client, serve_settings: Settings
) -> None:
    scores = read_scores(serve_settings)
    user_id = scores.sort("risk", descending=True)["user_id"][0]
    batch = scores.filter(pl.col("user_id") == user_id).row(0, named=True)
    body = client.post("/v1/investigate", json={"user_id": user_id}).json()
    assert body["scored"]["source"] == "batch" and body["risk"] == batch["risk"]
    live = body["live"]
    assert live["available"] and 0.0 <= live["risk"] <= 1.0
    assert live["model_version"] == body["model_version"]


def test_nobody_is_still_a_404(client: httpx.Client) -> None:
    response = client.post("/v1/investigate", json={"user_id": "u-nobody-at-all"})
    assert response.status_code == 404
    assert "nor in the online store" in response.json()["detail"]
