"""``scamguard agent-eval-pivots`` (the pivot policies side by side) and ``agent-train-pivots``
(the pivot model the investigation's pivot trail uses), mounted by ``agent.cli``.

Heavy imports happen inside the command, so mounting costs nothing.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from scamguard.console import (
    MissedScamOption,
    WrongfulBlockOption,
    console,
    err,
    fail,
    progress_bar,
)
from scamguard.costs import describe_invalid
from scamguard.settings import get_settings

_COLUMNS = (
    ("mean_total_cost", "mean total cost", "{:.3f}"),
    ("mean_expected_cost", "expected (model)", "{:.3f}"),
    ("mean_evidence_cost", "evidence", "{:.3f}"),
    ("scam_recall", "scam recall", "{:.3f}"),
    ("ring_members_caught", "members caught", "{}"),
    ("members_wrongly_blocked", "wrongly blocked", "{}"),
)


def agent_eval_pivots(
    cases: Annotated[
        int, typer.Option(help="Held-out cases: every scam (up to half) plus benign.")
    ] = 2000,
    split: Annotated[str, typer.Option(help="Split to evaluate on.")] = "test",
    seed: Annotated[int, typer.Option(help="Seed of the belief and the case sample.")] = 0,
    max_identifiers: Annotated[
        int, typer.Option(help="Identifiers per case graph (the bound).")
    ] = 3,
    max_accounts: Annotated[int, typer.Option(help="Accounts per identifier (the bound).")] = 3,
    expand_cost: Annotated[
        float | None, typer.Option(help="Cost of listing one identifier's accounts.")
    ] = None,
    review_cost: Annotated[
        float | None, typer.Option(help="Cost of reviewing one linked account.")
    ] = None,
    missed_scam: MissedScamOption = None,
    wrongful_block: WrongfulBlockOption = None,
    with_expectimax: Annotated[
        bool, typer.Option(help="Add the exact solution of the model (the ceiling).")
    ] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list, one object per policy.")
    ] = False,
) -> object:
    """Pivot policies on the same held-out cases: gather-everything, greedy, greedy-macro and
    the exact solution of the model, with each row's paired difference against greedy."""
    from agent.pivots.evaluate import evaluate_pivots
    from agent.pivots.world import build_pivot_data

    settings = get_settings()
    pivots = {"expand": expand_cost, "review": review_cost}
    decisions = {"missed_scam": missed_scam, "wrongful_block": wrongful_block}
    try:
        costs = settings.costs.replace(
            **{k: v for k, v in decisions.items() if v is not None},
            pivots={
                **settings.costs.pivots.model_dump(),
                **{k: v for k, v in pivots.items() if v is not None},
            },
        )
    except ValueError as exc:
        raise fail(escape(describe_invalid(exc)), as_json=as_json) from None
    if not (settings.features_dir / "training.parquet").exists():
        raise fail("no training table: run `scamguard features` first", as_json=as_json)
    out = err if as_json else console
    with progress_bar(target=out) as progress:
        task = progress.add_task("belief and graphs", total=None)
        try:
            data = build_pivot_data(
                settings, max_identifiers=max_identifiers, max_accounts=max_accounts, seed=seed
            )
            evaluation = evaluate_pivots(
                data,
                costs,
                split=split,
                cases=cases,
                seed=seed,
                with_expectimax=with_expectimax,
                on_policy=lambda name, n: progress.reset(task, description=name, total=n),
                on_case=lambda: progress.advance(task),
            )
        except (KeyError, ValueError) as exc:
            raise fail(escape(str(exc)), as_json=as_json) from None
    if as_json:
        sys.stdout.write(json.dumps(evaluation.rows, indent=2) + "\n")
        return evaluation
    console.print(_table(evaluation.rows, split))
    return evaluation


def _table(rows: list[dict], split: str) -> Table:
    table = Table(title=f"pivot policies on {split} (vs greedy: paired difference, 95% interval)")
    table.add_column("policy")
    for _, title, _ in _COLUMNS:
        table.add_column(title, justify="right")
    table.add_column("vs greedy", justify="right")
    table.add_column("fraud ring: cost / vs greedy", justify="right")
    for row in rows:
        vs, ring = row.get("vs_greedy"), row.get("fraud_ring", {})
        ring_vs = ring.get("vs_greedy")
        table.add_row(
            row["policy"],
            *(fmt.format(row[key]) for key, _, fmt in _COLUMNS),
            "" if vs is None else "{diff:+.3f} [{lo:+.3f}, {hi:+.3f}]".format(**vs),
            f"{ring.get('mean_total_cost', float('nan')):.2f}"
            + ("" if ring_vs is None else " / {diff:+.2f}".format(**ring_vs)),
        )
    return table


def agent_train_pivots(
    seed: Annotated[int, typer.Option(help="Seed of the Platt maps' random investigations.")] = 0,
    max_identifiers: Annotated[
        int, typer.Option(help="Identifiers per case graph (the bound).")
    ] = 3,
    max_accounts: Annotated[int, typer.Option(help="Accounts per identifier (the bound).")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was saved as JSON.")] = False,
) -> object:
    """Fit the pivot model (neighbour tables, Platt maps) with the trained agent's belief and save
    it under <data_dir>/agent/pivots/: `scamguard investigate` then shows the pivot trail."""
    from agent.bundle import AgentBundle, bundle_dir
    from agent.pivots.bundle import fit_pivot_bundle, pivot_dir

    settings = get_settings()
    try:
        agent = AgentBundle.load(bundle_dir(settings.data_dir))
    except (FileNotFoundError, ValueError) as exc:
        raise fail(escape(str(exc)), as_json=as_json) from None
    out = err if as_json else console
    with progress_bar(target=out) as progress:
        progress.add_task("case graphs and the pivot model", total=None)
        try:
            pivots = fit_pivot_bundle(
                settings,
                agent,
                max_identifiers=max_identifiers,
                max_accounts=max_accounts,
                seed=seed,
            )
        except (FileNotFoundError, KeyError, ValueError) as exc:
            raise fail(escape(str(exc)), as_json=as_json) from None
    path = pivots.save(pivot_dir(settings.data_dir))
    if as_json:
        sys.stdout.write(json.dumps({"path": str(path), **pivots.info}, indent=2) + "\n")
        return pivots
    with_graph = pivots.info["cases_with_graph"]
    console.print(
        f"pivot model saved to {escape(str(path))}: fitted on {pivots.info['cases']['train']} "
        f"train cases ({with_graph['train']} with a case graph), Platt maps on "
        f"{pivots.info['cases']['valid']} valid cases"
    )
    return pivots
