"""Everything a trained agent needs at decision time, saved under ``<data_dir>/agent/``.

Files: ``agent.json`` (layout, the cost model, search and completion settings, the tuned fixed-order
baseline, run info), ``belief.lgb.txt`` + ``belief.json`` (the masked belief), ``network.pt``
(policy / value weights), ``cases.npz`` (the training cases the FAISS indexes are rebuilt from,
with standardizer state and the completion pool's ``similar_*``, see ``agent.data``) and
``user_codes.json``. Loading rebuilds the indexes (exact flat indexes: a few hundred ms for ~70k
cases) and does no training.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from agent.baselines import FixedOrderTuning
from agent.belief import MaskedBelief
from agent.data import AgentData, CaseSet, pool_values
from agent.groups import GroupLayout
from agent.index import SIMILAR_COLUMNS, SimilarCases, Standardizer
from agent.network import NetConfig, PolicyValueNet, make_network
from agent.planner import CaseModel
from agent.policy import MCTSPolicy
from scamguard.costs import CostModel

BUNDLE_DIR = "agent"


def bundle_dir(data_dir: Path) -> Path:
    return Path(data_dir) / BUNDLE_DIR


def _layout_dict(layout: GroupLayout) -> dict:
    return {
        "columns": list(layout.columns),
        "group_of": layout.group_of.tolist(),
        "costs": layout.costs.tolist(),
        "groups": list(layout.groups),
        "unassigned": list(layout.unassigned),
        "text_model_source": layout.text_model_source,
    }


def _layout_from(d: dict) -> GroupLayout:
    return GroupLayout(
        columns=tuple(d["columns"]),
        group_of=np.asarray(d["group_of"], dtype=np.int64),
        costs=np.asarray(d["costs"], dtype=np.float64),
        groups=tuple(d["groups"]),
        unassigned=tuple(d["unassigned"]),
        text_model_source=d["text_model_source"],
    )


@dataclass
class AgentBundle:
    """A trained agent (see the module docstring). ``search`` holds the MCTS keyword arguments,
    ``completion`` those of :class:`~agent.planner.CaseModel`."""

    layout: GroupLayout
    costs: CostModel
    belief: MaskedBelief
    base_standardizer: Standardizer
    standardizer: Standardizer
    similar: SimilarCases
    train: CaseSet
    pool_similar: np.ndarray = field(repr=False)  # [N, 3] similar_* of train at the window's end
    user_codes: dict[str, int] = field(repr=False)
    net: PolicyValueNet = field(repr=False)
    search: dict[str, Any] = field(default_factory=dict)
    completion: dict[str, Any] = field(default_factory=dict)
    fixed_order: FixedOrderTuning | None = None
    info: dict[str, Any] = field(default_factory=dict)
    _model: CaseModel | None = field(default=None, repr=False)

    @classmethod
    def from_data(
        cls,
        data: AgentData,
        *,
        costs: CostModel,
        belief: MaskedBelief,
        net: PolicyValueNet,
        search: dict[str, Any],
        completion: dict[str, Any],
        fixed_order: FixedOrderTuning | None,
        info: dict[str, Any],
    ) -> AgentBundle:
        return cls(
            layout=data.layout,
            costs=costs,
            belief=belief,
            base_standardizer=data.base_standardizer,
            standardizer=data.standardizer,
            similar=data.similar,
            train=data.train,
            pool_similar=data.pool_similar,
            user_codes=data.user_codes,
            net=net,
            search=search,
            completion=completion,
            fixed_order=fixed_order,
            info=info,
        )

    # ------------------------------------------------------------------------------ use
    def case_model(self) -> CaseModel:
        """The completion model over the training cases (built once, then reused)."""
        if self._model is None:
            self._model = CaseModel(
                self.layout,
                self.belief,
                self.standardizer,
                pool_values(self.layout, self.train.values, self.pool_similar),
                self.train.labels,
                self.train.owners,
                **self.completion,
            )
        return self._model

    def policy(self, *, net: PolicyValueNet | None = None, name: str = "mcts") -> MCTSPolicy:
        """The MCTS policy with the trained network (or ``net``) and the saved search settings."""
        return MCTSPolicy(self.case_model(), net or self.net, self.costs, name=name, **self.search)

    def untrained_net(self, *, seed: int = 0) -> PolicyValueNet:
        """A freshly initialised network of the same shape (the untrained baseline)."""
        return make_network(self.net.config, seed=seed)

    def similar_values(
        self, values: np.ndarray, as_of: np.ndarray, owners: np.ndarray
    ) -> np.ndarray:
        """``similar_*`` [B, 3] for case values [B, D] at ``as_of`` [B] (skipping ``owners`` [B])."""
        z = self.base_standardizer.transform(values)
        bits = np.ones((values.shape[0], self.layout.n_groups), dtype=bool)
        bits[:, self.layout.groups.index("similar_cases")] = False
        seconds = as_of.astype("datetime64[us]").astype(np.int64) / 1e6
        return self.similar.features(z, bits, seconds, owners)

    def cases_from_table(self, table: pl.DataFrame) -> CaseSet:
        """The rows of ``table`` as cases in this agent's layout, ``similar_*`` computed from the
        training cases (a column the table lacks is NaN: no data)."""
        base_cols = [c for c in self.layout.columns if c not in SIMILAR_COLUMNS]
        values = np.full((table.height, self.layout.n_features), np.nan)
        present = [c for c in base_cols if c in table.columns]
        idx = [self.layout.columns.index(c) for c in present]
        if present:
            values[:, idx] = table.select(pl.col(c).cast(pl.Float64) for c in present).to_numpy()
        users = table["user_id"].to_list()
        owners = np.asarray([self.user_codes.get(u, -1) for u in users], dtype=np.int64)
        as_of = table["as_of"].dt.replace_time_zone(None).to_numpy().astype("datetime64[us]")
        sim = [self.layout.columns.index(c) for c in SIMILAR_COLUMNS]
        if table.height:
            values[:, sim] = self.similar_values(values, as_of, owners)
        labels = (
            table["label"].cast(pl.Int8).to_numpy()
            if "label" in table.columns
            else np.zeros(table.height, np.int8)
        )
        typology = (
            table["typology"].to_numpy()
            if "typology" in table.columns
            else np.full(table.height, "")
        )
        return CaseSet(
            user_id=np.asarray(users, dtype=object),
            as_of=as_of,
            typology=np.asarray(typology, dtype=object),
            values=values,
            labels=labels,
            owners=owners,
        )

    # ------------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.belief.save(directory)
        torch.save(self.net.state_dict(), directory / "network.pt")
        t = self.train
        arrays: dict[str, np.ndarray] = {
            "values": t.values,
            "labels": t.labels,
            "owners": t.owners,
            "user_id": t.user_id.astype(str),
            "as_of": t.as_of.astype("datetime64[us]").astype(np.int64),
            "typology": t.typology.astype(str),
            "decided_at": self.similar.decided_at,
            "pool_similar": self.pool_similar,
            **{f"base_{k}": v for k, v in self.base_standardizer.state().items()},
            **{f"std_{k}": v for k, v in self.standardizer.state().items()},
        }
        np.savez_compressed(directory / "cases.npz", **arrays)  # type: ignore[arg-type]
        (directory / "user_codes.json").write_text(json.dumps(self.user_codes))
        meta = {
            "layout": _layout_dict(self.layout),
            "costs": self.costs.model_dump(),
            "network": self.net.config.as_dict(),
            "search": {k: list(v) if isinstance(v, tuple) else v for k, v in self.search.items()},
            "completion": self.completion,
            "similar": {"k": self.similar.k, "scam_candidates": self.similar.scam_candidates},
            "fixed_order": None if self.fixed_order is None else asdict(self.fixed_order),
            "info": self.info,
        }
        (directory / "agent.json").write_text(json.dumps(meta, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: Path) -> AgentBundle:
        """Load a saved agent; FileNotFoundError if ``directory`` holds none."""
        directory = Path(directory)
        if not (directory / "agent.json").exists():
            raise FileNotFoundError(
                f"no trained agent under {directory}: run `scamguard agent-train`"
            )
        meta = json.loads((directory / "agent.json").read_text())
        if "escalate" in meta["costs"]:
            raise ValueError(
                f"the agent under {directory} predates the one cost model (its costs name "
                "'escalate', in a unit 5x today's): re-run `scamguard agent-train`"
            )
        layout = _layout_from(meta["layout"])
        arrays = np.load(directory / "cases.npz", allow_pickle=False)
        if "pool_similar" not in arrays:
            raise ValueError(
                f"the agent under {directory} predates the completion pool's similar_* "
                "(cases.npz has no pool_similar): re-run `scamguard agent-train`"
            )
        train = CaseSet(
            user_id=arrays["user_id"].astype(object),
            as_of=arrays["as_of"].astype("datetime64[us]"),
            typology=arrays["typology"].astype(object),
            values=arrays["values"],
            labels=arrays["labels"],
            owners=arrays["owners"],
        )
        base = Standardizer.from_state(
            {k: arrays[f"base_{k}"] for k in ("center", "scale", "weight")}
        )
        std = Standardizer.from_state(
            {k: arrays[f"std_{k}"] for k in ("center", "scale", "weight")}
        )
        similar = SimilarCases(
            z=base.transform(train.values),
            group_of=layout.group_of,
            n_groups=layout.n_groups,
            label=train.labels,
            decided_at=arrays["decided_at"],
            owners=train.owners,
            **meta["similar"],
        )
        net = PolicyValueNet(NetConfig(**meta["network"]))
        net.load_state_dict(torch.load(directory / "network.pt", weights_only=True))
        net.eval()
        search = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["search"].items()}
        fixed = meta["fixed_order"]
        return cls(
            layout=layout,
            costs=CostModel.model_validate(meta["costs"]),
            belief=MaskedBelief.load(directory, layout),
            base_standardizer=base,
            standardizer=std,
            similar=similar,
            train=train,
            pool_similar=arrays["pool_similar"],
            user_codes=json.loads((directory / "user_codes.json").read_text()),
            net=net,
            search=search,
            completion=meta["completion"],
            fixed_order=None
            if fixed is None
            else FixedOrderTuning(**{**fixed, "order": tuple(fixed["order"])}),
            info=meta["info"],
        )
