"""Spark against Polars: the same training table, time and peak memory, side by side.

    .venv/bin/python benchmarks/spark_bench.py                       # 200k and 1M users, 8 weeks
    .venv/bin/python benchmarks/spark_bench.py --users 20000 --json

Per scale: simulate (child process, cached under ``--cache``), ingest to clean tables, then

1. **Polars**: ``features.build.build_training_table`` in a child process: wall time and peak RSS;
2. **Spark local** (``--master``, default ``local[*]``): ``features.spark.jobs.write_training_table``
   in a child process: wall time, and the peak RSS of the whole process tree (Python driver + the
   JVM that runs driver and executors + Python workers), sampled every 0.2 s with psutil; plus
   Spark's own per-stage metrics from the UI's REST API (``/api/v1``): executor run time, input,
   shuffle read / write bytes and records, for the scale-out plan in ``docs/results/spark.md``;
3. the two tables are compared (counts exactly, floats to 1e-9) before the times are.

``--json`` prints the results as one JSON object on stdout (progress goes to stderr).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

SMS_CSV = ROOT.parent / "shared" / "data" / "sms_spam" / "messages.csv"


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of ``process`` and all its descendants."""
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_measured(target, *args) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    """Run ``target(*args, queue)`` in a child; (wall s, peak tree RSS GB, what it put on the queue)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=target, args=(*args, queue))
    started = time.perf_counter()
    child.start()
    proc = psutil.Process(child.pid)
    peak = 0
    while child.is_alive():
        peak = max(peak, tree_rss(proc))
        time.sleep(0.2)
    child.join()
    wall = time.perf_counter() - started
    if child.exitcode != 0:
        raise RuntimeError(f"{target.__name__} failed (exit code {child.exitcode})")
    return wall, peak / 1e9, queue.get() if not queue.empty() else None


def _prepare(users: int, weeks: int, data_dir: str, queue) -> None:  # type: ignore[no-untyped-def]
    from pipelines.ingest import ingest
    from pipelines.raw import write_world
    from pipelines.simulator import SimulationConfig, simulate
    from scamguard.settings import Settings

    settings = Settings(data_dir=Path(data_dir))
    world = simulate(
        SimulationConfig(
            n_users=users, weeks=weeks, seed=0, sms_csv=SMS_CSV if SMS_CSV.exists() else None
        )
    )
    write_world(world, settings.raw_dir, truth_dir=settings.data_dir / "simulator")
    del world
    ingest(settings.raw_dir, settings.clean_dir, settings.quarantine_dir)
    queue.put(None)


def _polars(data_dir: str, out: str, queue) -> None:  # type: ignore[no-untyped-def]
    from features.build import build_training_table
    from features.tables import load_clean_tables
    from scamguard.settings import Settings

    started = time.perf_counter()
    table = build_training_table(load_clean_tables(Settings(data_dir=Path(data_dir))))
    seconds = time.perf_counter() - started
    table.write_parquet(out)
    queue.put({"seconds": seconds, "rows": table.height})


def _spark(data_dir: str, master: str, memory: str, partitions: int, queue) -> None:  # type: ignore[no-untyped-def]
    import urllib.request

    from features.spark.jobs import write_training_table
    from features.spark.session import spark_session
    from scamguard.settings import Settings

    spark = spark_session(master, driver_memory=memory, ui=True, shuffle_partitions=partitions)
    started = time.perf_counter()
    run = write_training_table(spark, Settings(data_dir=Path(data_dir)))
    seconds = time.perf_counter() - started
    api = f"{spark.sparkContext.uiWebUrl}/api/v1/applications/{spark.sparkContext.applicationId}"
    stages = json.load(urllib.request.urlopen(f"{api}/stages"))
    keep = (
        "stageId",
        "name",
        "numTasks",
        "executorRunTime",
        "executorCpuTime",
        "inputBytes",
        "inputRecords",
        "shuffleReadBytes",
        "shuffleReadRecords",
        "shuffleWriteBytes",
        "shuffleWriteRecords",
        "memoryBytesSpilled",
        "diskBytesSpilled",
    )
    spark.stop()
    queue.put(
        {
            "seconds": seconds,
            "graph_rounds": run.graph_rounds,
            "stages": [
                {k: s.get(k) for k in keep} for s in stages if s.get("status") == "COMPLETE"
            ],
        }
    )


def compare(a: Path, b: Path) -> dict[str, int]:
    import polars as pl

    from features.build import FEATURE_COLUMNS

    x, y = pl.read_parquet(a), pl.read_parquet(b)
    j = x.join(y, on=["user_id", "as_of"], how="full", suffix="_sp")
    out = {"rows_polars": x.height, "rows_spark": y.height}
    for c in FEATURE_COLUMNS:
        p, s = j[c].cast(pl.Float64), j[f"{c}_sp"].cast(pl.Float64)
        same = ((p - s).abs() <= 1e-9 * s.abs().clip(lower_bound=1.0)).fill_null(False)
        same = same | (p.is_null() & s.is_null())
        if not same.all():
            out[c] = int((~same).sum())
    return out


def stage_totals(stages: list[dict]) -> dict[str, float]:
    total = {
        k: 0.0
        for k in (
            "executorRunTime",
            "executorCpuTime",
            "inputBytes",
            "shuffleWriteBytes",
            "shuffleWriteRecords",
            "diskBytesSpilled",
        )
    }
    for s in stages:
        for k in total:
            total[k] += s.get(k) or 0
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--driver-memory", default="12g")
    parser.add_argument(
        "--shuffle-partitions",
        type=int,
        default=0,
        help="partitions after a shuffle (default: 16 per 200k users, at least 16)",
    )
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "scamguard-spark-bench"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    log = sys.stderr if args.json else sys.stdout
    results = []
    for users in args.users:
        data = args.cache / f"users={users}-weeks={args.weeks}"
        if not (data / "clean" / "labels").exists():
            print(f"simulating {users:,} users", file=log, flush=True)
            run_measured(_prepare, users, args.weeks, str(data))
        load_start = os.getloadavg()[0]
        print(f"{users:,} users: Polars (load {load_start:.1f})", file=log, flush=True)
        p_wall, p_rss, p = run_measured(_polars, str(data), str(data / "polars.parquet"))
        print(f"{users:,} users: Spark {args.master}", file=log, flush=True)
        partitions = args.shuffle_partitions or max(16, 16 * users // 200_000)
        s_wall, s_rss, s = run_measured(
            _spark, str(data), args.master, args.driver_memory, partitions
        )
        diff = compare(data / "polars.parquet", data / "features" / "training.parquet")
        results.append(
            {
                "users": users,
                "load_avg_start": load_start,
                "load_avg": os.getloadavg()[0],
                "shuffle_partitions": partitions,
                "polars_s": p["seconds"],  # type: ignore[index]
                "polars_wall_s": p_wall,
                "polars_peak_gb": p_rss,  # type: ignore[index]
                "spark_s": s["seconds"],  # type: ignore[index]
                "spark_wall_s": s_wall,
                "spark_peak_gb": s_rss,  # type: ignore[index]
                "rows": p["rows"],  # type: ignore[index]
                "graph_rounds": s["graph_rounds"],  # type: ignore[index]
                "mismatches": {k: v for k, v in diff.items() if not k.startswith("rows")},
                "rows_spark": diff["rows_spark"],
                "stage_totals": stage_totals(s["stages"]),  # type: ignore[index]
                "stages": s["stages"],  # type: ignore[index]
            }
        )
    if args.json:
        print(json.dumps(results, default=str))
        return
    print(
        f"{'users':>10} {'rows':>10} {'Polars s':>9} {'Spark s':>8} {'ratio':>6} {'Polars GB':>10} {'Spark GB':>9} {'ratio':>6} {'equal':>6}"
    )
    for r in results:
        print(
            f"{r['users']:>10,} {r['rows']:>10,} {r['polars_s']:>9.1f} {r['spark_s']:>8.1f} "
            f"{r['spark_s'] / r['polars_s']:>6.1f} {r['polars_peak_gb']:>10.2f} {r['spark_peak_gb']:>9.2f} "
            f"{r['spark_peak_gb'] / r['polars_peak_gb']:>6.1f} {str(not r['mismatches'] and r['rows'] == r['rows_spark']):>6}"
        )
        t = r["stage_totals"]
        print(
            f"   Spark stages: executor run {t['executorRunTime'] / 1e3:.0f} s, input {t['inputBytes'] / 1e6:.0f} MB, "
            f"shuffle write {t['shuffleWriteBytes'] / 1e6:.0f} MB / {t['shuffleWriteRecords'] / 1e6:.1f}M records, "
            f"spilled {t['diskBytesSpilled'] / 1e6:.0f} MB; components {r['graph_rounds']} rounds"
        )


if __name__ == "__main__":
    main()
