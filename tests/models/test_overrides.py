"""Known labels decide before the model, from their decision time on."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from features.labels import known_labels
from models.overrides import (
    BENIGN_LABEL_RULE,
    SCAM_LABEL_RULE,
    KnownLabel,
    apply_known_label,
    apply_known_labels,
)

T0 = datetime(2026, 8, 1, tzinfo=UTC)
T1 = datetime(2026, 8, 5, tzinfo=UTC)
T2 = datetime(2026, 8, 9, tzinfo=UTC)


def test_a_known_scammer_is_blocked_with_the_label_as_the_first_reason() -> None:
    out = apply_known_label("allow", ["lowers risk: x = 1 (-0.50)"], KnownLabel("fake_client", T0))
    assert out.decision == "block" and out.rule == SCAM_LABEL_RULE
    assert out.reasons == ["labelled fake_client on 2026-08-01", "lowers risk: x = 1 (-0.50)"]


def test_an_analyst_cleared_user_is_at_most_reviewed_until_a_new_report() -> None:
    cleared = KnownLabel("benign", T0)
    capped = apply_known_label("block", ["raises risk: y = 3 (+2.00)"], cleared)
    assert capped.decision == "review" and capped.rule == BENIGN_LABEL_RULE
    assert capped.reasons[0].startswith("labelled benign on 2026-08-01")
    assert apply_known_label("allow", [], cleared).rule is None
    reported = KnownLabel("benign", T0, reports_since=1)
    assert apply_known_label("block", [], reported).decision == "block"


def test_no_label_leaves_the_model_alone() -> None:
    out = apply_known_label("review", ["raises risk: z = 2 (+1.00)"], None)
    assert (out.decision, out.rule) == ("review", None)


def test_a_label_counts_only_from_its_decision_time_and_the_latest_wins() -> None:
    labels = pl.LazyFrame(
        {
            "user_id": ["a", "b", "b", "c"],
            "label": ["fake_client", "fraud_ring", "benign", "payment_fraud"],
            "decided_ts": [T0, T0, T1, T2],
        }
    )
    reports = pl.LazyFrame(
        {"reported_id": ["b", "b", "a"], "ts": [T0, datetime(2026, 8, 6, tzinfo=UTC), T2]},
        schema={"reported_id": pl.String, "ts": pl.Datetime("us", "UTC")},
    )
    known = known_labels(labels, reports, as_of=T2)  # c's label is decided at T2: not before
    assert known["user_id"].to_list() == ["a", "b"]
    assert known.row(1, named=True) == {
        "user_id": "b", "label": "benign", "decided_ts": T1, "reports_since": 1,
    }  # fmt: skip
    assert known.row(0, named=True)["reports_since"] == 0  # a's report at T2 is not before T2


def test_batch_frames_keep_their_rows_and_name_the_rule() -> None:
    scored = pl.DataFrame(
        {
            "user_id": ["a", "b", "z"],
            "risk": [0.01, 0.99, 0.5],
            "decision": ["allow", "block", "review"],
            "reasons": [["lowers risk: q = 1 (-1.00)"], ["raises risk: q = 9 (+3.00)"], []],
        }
    )
    known = pl.DataFrame(
        {"user_id": ["a", "b"], "label": ["fake_client", "benign"], "decided_ts": [T0, T1],
         "reports_since": [0, 0]},
        schema={"user_id": pl.String, "label": pl.String, "decided_ts": pl.Datetime("us", "UTC"),
                "reports_since": pl.UInt32},
    )  # fmt: skip
    out = apply_known_labels(scored, known)
    assert out["user_id"].to_list() == ["a", "b", "z"]
    assert out["decision"].to_list() == ["block", "review", "review"]
    assert out["override"].to_list() == [SCAM_LABEL_RULE, BENIGN_LABEL_RULE, None]
    assert out["risk"].to_list() == [0.01, 0.99, 0.5]  # the model's risk is kept as it was
