"""Serving benchmark: our endpoint against ``mlflow models serve`` for the same registered champion.

    .venv/bin/python benchmarks/serve_bench.py                     # 30 s per level, both servers
    .venv/bin/python benchmarks/serve_bench.py --seconds 5 --json  # a short run, JSON on stdout

1. **Data**: ``--data-dir`` holding a champion (default: a fresh ``scamguard demo --users 10000
   --weeks 6`` under ``--work-dir``, reused by later runs).
2. **Payloads**, from the clean tables of that data: events of users the online store knows,
   sent without ``ts`` and ``event_id`` (the server stamps them now and gives each a fresh id, so
   every request is a new event). Non-text events: logins (a device and IP the user used before)
   and payments (a charge to a payee they paid before). Text events, measured as their own
   table: messages (real texts), proposals and job posts. For mlflow, the same users' feature rows
   from the latest batch snapshot (``dataframe_split``, one row per request): mlflow scores the
   features it is given, ours records the event, computes the features and scores them.
3. **Servers**, one at a time on the same machine: ``scamguard serve --workers W`` for each W of
   ``--workers`` (default 1; the workers share the SQLite online store) and ``mlflow models serve -m models:/<name>/<version>
   --env-manager local`` (``--mlflow-workers``, default 1).
4. **Load**: one asyncio + httpx client with ``C`` requests in flight (``--concurrency``, default
   1, 16 and 64), ``--warmup`` seconds, then ``--seconds`` measured: requests/s and p50 / p99
   latency of the measured requests; any non-200 answer is counted and reported. CPU per
   request, measured over the same window: the server's processes
   (``server_cpu_ms_per_request``) and this client's own (``client_cpu_ms_per_request``).

The client runs on the same cores as the server and takes a share of them; other jobs on the
machine slow every number: the load average before and after is reported beside the results.
Together the two CPU figures bound the requests/s these cores can serve (cores x 1000 / (server +
client ms)), and with it, by Little's law, the least mean latency at a concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

API_KEY = "bench-key"
N_PAYLOADS = 2_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and all its descendants so far (Linux /proc):
    the server's cost per request, which other jobs on the machine do not inflate as they do
    wall-clock latency."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        times[child] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(times.get(p, 0.0) for p in tree)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_data(data_dir: Path | None, work_dir: Path, users: int) -> Path:
    """A data dir with a registered champion and a batch snapshot (made by ``scamguard demo``)."""
    data_dir = data_dir or work_dir / f"demo-{users}"
    if (data_dir / "mlflow.db").exists() and any(data_dir.glob("features/snapshots/*")):
        return data_dir
    _log(f"building the benchmark data: scamguard demo --users {users} in {data_dir}")
    env = {**os.environ, "SCAMGUARD_DATA_DIR": str(data_dir)}
    subprocess.run(
        [sys.executable, "-m", "scamguard.cli", "demo", "--users", str(users), "--weeks", "6"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return data_dir


def build_payloads(data_dir: Path, n: int, seed: int = 0) -> dict[str, list]:
    """``{"non_text": [event], "text": [event], "mlflow": [body], "mlflow_text": [body]}``:
    ``n`` of each, the mlflow bodies holding the feature rows of the same users in order."""
    from features.tables import load_clean_tables
    from pipelines.batch import latest_snapshot_path
    from scamguard.settings import Settings

    settings = Settings(data_dir=data_dir)
    tables = load_clean_tables(settings)
    snapshot = pl.read_parquet(latest_snapshot_path(settings))
    rng = random.Random(seed)
    logins = tables.logins.select("user_id", "ip", "device_id", "country").collect().rows()
    payments = (
        tables.payments.filter(pl.col("kind") == "charge")
        .select("payer_id", "payee_id", "instrument_id", "amount_usd")
        .collect()
        .rows()
    )
    messages = tables.messages.select("sender_id", "recipient_id", "text").collect().rows()
    proposals = tables.proposals.select("freelancer_id", "job_id", "cover_text").collect().rows()
    non_text = []
    for _ in range(n):
        if rng.random() < 0.5:
            user, ip, device, country = rng.choice(logins)
            non_text.append(
                {"event_type": "login", "user_id": user, "ip": ip, "device_id": device}
                | {"country": country}
            )
        else:
            payer, payee, instrument, amount = rng.choice(payments)
            non_text.append(
                {"event_type": "payment", "user_id": payer, "payee_id": payee}
                | {"instrument_id": instrument, "amount_usd": float(amount), "kind": "charge"}
            )
    text = []
    for _ in range(n):
        if rng.random() < 0.7:
            sender, recipient, body = rng.choice(messages)
            text.append(
                {"event_type": "message", "user_id": sender, "recipient_id": recipient}
                | {"text": body[:2000]}
            )
        else:
            freelancer, job, cover = rng.choice(proposals)
            text.append(
                {"event_type": "proposal", "user_id": freelancer, "job_id": job}
                | {"bid_usd": 100.0, "cover_text": cover[:2000]}
            )
    return {
        "non_text": non_text,
        "text": text,
        "mlflow": _feature_bodies(snapshot, [e["user_id"] for e in non_text]),
        "mlflow_text": _feature_bodies(snapshot, [e["user_id"] for e in text]),
    }


def _feature_bodies(snapshot: pl.DataFrame, users: list[str]) -> list[dict]:
    """One ``dataframe_split`` body per user: their snapshot features (a user without a row gets
    the first row's: the model's work is the same)."""
    from features.build import FEATURE_COLUMNS

    columns = list(FEATURE_COLUMNS)
    rows = {
        r[0]: [None if v is None or math.isnan(v) else float(v) for v in r[1:]]
        for r in snapshot.select("user_id", *[pl.col(c).cast(pl.Float64) for c in columns]).rows()
    }
    fallback = next(iter(rows.values()))
    return [
        {"dataframe_split": {"columns": columns, "data": [rows.get(u, fallback)]}} for u in users
    ]


class Server:
    """A server process: started by ``start``, ready when ``ready_path`` answers 200."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, ready: str):
        self.name, self.argv, self.env, self.port, self.ready_path = name, argv, env, port, ready
        self.proc: subprocess.Popen | None = None
        self.log = open(os.devnull, "w")  # noqa: SIM115  (replaced by run() with a log file)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log
        )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited at start: {' '.join(self.argv)} (log: {self.log.name})"
                )
            try:
                if httpx.get(self.url + self.ready_path, timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{self.name} not ready after 600 s")

    def __exit__(self, *exc: object) -> None:
        self.log.close()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def ours(data_dir: Path, workers: int = 1) -> Server:
    port = _free_port()
    env = {
        **os.environ,
        "SCAMGUARD_DATA_DIR": str(data_dir),
        "SCAMGUARD_API_KEY": API_KEY,
        "PYTHONPATH": str(ROOT),
    }
    argv = [sys.executable, "-m", "scamguard.cli", "serve", "--port", str(port)]
    argv += ["--workers", str(workers)]
    argv += ["--log-level", "info"]  # as deployed: one request line each (to /dev/null here)
    return Server("ours", argv, env, port, "/readyz")


def mlflow_server(data_dir: Path, model_uri: str, workers: int) -> Server:
    port = _free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{(data_dir / 'mlflow.db').resolve()}",
        "PYTHONPATH": str(ROOT),  # the pickled pyfunc's classes (models.pyfunc)
        # mlflow execs `uvicorn` by name: this interpreter's scripts first on the path
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    argv = [mlflow, "models", "serve", "-m", model_uri, "--env-manager", "local"]
    argv += ["-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    return Server("mlflow", argv, env, port, "/ping")


async def _drive(
    url: str,
    path: str,
    bodies: list,
    headers: dict,
    concurrency: int,
    warmup: float,
    seconds: float,
    pid: int | None = None,
) -> dict:
    latencies: list[float] = []
    cpu_at_start: float | None = None
    client_cpu_at_start: float | None = None  # this process: the load generator's own CPU
    errors: dict[str, int] = {}
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=60
    ) as client:

        async def worker(offset: int) -> None:
            i = offset
            while (now := time.perf_counter()) < stop_at:
                try:
                    response = await client.post(path, json=bodies[i % len(bodies)])
                    status: int | str = response.status_code
                except httpx.TransportError as exc:  # counted, not fatal: a reset connection
                    status = type(exc).__name__
                done = time.perf_counter()
                i += concurrency
                if now >= measure_from:
                    nonlocal cpu_at_start, client_cpu_at_start
                    if client_cpu_at_start is None:
                        client_cpu_at_start = time.process_time()
                    if cpu_at_start is None and pid is not None:
                        cpu_at_start = cpu_seconds(pid)
                    latencies.append(done - now)
                    if status != 200:
                        errors[str(status)] = errors.get(str(status), 0) + 1

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    elapsed = max(time.perf_counter() - measure_from, 1e-9)
    cpu = None if cpu_at_start is None or pid is None else cpu_seconds(pid) - cpu_at_start
    client_cpu = None if client_cpu_at_start is None else time.process_time() - client_cpu_at_start
    ms = np.asarray(latencies) * 1000.0
    return {
        "rps": round(len(latencies) / elapsed, 1),
        "server_cpu_ms_per_request": round(cpu * 1000 / len(latencies), 2)
        if cpu is not None and latencies
        else None,
        "client_cpu_ms_per_request": round(client_cpu * 1000 / len(latencies), 2)
        if client_cpu is not None and latencies
        else None,
        "p50_ms": round(float(np.percentile(ms, 50)), 2) if len(ms) else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 2) if len(ms) else None,
        "requests": len(latencies),
        "errors": errors,
    }


def run_levels(
    server: Server, path: str, bodies: list, headers: dict, args: argparse.Namespace
) -> dict:
    out = {}
    for c in args.concurrency:
        _log(f"  {server.name} {path} c{c}: {args.warmup:g} s warm-up, {args.seconds:g} s")
        out[f"c{c}"] = asyncio.run(
            _drive(
                server.url,
                path,
                bodies,
                headers,
                c,
                args.warmup,
                args.seconds,
                pid=server.proc.pid if server.proc else None,
            )
        )
    return out


def champion_uri(data_dir: Path) -> str:
    from models.registry import load_scorer  # noqa: F401  (import check only)
    from scamguard import tracking
    from scamguard.settings import Settings

    settings = Settings(data_dir=data_dir)
    version = tracking.resolve_alias(settings, settings.risk_model_name, "champion", hint="")
    return version.uri


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="A data dir with a champion.")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/scamguard-serve-bench"))
    parser.add_argument("--users", type=int, default=10_000, help="Demo users (no --data-dir).")
    parser.add_argument("--seconds", type=float, default=30.0, help="Measured per level.")
    parser.add_argument("--warmup", type=float, default=3.0, help="Warm-up per level.")
    parser.add_argument(
        "--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64]
    )
    parser.add_argument("--mlflow-workers", type=int, default=1, help="mlflow's uvicorn workers.")
    parser.add_argument(
        "--workers",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1],
        help="Our server's worker processes, one run each (e.g. 1,2).",
    )
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--skip-text", action="store_true")
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    args = parser.parse_args(argv)

    data_dir = ensure_data(args.data_dir, args.work_dir, args.users)
    payloads = build_payloads(data_dir, N_PAYLOADS)
    load_before = os.getloadavg()
    results: dict = {"machine": {"cpus": os.cpu_count(), "load_before": load_before}}
    key = {"X-API-Key": API_KEY}
    args.work_dir.mkdir(parents=True, exist_ok=True)
    for workers in args.workers:
        suffix = "" if workers == args.workers[0] else f"_w{workers}"
        server = ours(data_dir, workers)
        server.log = open(args.work_dir / f"ours{suffix}.log", "w")  # noqa: SIM115
        _log(f"  ours with {workers} worker(s)")
        with server:
            results[f"ours{suffix}"] = run_levels(
                server, "/v1/score", payloads["non_text"], key, args
            )
            if not args.skip_text:
                results[f"ours_text{suffix}"] = run_levels(
                    server, "/v1/score", payloads["text"], key, args
                )
    results["ours_workers"] = args.workers
    if not args.skip_mlflow:
        server = mlflow_server(data_dir, champion_uri(data_dir), args.mlflow_workers)
        server.log = open(args.work_dir / "mlflow.log", "w")  # noqa: SIM115
        _log(f"  results so far: {json.dumps(results)}")
        with server:
            results["mlflow"] = run_levels(server, "/invocations", payloads["mlflow"], {}, args)
    results["machine"]["load_after"] = os.getloadavg()
    if "mlflow" in results and results["mlflow"].get("c16", {}).get("rps"):
        results["rps_ratio_c16"] = round(
            results["ours"]["c16"]["rps"] / results["mlflow"]["c16"]["rps"], 2
        )
    _print(results, as_json=args.json)
    return results


def _print(results: dict, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(results, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="requests/s, p50 / p99 latency (ms)")
    table.add_column("server")
    levels = [k for k in results["ours"]]
    for level in levels:
        table.add_column(level, justify="right")
    cell: Callable[[dict], str] = lambda r: (  # noqa: E731
        f"{r['rps']:,.0f}/s  {r['p50_ms']} / {r['p99_ms']}  cpu {r['server_cpu_ms_per_request']}"
        f" + client {r['client_cpu_ms_per_request']}"
    )
    for name, by_level in results.items():
        if name.startswith(("ours", "mlflow")) and isinstance(by_level, dict):
            table.add_row(name, *[cell(by_level[lv]) for lv in levels])
    Console(stderr=False).print(table)
    print(f"load average before / after: {results['machine']}")
    if "rps_ratio_c16" in results:
        print(f"requests/s ratio at c16, ours / mlflow: {results['rps_ratio_c16']}")


if __name__ == "__main__":
    main()
