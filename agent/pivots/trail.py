"""The pivot trail of one case, for the analyst (``scamguard investigate``, ``/v1/investigate``).

:func:`pivot_trail` continues the first agent's investigation (``agent.trail``) through the
entity graph: it builds the user's bounded case graph as of the case's time
(``agent.pivots.graph.case_graph`` over the clean tables; the linked accounts' values are their
rows of the agent's feature table at that time, or features computed then when the case itself was
computed now), starts from the case's belief at the groups the first agent revealed, and lets the
exact expectimax of the pivot model (``agent.pivots.planners.Expectimax``, the model saved by
``scamguard agent-train-pivots``) expand identifiers and review accounts, each review showing what
a review shows (the account's label decided before the case's time, else its bin of P(scam)). It
returns every step (which identifier, which accounts, what was revealed, the case's belief before
and after, why: the model's expected cost of the step against stopping), the decision and the ring
blocked with the case. Identifiers are shown as their keyed pseudonym (``scamguard.privacy``), as
in the audit log. Nothing is decided on the case's or the accounts' true labels.
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

from agent.env import DECISIONS
from agent.pivots.belief import BIN_EDGES, SCAM_BIN, graph_bins
from agent.pivots.bundle import PivotBundle, pivot_dir
from agent.pivots.env import DECIDE, EXPAND, REVEAL, REVIEW, Action, PivotEnv
from agent.pivots.graph import (
    KNOWN_BENIGN,
    KNOWN_SCAM,
    CaseGraph,
    LabelIndex,
    LinkIndex,
    case_graph,
)
from agent.pivots.planners import EXPAND_STEP, STOP, Expectimax, Node, PivotModel
from features.graph import identifier_links
from scamguard.privacy import pseudonym
from scamguard.settings import Settings

if TYPE_CHECKING:
    from agent.bundle import AgentBundle
    from agent.data import CaseSet
    from features.build import Tables

NOT_TRAINED = "run scamguard agent-train-pivots"
BIN_NAMES = (
    "labelled scam",
    f"P(scam) < {BIN_EDGES[0]:g} or labelled benign",
    f"{BIN_EDGES[0]:g} <= P(scam) < {BIN_EDGES[1]:g}",
    f"P(scam) >= {BIN_EDGES[1]:g}",
)
_KNOWN = {KNOWN_SCAM: "scam", KNOWN_BENIGN: "benign"}
_LOCK = threading.Lock()
_CACHE: dict[Path, tuple[float, PivotBundle]] = {}


def load_pivots(settings: Settings) -> PivotBundle | None:
    """The saved pivot model of ``settings.data_dir`` (reloaded when refitted), None if none."""
    path = pivot_dir(settings.data_dir).resolve()
    meta = path / "pivots.json"
    if not meta.exists():
        return None
    stamp = meta.stat().st_mtime
    with _LOCK:
        hit = _CACHE.get(path)
        if hit is None or hit[0] != stamp:
            hit = (stamp, PivotBundle.load(path))
            _CACHE[path] = hit
        return hit[1]


def _values_at(
    agent: AgentBundle, tables: Tables, table_path: Path | None, users: list[str], at: int
) -> np.ndarray:
    """Values [n, D] in the agent's layout of ``users`` at ``at`` (microseconds): their rows of the
    feature table at that time (NaN for none), or, with no table, features computed then."""
    if table_path is not None:
        rows = (
            pl.scan_parquet(table_path)
            .filter(pl.col("user_id").is_in(users), pl.col("as_of").dt.epoch("us") == at)
            .unique("user_id", keep="first")
            .collect()
        )
    else:
        from features.build import build_features

        as_of = pl.Series([at]).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")[0]
        spine = pl.LazyFrame(
            {"user_id": users, "as_of": [as_of] * len(users)},
            schema={"user_id": pl.String, "as_of": pl.Datetime("us", "UTC")},
        )
        rows = build_features(spine, tables).collect()
    out = np.full((len(users), agent.layout.n_features), np.nan)
    if rows.height:
        cases = agent.cases_from_table(rows)
        where = {u: i for i, u in enumerate(cases.user_id)}
        for i, u in enumerate(users):
            if u in where:
                out[i] = cases.values[where[u]]
    return out


def build_case_graph(
    agent: AgentBundle,
    pivots: PivotBundle,
    tables: Tables,
    user_id: str,
    at: int,
    table_path: Path | None,
) -> CaseGraph:
    """The user's bounded graph at ``at`` (microseconds), from the links of its own identifiers."""
    links = identifier_links(users=tables.users, logins=tables.logins, payments=tables.payments)
    mine = links.filter(pl.col("user_id") == user_id).select("kind", "ident").unique()
    shared = links.join(mine, on=["kind", "ident"], how="semi").collect()
    labels = tables.labels.filter(pl.col("user_id").is_in(shared["user_id"].unique().to_list()))
    return case_graph(
        user_id,
        at,
        LinkIndex.from_links(shared),
        LabelIndex.from_labels(labels.collect()),
        lambda users, t: _values_at(agent, tables, table_path, users, t),
        max_identifiers=pivots.max_identifiers,
        max_accounts=pivots.max_accounts,
    )


def _identifier(graph: CaseGraph, i: int, key: str) -> dict:
    ident = graph.identifiers[i]
    raw = ident.key.partition(":")[2]
    return {"index": i, "kind": ident.kind, "pseudonym": pseudonym(raw, key) if raw else None}


# long function: one planning loop, each step written out for the analyst as it is taken
def pivot_trail(
    settings: Settings,
    agent: AgentBundle,
    case: CaseSet,
    mask: int,
    tables: Tables,
    table_path: Path | None,
) -> dict[str, Any]:
    """The pivot section for the first case of ``case`` (module docstring), starting from the
    groups in ``mask``; ``{"available": False, "note": ...}`` when there is no pivot model."""
    pivots = load_pivots(settings)
    if pivots is None:
        return {"available": False, "note": NOT_TRAINED}
    if pivots.info.get("agent_trained_at") != agent.info.get("trained_at"):
        return {
            "available": False,
            "note": "the pivot model was fitted with another trained agent: "
            "re-run scamguard agent-train-pivots",
        }
    user = str(case.user_id[0])
    at = int(case.as_of[:1].astype("datetime64[us]").astype(np.int64)[0])
    graph = build_case_graph(agent, pivots, tables, user, at, table_path)
    costs, layout, belief = agent.costs, agent.layout, agent.belief
    env = PivotEnv(layout, case.values[:1], np.zeros(1, np.int8), [graph], costs=costs)
    state = env.reset(0)
    for g in range(1, layout.n_groups):
        if mask >> g & 1:
            state = env.step(state, Action(REVEAL, group=g))[0]
    own_cost = state.evidence_cost
    p0 = float(belief.predict(case.values[:1], np.asarray([mask]), threads=1)[0])
    bins = graph_bins(belief, graph)
    accounts = graph.accounts
    p_full = (
        belief.predict(
            np.stack([a.values for a in accounts]), np.full(len(accounts), layout.full_mask)
        )
        if accounts
        else np.zeros(0)
    )
    offsets = np.cumsum([0, *(len(i.accounts) for i in graph.identifiers)])
    pm = PivotModel(pivots.model, costs)
    solver = Expectimax(pm)
    node = Node.root(p0, graph)
    expected_at_start = solver.value(node)
    steps: list[dict] = []
    reviewed: list[tuple[int, int, int]] = []  # (identifier, account, bin)
    while True:
        stop = pm.stop_cost(node)[0]
        kind, i = solver(pm, node)
        if kind == STOP:
            break
        value = solver.q_value(node, (kind, i))
        before = pm.belief(node)
        entry: dict[str, Any] = {"step": len(steps) + 1, "action": kind}
        entry["identifier"] = _identifier(graph, i, settings.pii_key)
        if kind == EXPAND_STEP:
            state, reward = env.step(state, Action(EXPAND, ident=i))
            node = node.with_expanded(i)
            entry["accounts"] = [a.user_id for a in graph.identifiers[i].accounts]
        else:
            j = len(node.bins[i])
            state, reward = env.step(state, Action(REVIEW, ident=i, account=j))
            b = int(bins[i][j])
            node = node.with_bin(i, b)
            reviewed.append((i, j, b))
            account = graph.identifiers[i].accounts[j]
            p = p_full[offsets[i] + j]  # no row at the case's time: no own evidence to score
            if np.isnan(account.values).all():
                p = np.nan
            entry["account"] = {
                "index": j,
                "user_id": account.user_id,
                "known_label": _KNOWN.get(account.known, "unknown"),
                "p_scam_own": None if np.isnan(p) else float(p),
                "bin": BIN_NAMES[b],
                "shared_identifiers": account.shared,
            }
        entry |= {
            "cost": -reward,
            "belief_before": before,
            "belief_after": pm.belief(node),
            "why": {"expected_cost": value, "expected_cost_if_stopped": stop},
        }
        steps.append(entry)
    stop, d = pm.stop_cost(node)
    b_case = pm.belief(node)
    ring, members = [], set()
    for i, j, b in reviewed:
        account = graph.identifiers[i].accounts[j]
        q = pm.model.member_belief(b_case, b)
        if b == SCAM_BIN or q * pm.miss > (1 - q) * pm.wrong:
            if b != SCAM_BIN:
                members.add((i, j))
            ring.append(
                {
                    "user_id": account.user_id,
                    "p_scam": q,
                    "already_labelled_scam": b == SCAM_BIN,
                    "via": _identifier(graph, i, settings.pii_key),
                }
            )
    decide = Action(DECIDE, decision=d, members=frozenset(members))
    decided, _ = env.step(state, decide)  # the decision is legal; its losses need labels: unused
    return {
        "available": True,
        "start": {
            "groups": [layout.groups[g] for g in range(layout.n_groups) if mask >> g & 1],
            "p_scam": p0,  # the agent's masked belief at these groups
            "belief": pm.belief(Node.root(p0, graph)),  # the pivot model's, before any review
            "evidence_cost": own_cost,
        },
        "graph": {
            "identifiers": [
                {**_identifier(graph, i, settings.pii_key), "accounts": len(ident.accounts)}
                for i, ident in enumerate(graph.identifiers)
            ],
            "accounts": len(accounts),
        },
        "steps": steps,
        "decision": DECISIONS[d],
        "action": decide.name(layout),
        "posterior": b_case,
        "pivot_cost": decided.evidence_cost - own_cost,
        "expected_cost_at_start": expected_at_start,
        "expected_cost_at_decision": stop,
        "ring": ring,
        "model": {k: pivots.info.get(k) for k in ("trained_at", "own_mask", "max_identifiers")},
    }


def _where(step: dict) -> str:
    ident = step["identifier"]
    name = f"{ident['kind']} {ident['pseudonym'] or ident['index']}"
    if step["action"] == EXPAND_STEP:
        return f"{name}: {', '.join(step['accounts'])}"
    return f"{step['account']['user_id']} (via {name})"


def render_pivot_trail(section: dict | None, console: Console) -> None:
    """Print the pivot section of an investigation (from :func:`pivot_trail`)."""
    if not section:
        return
    if not section.get("available"):
        note = section.get("note", "not available")
        console.print(Text(f"Pivot trail: {note}", style="dim"))
        return
    start = section["start"]
    table = Table(
        title=(
            f"Pivot trail (exact expectimax over the case graph: {section['graph']['accounts']} "
            f"linked accounts; start P(scam) {start['p_scam']:.4f})"
        ),
        title_justify="left",
    )
    for column in ("#", "action", "identifier / account", "revealed", "P(scam)", "why"):
        table.add_column(column)
    for s in section["steps"]:
        revealed = ""
        if s["action"] == REVIEW:
            acc = s["account"]
            own = acc["p_scam_own"]
            revealed = (
                f"labelled {acc['known_label']}"
                if acc["known_label"] != "unknown"
                else acc["bin"] + ("" if own is None else f" (own P(scam) {own:.2f})")
            )
        why = s["why"]
        table.add_row(
            str(s["step"]),
            f"{s['action']} (cost {s['cost']:g})",
            Text(_where(s)),
            Text(revealed),
            f"{s['belief_before']:.4f} -> {s['belief_after']:.4f}",
            f"expects {why['expected_cost']:.2f}, {why['expected_cost_if_stopped']:.2f} if stopped",
        )
    if section["steps"]:
        console.print(table)
    else:
        console.print(
            Text(
                f"Pivot trail: no pivot is worth its cost ({len(section['graph']['identifiers'])}"
                " identifiers in the case graph)",
                style="dim",
            )
        )
    console.print(
        Text.assemble(
            ("pivot decision: ", "bold"),
            section["action"],
            f"   P(scam) {section['posterior']:.4f}   pivot cost {section['pivot_cost']:g}"
            f"   expected loss at the decision {section['expected_cost_at_decision']:.2f}",
        )
    )
    if section["ring"]:
        ring = Table(
            title="Ring found (blocked with the case; labelled scams are already)",
            title_justify="left",
        )
        for column in ("user", "P(scam)", "via"):
            ring.add_column(column)
        for r in section["ring"]:
            label = " (labelled scam)" if r["already_labelled_scam"] else ""
            via = r["via"]
            ring.add_row(
                r["user_id"] + label,
                f"{r['p_scam']:.3f}",
                Text(f"{via['kind']} {via['pseudonym'] or via['index']}"),
            )
        console.print(ring)
