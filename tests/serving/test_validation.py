"""Strict inputs over real HTTP: what the body says (``scamguard.events``) and what the clock and
the online store say (``serving.validation``), on ``POST /v1/score`` and ``POST /v1/events``.

Every refusal is a 422 in FastAPI's shape naming the field (a second signup: 409), and a refused
event changes nothing in the store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import polars as pl
import pytest

from features.online.local import store_path
from pipelines.batch import latest_snapshot_path
from tests.serving.factories import event, new_user, signed_up

PATHS = ["/v1/score", "/v1/events"]


def problems(response: httpx.Response) -> list[dict]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail and all({"loc", "msg", "type"} <= set(p) for p in detail)
    return detail


def only_problem(response: httpx.Response) -> dict:
    (problem,) = problems(response)
    return problem


@pytest.fixture(scope="module")
def known_user(serve_settings) -> str:
    """A user of the backfilled store (signed up in the simulated history)."""
    return pl.read_parquet(latest_snapshot_path(serve_settings))["user_id"][0]


# ---------------------------------------------------------------------------------- the clock
@pytest.mark.parametrize("path", PATHS)
def test_an_event_before_its_users_signup_is_a_422_naming_the_signup_time(
    client: httpx.Client, path: str
) -> None:
    signup = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    user = signed_up(client, ts=signup.isoformat())
    early = signup - timedelta(days=48.6)
    problem = only_problem(client.post(path, json=event("login", user, ts=early.isoformat())))
    assert problem["loc"] == ["body", "login", "ts"] and problem["type"] == "ts_before_signup"
    assert signup.isoformat() in problem["msg"] and user in problem["msg"]
    assert datetime.fromisoformat(problem["ctx"]["signup_ts"]) == signup
    assert client.post(path, json=event("login", user, ts=signup.isoformat())).status_code == 200


@pytest.mark.parametrize("path", PATHS)
def test_an_event_beyond_the_clock_skew_is_a_422(client: httpx.Client, path: str) -> None:
    user = signed_up(client)
    problem = only_problem(client.post(path, json=event("login", user, ts="2030-01-01T00:00:00Z")))
    assert problem["loc"] == ["body", "login", "ts"] and problem["type"] == "ts_in_future"
    assert "in the future" in problem["msg"] and problem["ctx"]["max_clock_skew_s"] == 300
    soon = datetime.now(UTC) + timedelta(seconds=60)  # within the default 300 s of skew
    assert client.post(path, json=event("login", user, ts=soon.isoformat())).status_code == 200
    late = datetime.now(UTC) + timedelta(seconds=400)
    assert only_problem(client.post(path, json=event("login", user, ts=late.isoformat())))[
        "type"
    ] == ("ts_in_future")


def test_a_signup_in_the_future_is_refused_and_not_recorded(client: httpx.Client) -> None:
    user = new_user()
    refused = client.post("/v1/score", json=event("signup", user, ts="2030-01-01T00:00:00Z"))
    assert only_problem(refused)["type"] == "ts_in_future"
    assert client.post("/v1/score", json=event("signup", user)).status_code == 200


# ---------------------------------------------------------------------------------- the body
@pytest.mark.parametrize(
    ("event_type", "field", "value"),
    [
        ("login", "ip", "not-an-ip"),
        ("login", "ip", "256.1.2.3"),
        ("signup", "ip", "10.0.0"),
        ("signup", "ip", "2001:db8::g"),
        ("login", "device_id", "dev 1"),
        ("login", "device_id", "dev\n1"),
        ("signup", "email_domain", "example"),
        ("signup", "email_domain", "a..example.com"),
        ("signup", "email_domain", "-bad.example.com"),
        ("signup", "email_domain", "user@example.com"),
        ("job_post", "job_id", "j 1"),
        ("payment", "instrument_id", "card/1"),
        ("message", "recipient_id", "u 2"),
        ("login", "success", "yes"),
        ("job_post", "budget_usd", "500"),
        ("payment", "amount_usd", True),
        ("login", "ts", "1970-01-01T00:00:00Z"),
        ("login", "ts", "9999-12-31T23:00:00-05:00"),
    ],
)
@pytest.mark.parametrize("path", PATHS)
def test_a_malformed_field_is_a_422_naming_it(
    client: httpx.Client, path: str, event_type: str, field: str, value: object
) -> None:
    body = event(event_type, "u-anyone", **{field: value})
    problem = only_problem(client.post(path, json=body))
    assert problem["loc"] == ["body", event_type, field], problem


def test_ipv6_addresses_and_long_device_ids_are_accepted(client: httpx.Client) -> None:
    user = signed_up(client, ip="2001:db8::7", device_id="A1b2+/C3d4==:" + "f" * 80)
    assert client.post("/v1/score", json=event("login", user, ip="::ffff:192.0.2.9")).is_success


# ---------------------------------------------------------------------------------- the store
@pytest.mark.parametrize("path", PATHS)
def test_an_event_by_a_user_who_never_signed_up_is_a_422(client: httpx.Client, path: str) -> None:
    user = new_user()
    problem = only_problem(client.post(path, json=event("login", user)))
    assert problem == {
        "type": "user_not_signed_up",
        "loc": ["body", "login", "user_id"],
        "msg": f"user {user} has not signed up: send a signup event first",
        "input": user,
    }


def test_a_label_or_report_about_an_unknown_user_is_a_422(client: httpx.Client) -> None:
    label = {"event_type": "label", "user_id": new_user(), "label": "fake_client"}
    assert only_problem(client.post("/v1/events", json=label))["type"] == "user_not_signed_up"
    reporter, reported = signed_up(client), new_user()
    report = {
        "event_type": "report",
        "user_id": reporter,
        "reported_id": reported,
        "reason": "spam",
    }
    problem = only_problem(client.post("/v1/events", json=report))
    assert problem["loc"] == ["body", "report", "reported_id"]
    assert problem["type"] == "counterpart_not_signed_up" and reported in problem["msg"]


@pytest.mark.parametrize("path", PATHS)
def test_a_second_signup_is_a_409(client: httpx.Client, known_user: str, path: str) -> None:
    for user in (signed_up(client), known_user):
        response = client.post(path, json=event("signup", user))
        assert response.status_code == 409, response.text
        detail = response.json()["detail"]
        assert f"user {user} has already signed up" in detail


@pytest.mark.parametrize(
    ("event_type", "field"), [("message", "recipient_id"), ("payment", "payee_id")]
)
@pytest.mark.parametrize("path", PATHS)
def test_a_counterpart_who_does_not_exist_is_a_422(
    client: httpx.Client, path: str, event_type: str, field: str
) -> None:
    user, other = signed_up(client), new_user()
    problem = only_problem(client.post(path, json=event(event_type, user, **{field: other})))
    assert problem["loc"] == ["body", event_type, field]
    assert problem["type"] == "counterpart_not_signed_up"
    assert problem["msg"] == f"{field} {other} has not signed up: send their signup event first"


def test_a_counterpart_who_signed_up_after_the_event_is_a_422(client: httpx.Client) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    sender = signed_up(client, ts=(now - timedelta(days=2)).isoformat())
    recipient = signed_up(client, ts=(now - timedelta(days=1)).isoformat())
    before = (now - timedelta(days=1, hours=1)).isoformat()
    problem = only_problem(
        client.post("/v1/score", json=event("message", sender, recipient_id=recipient, ts=before))
    )
    assert problem["loc"] == ["body", "message", "recipient_id"]
    assert datetime.fromisoformat(problem["ctx"]["signup_ts"]) == now - timedelta(days=1)


def test_a_payout_to_oneself_needs_no_other_user(client: httpx.Client) -> None:
    user = signed_up(client)
    body = event("payment", user, payee_id=user, kind="payout")
    assert client.post("/v1/score", json=body).status_code == 200


def test_every_problem_of_an_event_is_listed(client: httpx.Client) -> None:
    body = event("message", new_user(), recipient_id=new_user(), ts="2030-01-01T00:00:00Z")
    found = problems(client.post("/v1/score", json=body))
    assert sorted(p["type"] for p in found) == [
        "counterpart_not_signed_up",
        "ts_in_future",
        "user_not_signed_up",
    ]


# ---------------------------------------------------------------------------------- nothing recorded
@pytest.fixture
def store_probe(serve_settings) -> Iterator[sqlite3.Connection]:
    """A read-only connection of its own to the server's store: ``PRAGMA data_version`` on it
    changes when (and only when) another connection commits."""
    db = sqlite3.connect(f"file:{store_path(serve_settings)}?mode=ro", uri=True)
    yield db
    db.close()


def _store_state(db: sqlite3.Connection) -> dict[str, int]:
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    counts = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    return counts | {"data_version": db.execute("PRAGMA data_version").fetchone()[0]}


def test_a_refused_event_changes_nothing_in_the_store_or_the_audit_log(
    client: httpx.Client, store_probe: sqlite3.Connection, serve_settings
) -> None:
    signup = datetime.now(UTC) - timedelta(hours=1)
    user = signed_up(client, ts=signup.isoformat())
    log = serve_settings.audit_log
    audit_before = log.read_text() if log.exists() else ""
    before = _store_state(store_probe)
    refused = [
        ("/v1/score", event("login", user, ts=(signup - timedelta(days=3)).isoformat())),
        ("/v1/score", event("login", user, ts="2030-01-01T00:00:00Z")),
        ("/v1/score", event("login", new_user())),
        ("/v1/score", event("message", user, recipient_id=new_user())),
        ("/v1/score", event("payment", user, payee_id=new_user())),
        ("/v1/score", event("signup", user)),
        ("/v1/events", event("signup", user, ip="203.0.113.99", device_id="dev-other")),
        ("/v1/events", {"event_type": "label", "user_id": new_user(), "label": "fraud_ring"}),
        ("/v1/events", {"event_type": "report", "user_id": user, "reported_id": new_user(),
                        "reason": "spam"}),
    ]  # fmt: skip
    for path, body in refused:
        assert client.post(path, json=body).status_code in (409, 422), (path, body)
    assert _store_state(store_probe) == before
    assert (log.read_text() if log.exists() else "") == audit_before

    assert client.post("/v1/score", json=event("login", user)).status_code == 200
    after = _store_state(store_probe)  # the probe sees a write when there is one
    assert (
        after["data_version"] != before["data_version"] and after["ledger"] == before["ledger"] + 1
    )
