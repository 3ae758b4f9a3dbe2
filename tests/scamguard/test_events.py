"""Each endpoint event is exactly one row of its raw table: the contract's columns, no more."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from scamguard.events import RECORDED_ONLY_EVENTS, SCORED_EVENTS, RecordedEvent
from scamguard.schema import TABLES

TS = datetime(2026, 8, 1, 12, tzinfo=UTC)
EXAMPLES: dict[str, dict[str, object]] = {
    "signup": {"role": "client", "country": "US", "email_domain": "example.com",
               "phone_country": "US", "ip": "10.0.0.1", "device_id": "d1"},
    "login": {"ip": "10.0.0.1", "device_id": "d1", "country": "US"},
    "job_post": {"job_id": "j1", "title": "Logo", "description": "A logo", "budget_usd": 50.0,
                 "category": "design"},
    "proposal": {"job_id": "j1", "bid_usd": 40.0, "cover_text": "Hi"},
    "message": {"recipient_id": "u2", "text": "hello"},
    "payment": {"payee_id": "u2", "amount_usd": 10.0, "instrument_id": "card1", "kind": "charge"},
    "report": {"reported_id": "u2", "reason": "spam"},
    "label": {"label": "fake_client"},
}  # fmt: skip


def _event(event_type: str) -> RecordedEvent:
    body = {"event_type": event_type, "user_id": "u1", "ts": TS, "event_id": "e1"}
    return TypeAdapter(RecordedEvent).validate_python(body | EXAMPLES[event_type])


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_an_event_is_a_row_of_its_table_with_every_contract_column(event_type: str) -> None:
    event = _event(event_type)
    row = event.to_row()
    assert set(row) == set(TABLES[event.table].columns)
    assert TABLES[event.table].time_column in row and row[TABLES[event.table].time_column] == TS


def test_every_event_type_is_covered_once() -> None:
    kinds = [
        str(cls.model_fields["event_type"].annotation)
        for cls in SCORED_EVENTS + RECORDED_ONLY_EVENTS
    ]
    assert len(kinds) == len(set(kinds)) == len(EXAMPLES)


def test_a_misspelt_field_is_rejected_by_name() -> None:
    with pytest.raises(ValidationError, match="recipent_id"):
        TypeAdapter(RecordedEvent).validate_python(
            {"event_type": "message", "user_id": "u1", "recipent_id": "u2", "text": "hi"}
        )


def _validate(event_type: str, **overrides: object) -> RecordedEvent:
    body = {"event_type": event_type, "user_id": "u1"} | EXAMPLES[event_type] | overrides
    return TypeAdapter(RecordedEvent).validate_python(body)


@pytest.mark.parametrize("ip", ["10.0.0.1", "2001:db8::1", "::ffff:192.0.2.1", "fe80::1%eth0"])
def test_an_ipv4_or_ipv6_address_is_kept_as_sent(ip: str) -> None:
    assert _validate("login", ip=ip).to_row()["ip"] == ip


@pytest.mark.parametrize("ip", ["not-an-ip", "256.0.0.1", "10.0.0", "1.2.3.4/24", "2001:db8::g"])
def test_a_malformed_ip_is_rejected_naming_the_field(ip: str) -> None:
    with pytest.raises(ValidationError) as raised:
        _validate("signup", ip=ip)
    (error,) = raised.value.errors()
    assert error["loc"] == ("signup", "ip") and "not a valid IPv4 or IPv6 address" in error["msg"]


@pytest.mark.parametrize(
    ("event_type", "field", "value"),
    [
        ("login", "device_id", "dev 1"),
        ("signup", "email_domain", "a..example.com"),
        ("signup", "email_domain", "example"),
        ("signup", "email_domain", "-x.example.com"),
        ("payment", "instrument_id", "card 1"),
        ("job_post", "budget_usd", "50"),
        ("payment", "amount_usd", True),
        ("login", "success", "yes"),
        ("login", "ts", "1999-12-31T23:59:59Z"),  # before EARLIEST_TS: a corrupt timestamp
        ("login", "ts", "9999-12-31T23:00:00-05:00"),  # past datetime.max once in UTC
    ],
)
def test_strict_fields_reject_loose_values(event_type: str, field: str, value: object) -> None:
    with pytest.raises(ValidationError) as raised:
        _validate(event_type, **{field: value})
    assert [e["loc"] for e in raised.value.errors()] == [(event_type, field)]


def test_naive_times_are_read_as_utc_and_aware_ones_converted() -> None:
    assert _validate("login", ts="2026-08-01T12:00:00").ts == TS
    assert _validate("login", ts="2026-08-01T14:00:00+02:00").ts == TS
