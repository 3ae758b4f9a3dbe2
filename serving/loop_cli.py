"""The feedback loop's analyst commands (mounted by ``scamguard.cli``): ``label``, ``queue``,
``rules check``, ``rules backtest``.

Heavy imports happen inside the commands, so mounting costs nothing. Only this module prints;
``scamguard.cli`` wraps every command so that an error is one line (exit 2 for bad input).
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from scamguard.console import InputError, console, kv_table, parse_day, parse_instant
from scamguard.schema import SCAM_TYPOLOGIES
from scamguard.settings import Settings, get_settings

rules_app = typer.Typer(help="Declarative rules beside the model: check and backtest a file.")
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=str, indent=2) + "\n")


def _signup_time(settings: Settings, user_id: str):  # type: ignore[no-untyped-def]
    """When ``user_id`` signed up: the clean tables, else the online store; None if unknown."""
    import polars as pl

    from features.online import OnlineStore
    from features.online.local import store_path
    from features.tables import load_clean_tables

    users = load_clean_tables(settings, analyst_labels=False).users
    found = users.filter(pl.col("user_id") == user_id).select("signup_ts").collect()
    if found.height:
        return found["signup_ts"][0]
    if store_path(settings).exists():
        from serving.online import OnlineFeatures

        store = OnlineStore(store_path(settings))
        try:
            return OnlineFeatures(store).signup_time(user_id)
        finally:
            store.close()
    return None


def _label_from_options(
    user_id: str, scam: bool, benign: bool, typology: str | None, **fields: Any
):  # type: ignore[no-untyped-def]
    from scamguard.analyst_labels import AnalystLabel

    if scam == benign:
        raise InputError("give exactly one of --scam and --benign")
    if benign and typology:
        raise InputError("--typology is for --scam; a benign label has none")
    if scam and typology not in SCAM_TYPOLOGIES:
        given = f"got {typology!r}" if typology else "none given"
        raise InputError(f"--scam needs --typology, one of {', '.join(SCAM_TYPOLOGIES)} ({given})")
    return AnalystLabel(user_id=user_id, label=typology if scam else "benign", **fields)


def label(
    user_id: Annotated[str, typer.Argument(help="The user labelled, e.g. u0001234.")],
    scam: Annotated[bool, typer.Option("--scam", help="The user is a scammer.")] = False,
    benign: Annotated[bool, typer.Option("--benign", help="The user is not a scammer.")] = False,
    typology: Annotated[
        str | None, typer.Option(help=f"With --scam: {', '.join(SCAM_TYPOLOGIES)}.")
    ] = None,
    note: Annotated[str, typer.Option(help="Why, in your words.")] = "",
    analyst: Annotated[
        str | None, typer.Option(help="Who decided (default: the login name).")
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Decision time (ISO, UTC); default: now.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="With --scam: when the scam began (ISO), if known."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Record an analyst's label (appended to <data_dir>/labels/analyst.jsonl; a later label
    supersedes an earlier one, both are kept).

    The next training table and batch scores use it. The endpoint sees it at the next
    `online-load`; `POST /v1/labels` records it in the running server at once.
    """
    import polars as pl

    from features.labels import latest_labels
    from features.tables import load_clean_tables
    from scamguard.analyst_labels import append_analyst_label

    settings = get_settings()
    fields: dict[str, Any] = {"note": note, "analyst": analyst or getpass.getuser()}
    if at:
        fields["ts"] = parse_instant(at, "--at")
    if since:
        fields["first_bad_ts"] = parse_instant(since, "--since")
    new = _label_from_options(user_id, scam, benign, typology, **fields)
    signup = _signup_time(settings, user_id)
    if signup is None:
        raise InputError(f"unknown user {user_id}: not in the clean tables nor the online store")
    if new.ts < signup:
        raise InputError(f"--at {new.ts.isoformat()} is before {user_id} signed up ({signup})")
    history = load_clean_tables(settings).labels.filter(pl.col("user_id") == user_id)
    before = latest_labels(history, new.ts).collect()
    row = append_analyst_label(settings, new)
    previous = before.row(0, named=True) if before.height else None
    out = {
        **row,
        "supersedes": None
        if previous is None
        else f"{previous['label']} ({previous['source']}, {previous['decided_ts']})",
        "store": str(settings.analyst_labels_path),
    }
    if as_json:
        _print_json(out)
        return
    shown = ("label_id", "user_id", "label", "decided_ts", "first_bad_ts", "analyst", "note")
    rows = [(k, out[k]) for k in shown if out[k] not in (None, "")]
    rows += [("supersedes", out["supersedes"] or "-"), ("written to", out["store"])]
    console.print(kv_table("Label recorded", rows))


def queue(
    date_: Annotated[
        str | None, typer.Option("--date", help="Scores of this date; default: the latest.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows to list (and to ask the agent about).")] = 20,
    no_agent: Annotated[
        bool, typer.Option("--no-agent", help="Skip the agent's recommendation.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """The review queue: a day's `review` decisions not yet labelled, most valuable first.

    Order: the expected loss of the best automatic decision minus the review's cost,
    min(risk x missed_scam, (1 - risk) x wrongful_block) - review. With a trained agent, its
    recommendation for each row listed.
    """
    from serving.review_queue import review_queue

    settings = get_settings()
    day = parse_day(date_) if date_ else None
    report = review_queue(settings, day, limit=limit, agent=not no_agent)
    if as_json:
        _print_json(report)
        return
    table = Table(
        title=(
            f"Review queue {report['date']}: {report['unlabelled']:,} unlabelled of "
            f"{report['review_decisions']:,} review decisions (value = {report['ordering']})"
        ),
        title_justify="left",
    )
    for column in ("#", "user", "risk", "value", "agent", "reasons"):
        table.add_column(column, overflow="fold")
    for r in report["rows"]:
        a = r["agent"]
        agent = "-" if a is None else f"{a['decision']} (p={a['posterior']:.2f})"
        table.add_row(
            str(r["rank"]),
            r["user_id"],
            f"{r['risk']:.3f}",
            f"{r['review_value']:.2f}",
            agent,
            escape("; ".join(r["reasons"][:3])),
        )
    console.print(table)
    if report["agent"]:
        console.print(f"[dim]agent: {report['agent']}[/]")


@rules_app.command("check")
def rules_check(
    file: Annotated[Path, typer.Argument(help="The rules file (YAML).")],
    as_json: JsonOption = False,
) -> None:
    """Validate a rules file: one line per problem (naming the rule and the field), exit 2 if any."""
    from models.rules import RulesError, parse_rules

    if not file.is_file():
        raise InputError(f"no rules file at {file}")
    try:
        rules = parse_rules(file.read_text(encoding="utf-8"), str(file))
    except RulesError as exc:
        if as_json:
            _print_json({"file": str(file), "problems": exc.problems})
        else:
            for problem in exc.problems:
                sys.stderr.write(f"{file}: {problem}\n")
        raise typer.Exit(2) from None
    ids = [r.id for r in rules.rules]
    if as_json:
        _print_json({"file": str(file), "problems": [], "rules": ids})
        return
    console.print(
        f"{file}: ok, {len(ids)} enabled rule(s): {', '.join(ids) or '-'}",
        soft_wrap=True,
        highlight=False,
    )


@rules_app.command("backtest")
def rules_backtest(
    file: Annotated[Path, typer.Argument(help="The rules file (YAML).")],
    from_: Annotated[
        str | None, typer.Option("--from", help="First day (YYYY-MM-DD); default: --to - 13.")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Last day; default: the last day of the data.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Per rule over the days: hits, distinct users, precision and recall against the labels
    known now, and the change in realised cost per user-day against the model alone."""
    from models.rules import load_rules
    from pipelines.rules_backtest import backtest_rules

    if not file.is_file():
        raise InputError(f"no rules file at {file}")
    settings = get_settings()
    start = parse_day(from_, "--from") if from_ else None
    end = parse_day(to, "--to") if to else None
    with console.status("backtesting"):
        result = backtest_rules(settings, load_rules(file), start, end)
    if as_json:
        _print_json(result.as_dict())
        return
    console.print(_backtest_table(result))
    if result.scored_in_memory:
        days = ", ".join(d.isoformat() for d in result.scored_in_memory)
        console.print(f"[dim]scored now by the champion (no stored batch scores): {days}[/]")


def _backtest_table(result) -> Table:  # type: ignore[no-untyped-def]
    table = Table(
        title=(
            f"Rules backtest {result.start} .. {result.end}: {result.user_days:,} user-days, "
            f"{result.scams:,} scam; cost per user-day: model alone {result.model_cost:.4f}, "
            "Δ with the rule"
        ),
        title_justify="left",
    )
    widest = max(len(r.rule) for r in result.rules)
    table.add_column("rule", min_width=widest, overflow="fold")
    table.add_column("action")
    for column in ("hits", "users", "precision", "recall", "Δ cost"):
        table.add_column(column, justify="right")

    def share(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    for r in result.rules:
        table.add_row(
            r.rule,
            r.action,
            f"{r.hits:,}",
            f"{r.users:,}",
            share(r.precision),
            share(r.recall),
            f"{r.cost_change:+.4f}",
        )
    return table


def register(app: typer.Typer) -> None:
    app.command()(label)
    app.command()(queue)
    app.add_typer(rules_app, name="rules")
