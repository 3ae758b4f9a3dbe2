"""Evidence-group layout: the explicit column table, the text-model rule, costs."""

from __future__ import annotations

import numpy as np
import pytest

from agent.groups import DEFAULT_COSTS, GROUPS, build_layout
from agent.index import SIMILAR_COLUMNS
from scamguard.costs import CostModel

BASE = [
    "is_client",
    "messages_1h",
    "kyc_verified",
    "account_age_days",
    "messages_7d",
    "new_devices_30d",
    "msg_link_30d",
    "jobs_flagged_text",
    "known_bad_neighbors",
    "chargebacks_total",
    "reports_30d",
    *SIMILAR_COLUMNS,
]


def test_every_group_gets_its_columns_and_default_costs() -> None:
    layout = build_layout(BASE)
    assert layout.groups == GROUPS
    assert layout.group_columns("profile") == ["kyc_verified", "account_age_days"]
    assert layout.group_columns("graph") == ["known_bad_neighbors"]
    assert layout.group_columns("payments") == ["chargebacks_total", "reports_30d"]
    assert layout.group_columns("similar_cases") == list(SIMILAR_COLUMNS)
    assert dict(zip(layout.groups, layout.costs, strict=True)) == DEFAULT_COSTS


def test_default_costs_are_the_cost_models_evidence_costs_for_every_group() -> None:
    assert list(DEFAULT_COSTS) == list(GROUPS)
    assert DEFAULT_COSTS == CostModel().evidence.by_group()
    assert DEFAULT_COSTS["event"] == 0.0 and DEFAULT_COSTS["graph"] == 1.0


def test_text_heuristics_are_the_text_model_group_without_textmodel_columns() -> None:
    layout = build_layout(BASE)
    assert layout.text_model_source == "text_heuristics"
    assert layout.group_columns("text_model") == ["msg_link_30d", "jobs_flagged_text"]
    assert layout.group_columns("event") == ["is_client", "messages_1h"]


def test_textmodel_columns_take_the_text_model_group_and_heuristics_move_to_event() -> None:
    layout = build_layout([*BASE, "textmodel_msg_max_30d", "textmodel_max"])
    assert layout.text_model_source == "text_scores"
    assert layout.group_columns("text_model") == ["textmodel_msg_max_30d", "textmodel_max"]
    assert "msg_link_30d" in layout.group_columns("event")


def test_unknown_columns_are_left_out_and_listed() -> None:
    layout = build_layout([*BASE, "brand_new_feature"])
    assert layout.unassigned == ("brand_new_feature",)
    assert "brand_new_feature" not in layout.columns


def test_cost_overrides_and_their_checks() -> None:
    layout = build_layout(BASE, costs={"graph": 9.0})
    assert layout.costs[GROUPS.index("graph")] == 9.0
    assert layout.cost_of(layout.full_mask) == pytest.approx(
        sum(DEFAULT_COSTS.values()) - 1.0 + 9.0
    )
    with pytest.raises(ValueError, match="event"):
        build_layout(BASE, costs={"event": 1.0})
    with pytest.raises(ValueError, match="unknown"):
        build_layout(BASE, costs={"astrology": 1.0})
    with pytest.raises(ValueError, match="no columns"):
        build_layout(BASE[:4])


def test_column_mask_follows_the_group_bits() -> None:
    layout = build_layout(BASE)
    mask = layout.event_mask | 1 << GROUPS.index("graph")
    cols = layout.column_mask(np.asarray([mask]))[0]
    assert [c for c, on in zip(layout.columns, cols, strict=True) if on] == [
        "is_client",
        "messages_1h",
        "known_bad_neighbors",
    ]
