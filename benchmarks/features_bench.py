"""Feature pipeline benchmark: the full training table at scale, Polars against pandas, graph
components, and the online store's per-event latency, in one run.

    .venv/bin/python benchmarks/features_bench.py                    # 1M users, 8 weeks (~25M events)
    .venv/bin/python benchmarks/features_bench.py --users 100000 --json

1. **Simulate** ``--users`` over ``--weeks`` (the default simulator; in a child process, so the
   peak memory reported below is the feature build's) and load the tables (Polars, in memory).
2. **Polars, full scale**: ``features.build.build_training_table`` (weekly snapshots of active
   users, all 72 features, target, split): wall time, rows/s, events/s, peak RSS of this process.
3. **Polars vs pandas, same sample**: the first ``--pandas-users`` users and every event they
   made (or, for payments and reports, took part in), the same spine, the Polars builder against
   ``benchmarks/pandas_features.py`` (merge-filter-groupby pandas); the two tables must agree
   (counts exactly, floats to 1e-9) before their times are compared.
4. **Graph components at full scale** (the last snapshot's live links): scipy's sparse
   ``connected_components`` against iterative min-label propagation in Polars.
5. **Online store**: backfill the SQLite store as of the start of the last day, then replay the
   next ``--online-events`` endpoint events through ``OnlineStore.score`` (record the event, read
   the actor's 72 features just after it): p50 / p99 / max latency per event. ``--processes
   1,2`` runs it once per entry, with that many processes sharing the store file (each replays
   every N-th event, all at once; a latency then includes waiting for the other's transaction).
   ``--online-only`` skips steps 2-4:

    .venv/bin/python benchmarks/features_bench.py --users 200000 --online-only --processes 1,2

``--json`` prints the results as one JSON object on stdout (progress goes to stderr). Other jobs
on the machine slow every number here; the table shows the load average at start and end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

SMS_CSV = ROOT.parent / "shared" / "data" / "sms_spam" / "messages.csv"
ENDPOINT_TABLES = ("users", "logins", "jobs", "proposals", "messages", "payments")
ACTOR = {
    "users": "user_id",
    "logins": "user_id",
    "jobs": "client_id",
    "proposals": "freelancer_id",
    "messages": "sender_id",
    "reports": "reported_id",
    "labels": "user_id",
}


def peak_rss_gb() -> float:
    """Peak resident set size of this process so far, in GB (10^9 bytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def _simulate(users: int, weeks: int, seed: int, out: str) -> None:
    from pipelines.simulator import SimulationConfig, simulate

    world = simulate(
        SimulationConfig(
            n_users=users, weeks=weeks, seed=seed, sms_csv=SMS_CSV if SMS_CSV.exists() else None
        )
    )
    for name, frame in world.tables.items():
        frame.write_parquet(Path(out) / f"{name}.parquet")


def simulated_world(users: int, weeks: int, seed: int, cache: Path) -> Path:
    """Parquet tables of the simulated world under ``cache`` (simulated in a child process)."""
    where = cache / f"users={users}-weeks={weeks}-seed={seed}"
    if not (where / "labels.parquet").exists():
        where.mkdir(parents=True, exist_ok=True)
        child = multiprocessing.get_context("spawn").Process(
            target=_simulate, args=(users, weeks, seed, str(where))
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            raise RuntimeError(f"simulation failed (exit code {child.exitcode})")
    return where


def sample_tables(frames: dict[str, pl.DataFrame], n_users: int) -> dict[str, pl.DataFrame]:
    """The first ``n_users`` users and the rows they made or took part in."""
    keep = frames["users"]["user_id"].sort().head(n_users).implode()
    mine = {
        "users": pl.col("user_id").is_in(keep),
        "logins": pl.col("user_id").is_in(keep),
        "jobs": pl.col("client_id").is_in(keep),
        "proposals": pl.col("freelancer_id").is_in(keep),
        "messages": pl.col("sender_id").is_in(keep),
        "payments": pl.col("payer_id").is_in(keep) | pl.col("payee_id").is_in(keep),
        "reports": pl.col("reported_id").is_in(keep) | pl.col("reporter_id").is_in(keep),
        "labels": pl.col("user_id").is_in(keep),
    }
    return {name: frame.filter(mine[name]) for name, frame in frames.items()}


def compare(polars_table: pl.DataFrame, pandas_table: pl.DataFrame) -> dict[str, int]:
    """Cells that differ per feature column (counts exactly, floats to 1e-9 relative)."""
    from features.build import FEATURE_COLUMNS

    joined = polars_table.join(pandas_table, on=["user_id", "as_of"], how="full", suffix="_pd")
    out = {}
    for c in FEATURE_COLUMNS:
        a, b = joined[c].cast(pl.Float64), joined[f"{c}_pd"].cast(pl.Float64)
        same = ((a - b).abs() <= 1e-9 * b.abs().clip(lower_bound=1.0)).fill_null(False)
        same = same | (a.is_null() & b.is_null())
        if not same.all():
            out[c] = int((~same).sum())
    return out


def _endpoint_events(frames: dict[str, pl.DataFrame], start: datetime, n_events: int) -> list:
    """The first ``n_events`` events from ``start`` on, in time (then load) order."""
    from scamguard.schema import LOAD_ORDER, TABLES

    events = []
    for order, name in enumerate(LOAD_ORDER):
        when = TABLES[name].time_column
        rows = frames[name].filter(pl.col(when) >= start).sort(when).head(n_events)
        events += [(row[when], order, name, row) for row in rows.iter_rows(named=True)]
    return sorted(events, key=lambda e: (e[0], e[1]))[:n_events]


def _replay(
    store_file: str, events: list, barrier: object | None = None
) -> list[tuple[float, float]]:
    """Replay ``events`` through one ``OnlineStore`` of ``store_file``; (wall, CPU) seconds per
    scored event (the CPU time of this thread: what other jobs on the machine do not inflate)."""
    from features.online import OnlineStore

    store = OnlineStore(store_file)
    if barrier is not None:
        barrier.wait()  # type: ignore[attr-defined]
    latencies = []
    for at, _, table, row in events:
        if table not in ENDPOINT_TABLES:
            store.ingest(table, row)  # reports and labels are recorded, not scored
            continue
        if table == "payments":
            actor = row["payee_id"] if row["kind"] == "payout" else row["payer_id"]
        else:
            actor = row[ACTOR[table]]
        t0, c0 = time.perf_counter(), time.thread_time()
        store.score(table, row, actor, at)
        latencies.append((time.perf_counter() - t0, time.thread_time() - c0))
    store.close()
    return latencies


def _replay_child(store_file: str, events: list, barrier: object, out: str) -> None:
    Path(out).write_text(json.dumps(_replay(store_file, events, barrier)))


def replay_latency(
    frames: dict[str, pl.DataFrame], store_file: Path, n_events: int, processes: int = 1
) -> dict[str, Any]:
    """Backfill the store as of the start of the last day, replay the next events through
    ``OnlineStore.score``; per-event latency in milliseconds. With ``processes`` > 1, that many
    processes share the store file, each replaying every ``processes``-th event at once (a
    latency then includes waiting for another process's write transaction)."""
    from features.build import Tables
    from features.online import backfill

    last = frames["messages"]["ts"].max()
    assert isinstance(last, datetime)
    start = last.replace(hour=0, minute=0, second=0, microsecond=0)
    started = time.perf_counter()
    backfill(store_file, Tables.from_frames(frames), start)
    backfill_s = time.perf_counter() - started
    events = _endpoint_events(frames, start, n_events)
    started = time.perf_counter()
    if processes == 1:
        latencies = _replay(str(store_file), events)
    else:
        # spawn, not fork: Polars' thread pool does not survive a fork (a child that evaluates a
        # Polars expression, e.g. a non-ASCII text's flags, would hang holding the write lock)
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(processes)
        outs = [store_file.with_name(f"latencies-{k}.json") for k in range(processes)]
        children = [
            ctx.Process(
                target=_replay_child,
                args=(str(store_file), events[k::processes], barrier, str(outs[k])),
            )
            for k in range(processes)
        ]
        for child in children:
            child.start()
        for child in children:
            child.join()
            if child.exitcode != 0:
                raise RuntimeError(f"a replay process failed (exit code {child.exitcode})")
        latencies = [tuple(x) for out in outs for x in json.loads(out.read_text())]
    wall_s = time.perf_counter() - started
    ms, cpu_ms = (np.array(latencies) * 1e3).T
    return {
        "backfill_s": backfill_s,
        "processes": processes,
        "events": len(latencies),
        "unscored": len(events) - len(latencies),
        "events_per_s": len(events) / wall_s,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
        "mean_ms": float(ms.mean()),
        "cpu_p50_ms": float(np.percentile(cpu_ms, 50)),
        "cpu_p99_ms": float(np.percentile(cpu_ms, 99)),
    }


def components(frames: dict[str, pl.DataFrame]) -> dict[str, float]:
    """scipy vs Polars label propagation on the live links at the last snapshot."""
    from features.build import Tables, snapshot_times
    from features.graph import (
        LinkGraph,
        connected_components_polars,
        connected_components_scipy,
        identifier_links,
        known_bad_users,
    )

    tables = Tables.from_frames(frames)
    links = identifier_links(users=tables.users, logins=tables.logins, payments=tables.payments)
    graph, _ = LinkGraph.encode(
        links.collect(), known_bad_users(tables.labels).collect(), pl.Series([], dtype=pl.String)
    )
    as_of = snapshot_times(tables)[-1]
    live = graph.live(int(pl.Series([as_of]).cast(pl.Int64)[0]))
    u, i = graph.user[live], graph.ident[live]
    t0 = time.perf_counter()
    by_scipy = connected_components_scipy(u, i, graph.n_users, graph.n_idents)[: graph.n_users]
    scipy_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    by_polars, iterations = connected_components_polars(u, i, graph.n_users, graph.n_idents)
    polars_s = time.perf_counter() - t0
    pairs = pl.DataFrame({"scipy": by_scipy, "polars": by_polars}).unique()
    same = bool(pairs["scipy"].is_unique().all() and pairs["polars"].is_unique().all())
    return {
        "edges": int(live.sum()),
        "nodes": graph.n_users + graph.n_idents,
        "largest": int(np.bincount(by_scipy).max()),
        "scipy_s": scipy_s,
        "polars_s": polars_s,
        "iterations": iterations,
        "same_partition": same,
    }


def polars_vs_pandas(frames: dict[str, pl.DataFrame], n: int) -> dict[str, object]:
    """The Polars builder against ``pandas_features`` on the first ``n`` users' sample: times, and
    the columns where the two tables differ (none expected)."""
    from pandas_features import build_features_pandas

    from features.build import Tables, active_spine, attach_target, build_features, snapshot_times

    sample = sample_tables(frames, n)
    sample_tables_ = Tables.from_frames(sample)
    spine = (
        attach_target(
            active_spine(sample_tables_, snapshot_times(sample_tables_)),
            sample_tables_.labels,
        )
        .collect()
        .select("user_id", "as_of")
    )
    t0 = time.perf_counter()
    by_polars = build_features(spine.lazy(), sample_tables_).collect()
    polars_s = time.perf_counter() - t0
    pandas_frames = {name: f.to_pandas() for name, f in sample.items()}
    pandas_spine = spine.to_pandas()
    t0 = time.perf_counter()
    by_pandas = build_features_pandas(pandas_spine, pandas_frames)
    pandas_s = time.perf_counter() - t0
    return {
        "polars_sample_s": polars_s,
        "pandas_s": pandas_s,
        "pandas_sample_users": n,
        "pandas_sample_rows": spine.height,
        "sample_mismatches": compare(by_polars, pl.from_pandas(by_pandas)),
        "speedup": pandas_s / polars_s,
    }


def offline_parts(frames: dict, args: argparse.Namespace, results: dict, say: Callable) -> None:
    """Steps 2-4: the Polars training table, Polars against pandas, graph components."""
    from features.build import Tables, build_training_table

    say(f"Polars: training table, {results['events']:,} events")
    t0 = time.perf_counter()
    table = build_training_table(Tables.from_frames(frames))
    results["polars_s"] = time.perf_counter() - t0
    results["rows"] = table.height
    results["features"] = table.width - 5
    results["peak_rss_gb"] = peak_rss_gb()
    del table
    n = min(args.pandas_users, args.users)
    say(f"Polars vs pandas on {n:,} users")
    results.update(polars_vs_pandas(frames, n))
    say("graph components: scipy vs Polars label propagation")
    results["components"] = components(frames)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000, help="users to simulate")
    parser.add_argument("--weeks", type=int, default=8, help="weeks of activity")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pandas-users", type=int, default=50_000, help="users in the pandas sample"
    )
    parser.add_argument("--online-events", type=int, default=20_000, help="events replayed online")
    parser.add_argument(
        "--processes",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[1],
        help="processes sharing the online store, one replay each (e.g. 1,2)",
    )
    parser.add_argument(
        "--online-only", action="store_true", help="only the online store's part (step 5)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="keep the simulated world (and reuse it) here"
    )
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args(argv)
    console = Console(stderr=args.json)

    load_start = os.getloadavg()[0]
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="features_bench_"))
    results: dict = {"users": args.users, "weeks": args.weeks, "cpus": os.cpu_count()}
    try:
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as progress:
            task = progress.add_task(
                f"simulating {args.users:,} users x {args.weeks} weeks", total=None
            )
            world = simulated_world(args.users, args.weeks, args.seed, cache)
            frames = {p.stem: pl.read_parquet(p) for p in sorted(world.glob("*.parquet"))}
            results["events"] = sum(
                frames[t].height
                for t in ("logins", "jobs", "proposals", "messages", "payments", "reports")
            )

            if not args.online_only:
                offline_parts(frames, args, results, lambda d: progress.update(task, description=d))
            runs = []
            for processes in args.processes:
                progress.update(
                    task, description=f"online store: backfill, replay ({processes} processes)"
                )
                store_file = cache / "online_store.sqlite"
                load = os.getloadavg()[0]
                run = replay_latency(frames, store_file, args.online_events, processes)
                run["load_avg_start_end"] = [round(load, 2), round(os.getloadavg()[0], 2)]
                runs.append(run)
                for p in cache.glob("online_store.sqlite*"):
                    p.unlink()
            results["online_runs"] = runs
            online = results["online"] = runs[0]
            results["online_p50_ms"] = online["p50_ms"]
            results["online_p99_ms"] = online["p99_ms"]
            results["peak_rss_end_gb"] = peak_rss_gb()
            progress.update(task, description="done")
    finally:
        if args.cache_dir is None:
            shutil.rmtree(cache, ignore_errors=True)
        else:
            for p in cache.glob("online_store.sqlite*"):
                p.unlink()
    results["load_avg_start_end"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]

    if args.json:
        print(json.dumps(results))
    else:
        console.print(render_online(results) if args.online_only else render(results))
    return results


def render_online(r: dict) -> Table:
    """The online part only (``--online-only``): one row per number of processes."""
    table = Table(
        title=f"Online store: {r['users']:,} users, {r['events']:,} events, {r['cpus']} CPUs"
    )
    columns = ("processes", "events", "events/s", "p50 / p99 ms", "CPU p50 / p99 ms", "max ms")
    for column in (*columns, "load avg"):
        table.add_column(column, justify="right")
    for o in r["online_runs"]:
        table.add_row(
            str(o["processes"]),
            f"{o['events']:,}",
            f"{o['events_per_s']:,.0f}",
            f"{o['p50_ms']:.2f} / {o['p99_ms']:.2f}",
            f"{o['cpu_p50_ms']:.2f} / {o['cpu_p99_ms']:.2f}",
            f"{o['max_ms']:.1f}",
            "{} -> {}".format(*o["load_avg_start_end"]),
        )
    return table


def render(r: dict) -> Table:
    c, o = r["components"], r["online"]
    table = Table(
        title=f"Feature pipeline: {r['users']:,} users, {r['events']:,} events, "
        f"{r['cpus']} CPUs (load avg {r['load_avg_start_end'][0]} -> {r['load_avg_start_end'][1]})"
    )
    table.add_column("what")
    table.add_column("result", justify="right")
    table.add_column("notes")
    table.add_row(
        "Polars: full training table",
        f"{r['polars_s']:.1f} s",
        f"{r['rows']:,} rows x {r['features']} features; {r['rows'] / r['polars_s']:,.0f} rows/s, "
        f"{r['events'] / r['polars_s']:,.0f} events/s",
    )
    table.add_row(
        "peak memory (RSS) after the build",
        f"{r['peak_rss_gb']:.2f} GB",
        f"process peak at the end of the run: {r['peak_rss_end_gb']:.2f} GB",
    )
    table.add_row(
        f"Polars on the sample ({r['pandas_sample_users']:,} users)",
        f"{r['polars_sample_s']:.2f} s",
        f"{r['pandas_sample_rows']:,} rows",
    )
    table.add_row(
        "pandas on the same sample",
        f"{r['pandas_s']:.2f} s",
        "identical table" if not r["sample_mismatches"] else f"DIFFERS: {r['sample_mismatches']}",
    )
    table.add_row("speedup Polars / pandas", f"{r['speedup']:.1f}x", "")
    table.add_row(
        "components: scipy",
        f"{c['scipy_s']:.2f} s",
        f"{c['nodes']:,} nodes, {c['edges']:,} live links, largest {c['largest']:,} users",
    )
    table.add_row(
        "components: Polars label propagation",
        f"{c['polars_s']:.2f} s",
        f"{c['iterations']} iterations; {c['polars_s'] / max(c['scipy_s'], 1e-9):.0f}x scipy; "
        f"same partition: {c['same_partition']}",
    )
    table.add_row(
        "online store backfill", f"{o['backfill_s']:.1f} s", "as of the start of the last day"
    )
    table.add_row(
        "online read + update p50",
        f"{o['p50_ms']:.2f} ms",
        f"{o['events']:,} events scored (+{o['unscored']} recorded), mean {o['mean_ms']:.2f} ms",
    )
    table.add_row("online read + update p99", f"{o['p99_ms']:.2f} ms", f"max {o['max_ms']:.1f} ms")
    return table


if __name__ == "__main__":
    main()
