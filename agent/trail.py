"""The agent's trail for one user, for the analyst (``scamguard investigate``, ``POST /v1/investigate``).

:func:`investigate_with_agent` takes the user's latest row of the agent's feature table (or, for a
user not in it, features computed now as of midnight after the last day of data), runs the trained
agent on it, revealing each group's true values when it asks for them, and returns a JSON-able
dict: every step's action, why (the root's visit counts, values, priors and policy of the
candidates), the posterior after it and the evidence revealed, then the decision; plus the most
similar past labelled cases from the FAISS index; and ``pivots``, the pivot trail through the
entity graph from where the agent stopped (``agent.pivots.trail``, available once
``scamguard agent-train-pivots`` has run). :func:`render_agent_trail` prints it with Rich.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agent.env import InvestigationEnv, decision_losses
from agent.episode import run_episode
from agent.groups import SIMILAR_CASES
from scamguard.settings import Settings

if TYPE_CHECKING:
    from agent.bundle import AgentBundle
    from agent.data import CaseSet
    from features.build import Tables

SIMILAR_SHOWN = 5
_LOCK = threading.Lock()
_CACHE: dict[Path, tuple[float, AgentBundle]] = {}


def load_bundle(settings: Settings) -> AgentBundle:
    """The trained agent of ``settings.data_dir``, loaded once and reloaded when retrained.

    Raises FileNotFoundError when there is none.
    """
    from agent.bundle import AgentBundle, bundle_dir

    path = bundle_dir(settings.data_dir).resolve()
    meta = path / "agent.json"
    if not meta.exists():
        raise FileNotFoundError(f"no trained agent under {path}: run `scamguard agent-train`")
    stamp = meta.stat().st_mtime
    with _LOCK:
        hit = _CACHE.get(path)
        if hit is None or hit[0] != stamp:
            hit = (stamp, AgentBundle.load(path))
            _CACHE[path] = hit
        return hit[1]


def _table_path(bundle: AgentBundle, settings: Settings) -> Path:
    return Path(bundle.info.get("table") or settings.features_dir / "training.parquet")


def _pivots(
    settings: Settings,
    bundle: AgentBundle,
    case: CaseSet,
    mask: int,
    tables: Tables | None,
    from_table: bool,
) -> dict[str, Any]:
    """The pivot trail from the agent's last mask (``agent.pivots.trail``); never raises."""
    from agent.pivots.trail import pivot_trail

    try:
        if tables is None:
            from features.tables import load_clean_tables

            tables = load_clean_tables(settings)
        path = _table_path(bundle, settings) if from_table else None
        return pivot_trail(settings, bundle, case, mask, tables, path)
    except Exception as exc:  # the rest of the investigation still shows the agent's trail
        return {"available": False, "note": f"pivots not run: {type(exc).__name__}: {exc}"}


def _user_row(
    bundle: AgentBundle, settings: Settings, user_id: str, tables: Tables | None
) -> tuple[pl.DataFrame, str]:
    """The user's case row and where it came from."""
    path = _table_path(bundle, settings)
    if path.exists():
        rows = (
            pl.scan_parquet(path)
            .filter(pl.col("user_id") == user_id)
            .sort("as_of", descending=True)
            .head(1)
            .collect()
        )
        if rows.height:
            return rows, f"feature table {path.name}"
    from features.build import build_features
    from features.tables import end_of_data, load_clean_tables

    tables = tables or load_clean_tables(settings)
    as_of = end_of_data(tables)
    spine = pl.LazyFrame(
        {"user_id": [user_id], "as_of": [as_of]},
        schema={"user_id": pl.String, "as_of": pl.Datetime("us", "UTC")},
    )
    return build_features(spine, tables).collect(), "features computed now"


def _similar_cases(
    bundle: AgentBundle, values: np.ndarray, owner: int, as_of: np.datetime64
) -> list[dict]:
    layout = bundle.layout
    z = bundle.base_standardizer.transform(values[None, :])[0]
    bits = np.ones(layout.n_groups, dtype=bool)
    bits[layout.groups.index(SIMILAR_CASES)] = False
    dist, rows = bundle.similar.neighbours(
        z, bits, SIMILAR_SHOWN, owner=owner if owner >= 0 else None
    )
    seconds = float(np.asarray(as_of).astype("datetime64[us]").astype(np.int64)) / 1e6
    out = []
    for d, r in zip(dist, rows, strict=True):
        if r < 0:
            continue
        scam = bool(bundle.train.labels[r])
        out.append(
            {
                "user_id": str(bundle.train.user_id[r]),
                "as_of": str(np.datetime64(bundle.train.as_of[r], "s")) + "Z",
                "label": str(bundle.train.typology[r]) if scam else "benign",
                # for a scam neighbour: was its label decided before this case's as_of?
                "label_known_then": bool(bundle.similar.decided_at[r] < seconds) if scam else None,
                "distance": float(d),
            }
        )
    return out


def investigate_with_agent(
    settings: Settings, user_id: str, *, tables: Tables | None = None
) -> dict[str, Any]:
    """The agent's trail and decision for ``user_id`` and its similar past cases (module docstring).

    Never raises for a missing agent or data: returns ``{"available": False, "note": why}``.
    """
    try:
        bundle = load_bundle(settings)
    except FileNotFoundError as exc:
        return {"available": False, "note": str(exc)}
    try:
        row, source = _user_row(bundle, settings, user_id, tables)
        if row.height == 0:
            return {"available": False, "note": f"no features for {user_id}"}
        case = bundle.cases_from_table(row)
    except Exception as exc:  # the rest of the investigation still shows the evidence
        return {"available": False, "note": f"agent not run: {type(exc).__name__}: {exc}"}
    layout = bundle.layout
    # the label is unknown here: the environment only serves the case's values on request
    env = InvestigationEnv(layout, case.values, np.zeros(1, np.int8), costs=bundle.costs)
    owner = int(case.owners[0])
    episode = run_episode(bundle.policy(), env, 0, owner=owner if owner >= 0 else None)
    steps = []
    for i, s in enumerate(episode.steps, 1):
        is_reveal = s.name.startswith("reveal ")
        group = s.name.removeprefix("reveal ") if is_reveal else None
        steps.append(
            {
                "step": i,
                "action": s.name,
                "cost": float(layout.costs[layout.groups.index(group)]) if group else 0.0,
                "posterior_before": s.belief_before,
                "posterior_after": s.belief_after,
                "why": s.why,
                "revealed": s.revealed,
                "ms": s.seconds * 1000.0,
            }
        )
    final = episode.steps[-1]
    mask = sum(1 << layout.groups.index(g) for g in episode.groups_revealed) | layout.event_mask
    decision_index = ("allow", "block", "escalate").index(episode.decision)
    expected = float(
        decision_losses(bundle.costs, np.asarray([final.belief_before]))[0, decision_index]
    )
    return {
        "available": True,
        "case": {
            "user_id": user_id,
            "as_of": str(np.datetime64(case.as_of[0], "s")) + "Z",
            "source": source,
            "known_event": {
                c: (None if np.isnan(v) else float(v))
                for c, v in zip(layout.columns, case.values[0], strict=True)
                if c in layout.group_columns(0)
            },
        },
        "trail": steps,
        "decision": episode.decision,
        "posterior": final.belief_before,
        "evidence_cost": episode.evidence_cost,
        "expected_decision_loss": expected,
        "groups_revealed": episode.groups_revealed,
        "similar_cases": _similar_cases(bundle, case.values[0], owner, case.as_of[0]),
        "pivots": _pivots(
            settings, bundle, case, mask, tables, from_table=source.startswith("feature table")
        ),
        "agent": {
            "trained_at": bundle.info.get("trained_at"),
            "run_id": bundle.info.get("run_id"),
            "decision_costs": {
                "missed_scam": bundle.costs.missed_scam,
                "wrongful_block": bundle.costs.wrongful_block,
                "escalate": bundle.costs.review,
            },
            "group_costs": {g: float(c) for g, c in zip(layout.groups, layout.costs, strict=True)},
            "text_model_source": layout.text_model_source,
            "simulations": bundle.search.get("num_simulations"),
        },
    }


_DECISION_STYLE = {"allow": "green", "escalate": "yellow", "block": "bold red"}


def _why_text(why: dict) -> str:
    cands = why.get("candidates") or []
    parts = []
    for c in cands[:4]:
        value = "" if c["value"] is None else f", value {c['value']:.2f}"
        parts.append(f"{c['action']}: {c['visits']} visits{value}, policy {c['policy']:.2f}")
    return "; ".join(parts)


def _revealed_text(revealed: dict, limit: int = 4) -> str:
    shown = [(k, v) for k, v in revealed.items() if v not in (None, 0.0)][:limit]
    rest = len(revealed) - len(shown)
    text = ", ".join(f"{k}={v:g}" for k, v in shown)
    return f"{text}{' (+' + str(rest) + ' more)' if rest > 0 else ''}" or "all zero / no data"


def render_agent_trail(section: dict | None, console: Console) -> None:
    """Print the agent section of an investigation (from :func:`investigate_with_agent`)."""
    if not section:
        return
    if not section.get("available"):
        console.print(
            Text(f"Investigation agent: {section.get('note', 'not available')}", style="dim")
        )
        return
    table = Table(
        title=(
            f"Investigation agent trail (case as of {section['case']['as_of']}, "
            f"{section['case']['source']})"
        ),
        title_justify="left",
    )
    for column in (
        "#",
        "action",
        "why (root visits, values)",
        "posterior after",
        "evidence revealed",
    ):
        table.add_column(column)
    for s in section["trail"]:
        revealed = _revealed_text(s["revealed"]) if s["action"].startswith("reveal") else ""
        style = _DECISION_STYLE.get(s["action"], "")
        table.add_row(
            str(s["step"]),
            Text(s["action"] + (f" (cost {s['cost']:g})" if s["cost"] else ""), style=style),
            Text(_why_text(s["why"])),
            f"{s['posterior_after']:.4f}" if s["posterior_after"] is not None else "",
            Text(revealed),
        )
    console.print(table)
    decision = section["decision"]
    console.print(
        Text.assemble(
            ("agent decision: ", "bold"),
            (decision, _DECISION_STYLE.get(decision, "")),
            f"   P(scam) {section['posterior']:.4f}   evidence cost {section['evidence_cost']:g}"
            f"   expected decision loss {section['expected_decision_loss']:.2f}",
        )
    )
    similar = Table(
        title="Similar past cases (FAISS index of training cases)", title_justify="left"
    )
    for column in ("user", "as of", "label", "scam label known then", "distance"):
        similar.add_column(column)
    for c in section["similar_cases"]:
        similar.add_row(
            c["user_id"],
            c["as_of"],
            Text(c["label"], style="red" if c["label"] != "benign" else ""),
            {True: "yes", False: "not yet"}.get(c["label_known_then"], ""),
            f"{c['distance']:.3f}",
        )
    console.print(similar)
    from agent.pivots.trail import render_pivot_trail

    render_pivot_trail(section.get("pivots"), console)
