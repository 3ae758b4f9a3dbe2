"""Evidence groups: which feature columns each investigation action reveals, and what it costs.

One explicit table, :data:`COLUMN_FAMILIES`, maps every feature column of the training table
(``features.build``) to a *family*; :data:`FAMILY_GROUP` maps families to evidence groups. The one
conditional row is the text heuristics (``msg_*_30d``, flagged job posts and proposals):

* when the table has ``textmodel_*`` columns (``features.text_scores``, written by
  ``scamguard text-features`` to ``features/training_text.parquet``), those are the ``text_model``
  group and the heuristics are part of the free ``event`` group (the event's own text heuristics);
* when it has none, the heuristic aggregates *are* the ``text_model`` group (the closest thing to a
  text score the table has), and ``event`` is the role plus the last hour's activity.

``similar_cases`` columns (``similar_*``) are not in the feature table: ``agent.index`` derives
them from the FAISS nearest labelled training cases. Columns in no family (a feature someone adds
later) are left out of every group and listed in :attr:`GroupLayout.unassigned`.

Group costs default to the evidence costs of the one cost model, ``scamguard.costs.CostModel``
(event 0, profile 0.2, velocity 0.2, text_model 0.6, similar_cases 0.8, graph 1, payments 1: the
design's table 0/1/1/3/4/5/5 in the unit of the decision costs), and are configurable per run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from scamguard.costs import CostModel

EVENT = "event"
PROFILE = "profile"
VELOCITY = "velocity"
TEXT_MODEL = "text_model"
SIMILAR_CASES = "similar_cases"
GRAPH = "graph"
PAYMENTS = "payments"

# Group order fixes the mask bit of each group: bit i <=> GROUPS[i]. ``event`` is always revealed.
GROUPS: tuple[str, ...] = (EVENT, PROFILE, VELOCITY, TEXT_MODEL, SIMILAR_CASES, GRAPH, PAYMENTS)
# The default cost model's evidence costs, group -> cost (``CostModel().evidence``).
DEFAULT_COSTS: dict[str, float] = CostModel().evidence.by_group()
GROUP_DESCRIPTIONS: dict[str, str] = {
    EVENT: "the event, the account's role and the last hour's activity",
    PROFILE: "account age, KYC, email domain, phone country, profile text",
    VELOCITY: "activity counts over 24h / 7d / 30d, new devices and countries",
    TEXT_MODEL: "text scores of recent messages, job posts and proposals",
    SIMILAR_CASES: "nearest past labelled cases (FAISS index)",
    GRAPH: "links to known-bad users through shared devices, IPs, instruments",
    PAYMENTS: "payment history, chargebacks, payout changes, reports received",
}

_WINDOWS_LATER = ("24h", "7d", "30d")
_KINDS = ("messages", "jobs", "proposals", "payments", "logins", "failed_logins", "recipients")

TEXT_HEURISTICS = "text_heuristics"
TEXT_SCORES = "text_scores"
SIMILAR_PREFIX = "similar_"
TEXTMODEL_PREFIX = "textmodel_"

# column -> family: the explicit table (prefix families ``textmodel_*`` / ``similar_*`` below).
COLUMN_FAMILIES: dict[str, str] = {
    "is_client": EVENT,
    **{f"{kind}_1h": EVENT for kind in _KINDS},
    "kyc_verified": PROFILE,
    "kyc_failed": PROFILE,
    "kyc_none": PROFILE,
    "email_disposable": PROFILE,
    "email_free": PROFILE,
    "phone_country_mismatch": PROFILE,
    "profile_text_len": PROFILE,
    "profile_text_flags": PROFILE,
    "account_age_days": PROFILE,
    "profile_text_copies": PROFILE,
    **{f"{kind}_{w}": VELOCITY for kind in _KINDS for w in _WINDOWS_LATER},
    "new_devices_7d": VELOCITY,
    "new_devices_30d": VELOCITY,
    "devices_total": VELOCITY,
    "new_countries_7d": VELOCITY,
    "new_countries_30d": VELOCITY,
    "countries_total": VELOCITY,
    "msg_link_30d": TEXT_HEURISTICS,
    "msg_contact_30d": TEXT_HEURISTICS,
    "msg_money_30d": TEXT_HEURISTICS,
    "msg_urgency_30d": TEXT_HEURISTICS,
    "msg_off_platform_30d": TEXT_HEURISTICS,
    "msg_flagged_share_30d": TEXT_HEURISTICS,
    "msg_multi_flag_30d": TEXT_HEURISTICS,
    "jobs_flagged_text": TEXT_HEURISTICS,
    "job_budget_max": TEXT_HEURISTICS,
    "proposals_flagged_text": TEXT_HEURISTICS,
    "proposals_pay_outside": TEXT_HEURISTICS,
    "component_size": GRAPH,
    "known_bad_in_component": GRAPH,
    "shared_device_users": GRAPH,
    "shared_ip_users": GRAPH,
    "shared_instrument_users": GRAPH,
    "linked_users": GRAPH,
    "known_bad_neighbors": GRAPH,
    "charges_total": PAYMENTS,
    "chargebacks_total": PAYMENTS,
    "charge_instruments": PAYMENTS,
    "charge_amount_max_30d": PAYMENTS,
    "payouts_new_instrument_7d": PAYMENTS,
    "payout_amount_7d": PAYMENTS,
    "reports_7d": PAYMENTS,
    "reports_30d": PAYMENTS,
    "reporters_total": PAYMENTS,
}


def column_family(column: str) -> str | None:
    """The family of ``column`` (a group name, ``text_heuristics`` or ``text_scores``), or None."""
    if column.startswith(TEXTMODEL_PREFIX):
        return TEXT_SCORES
    if column.startswith(SIMILAR_PREFIX):
        return SIMILAR_CASES
    return COLUMN_FAMILIES.get(column)


def family_group(family: str, *, has_text_scores: bool) -> str:
    """The evidence group of a family; see the module docstring for the text rule."""
    if family == TEXT_SCORES:
        return TEXT_MODEL
    if family == TEXT_HEURISTICS:
        return EVENT if has_text_scores else TEXT_MODEL
    return family


@dataclass(frozen=True)
class GroupLayout:
    """The evidence groups over one ordered list of feature columns.

    ``columns`` [D] is the order of every value vector the agent handles; ``group_of`` [D] gives
    each column's group index into ``groups``; ``costs`` [G] are the reveal costs. A mask is a
    bool vector [G] (or an int with bit ``i`` for ``groups[i]``); bit 0 (``event``) is always set.
    """

    columns: tuple[str, ...]
    group_of: np.ndarray = field(repr=False)  # [D] int, index into groups
    costs: np.ndarray = field(repr=False)  # [G] float
    groups: tuple[str, ...] = GROUPS
    unassigned: tuple[str, ...] = ()
    text_model_source: str = TEXT_SCORES  # TEXT_SCORES or TEXT_HEURISTICS

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    @property
    def n_features(self) -> int:
        return len(self.columns)

    @property
    def full_mask(self) -> int:
        return (1 << self.n_groups) - 1

    @property
    def event_mask(self) -> int:
        return 1  # only the free event group

    def group_columns(self, group: str | int) -> list[str]:
        """The columns ``group`` reveals, in layout order."""
        g = self.groups.index(group) if isinstance(group, str) else group
        return [c for c, gi in zip(self.columns, self.group_of, strict=True) if gi == g]

    def column_mask(self, masks: np.ndarray) -> np.ndarray:
        """Which columns are revealed: bool [B, D] for integer masks [B]."""
        masks = np.asarray(masks, dtype=np.int64).reshape(-1)
        bits = (masks[:, None] >> np.arange(self.n_groups)[None, :]) & 1  # [B, G]
        return bits[:, self.group_of].astype(bool)

    def mask_bits(self, masks: np.ndarray) -> np.ndarray:
        """Bool [B, G] of integer masks [B]."""
        masks = np.asarray(masks, dtype=np.int64).reshape(-1)
        return ((masks[:, None] >> np.arange(self.n_groups)[None, :]) & 1).astype(bool)

    def cost_of(self, mask: int) -> float:
        """Total reveal cost of the groups in ``mask``."""
        return float(sum(self.costs[g] for g in range(self.n_groups) if mask >> g & 1))

    def describe(self) -> list[dict]:
        """One dict per group: name, cost, columns, description (for reports and MLflow)."""
        return [
            {
                "group": name,
                "cost": float(self.costs[g]),
                "columns": self.group_columns(g),
                "description": GROUP_DESCRIPTIONS.get(name, ""),
            }
            for g, name in enumerate(self.groups)
        ]


def build_layout(
    columns: Sequence[str], *, costs: Mapping[str, float] | None = None
) -> GroupLayout:
    """The layout of the feature ``columns`` that belong to a group (others: ``unassigned``).

    ``costs`` overrides :data:`DEFAULT_COSTS` per group; ``event`` must cost 0 (always known).
    Every group must have at least one column, else ValueError.
    """
    merged = {**DEFAULT_COSTS, **(dict(costs) if costs else {})}
    unknown = set(merged) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown evidence groups in costs: {sorted(unknown)}")
    if merged[EVENT] != 0:
        raise ValueError("the event group is always known: its cost must be 0")
    if any(v < 0 for v in merged.values()):
        raise ValueError(f"evidence costs must be non-negative: {merged}")
    has_text_scores = any(c.startswith(TEXTMODEL_PREFIX) for c in columns)
    kept: list[str] = []
    group_of: list[int] = []
    unassigned: list[str] = []
    for column in columns:
        family = column_family(column)
        if family is None:
            unassigned.append(column)
            continue
        kept.append(column)
        group_of.append(GROUPS.index(family_group(family, has_text_scores=has_text_scores)))
    empty = [g for i, g in enumerate(GROUPS) if i not in set(group_of)]
    if empty:
        raise ValueError(f"no columns for evidence groups {empty} among {len(columns)} columns")
    return GroupLayout(
        columns=tuple(kept),
        group_of=np.asarray(group_of, dtype=np.int64),
        costs=np.asarray([merged[g] for g in GROUPS], dtype=np.float64),
        unassigned=tuple(unassigned),
        text_model_source=TEXT_SCORES if has_text_scores else TEXT_HEURISTICS,
    )
