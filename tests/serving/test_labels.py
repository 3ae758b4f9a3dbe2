"""``POST /v1/labels`` through a real server: a label decides the user's next event at once,
reaches the next training table and batch decision, and a malformed one changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import polars as pl
import pytest

from features.build import build_training_table
from features.tables import end_of_day, load_clean_tables
from models.registry import load_scorer
from pipelines.batch import read_scores, score_day
from scamguard.analyst_labels import read_analyst_labels
from scamguard.settings import Settings
from serving.app import create_app
from tests.serving.conftest import API_KEY, mirror_settings, serve
from tests.serving.factories import event, new_user


@pytest.fixture(scope="module")
def settings(trained_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return mirror_settings(trained_env, tmp_path_factory.mktemp("labels") / "data")


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[httpx.Client]:
    with (
        serve(create_app(settings)) as url,
        httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}, timeout=60) as c,
    ):
        yield c


def _signed_up(client: httpx.Client, at: datetime) -> str:
    user_id = new_user()
    assert client.post("/v1/events", json=event("signup", user_id, ts=at.isoformat())).is_success
    return user_id


def test_a_posted_label_decides_the_next_event_and_a_later_one_supersedes_it(
    client: httpx.Client, settings: Settings
) -> None:
    now = datetime.now(UTC)
    user_id = _signed_up(client, now - timedelta(hours=3))
    body = {"user_id": user_id, "label": "fake_client", "analyst": "jdoe", "note": "deposit ask"}
    first = client.post("/v1/labels", json=body | {"ts": (now - timedelta(hours=2)).isoformat()})
    assert first.status_code == 200, first.text
    assert first.json()["previous"] is None
    scored = client.post("/v1/score", json=event("login", user_id, ts=now.isoformat())).json()
    assert scored["decision"] == "block"
    assert scored["reasons"][0].startswith("labelled fake_client on ")

    cleared = body | {"label": "benign", "ts": (now - timedelta(hours=1)).isoformat()}
    second = client.post("/v1/labels", json=cleared)
    assert second.status_code == 200 and second.json()["previous"] == "fake_client"
    again = client.post("/v1/score", json=event("login", user_id, ts=now.isoformat())).json()
    assert not any(r.startswith("labelled fake_client") for r in again["reasons"])
    assert again["decision"] != "block"  # an analyst's benign label caps the model at review

    stored = read_analyst_labels(settings).filter(pl.col("user_id") == user_id)
    assert stored["label"].to_list() == ["fake_client", "benign"]  # both kept, in order
    assert stored["analyst"].to_list() == ["jdoe", "jdoe"]


BAD_LABELS = [
    ({"label": "scammer"}, "label"),  # unknown typology
    ({"user_id": "u-nobody-at-all"}, "user_id"),  # unknown user
    ({"analyst": "j doe"}, "analyst"),  # bad analyst name
    ({"analyst": ""}, "analyst"),
    ({"colour": "red"}, "colour"),  # unknown field
    ({"label": "benign", "first_bad_ts": "2026-07-01T00:00:00Z"}, "first_bad_ts"),
    ({"ts": "2099-01-01T00:00:00Z"}, "ts"),  # in the future
    ({"ts": "2000-01-02T00:00:00Z"}, "ts"),  # before the user signed up
    ({"note": "x" * 5000}, "note"),
]


@pytest.mark.parametrize(("change", "field"), BAD_LABELS, ids=[f for _, f in BAD_LABELS])
def test_a_malformed_label_is_a_422_naming_the_field_and_changes_nothing(
    client: httpx.Client, settings: Settings, change: dict, field: str
) -> None:
    user_id = _signed_up(client, datetime.now(UTC) - timedelta(hours=1))
    before = (
        settings.analyst_labels_path.read_bytes() if settings.analyst_labels_path.exists() else b""
    )
    body = {"user_id": user_id, "label": "fake_client", "analyst": "jdoe"} | change
    response = client.post("/v1/labels", json=body)
    assert response.status_code == 422, response.text
    assert any(
        field in [str(x) for x in d["loc"]] or field in d["msg"] for d in response.json()["detail"]
    )
    after = (
        settings.analyst_labels_path.read_bytes() if settings.analyst_labels_path.exists() else b""
    )
    assert after == before
    scored = client.post("/v1/score", json=event("login", user_id)).json()
    assert not any(r.startswith("labelled") for r in scored["reasons"])


def test_labels_need_the_api_key(client: httpx.Client) -> None:
    response = httpx.post(f"{client.base_url}/v1/labels", json={}, timeout=10)
    assert response.status_code == 401


def test_a_posted_label_reaches_the_next_training_table_and_batch_decision(
    client: httpx.Client, settings: Settings
) -> None:
    tables = load_clean_tables(settings)
    latest = read_scores(settings)
    as_of = latest["as_of"][0]
    day = as_of.date() - timedelta(days=1)
    training = pl.read_parquet(settings.features_dir / "training.parquet")
    # an unlabelled user the model allows on the latest day, seen in earlier weekly snapshots
    labelled = tables.labels.select("user_id").collect()
    seen = (
        training.filter(pl.col("label") == 0).group_by("user_id").len().filter(pl.col("len") >= 2)
    )
    user_id = (
        latest.filter(pl.col("decision") == "allow")
        .join(labelled, on="user_id", how="anti")
        .join(seen, on="user_id", how="semi")
        .sort("user_id")["user_id"][0]
    )
    decided = as_of - timedelta(days=2)
    body = {"user_id": user_id, "label": "fraud_ring", "analyst": "jdoe", "ts": decided.isoformat()}
    assert client.post("/v1/labels", json=body).status_code == 200

    tables = load_clean_tables(settings)  # the analysts' store is read afresh
    rows = build_training_table(tables).filter(pl.col("user_id") == user_id)
    assert rows.height >= 1
    assert (rows["as_of"] <= decided).all()  # later snapshots are dropped: the label decides them
    assert (rows["label"] == 1).all() and (rows["typology"] == "fraud_ring").all()

    scores, _ = score_day(tables, day, load_scorer(settings, alias="champion"))
    mine = scores.filter(pl.col("user_id") == user_id).row(0, named=True)
    assert mine["decision"] == "block" and mine["override"] == "known-scam-label"
    assert mine["model_decision"] == "allow"
    assert mine["reasons"][0] == f"labelled fraud_ring on {decided.date()}"
    assert end_of_day(day) == as_of


def test_every_label_is_in_the_audit_log(client: httpx.Client, settings: Settings) -> None:
    records = [json.loads(line) for line in settings.audit_log.read_text().splitlines()]
    labels = [r for r in records if r["kind"] == "label"]
    assert labels and all(r["analyst"] == "jdoe" for r in labels)
