"""The trained agent's recommendation for a few cases at once (the review queue's column).

:func:`recommend` plays each row of a feature table with the trained agent (``agent-train``) and
returns its decision (allow / block / escalate), its posterior when it decided, the evidence groups
it revealed and their cost. One episode is tens of milliseconds of search per case
(docs/results/agent.md), so callers pass the few rows a person will look at, not a whole day.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from agent.env import InvestigationEnv
from agent.episode import run_episode
from agent.trail import load_bundle
from scamguard.settings import Settings


def recommend(settings: Settings, features: pl.DataFrame) -> dict[str, dict[str, Any]] | None:
    """``user_id`` -> ``{decision, posterior, groups, evidence_cost}`` for each row of
    ``features`` (``user_id``, ``as_of`` and feature columns; a missing column is "no data");
    None when no agent is trained."""
    try:
        bundle = load_bundle(settings)
    except FileNotFoundError:
        return None
    if features.height == 0:
        return {}
    cases = bundle.cases_from_table(features)
    # the labels are unknown here: the environment only serves the cases' values on request
    env = InvestigationEnv(
        bundle.layout, cases.values, np.zeros(features.height, np.int8), costs=bundle.costs
    )
    policy = bundle.policy()
    out: dict[str, dict[str, Any]] = {}
    for i, user_id in enumerate(cases.user_id):
        owner = int(cases.owners[i])
        episode = run_episode(policy, env, i, owner=owner if owner >= 0 else None)
        out[str(user_id)] = {
            "decision": episode.decision,
            "posterior": float(episode.steps[-1].belief_before),
            "groups": list(episode.groups_revealed),
            "evidence_cost": float(episode.evidence_cost),
        }
    return out
