"""The variant drill: does the monitor page on the new scam variant, and only on it?

Simulates ``--weeks`` weeks with the variant starting ``--drift-weeks`` before the end, trains a
champion on the data before the monitored window, replays the daily job day by day (ingest,
features, scores; the monitor on the monitored days) and prints, per monitored day, the alerts
and the signals that matter. Used for docs/results/monitoring.md:

    python benchmarks/monitoring_drill.py --seed 0 --users 20000 --out /tmp/drill0

Timeline (defaults: 10 weeks from 2026-07-06, variant from 2026-08-24): champion trained on the
data before ``start of variant - before - 14`` days... precisely: the monitored days are the
``--before`` days before the variant and the ``--after`` days from it; the champion is trained
on everything before the first monitored day, with snapshots every 3 days; the daily job runs
from ``--history`` days before the first monitored day so every signal has a baseline.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from features.build import build_training_table
from features.tables import end_of_day, load_clean_tables
from models.train import train_risk_model
from monitoring.monitor import run_monitor
from monitoring.signals import inhibit
from pipelines.daily import StepOutput, read_run_record, run_day
from pipelines.ingest import ingest_partitions
from pipelines.raw import write_world
from pipelines.simulator import SimulationConfig, simulate
from pipelines.simulator.text import variant_message_prefixes
from scamguard.settings import Settings

SMS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sms_spam" / "messages.csv"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--weeks", type=int, default=10)
    parser.add_argument("--drift-weeks", type=int, default=3)
    parser.add_argument("--before", type=int, default=14)
    parser.add_argument("--after", type=int, default=7)
    parser.add_argument("--history", type=int, default=21)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--summarize-only",
        action="store_true",
        help="Only read back the monitored days' outputs already in --out and print the table.",
    )
    parser.add_argument(
        "--monitor-only",
        action="store_true",
        help="With --resume: only re-run the monitor on the monitored days (after a monitor change).",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="Keep the data, champion and run days already in --out.",
    )
    args = parser.parse_args()

    settings = Settings(data_dir=args.out / "data", api_key="drill-key")
    config = SimulationConfig(
        n_users=args.users,
        weeks=args.weeks,
        seed=args.seed,
        drift_weeks=args.drift_weeks,
        sms_csv=SMS if SMS.exists() else None,
    )
    started = time.perf_counter()
    resume = (args.resume or args.summarize_only) and (settings.data_dir / "mlflow.db").exists()
    if not resume:
        world = simulate(config)
        write_world(world, settings.raw_dir, truth_dir=settings.data_dir / "simulator")
    variant_start = (config.end - timedelta(weeks=args.drift_weeks)).date()
    if args.summarize_only:
        report(args, {}, variant_start, started)
        return
    first = variant_start - timedelta(days=args.before)
    last = variant_start + timedelta(days=args.after - 1)
    print(f"variant starts {variant_start}; monitored {first}..{last}", flush=True)

    # the champion: trained on everything before the first monitored day
    if not resume:
        train_champion(settings, first, started)

    # the daily job: history days without the monitor, then the monitored days with it
    results = {}

    def monitor(s: Settings, day: date) -> StepOutput:
        r = run_monitor(s, day, log_mlflow=False)
        results[day] = r
        return StepOutput(rows={"alerts": len(r.alerts), "pages": len(r.pages)})

    for i in range(args.history + (last - first).days + 1):
        day = first - timedelta(days=args.history) + timedelta(days=i)
        done = read_run_record(settings, day)
        monitored = (settings.data_dir / "monitoring" / f"date={day}" / "alerts.json").exists()
        if resume and done and done["status"] == "ok" and (day < first or monitored):
            continue
        if resume and args.monitor_only and day >= first:
            monitor(settings, day)
            print(f"{day} monitored", flush=True)
            continue
        t = time.perf_counter()
        record = run_day(settings, day, monitor=monitor if day >= first else None, log_mlflow=False)
        if not record.ok:
            raise SystemExit(f"{day}: {record.error}")
        print(f"{day} {record.status} {time.perf_counter() - t:.1f}s", flush=True)
    report(args, results, variant_start, started)


def train_champion(settings: Settings, first: date, started: float) -> None:
    ingest_partitions(
        settings.raw_dir, settings.clean_dir, settings.quarantine_dir, first - timedelta(days=1)
    )
    cutoff = end_of_day(first - timedelta(days=1))
    times = [cutoff - timedelta(days=3 * i) for i in range(8)][::-1]
    table = build_training_table(load_clean_tables(settings), times)
    result = train_risk_model(table, settings=settings, seed=0)
    print(
        f"champion v{result.model_version}: test PR-AUC {result.metrics['test_pr_auc']:.3f} "
        f"({time.perf_counter() - started:.0f}s)",
        flush=True,
    )


def _value(metrics: pl.DataFrame, kind: str, signal: str, column: str = "value") -> float | None:
    row = metrics.filter((pl.col("kind") == kind) & (pl.col("signal") == signal))
    return row[column][0] if row.height else None


def summarize(settings: Settings, days: list[date], variant_start: date) -> list[dict]:
    """One row per monitored day, read back from ``monitoring/date=D/`` (metrics.parquet and
    alerts.json; the alerts re-inhibited with the current rules, so a summary of an older run
    follows them too)."""
    prefixes = variant_message_prefixes()
    rows = []
    for day in days:
        folder = settings.data_dir / "monitoring" / f"date={day}"
        metrics = pl.read_parquet(folder / "metrics.parquet")
        alerts = inhibit(json.loads((folder / "alerts.json").read_text())["alerts"])

        drift = metrics.filter(pl.col("kind") == "feature_drift").with_columns(
            ((pl.col("value") - pl.col("mean")) / pl.col("sd")).alias("z")
        )
        top = drift.filter(pl.col("z").is_finite()).sort("z", descending=True).row(0, named=True)
        pages = [a for a in alerts if a["severity"] == "page"]
        rows.append(
            {
                "day": str(day),
                "variant": day >= variant_start,
                "largest_cluster": _value(metrics, "emerging_pattern", "largest_cluster_accounts"),
                "cluster_page_at": _value(
                    metrics, "emerging_pattern", "largest_cluster_accounts", "page_at"
                ),
                "top_feature": top["subject"],
                "top_feature_z": top["z"],
                "score_psi": _value(metrics, "score_drift", "score_psi"),
                "score_page_at": _value(metrics, "score_drift", "score_psi", "page_at"),
                "block_rate": _value(metrics, "decision_mix", "block_rate"),
                "review_rate": _value(metrics, "decision_mix", "review_rate"),
                "pages": [f"{a['kind']}:{a['subject']}" for a in pages],
                "warns": [f"{a['kind']}:{a['subject']}" for a in alerts if a["severity"] == "warn"],
                "variant_named": any(
                    a["kind"] == "emerging_pattern"
                    and all(ex.startswith(prefixes) for ex in a.get("examples", []))
                    for a in pages
                ),
                "what": [a["what"] for a in pages],
            }
        )
    return rows


def report(args: argparse.Namespace, results: dict, variant_start: date, started: float) -> None:
    settings = Settings(data_dir=args.out / "data", api_key="drill-key")
    first = variant_start - timedelta(days=args.before)
    days = [first + timedelta(days=i) for i in range(args.before + args.after)]
    rows = summarize(settings, days, variant_start)
    out = args.out / f"drill_seed{args.seed}.json"
    out.write_text(json.dumps(rows, indent=2, default=str))
    print(pl.DataFrame(rows).drop("what").to_pandas().to_string())
    print(f"total {time.perf_counter() - started:.0f}s -> {out}")


if __name__ == "__main__":
    main()
