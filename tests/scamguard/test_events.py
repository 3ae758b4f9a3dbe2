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
