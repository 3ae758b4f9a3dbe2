"""``scamguard serve --workers 2`` through real HTTP: two worker processes share the online store.

Logins of one new user go to the server from several threads on fresh connections (so both
workers take some), each event id sent twice: every event is counted once in the store, the
ledger ``seq`` values are distinct and the database's counter is the largest, the second delivery
gets the first answer, and every audit line is whole.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from features.online.local import store_path
from scamguard.settings import Settings
from tests.serving.conftest import API_KEY, mirror_settings
from tests.serving.factories import event, new_user

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 24


def _workers(pid: int) -> list[int]:
    """The worker processes uvicorn spawned under ``pid`` (not multiprocessing's helpers)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    children = [int(c) for c in path.read_text().split()] if path.exists() else []
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


@pytest.fixture(scope="module")
def two_workers(
    trained_env: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Settings, subprocess.Popen]]:
    settings = mirror_settings(trained_env, tmp_path_factory.mktemp("workers") / "data")
    (settings.data_dir / "online").unlink(missing_ok=True)  # a store of its own, not a link
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "SCAMGUARD_DATA_DIR": str(settings.data_dir),
        "SCAMGUARD_API_KEY": API_KEY,
        "PYTHONPATH": str(ROOT),
    }
    argv = [sys.executable, "-m", "scamguard.cli", "serve", "--workers", "2", "--port", str(port)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline, ready = time.monotonic() + 180, 0
        while ready < 10:  # ten 200s in a row, on fresh connections: both workers loaded
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the server did not get ready"
            try:
                ready = ready + 1 if httpx.get(url + "/readyz").status_code == 200 else 0
            except httpx.TransportError:
                ready = 0
            time.sleep(0.05)
        yield url, settings, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_two_workers_share_the_store(
    two_workers: tuple[str, Settings, subprocess.Popen],
) -> None:
    url, settings, proc = two_workers
    assert len(_workers(proc.pid)) == 2
    headers = {"X-API-Key": API_KEY}
    user = new_user()
    signup = event("signup", user, ts=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
    assert httpx.post(url + "/v1/events", json=signup, headers=headers).status_code == 200
    start = datetime.now(UTC) - timedelta(minutes=30)
    bodies = [
        event(
            "login",
            user,
            event_id=f"w-{uuid.uuid4().hex}",
            ts=(start + timedelta(seconds=k)).isoformat(),
        )
        for k in range(EVENTS)
    ]

    def send(body: dict) -> dict:
        response = httpx.post(url + "/v1/score", json=body, headers=headers)  # a new connection
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(8) as pool:
        first = list(pool.map(send, bodies))
        again = list(pool.map(send, bodies))
    assert first == again  # repeats answered as the first time, by whichever worker
    db = sqlite3.connect(f"file:{store_path(settings)}?mode=ro", uri=True)
    try:
        seqs = [s for (s,) in db.execute("SELECT seq FROM ledger WHERE user_id = ?", (user,))]
        (last,) = db.execute("SELECT value FROM counters WHERE name = 'ledger_seq'").fetchone()
        (top,) = db.execute("SELECT MAX(seq) FROM ledger").fetchone()
    finally:
        db.close()
    assert len(seqs) == len(set(seqs)) == EVENTS
    assert last == top
    lines = settings.audit_log.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line whole
    mine = [r for r in records if r.get("user_id") == user and r.get("kind") == "online"]
    assert len(mine) == EVENTS


def _scrape(url: str) -> dict[str, list]:  # type: ignore[type-arg]
    """``/metrics`` on a fresh connection: sample name -> [(labels, value)]."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(url + "/metrics").text
    samples: dict[str, list] = {}  # type: ignore[type-arg]
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def _scored(samples: dict[str, list]) -> float:  # type: ignore[type-arg]
    return sum(
        value
        for labels, value in samples.get("scamguard_http_requests_total", [])
        if labels.get("route") == "/v1/score" and labels.get("status") == "200"
    )


def test_metrics_add_up_every_worker(two_workers: tuple[str, Settings, subprocess.Popen]) -> None:
    """Whichever worker answers ``/metrics``, it counts the requests both workers served, and it
    lists both workers' model (multiprocess mode)."""
    url, _, proc = two_workers
    before = _scored(_scrape(url))
    user, headers = new_user(), {"X-API-Key": API_KEY}
    signup = event("signup", user, ts=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
    assert httpx.post(url + "/v1/events", json=signup, headers=headers).status_code == 200
    start = datetime.now(UTC) - timedelta(minutes=20)
    bodies = [
        event("login", user, ts=(start + timedelta(seconds=k)).isoformat()) for k in range(12)
    ]

    def send(body: dict) -> httpx.Response:  # type: ignore[type-arg]
        return httpx.post(url + "/v1/score", json=body, headers=headers)  # a new connection

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(send, bodies))
    assert [a.status_code for a in answers] == [200] * len(bodies), answers[0].text
    scrapes = [_scrape(url) for _ in range(8)]  # fresh connections: both workers answer some
    assert [_scored(s) for s in scrapes] == [before + len(bodies)] * len(scrapes)
    pids = {labels["pid"] for labels, _ in scrapes[0]["scamguard_model_info"]}
    assert pids == {str(pid) for pid in _workers(proc.pid)}
    assert all(value == 1 for _, value in scrapes[0]["scamguard_ready"])


def test_the_metrics_folder_starts_empty_and_a_temporary_one_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's ``PROMETHEUS_MULTIPROC_DIR`` loses the files of an earlier run (their counts
    would be added to this one's) and stays set; without one, a temporary folder is used and
    removed, and the variable unset again."""
    from serving.metrics import MULTIPROC_ENV, multiprocess_dir

    given = tmp_path / "prom"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"old")
    (given / "notes.txt").write_text("kept")
    monkeypatch.setenv(MULTIPROC_ENV, str(given))
    with multiprocess_dir() as folder:
        assert folder == str(given) and os.environ[MULTIPROC_ENV] == folder
        assert sorted(p.name for p in given.iterdir()) == ["notes.txt"]
    assert os.environ[MULTIPROC_ENV] == str(given) and given.exists()
    monkeypatch.delenv(MULTIPROC_ENV)
    with multiprocess_dir() as folder:
        assert os.environ[MULTIPROC_ENV] == folder and Path(folder).is_dir()
    assert MULTIPROC_ENV not in os.environ and not Path(folder).exists()
