"""The online store answers "what is known about this user" as of an instant, like the batch side."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from features.online import OnlineStore, to_micros
from scamguard.events import LabelEvent, ReportEvent, SignupEvent

T0 = datetime(2026, 8, 1, tzinfo=UTC)
T1 = datetime(2026, 8, 5, tzinfo=UTC)
T2 = datetime(2026, 8, 9, tzinfo=UTC)


def _signup(user_id: str) -> SignupEvent:
    return SignupEvent(
        event_type="signup", user_id=user_id, ts=T0, role="client", country="US",
        email_domain="example.com", phone_country="US", ip="10.0.0.1", device_id=f"d-{user_id}",
    )  # fmt: skip


def test_a_label_is_known_only_after_its_decision_and_reports_since_are_counted(
    tmp_path: Path,
) -> None:
    store = OnlineStore(tmp_path / "store.sqlite")
    for event in (_signup("u1"), _signup("u2")):
        store.ingest(event.table, event.to_row())
    label = LabelEvent(event_type="label", user_id="u1", ts=T1, label="benign")
    store.ingest(label.table, label.to_row())
    assert store.known_label("u1", T1) is None  # decided at T1: not strictly before it
    assert store.known_label("u1", T2) == ("benign", to_micros(T1), 0)
    report = ReportEvent(
        event_type="report", user_id="u2", ts=datetime(2026, 8, 6, tzinfo=UTC),
        reported_id="u1", reason="spam",
    )  # fmt: skip
    store.ingest(report.table, report.to_row())
    assert store.known_label("u1", T2) == ("benign", to_micros(T1), 1)
    assert store.known_label("u2", T2) is None
    store.close()
