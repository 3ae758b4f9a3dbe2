"""``scamguard agent-train``, ``agent-eval``, and ``agent-eval-pivots`` / ``agent-train-pivots``
(``agent.pivots.cli``), mounted by ``scamguard.cli``.

Heavy imports happen inside the commands, so mounting costs nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import (
    TaskID,
)
from rich.table import Table

from scamguard.console import (
    InputError,
    MissedScamOption,
    WrongfulBlockOption,
    console,
    err,
    fail,
    progress_bar,
)
from scamguard.costs import describe_invalid
from scamguard.settings import get_settings

if TYPE_CHECKING:
    from agent.evaluate import AgentEvaluation


def _parse_group_costs(items: list[str] | None) -> dict[str, float] | None:
    if not items:
        return None
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected GROUP=COST, got {item!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise typer.BadParameter(f"cost of {name!r} is not a number: {value!r}") from None
    return out


def _train_config(  # type: ignore[no-untyped-def]
    settings,
    *,
    missed_scam: float | None,
    wrongful_block: float | None,
    escalate: float | None,
    group_cost: list[str] | None,
    search: dict,
    expert: dict,
    selfplay_folds: int,
    seed: int,
):
    """The ``AgentTrainConfig`` of ``agent-train``'s options over the settings' cost model; a bad
    cost or fold count is one line naming it, exit 2."""
    from agent.expert import ExpertIterationConfig
    from agent.train import AgentTrainConfig

    defaults = AgentTrainConfig()
    decision_costs = {
        "missed_scam": missed_scam,
        "wrongful_block": wrongful_block,
        "review": escalate,  # the agent's escalation is a human review
    }
    try:  # the costs and the config check their own values (costs, folds); say which, exit 2
        costs = settings.costs.replace(
            **{k: v for k, v in decision_costs.items() if v is not None}
        ).with_evidence(_parse_group_costs(group_cost))
        return AgentTrainConfig(
            costs=costs,
            search={**defaults.search, **search},
            expert=ExpertIterationConfig(**expert, seed=seed),
            selfplay_folds=selfplay_folds,
            seed=seed,
        )
    except ValueError as exc:
        raise fail(escape(describe_invalid(exc))) from None


def agent_train(
    table: Annotated[
        Path | None,
        typer.Option(
            help="Feature table; default features/training_text.parquet if present, else training.parquet."
        ),
    ] = None,
    iterations: Annotated[int, typer.Option(help="Expert-iteration rounds.")] = 8,
    episodes: Annotated[int, typer.Option(help="Self-play episodes per round.")] = 1000,
    simulations: Annotated[int, typer.Option(help="Search simulations per step.")] = 64,
    root_rule: Annotated[
        str, typer.Option(help="Root action selection: gumbel (sequential halving) or puct.")
    ] = "gumbel",
    valid_cases: Annotated[
        int, typer.Option(help="Validation cases per round (stratified).")
    ] = 2000,
    selfplay_folds: Annotated[
        int,
        typer.Option(
            help="Self-play with beliefs fitted without the case's fold of users (0: in sample)."
        ),
    ] = 4,
    missed_scam: MissedScamOption = None,
    wrongful_block: WrongfulBlockOption = None,
    escalate: Annotated[
        float | None,
        typer.Option(
            "--escalate",
            "--review-cost",
            help="Cost of an escalation (a human review); default: the settings' cost model.",
        ),
    ] = None,
    group_cost: Annotated[
        list[str] | None,
        typer.Option(
            "--group-cost",
            help="Evidence cost override GROUP=COST, repeatable; default: the settings' cost model.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for everything (same seed, same agent).")] = 0,
) -> object:
    """Train the investigation agent: masked belief, tuned baselines, MCTS network by expert iteration.

    Costs (decisions and evidence, one unit) start from the settings' cost model
    (`SCAMGUARD_COSTS__*`); the cost options override it.
    """
    import torch

    from agent.mcts import ROOT_RULES
    from agent.train import load_training_table

    torch.set_num_threads(1)  # tiny batches: threads only add overhead on a shared CPU
    if root_rule not in ROOT_RULES:
        raise fail(f"--root-rule must be gumbel or puct, got {root_rule!r}")
    settings = get_settings()
    config = _train_config(
        settings,
        missed_scam=missed_scam,
        wrongful_block=wrongful_block,
        escalate=escalate,
        group_cost=group_cost,
        search={"num_simulations": simulations, "root_rule": root_rule},
        expert={"iterations": iterations, "episodes": episodes, "valid_cases": valid_cases},
        selfplay_folds=selfplay_folds,
        seed=seed,
    )
    try:
        frame, path = load_training_table(settings, table)
    except FileNotFoundError as exc:
        raise InputError(str(exc)) from None
    result = _train_with_progress(frame, settings, config, path, valid_cases)
    _print_training(result, path.name)
    return result


def _train_with_progress(frame, settings, config, path, valid_cases: int):  # type: ignore[no-untyped-def]
    """Run ``agent.train.train_agent`` with a progress bar per stage, self-play and validation."""
    from agent.train import load_labels, train_agent

    with progress_bar(target=console) as progress:
        stage = progress.add_task("preparing", total=None)
        bars: dict[str, TaskID] = {}

        def on_stage(name: str) -> None:
            progress.update(stage, description=name)

        def on_case(kind: str) -> None:
            if kind not in bars:
                total = config.expert.episodes if kind == "self-play" else valid_cases
                bars[kind] = progress.add_task(kind, total=total)
            progress.advance(bars[kind])

        def on_iteration(result) -> None:  # type: ignore[no-untyped-def]
            progress.update(
                stage,
                description=(
                    f"expert iteration {result.iteration}/{config.expert.iterations}: "
                    f"valid cost {result.valid_mean_total_cost:.3f}"
                ),
            )
            for task in bars.values():
                progress.reset(task)

        result = train_agent(
            frame,
            settings=settings,
            labels=load_labels(settings),
            config=config,
            table_path=str(path),
            on_stage=on_stage,
            on_case=on_case,
            on_iteration=on_iteration,
        )
    return result


def _print_training(result, table_name: str) -> None:  # type: ignore[no-untyped-def]
    """The learning curve and the summary of an ``agent-train`` run."""
    curve = Table(title="Learning curve (validation, stratified sample)", title_justify="left")
    for column in (
        "iteration",
        "valid cost",
        "valid evidence",
        "valid recall",
        "self-play cost",
        "policy loss",
        "value loss",
    ):
        curve.add_column(column, justify="right")
    for r in result.curve:
        curve.add_row(
            str(r.iteration),
            f"{r.valid_mean_total_cost:.3f}",
            f"{r.valid_mean_evidence_cost:.3f}",
            f"{r.valid_scam_recall:.3f}",
            "" if r.selfplay_mean_total_cost is None else f"{r.selfplay_mean_total_cost:.3f}",
            "" if r.policy_loss is None else f"{r.policy_loss:.3f}",
            "" if r.value_loss is None else f"{r.value_loss:.5f}",
        )
    console.print(curve)
    summary = Table(
        title=f"Investigation agent (table {table_name})", show_header=False, title_justify="left"
    )
    summary.add_column("", style="bold")
    summary.add_column("")
    for key, value in result.summary_rows():
        summary.add_row(key, value)
    console.print(summary)


EVAL_COLUMNS = (
    ("policy", "policy", "{}"),
    ("mean_total_cost", "mean total cost", "{:.3f}"),
    ("mean_evidence_cost", "mean evidence cost", "{:.3f}"),
    ("mean_decision_loss", "mean decision loss", "{:.3f}"),
    ("scam_recall", "scam recall (block/escalate)", "{:.3f}"),
    ("benign_block_rate", "benign block rate", "{:.4f}"),
    ("escalation_rate", "escalation rate", "{:.4f}"),
    ("p50_latency_ms", "p50 latency ms", "{:.1f}"),
    ("p99_latency_ms", "p99 latency ms", "{:.1f}"),
)


def agent_eval(
    cases: Annotated[
        int, typer.Option(help="Held-out cases: every scam (up to half) plus benign.")
    ] = 4000,
    split: Annotated[str, typer.Option(help="Split to evaluate on.")] = "test",
    seed: Annotated[int, typer.Option(help="Seed of the case sample.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list, one object per policy.")
    ] = False,
    by_variant: Annotated[
        bool,
        typer.Option(
            "--by-variant",
            help="Add a table of scam recall split by the simulator's drift variant (simulated "
            "data only; not in --json).",
        ),
    ] = False,
    with_expectimax: Annotated[
        bool,
        typer.Option(
            "--with-expectimax",
            help="Add a last row: the exact solution of the searches' own model of each case "
            "(what MCTS would reach with unlimited simulations; slow on high-risk cases).",
        ),
    ] = False,
) -> object:
    """Every policy side by side on the same held-out cases (the test split by default)."""
    import polars as pl
    import torch

    from agent.bundle import AgentBundle, bundle_dir
    from agent.evaluate import REPORT_KEYS, evaluate_agent

    torch.set_num_threads(1)
    settings = get_settings()
    try:
        bundle = AgentBundle.load(bundle_dir(settings.data_dir))
    except FileNotFoundError as exc:
        raise fail(str(exc), as_json=as_json) from None
    table_path = Path(bundle.info.get("table") or settings.features_dir / "training.parquet")
    if not table_path.exists():
        raise fail(
            f"the agent's table {table_path} is gone: run `scamguard agent-train` again",
            as_json=as_json,
        )
    messages = None
    if by_variant:
        from agent.variant import raw_messages

        try:
            messages = raw_messages(settings.raw_dir)
        except FileNotFoundError as exc:
            raise fail(str(exc), as_json=as_json) from None
    out = err if as_json else console
    with progress_bar(target=out) as progress:
        task = progress.add_task("loading", total=None)

        def on_policy(name: str, n: int) -> None:
            # reset, not update: the elapsed column then times each policy, not the first one
            progress.reset(task, description=name, total=n)

        evaluation = evaluate_agent(
            bundle,
            pl.read_parquet(table_path),
            split=split,
            cases=cases,
            seed=seed,
            with_expectimax=with_expectimax,
            on_policy=on_policy,
            on_case=lambda: progress.advance(task),
        )
    reports = [r.as_dict() for r in evaluation.reports]
    if as_json:
        sys.stdout.write(
            json.dumps([{k: r[k] for k in REPORT_KEYS} for r in reports], indent=2) + "\n"
        )
        return evaluation
    _print_evaluation(evaluation, reports, split, messages)
    return evaluation


def _print_evaluation(  # type: ignore[no-untyped-def]
    evaluation: AgentEvaluation, reports: list[dict], split: str, messages
) -> None:
    """The policies' table, their paired differences, recall by typology (and by drift variant
    when ``messages`` is given) and the realised-against-expected table."""
    import os

    s = evaluation.sample
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    table = Table(
        title=(
            f"Agent evaluation on {s.rows.size:,} {split} cases ({s.scams} scams, {s.benign:,} benign "
            f"weighted to the split's {s.split_size:,}); CPU load {load:.1f} on {os.cpu_count()} cores"
        ),
        title_justify="left",
    )
    for _, header, _ in EVAL_COLUMNS:
        table.add_column(header, justify="left" if header == "policy" else "right")
    for r in reports:
        table.add_row(*[fmt.format(r[key]) for key, _, fmt in EVAL_COLUMNS])
    console.print(table)
    diffs = Table(
        title="Paired difference in mean total cost (95% bootstrap)", title_justify="left"
    )
    for column in ("comparison", "difference", "interval"):
        diffs.add_column(column)
    for name, (d, lo, hi) in evaluation.versus.items():
        diffs.add_row(name, f"{d:+.3f}", f"[{lo:+.3f}, {hi:+.3f}]")
    console.print(diffs)
    if evaluation.typology_scams:
        console.print(
            _recall_table(
                "Scam recall by typology",
                "typology",
                evaluation.typology_scams,
                evaluation.typology_recall,
            )
        )
    if messages is not None:
        from agent.evaluate import recall_by_policy
        from agent.variant import variant_of_cases

        kinds = variant_of_cases(evaluation.cases, messages)
        scams, recall = recall_by_policy(evaluation.episodes, kinds)
        console.print(
            _recall_table(
                "Scam recall by drift variant (a task/crypto message before as_of: variant)",
                "messages",
                scams,
                recall,
            )
        )
    console.print(_belief_table(evaluation))


def _belief_table(evaluation: AgentEvaluation) -> Table:
    """Realised against expected mean total cost, with the hindsight reference in the same currency."""
    table = Table(
        title=(
            "Mean total cost realised (labels) and expected under the belief (the decision's "
            "expected loss at the values seen); the hindsight reference is no policy: the "
            "cheapest evidence chosen knowing each case's values, a lower bound on the expected "
            "column, not on the realised one"
        ),
        title_justify="left",
    )
    for column in ("policy", "realised", "expected under the belief"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for report in evaluation.reports:
        name = report.policy
        table.add_row(
            name, f"{report.mean_total_cost:.3f}", f"{evaluation.expected_cost[name]:.3f}"
        )
    table.add_row("hindsight reference", "", f"{evaluation.hindsight_bound:.3f}")
    return table


def _recall_table(
    title: str, kind: str, scams: dict[str, int], recall: dict[str, dict[str, float]]
) -> Table:
    """Scam recall per group of scams (rows) and policy (columns); ``recall`` is policy ->
    group -> recall, ``scams`` group -> scam cases."""
    table = Table(title=title, title_justify="left")
    table.add_column(kind, no_wrap=True)
    table.add_column("scams", justify="right")
    for name in recall:
        table.add_column(name, justify="right")
    for group, n in scams.items():
        table.add_row(group, str(n), *(f"{by_group[group]:.3f}" for by_group in recall.values()))
    return table


def register(app: typer.Typer) -> None:
    """Mount the agent's commands on the root app."""
    app.command("agent-train")(agent_train)
    app.command("agent-eval")(agent_eval)
    from agent.pivots.cli import agent_eval_pivots, agent_train_pivots

    app.command("agent-eval-pivots")(agent_eval_pivots)
    app.command("agent-train-pivots")(agent_train_pivots)
