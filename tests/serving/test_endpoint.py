"""The scoring endpoint over real HTTP: auth, validation, scoring, metrics, audit, readiness.

The server (``base_url``, tests/serving/conftest.py) runs uvicorn in a thread with the champion
model and the latest feature snapshot of ``trained_env``.
"""

from __future__ import annotations

import json
from datetime import datetime

import httpx
import polars as pl
import pytest
from prometheus_client.parser import text_string_to_metric_families

from serving.app import MAX_BODY_BYTES, create_app
from tests.serving.conftest import API_KEY, mirror_settings, serve, wait_loaded
from tests.serving.factories import FIELDS, event, new_user, signed_up
from tests.utils.server import live_server

SCAM_TEXT = (
    "Hello dear, kindly add me on WhatsApp +1 555 0134 227 for the interview. Send the refundable "
    "deposit of $150 via gift card today, it is urgent!"
)
BENIGN_TEXT = (
    "Hello, thanks for applying. Could you share a sample of your work here on the platform?"
)


def metric_samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


# ---------------------------------------------------------------------------------- probes
def test_healthz_and_readyz_answer_200(base_url: str) -> None:
    assert httpx.get(f"{base_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{base_url}/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert (
        body["ready"] is True
        and body["model_version"]
        and body["online_users"] > 0
        and body["reason"] is None
    )


# ---------------------------------------------------------------------------------- scoring
@pytest.mark.parametrize(
    ("event_type", "who"),
    [(t, "new") for t in FIELDS] + [(t, "known") for t in FIELDS if t != "signup"],
)  # a known user's second signup is a 409 (tests/serving/test_validation.py)
def test_each_event_type_is_scored(
    client: httpx.Client, known_user: str, snapshot: pl.DataFrame, event_type: str, who: str
) -> None:
    if who == "known":
        user_id = known_user
    elif event_type == "signup":
        user_id = new_user()
    else:
        user_id = signed_up(client)
    response = client.post("/v1/score", json=event(event_type, user_id))
    assert response.status_code == 200, response.text
    body = response.json()
    assert 0.0 <= body["risk"] <= 1.0
    assert body["decision"] in {"allow", "review", "block"}
    assert isinstance(body["reasons"], list) and all(isinstance(r, str) for r in body["reasons"])
    assert body["model_version"] == client.get("/readyz").json()["model_version"]
    assert (body["event_type"], body["user_id"]) == (event_type, user_id)
    assert datetime.fromisoformat(body["features_as_of"]) == snapshot["as_of"].max()


def test_a_scam_message_from_a_new_user_scores_higher_than_its_benign_twin(
    client: httpx.Client,
) -> None:
    risks = {}
    for kind, text in (("scam", SCAM_TEXT), ("benign", BENIGN_TEXT)):
        user_id = new_user()
        assert client.post("/v1/score", json=event("signup", user_id)).status_code == 200
        response = client.post("/v1/score", json=event("message", user_id, text=text))
        risks[kind] = response.json()["risk"]
    assert risks["scam"] > risks["benign"], risks


def test_every_decision_is_appended_to_the_audit_log(client: httpx.Client, serve_settings) -> None:
    log = serve_settings.audit_log
    user_id = signed_up(client)
    before = log.read_text().splitlines() if log.exists() else []
    body = client.post("/v1/score", json=event("message", user_id, event_id="evt-audit-1")).json()
    lines = log.read_text().splitlines()
    assert len(lines) == len(before) + 1
    record = json.loads(lines[-1])
    assert (
        record["event_id"] == "evt-audit-1"
        and record["event_type"] == "message"
        and record["user_id"] == user_id
    )
    assert (record["risk"], record["decision"], record["reasons"], record["model_version"]) == (
        body["risk"],
        body["decision"],
        body["reasons"],
        body["model_version"],
    )


# ---------------------------------------------------------------------------------- auth
@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "wrong-key"}, {"X-API-Key": ""}],
    ids=["missing", "wrong", "empty"],
)
def test_score_refuses_a_missing_or_wrong_api_key(base_url: str, headers: dict) -> None:
    response = httpx.post(
        f"{base_url}/v1/score", json=event("message", new_user()), headers=headers
    )
    assert response.status_code == 401
    assert "API key" in response.json()["detail"]


# ---------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("body", "field"),
    [
        (event("job_post", "u1", budget_usd=-5), "budget_usd"),
        ({k: v for k, v in event("message", "u1").items() if k != "user_id"}, "user_id"),
        (event("payment", "u1", amount_usd="lots"), "amount_usd"),
        (event("payment", "u1", kind="bribe"), "kind"),
        (event("signup", "u1", role="admin"), "role"),
        (event("signup", "u1", country="United States"), "country"),
        (event("message", "u1", text=""), "text"),
        (event("message", "u1", text="x" * 20_000), "text"),
        (event("login", "u1", ts="yesterday"), "ts"),
        (event("login", "u1", surprise=1), "surprise"),
        ({"event_type": "teleport", "user_id": "u1"}, "event_type"),
        ({"user_id": "u1"}, "event_type"),
    ],
    ids=[
        "negative-budget",
        "missing-user",
        "wrong-type",
        "bad-kind",
        "bad-role",
        "bad-country",
        "empty-text",
        "long-text",
        "bad-ts",
        "unknown-field",
        "unknown-event-type",
        "no-event-type",
    ],
)
def test_a_bad_body_is_a_422_naming_the_field(client: httpx.Client, body: dict, field: str) -> None:
    response = client.post("/v1/score", json=body)
    assert response.status_code == 422, response.text
    assert field in response.text
    assert any(
        field in map(str, error["loc"]) or field in error["msg"]
        for error in response.json()["detail"]
    )


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"this is not json", "application/json"),
        (b'{"event_type": "message",', "application/json"),
        (b"user_id=u1", "application/x-www-form-urlencoded"),
        (b"hello", "text/plain"),
        (b"", "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
    ],
)
def test_a_body_that_is_not_a_json_event_is_a_4xx_never_a_500(
    client: httpx.Client, content: bytes, content_type: str
) -> None:
    response = client.post("/v1/score", content=content, headers={"Content-Type": content_type})
    assert 400 <= response.status_code < 500, response.text
    assert response.status_code == 422


_JOB = (
    '{"event_type": "job_post", "user_id": "u1", "job_id": "j1", "title": "t", '
    '"description": "d", "category": "web_dev", '
)
NASTY_BODIES: dict[str, tuple[bytes, int]] = {  # body -> the status FastAPI gives it
    "json-array": (b'[{"event_type": "login"}]', 422),
    "json-null": (b"null", 422),
    "wrong-types": (b'{"event_type": 1, "user_id": ["u1"]}', 422),
    "event-type-list": (b'{"event_type": ["login"], "user_id": "u1"}', 422),
    "unknown-event-type": (b'{"event_type": "teleport", "user_id": "u1"}', 422),
    "infinite-amount": ((_JOB + '"budget_usd": 1e400}').encode(), 422),
    "nan-amount": ((_JOB + '"budget_usd": NaN}').encode(), 422),
    "huge-amount": ((_JOB + '"budget_usd": 1e300}').encode(), 422),
    "4000-digit-amount": ((_JOB + '"budget_usd": ' + "9" * 4000 + "}").encode(), 422),
    "5000-digit-amount": ((_JOB + '"budget_usd": ' + "9" * 5000 + "}").encode(), 400),
    "amount-as-string": ((_JOB + '"budget_usd": "500"}').encode(), 422),
    "huge-ts-number": ((_JOB + '"budget_usd": 1, "ts": 1e30}').encode(), 422),
    "ts-past-year-9999-in-utc": (
        (_JOB + '"budget_usd": 1, "ts": "9999-12-31T23:00:00-05:00"}').encode(),
        422,
    ),
    "ts-year-0": ((_JOB + '"budget_usd": 1, "ts": "0000-01-01T00:00:00"}').encode(), 422),
    "lone-surrogate-text": ((_JOB + '"budget_usd": 1, "title": "\\ud800"}').encode(), 422),
    "lone-surrogate-key": ((_JOB + '"budget_usd": 1, "\\ud800": 1}').encode(), 422),
    "deep-nesting": (b"[" * 50_000 + b"]" * 50_000, 400),
    "latin-1-bytes": ((_JOB + '"budget_usd": 1, "title": "caf\xe9"}').encode("latin-1"), 400),
}


@pytest.mark.parametrize("path", ["/v1/score", "/v1/events"])
@pytest.mark.parametrize("name", list(NASTY_BODIES))
def test_no_bad_body_is_a_500(client: httpx.Client, path: str, name: str) -> None:
    """422 in FastAPI's shape naming the problem; 400 where FastAPI cannot decode the body at
    all (an integer over Python's 4300-digit limit, nesting past the recursion limit, bytes that
    are not UTF-8). The 422 body stays JSON even when the input it echoes is not (``1e400``,
    ``"\\ud800"``)."""
    content, expected = NASTY_BODIES[name]
    response = client.post(path, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == expected, response.text
    detail = response.json()["detail"]
    if expected == 422:
        assert all({"loc", "msg", "type"} <= set(problem) for problem in detail)


def test_a_huge_body_is_refused_with_413(client: httpx.Client) -> None:
    huge = json.dumps(event("message", "u1", text="x" * (2 * MAX_BODY_BYTES)))
    assert (
        client.post(
            "/v1/score", content=huge, headers={"Content-Type": "application/json"}
        ).status_code
        == 413
    )

    def chunks():  # streamed without a Content-Length
        for _ in range(2 * MAX_BODY_BYTES // 1024):
            yield b" " * 1024

    assert (
        client.post(
            "/v1/score", content=chunks(), headers={"Content-Type": "application/json"}
        ).status_code
        == 413
    )


# ---------------------------------------------------------------------------------- metrics
def test_metrics_count_requests_decisions_and_latency(client: httpx.Client, base_url: str) -> None:
    before = metric_samples(httpx.get(f"{base_url}/metrics").text)
    user_id = signed_up(client)
    for _ in range(3):
        httpx.get(f"{base_url}/healthz")
    client.post("/v1/score", json=event("message", user_id))
    httpx.post(f"{base_url}/v1/score", json=event("message", new_user()))  # no key: 401
    response = httpx.get(f"{base_url}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    for name in (
        "scamguard_http_requests_total",
        "scamguard_score_latency_seconds",
        "scamguard_decisions_total",
        "scamguard_model_info",
        "scamguard_ready",
    ):
        assert name in response.text
    after = metric_samples(response.text)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("scamguard_http_requests_total", method="GET", route="/healthz", status="200") == 3
    assert (
        delta("scamguard_http_requests_total", method="POST", route="/v1/score", status="200") == 1
    )
    assert (
        delta("scamguard_http_requests_total", method="POST", route="/v1/score", status="401") == 1
    )
    assert delta("scamguard_score_latency_seconds_count", event_type="message") == 1
    decided = sum(
        delta("scamguard_decisions_total", event_type="message", decision=d)
        for d in ("allow", "review", "block")
    )
    assert decided == 1
    assert after[("scamguard_ready", ())] == 1.0


def test_metrics_label_events_by_their_full_path(client: httpx.Client, base_url: str) -> None:
    before = metric_samples(httpx.get(f"{base_url}/metrics").text)
    signed_up(client)  # POST /v1/events
    client.post("/v1/investigate", json={})  # 422
    httpx.get(f"{base_url}/no/such/path")
    after = metric_samples(httpx.get(f"{base_url}/metrics").text)
    key = (
        "scamguard_http_requests_total",
        (("method", "POST"), ("route", "/v1/events"), ("status", "200")),
    )
    assert after[key] - before.get(key, 0.0) == 1
    routes = {
        dict(labels)["route"] for name, labels in after if name == "scamguard_http_requests_total"
    }
    paths = set(client.get("/openapi.json").json()["paths"])
    assert "/v1/events" in routes and "/events" not in routes
    assert routes <= paths | {"/openapi.json", "/docs", "/redoc", "unmatched"} | {
        r for r in routes if r.startswith("/docs-assets/")
    }, routes - paths


# ---------------------------------------------------------------------------------- readiness
def test_not_ready_without_a_model_answers_503_with_the_reason(tmp_settings) -> None:
    with live_server(create_app(tmp_settings)) as url:
        assert httpx.get(f"{url}/healthz").status_code == 200
        ready = wait_loaded(url)
        assert ready.status_code == 503
        reason = ready.json()["reason"]
        assert "champion model not loaded" in reason and "online features not loaded" in reason
        scored = httpx.post(
            f"{url}/v1/score", json=event("message", "u1"), headers={"X-API-Key": API_KEY}
        )
        assert scored.status_code == 503 and "not ready" in scored.json()["detail"]


def test_keeps_serving_when_the_tracking_db_goes_away(trained_env, tmp_path) -> None:
    settings = mirror_settings(trained_env, tmp_path / "data", copy=("mlflow.db",))
    with serve(create_app(settings)) as url:
        (settings.data_dir / "mlflow.db").unlink()
        response = httpx.post(
            f"{url}/v1/score", json=event("signup", new_user()), headers={"X-API-Key": API_KEY}
        )
        assert response.status_code == 200, response.text
        assert httpx.get(f"{url}/readyz").status_code == 200
