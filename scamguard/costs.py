"""One cost model: what every outcome and every piece of evidence costs, in one unit.

Every price is in one arbitrary unit per decided case (think "dollars of harm"); only the ratios
matter. The same numbers drive

* the risk model's decision thresholds (``models.decisions``): allow / review / block from the
  calibrated scam probability, with ``review_capacity`` bounding the share sent to humans;
* the promotion guard (``models.compare``): a challenger is promoted only on a lower expected
  cost per row under these prices;
* the investigation agent (``agent``): its evidence lookups cost ``evidence``, and its final
  decision allow / block / escalate costs ``missed_scam`` / ``wrongful_block`` / ``review`` (an
  escalation is a human review).

:class:`CostModel` is a field of :class:`scamguard.settings.Settings` (``settings.costs``), so
each price can be set from the environment, e.g. ``SCAMGUARD_COSTS__MISSED_SCAM=150`` or
``SCAMGUARD_COSTS__EVIDENCE__GRAPH=2``; the ``train`` and ``agent-train`` commands take options
that override it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

EVENT_GROUP = "event"  # the event itself: always known, costs nothing


def _check_cost(name: str, value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite cost >= 0, got {value}")
    return value


class EvidenceCosts(BaseModel):
    """What the investigation agent pays to look up each evidence group (``agent.groups``), in the
    unit of :class:`CostModel`. The ``event`` group is always known and costs 0; it is not a field.

    Defaults: the account's own records are cheap (profile, velocity), model scores and the
    nearest-cases index cost more, and the graph and payment lookups cost most; the dearest
    lookup costs half a human review.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    profile: float = 0.2  # account age, KYC, email domain, phone country, profile text
    velocity: float = 0.2  # activity counts over 24h / 7d / 30d
    text_model: float = 0.6  # text scores of recent messages, job posts and proposals
    similar_cases: float = 0.8  # the nearest labelled past cases
    graph: float = 1.0  # links to known-bad users
    payments: float = 1.0  # payment history, chargebacks, payout changes

    @field_validator("*")
    @classmethod
    def _non_negative(cls, value: float, info: Any) -> float:
        return _check_cost(f"evidence.{info.field_name}", value)

    def by_group(self) -> dict[str, float]:
        """Group name -> cost, the free ``event`` group first (``agent.groups.GROUPS`` order)."""
        return {EVENT_GROUP: 0.0, **self.model_dump()}


class CostModel(BaseModel):
    """The prices of outcomes and evidence, in one unit (see the module docstring).

    For a case with scam probability ``p``:

    * ``missed_scam``: a scam that is allowed through (the victim's loss and the platform's);
    * ``wrongful_block``: a good user who is blocked (support, churn);
    * ``review``: a human review (the agent's "escalate"), which always reaches the right answer;
      the right allow / block costs nothing;
    * ``review_capacity``: the most the reviewers can take, as a fraction of the scored rows in
      [0, 1] (the risk model's thresholds respect it; the agent does not use it);
    * ``evidence``: the agent's lookup cost per evidence group.

    Defaults: a missed scam costs five wrongful blocks, a wrongful block ten reviews, and a review
    more than any single lookup (else escalating would beat gathering evidence).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    missed_scam: float = 100.0
    wrongful_block: float = 20.0
    review: float = 2.0
    review_capacity: float = 0.05
    evidence: EvidenceCosts = EvidenceCosts()

    @field_validator("missed_scam", "wrongful_block", "review")
    @classmethod
    def _non_negative(cls, value: float, info: Any) -> float:
        return _check_cost(info.field_name, value)

    @field_validator("review_capacity")
    @classmethod
    def _a_fraction(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:  # NaN fails too
            raise ValueError(
                f"review_capacity is a fraction of the scored rows and must be in [0, 1], got {value}"
            )
        return value

    def replace(self, **changes: Any) -> CostModel:
        """A validated copy with ``changes`` (``model_copy(update=...)`` would not validate)."""
        return CostModel.model_validate({**self.model_dump(), **changes})

    def with_evidence(self, overrides: Mapping[str, float] | None) -> CostModel:
        """A validated copy with the evidence costs of some groups replaced (group -> cost).

        ValueError names unknown groups, and an ``event`` cost other than 0.
        """
        overrides = dict(overrides or {})
        if overrides.pop(EVENT_GROUP, 0.0) != 0:
            raise ValueError("the event group is always known: its cost must be 0")
        unknown = sorted(set(overrides) - set(EvidenceCosts.model_fields))
        if unknown:
            raise ValueError(
                f"unknown evidence groups {unknown}; known: {list(EvidenceCosts.model_fields)}"
            )
        return self.replace(evidence={**self.evidence.model_dump(), **overrides})

    def as_params(self, *, evidence: bool = False) -> dict[str, float]:
        """Flat ``cost_*`` entries for MLflow params: the decision prices and the review capacity,
        and with ``evidence`` one ``cost_evidence_<group>`` per group."""
        params = {f"cost_{k}": float(v) for k, v in self.model_dump(exclude={"evidence"}).items()}
        if evidence:
            params |= {f"cost_evidence_{g}": v for g, v in self.evidence.model_dump().items()}
        return params


def describe_invalid(exc: ValueError) -> str:
    """One line for a rejected cost model: the reason of each invalid field, without pydantic's
    framing (type, input, URL)."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    parts = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        where = ".".join(str(p) for p in error["loc"])
        parts.append(message if error["type"] == "value_error" else f"{where}: {message}")
    return "; ".join(parts)
