"""From a data dir to the pivot evaluation's inputs: cases, the masked belief, graphs, the model.

Reads the training table (``features/training.parquet``) and the clean tables
(``features.tables.load_clean_tables``; no pipeline import), prepares the cases as the first agent
does (``agent.data.prepare_cases``), fits the masked belief on train (calibrated on valid), builds
every case's bounded pivot graph as of its time, and fits the graph model (tables on train, Platt
per depth on valid).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from agent.belief import MaskedBelief
from agent.data import AgentData, prepare_cases
from agent.pivots.belief import GraphModel, fit_graph_model
from agent.pivots.graph import CaseGraph, LabelIndex, case_graph, link_tables, table_values
from features.tables import load_clean_tables
from scamguard.settings import Settings


@dataclass
class PivotData:
    data: AgentData
    belief: MaskedBelief
    graphs: dict[str, list[CaseGraph]]  # split -> one graph per case row
    model: GraphModel


def build_graphs(
    data: AgentData, settings: Settings, *, max_identifiers: int = 3, max_accounts: int = 3
) -> dict[str, list[CaseGraph]]:
    """Every case's bounded graph as of its time (``agent.pivots.graph``)."""
    tables = load_clean_tables(settings)
    links = link_tables(tables.users, tables.logins, tables.payments)
    labels = LabelIndex.from_labels(tables.labels.collect())
    splits = list(data.splits.values())
    values_of = table_values(
        np.concatenate([c.user_id for c in splits]),
        np.concatenate([c.as_of for c in splits]),
        np.concatenate([c.values for c in splits]),
    )
    out = {}
    for name, cases in data.splits.items():
        micros = cases.as_of.astype("datetime64[us]").astype(np.int64)
        out[name] = [
            case_graph(
                str(u),
                int(t),
                links,
                labels,
                values_of,
                max_identifiers=max_identifiers,
                max_accounts=max_accounts,
            )
            for u, t in zip(cases.user_id, micros, strict=True)
        ]
    return out


def build_pivot_data(
    settings: Settings,
    *,
    own_mask: int = 1,
    max_identifiers: int = 3,
    max_accounts: int = 3,
    seed: int = 0,
    belief: MaskedBelief | None = None,
    table_path: Path | None = None,
    group_costs: dict[str, float] | None = None,
) -> PivotData:
    """``belief``: a masked belief already fitted on these cases (the trained agent's), used as is
    (its layout must be the cases'); else one is fitted on train. ``table_path``: the training
    table (default ``features/training.parquet``); ``group_costs``: evidence costs per group."""
    table = pl.read_parquet(table_path or settings.features_dir / "training.parquet")
    labels = load_clean_tables(settings).labels.collect()
    data = prepare_cases(table, labels=labels, costs=group_costs)
    train, valid = data.train, data.valid
    if belief is None:
        belief = MaskedBelief(seed=seed).fit(
            train.values,
            train.labels,
            data.layout,
            calib_values=valid.values,
            calib_labels=valid.labels,
        )
    elif belief.layout_.columns != data.layout.columns:
        raise ValueError("the belief's feature columns are not the training table's")
    graphs = build_graphs(
        data, settings, max_identifiers=max_identifiers, max_accounts=max_accounts
    )
    p0 = belief.predict(valid.values, np.full(valid.size, own_mask))
    model = fit_graph_model(
        belief,
        (graphs["train"], train.labels),
        (graphs["valid"], valid.labels, p0),
        seed=seed,
    )
    return PivotData(data, belief, graphs, model)
