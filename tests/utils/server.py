"""A real HTTP server for endpoint tests: uvicorn in a background thread on a free localhost port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from serving.app import server_config


@contextmanager
def live_server(
    app, *, ready_path: str = "/healthz", timeout_s: float = 60.0, log_level: str = "warning"
) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Serve ``app`` until the block exits; yields the base URL (``http://127.0.0.1:PORT``).

    The server is configured as ``scamguard serve`` configures it (``serving.app.server_config``),
    except that the process's logging set-up is left alone (handlers stay the test's).

    The socket is bound before the server starts (port 0: the OS picks a free port), so there is
    no race for the port. Waits until ``ready_path`` answers 200 (lifespan startup has run by
    then); on exit asks the server to stop and joins its thread.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(app, log_level=log_level, configure_logging=False))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True
    )
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if not thread.is_alive():
                raise RuntimeError("the test server exited during startup (see the log above)")
            try:
                if (
                    server.started
                    and httpx.get(base_url + ready_path, timeout=2).status_code == 200
                ):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the test server did not answer {ready_path} within {timeout_s:.0f}s"
                )
            time.sleep(0.05)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
