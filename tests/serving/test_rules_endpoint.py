"""Rules through a real server: a rule that fires is a reason, the file is re-read without a
restart, and a bad file keeps the rules in force; the holder on its own (start, SIGHUP)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from scamguard.settings import Settings
from serving.app import create_app
from serving.rules import RulesHolder
from tests.serving.conftest import API_KEY, mirror_settings, serve
from tests.serving.factories import event, new_user

GIFT_CARD = """
rules:
  - id: GIFT
    owner: trust-ops
    note: gift card payment requests
    action: review
    when:
      event_types: [message]
      text: '(?i)gift ?cards?'
"""
WIRE = """
lists:
  mule_domains: [mule.example]
rules:
  - id: WIRE
    owner: payments
    note: wire transfer outside the platform
    action: block
    when:
      text: '(?i)wire transfer'
  - id: MULE
    owner: payments
    note: signups from a mule domain
    action: block
    when:
      fields: {email_domain: {in_list: mule_domains}}
"""
BROKEN = """
rules:
  - id: WIRE
    owner: payments
    note: now with a typo
    action: blok
    when: {text: x}
"""


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(GIFT_CARD)
    return path


@pytest.fixture(scope="module")
def settings(
    trained_env: Settings, rules_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    base = mirror_settings(trained_env, tmp_path_factory.mktemp("ruled") / "data")
    return base.model_copy(update={"rules_file": rules_file, "rules_poll_s": 0.1})


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[httpx.Client]:
    with (
        serve(create_app(settings)) as url,
        httpx.Client(base_url=url, headers={"X-API-Key": API_KEY}, timeout=60) as c,
    ):
        yield c


def _message(client: httpx.Client, text: str) -> dict:
    user_id = new_user()
    signup = event("signup", user_id, ts=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
    assert client.post("/v1/events", json=signup).is_success
    recipient = new_user()
    assert client.post("/v1/events", json=event("signup", recipient, ts=signup["ts"])).is_success
    body = event("message", user_id, text=text, recipient_id=recipient)
    response = client.post("/v1/score", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _wait_for(client: httpx.Client, check, timeout_s: float = 10.0) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        info = client.get("/v1/rules").json()
        if check(info):
            return info
        if time.monotonic() > deadline:
            raise TimeoutError(f"rules never matched: {info}")
        time.sleep(0.05)


def test_a_rule_that_fires_is_a_reason_of_the_decision(
    client: httpx.Client, settings: Settings, rules_file: Path
) -> None:
    rules_file.write_text(GIFT_CARD)
    _wait_for(client, lambda info: info["rules"] == ["GIFT"])
    body = _message(client, "Could you pay me with a gift card instead?")
    assert "rule GIFT (trust-ops): gift card payment requests" in body["reasons"]
    assert body["decision"] in ("review", "block")
    plain = _message(client, "Thanks, the files are attached.")
    assert not any(r.startswith("rule ") for r in plain["reasons"])
    audit = [json.loads(line) for line in settings.audit_log.read_text().splitlines()]
    mine = next(r for r in audit if r.get("event_id") == body["event_id"])
    assert mine["rules"] == ["GIFT"]


def test_the_file_is_reread_and_a_bad_file_keeps_the_rules_in_force(
    client: httpx.Client, rules_file: Path
) -> None:
    rules_file.write_text(WIRE)
    _wait_for(client, lambda info: info["rules"] == ["WIRE", "MULE"])
    blocked = _message(client, "Let's do a wire transfer, outside the site")
    assert blocked["decision"] == "block"
    assert blocked["reasons"][0] == "rule WIRE (payments): wire transfer outside the platform"

    rules_file.write_text(BROKEN)
    info = _wait_for(client, lambda info: info["last_error"] is not None)
    assert info["rules"] == ["WIRE", "MULE"]
    assert "rule WIRE: action" in info["last_error"]
    still = _message(client, "Let's do a wire transfer, outside the site")
    assert still["decision"] == "block" and still["reasons"][0].startswith("rule WIRE")

    rules_file.write_text(GIFT_CARD)  # a good file again: taken, and the error is cleared
    info = _wait_for(client, lambda info: info["rules"] == ["GIFT"])
    assert info["last_error"] is None


def test_a_rule_on_event_fields_and_a_list_fires_on_a_signup(
    client: httpx.Client, rules_file: Path
) -> None:
    rules_file.write_text(WIRE)
    _wait_for(client, lambda info: info["rules"] == ["WIRE", "MULE"])
    signup = event("signup", new_user(), email_domain="mule.example")
    body = client.post("/v1/score", json=signup).json()
    assert body["decision"] == "block" and body["reasons"][0].startswith("rule MULE (payments)")


def test_the_holder_starts_without_rules_on_a_bad_file_and_reloads_on_sighup(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BROKEN)
    holder = RulesHolder(path, poll_s=3600)  # no polling: only start and SIGHUP reload
    previous = signal.getsignal(signal.SIGHUP)
    try:
        holder.start()
        assert len(holder.current) == 0 and "rule WIRE: action" in (holder.last_error or "")
        path.write_text(GIFT_CARD)
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.monotonic() + 5
        while len(holder.current) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [r.id for r in holder.current.rules] == ["GIFT"] and holder.last_error is None
        path.unlink()  # the file removed: no rules
        assert holder.reload() and len(holder.current) == 0
    finally:
        holder.stop()
        signal.signal(signal.SIGHUP, previous)
