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
