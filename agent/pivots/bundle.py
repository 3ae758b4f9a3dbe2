"""What the pivot planner needs at decision time, saved under ``<data_dir>/agent/pivots/``.

``scamguard agent-train-pivots`` fits the graph model (``agent.pivots.belief.GraphModel``: the
neighbour tables and Platt maps, a few hundred numbers) with the trained agent's masked belief,
so the accounts' review bins and the case's ``p0`` at investigation time come from the same
belief the model was fitted with. ``pivots.json`` holds the model's arrays as lists (floats
round-trip exactly) and how it was fitted (the graph bound, the start mask of its Platt maps, the
agent it was fitted with). Loading does no training; the masked belief stays in the agent's
bundle (``agent.bundle``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.bundle import bundle_dir
from agent.pivots.belief import GraphModel

if TYPE_CHECKING:
    from agent.bundle import AgentBundle
    from scamguard.settings import Settings

PIVOTS_DIR = "pivots"
_FILE = "pivots.json"
_ARRAYS = ("likelihood", "member_scam", "unreviewed_scam", "platt")


def pivot_dir(data_dir: Path) -> Path:
    return bundle_dir(data_dir) / PIVOTS_DIR


@dataclass
class PivotBundle:
    """A fitted graph model and how it was fitted (``info``: ``own_mask``, ``max_identifiers``,
    ``max_accounts``, ``seed``, ``trained_at``, ``agent_trained_at``, case counts)."""

    model: GraphModel
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def max_identifiers(self) -> int:
        return int(self.info.get("max_identifiers", 3))

    @property
    def max_accounts(self) -> int:
        return int(self.info.get("max_accounts", 3))

    def save(self, directory: Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {name: np.asarray(getattr(self.model, name)).tolist() for name in _ARRAYS}
        payload = {"model": arrays, "info": self.info}
        (directory / _FILE).write_text(json.dumps(payload, indent=1, default=str))
        return directory

    @classmethod
    def load(cls, directory: Path) -> PivotBundle:
        """FileNotFoundError when ``directory`` holds no pivot model."""
        path = Path(directory) / _FILE
        if not path.exists():
            raise FileNotFoundError(
                f"no pivot model under {Path(directory)}: run `scamguard agent-train-pivots`"
            )
        payload = json.loads(path.read_text())
        arrays = {name: np.asarray(payload["model"][name], dtype=np.float64) for name in _ARRAYS}
        return cls(GraphModel(**arrays), payload["info"])


def fit_pivot_bundle(
    settings: Settings,
    agent: AgentBundle,
    *,
    own_mask: int = 1,
    max_identifiers: int = 3,
    max_accounts: int = 3,
    seed: int = 0,
) -> PivotBundle:
    """Fit the graph model on the agent's training table with the agent's belief (tables on
    train, Platt on valid at ``own_mask``); the case graphs as in ``agent-eval-pivots``."""
    from agent.pivots.world import build_pivot_data

    layout = agent.layout
    table = agent.info.get("table")
    data = build_pivot_data(
        settings,
        own_mask=own_mask,
        max_identifiers=max_identifiers,
        max_accounts=max_accounts,
        seed=seed,
        belief=agent.belief,
        table_path=Path(table) if table else None,
        group_costs={g: float(c) for g, c in zip(layout.groups, layout.costs, strict=True)},
    )
    splits = data.data.splits
    info = {
        "own_mask": own_mask,
        "max_identifiers": max_identifiers,
        "max_accounts": max_accounts,
        "seed": seed,
        "trained_at": datetime.now(UTC).isoformat(),
        "agent_trained_at": agent.info.get("trained_at"),
        "cases": {name: int(part.size) for name, part in splits.items()},
        "cases_with_graph": {
            name: sum(bool(g.identifiers) for g in graphs) for name, graphs in data.graphs.items()
        },
    }
    return PivotBundle(data.model, info)
