"""The analyst's view of one user: risk, reasons, profile, linked accounts, messages, reports, labels.

``investigate_user`` gathers the evidence into a JSON-serialisable dict (datetimes as ISO strings);
``render_investigation`` prints it with Rich. The risk comes from the latest batch scores; a user
who is in the clean ``users`` table but not in them is scored now by the champion model on
features as of midnight after the last day of data (the batch scoring instant), or reported as
"not scored" with the reason.

Linked accounts share a device, an IP or a payment instrument with the user (the links of
``features.graph.identifier_links``, over all history). Identifiers shared by more than
``features.graph.HUB_LIMIT`` users (VPN exits, carriers, offices) link nothing, as in the graph
features; they are listed separately.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agent.trail import investigate_with_agent, render_agent_trail
from features.build import Tables, build_features
from features.catalog import describe_feature
from features.graph import HUB_LIMIT, identifier_links
from features.labels import latest_labels
from features.online import OnlineStore
from features.tables import end_of_data, load_clean_tables
from pipelines.batch import read_scores
from scamguard.audit import append_audit
from scamguard.schema import SCAM_TYPOLOGIES
from scamguard.settings import Settings
from serving.live import live_score

if TYPE_CHECKING:
    from serving.deps import Scorer

RECENT_MESSAGES = 10
MAX_REPORTS = 20
MAX_LINKED = 50
TEXT_CHARS = 120
DECISION_STYLE = {"allow": "green", "review": "yellow", "block": "bold red"}


class UnknownUserError(LookupError):
    """The user id is not in the clean users table."""


def _truncate(text: str | None, limit: int = TEXT_CHARS) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _latest_scores(settings: Settings) -> tuple[pl.DataFrame | None, date | None]:
    paths = sorted(settings.scores_dir.glob("date=*/scores.parquet"))
    if not paths:
        return None, None
    day = date.fromisoformat(paths[-1].parent.name.removeprefix("date="))
    return read_scores(settings, day), day


def _reason_codes(row: dict) -> list[dict]:
    return [
        {"feature": f, "description": describe_feature(f)}
        for f in (row.get(f"reason_{i}") for i in (1, 2, 3))
        if f
    ]


def _score(
    settings: Settings, tables: Tables, user_id: str, scores: pl.DataFrame | None, day: date | None
) -> dict:
    """Risk section: from the latest batch scores, else scored now, else "not scored" with why."""
    if scores is not None:
        hit = scores.filter(pl.col("user_id") == user_id)
        if hit.height:
            row = hit.row(0, named=True)
            return {
                "risk": row["risk"],
                "decision": row["decision"],
                "model_version": row["model_version"],
                "reasons": list(row["reasons"] or []),
                "reason_codes": _reason_codes(row),
                "scored": {
                    "source": "batch",
                    "date": day,
                    "as_of": row["as_of"],
                    "scored_at": row.get("scored_at"),
                },
            }
    why_not_batch = (
        f"not in the batch scores of {day}"
        if day
        else f"no batch scores under {settings.scores_dir}"
    )
    try:
        from models.registry import load_scorer

        as_of = end_of_data(tables)
        spine = pl.LazyFrame(
            {"user_id": [user_id], "as_of": [as_of]},
            schema={"user_id": pl.String, "as_of": pl.Datetime("us", "UTC")},
        )
        features = build_features(spine, tables).collect()
        scorer = load_scorer(settings, alias="champion")
        row = scorer.score(features).row(0, named=True)
    except Exception as exc:  # no model / no data: the report still shows the evidence
        return {
            "risk": None,
            "decision": None,
            "model_version": None,
            "reasons": [],
            "reason_codes": [],
            "scored": {
                "source": "not scored",
                "note": f"not scored: {why_not_batch}, and scoring now failed: {exc}",
            },
        }
    return {
        "risk": row["risk"],
        "decision": row["decision"],
        "model_version": scorer.model_version,
        "reasons": list(row["reasons"] or []),
        "reason_codes": _reason_codes(row),
        "scored": {
            "source": "live",
            "as_of": as_of,
            "note": f"{why_not_batch}: scored now by the champion model",
        },
    }


def _linked_accounts(
    tables: Tables, user_id: str, scores: pl.DataFrame | None
) -> tuple[list[dict], int, list[dict]]:
    """(linked accounts, how many in all, hub identifiers skipped)."""
    links = identifier_links(users=tables.users, logins=tables.logins, payments=tables.payments)
    mine = links.filter(pl.col("user_id") == user_id).select("kind", "ident").unique()
    shared = links.join(mine, on=["kind", "ident"], how="semi").collect()
    sizes = shared.group_by("kind", "ident").agg(pl.col("user_id").n_unique().alias("users"))
    hubs = sizes.filter(pl.col("users") > HUB_LIMIT).sort("users", descending=True)
    others = (
        shared.filter(pl.col("user_id") != user_id)
        .join(hubs, on=["kind", "ident"], how="anti")
        .group_by("user_id")
        .agg(
            pl.col("kind").unique().sort().alias("via"),
            pl.col("ident").unique().sort().head(5).alias("identifiers"),
            pl.col("first_ts").min().alias("linked_since"),
        )
    )
    labels = latest_labels(tables.labels).select("user_id", "label").collect()
    risk = (
        scores.select("user_id", "risk", "decision")
        if scores is not None
        else pl.DataFrame(schema={"user_id": pl.String, "risk": pl.Float64, "decision": pl.String})
    )
    linked = (
        others.join(labels, on="user_id", how="left")
        .join(risk, on="user_id", how="left")
        .with_columns(pl.col("label").is_in(SCAM_TYPOLOGIES).fill_null(False).alias("_bad"))
        .sort(["_bad", "risk", "user_id"], descending=[True, True, False], nulls_last=True)
        .drop("_bad")
    )
    return linked.head(MAX_LINKED).to_dicts(), linked.height, hubs.to_dicts()


def investigate_user(
    settings: Settings,
    user_id: str,
    *,
    store: OnlineStore | None = None,
    scorer: Scorer | None = None,
    analyst: str = "unknown",
) -> dict:
    """Everything an analyst needs about ``user_id``, JSON-serialisable, with the live score
    (``serving.live``) beside the batch one. Every call is written to the audit log (who looked at
    whom, and when).

    A user who arrived through the endpoint and is not in the clean tables yet gets the online
    store's view. Raises UnknownUserError when neither knows the user.
    ``store`` / ``scorer``: the endpoint's own (the CLI opens the store file and loads the model).
    """
    tables = load_clean_tables(settings)
    users = tables.users.filter(pl.col("user_id") == user_id).collect()
    live = live_score(settings, user_id, store=store, scorer=scorer)
    if users.height == 0 and not live["in_store"]:
        raise UnknownUserError(
            f"unknown user {user_id}: not in {Path(settings.clean_dir) / 'users'} "
            "nor in the online store"
        )
    append_audit(
        settings,
        {
            "kind": "investigation",
            "analyst": analyst,
            "user_id": user_id,
            "at": datetime.now(UTC).isoformat(),
        },
    )
    if users.height == 0:
        return _jsonable(_online_only_report(user_id, live))
    user = users.row(0, named=True)
    scores, day = _latest_scores(settings)
    linked, n_linked, hubs = _linked_accounts(tables, user_id, scores)
    messages = (
        tables.messages.filter(pl.col("sender_id") == user_id)
        .sort("ts", descending=True)
        .head(RECENT_MESSAGES)
        .select("ts", "recipient_id", "job_id", "text")
        .collect()
    )
    reports = (
        tables.reports.filter(pl.col("reported_id") == user_id)
        .sort("ts", descending=True)
        .collect()
    )
    labels = tables.labels.filter(pl.col("user_id") == user_id).sort("seq").collect()
    report = {
        "user_id": user_id,
        **_score(settings, tables, user_id, scores, day),
        "profile": {
            "role": user["role"],
            "signup_ts": user["signup_ts"],
            "country": user["country"],
            "phone_country": user["phone_country"],
            "kyc_status": user["kyc_status"],
            "email_domain": user["email_domain"],
            "profile_text": _truncate(user["profile_text"]),
        },
        "linked_accounts": linked,
        "linked_accounts_total": n_linked,
        "hub_identifiers_skipped": hubs,
        "recent_messages": [{**m, "text": _truncate(m["text"])} for m in messages.to_dicts()],
        "reports_received": reports.head(MAX_REPORTS)
        .select("ts", "reporter_id", "reason")
        .to_dicts(),
        "reports_received_total": reports.height,
        "labels": labels.select("label", "decided_ts", "first_bad_ts", "source").to_dicts(),
        "live": live,
        # the investigation agent's evidence trail, decision and similar past cases
        "agent": investigate_with_agent(settings, user_id, tables=tables),
    }
    return _jsonable(report)


def _online_only_report(user_id: str, live: dict) -> dict:
    """The view of a user known only to the online store (arrived through the endpoint)."""
    note = "not in the clean tables yet (arrived through the endpoint): the online store's view"
    return {
        "user_id": user_id,
        "risk": live.get("risk"),
        "decision": live.get("decision"),
        "model_version": live.get("model_version"),
        "reasons": live.get("reasons", []),
        "reason_codes": [],
        "scored": {"source": "live", "as_of": live.get("as_of"), "note": note},
        "profile": {"signup_ts": live.get("signup_ts"), "profile_text": live.get("profile_text")},
        "linked_accounts": [],
        "linked_accounts_total": 0,
        "hub_identifiers_skipped": [],
        "recent_messages": [],
        "reports_received": [],
        "reports_received_total": 0,
        "labels": [],
        "live": live,
        "agent": {"available": False, "note": f"the agent reads the clean tables: {note}"},
    }


# ---------------------------------------------------------------------------------------- Rich
def _table(
    title: str, columns: list[str], rows: list[list[Any]], empty: str = "none"
) -> Table | Text:
    if not rows:
        return Text(f"{title}: {empty}", style="dim")
    table = Table(title=title, title_justify="left", expand=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(
            *[v if isinstance(v, Text) else Text("" if v is None else str(v)) for v in row]
        )
    return table


def _risk_text(risk: float | None, decision: str | None) -> Text:
    if risk is None:
        return Text("not scored", style="dim")
    return Text(f"{risk:.3f} ({decision})", style=DECISION_STYLE.get(decision or "", ""))


def _header(report: dict) -> Text:
    """Risk and decision (batch, or live for an endpoint-only user), then the live score."""
    scored = report["scored"]
    header = Text.assemble(("risk ", "bold"), _risk_text(report["risk"], report["decision"]))
    if report["model_version"]:
        header.append(f"   model v{report['model_version']}")
    when = scored.get("date") or scored.get("as_of") or ""
    header.append(f"   {scored['source']} {when}".rstrip())
    live = report.get("live") or {}
    if live.get("available"):
        header.append("\nlive ", style="bold")
        header.append_text(_risk_text(live["risk"], live["decision"]))
        header.append(f"   model v{live['model_version']}   as of {live['as_of']}")
    elif live.get("note"):
        header.append(f"\nlive: {live['note']}", style="dim")
    if scored.get("note"):
        header.append(f"\n{scored['note']}", style="dim")
    return header


def render_investigation(report: dict, console: Console) -> None:
    """Print ``report`` (from :func:`investigate_user`) as Rich panels and tables."""
    header = _header(report)
    reasons = Text(
        "\n".join(f"{i}. {r}" for i, r in enumerate(report["reasons"], 1)) or "no reasons"
    )
    console.print(
        Panel(
            Group(header, Text(""), reasons),
            title=f"[bold]user {report['user_id']}[/]",
            title_align="left",
        )
    )

    profile = report["profile"]
    table = Table(title="Profile", show_header=False, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("")
    for key in (
        "role",
        "signup_ts",
        "country",
        "phone_country",
        "kyc_status",
        "email_domain",
        "profile_text",
    ):
        table.add_row(key.replace("_", " "), Text(str(profile.get(key) or "")))
    console.print(table)
    console.print(
        _table(
            "Labels",
            ["label", "decided", "first bad activity"],
            [[lab["label"], lab["decided_ts"], lab["first_bad_ts"]] for lab in report["labels"]],
            "no label yet",
        )
    )
    console.print(
        _table(
            f"Linked accounts ({report['linked_accounts_total']}, shared devices / IPs / instruments)",
            ["user", "via", "label", "risk", "since"],
            [
                [
                    a["user_id"],
                    ", ".join(a["via"]),
                    Text(
                        a["label"] or "unknown",
                        style="red" if a["label"] in SCAM_TYPOLOGIES else "",
                    ),
                    _risk_text(a["risk"], a["decision"]),
                    a["linked_since"],
                ]
                for a in report["linked_accounts"]
            ],
            "no linked accounts",
        )
    )
    if report["hub_identifiers_skipped"]:
        hubs = ", ".join(
            f"{h['kind']} {h['ident']} ({h['users']} users)"
            for h in report["hub_identifiers_skipped"][:5]
        )
        console.print(
            Text(
                f"shared identifiers too common to link (> {HUB_LIMIT} users): {hubs}", style="dim"
            )
        )
    console.print(
        _table(
            "Recent messages sent",
            ["ts", "to", "text"],
            [[m["ts"], m["recipient_id"], m["text"]] for m in report["recent_messages"]],
            "no messages",
        )
    )
    console.print(
        _table(
            f"Reports received ({report['reports_received_total']})",
            ["ts", "reporter", "reason"],
            [[r["ts"], r["reporter_id"], r["reason"]] for r in report["reports_received"]],
            "no reports",
        )
    )
    render_agent_trail(report.get("agent"), console)
