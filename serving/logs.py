"""The server's logs, without personal data: the request log, unhandled errors, uvicorn's config.

- uvicorn's own access log (client IP and port, the raw path and query) is off; instead
  :class:`RequestLogMiddleware` writes one line per request to the ``scamguard.access`` logger:
  the client as a keyed hash (``scamguard.privacy.pseudonym``), the method, the route *template*
  (never the raw path, which may carry anything), the status and the time taken.
- An exception that escapes a route is logged by the same middleware with its type, the route
  and the stack (file, line, code), but without its message or the request body, which may quote
  what the caller sent; the caller gets a 500 ``{"detail": "internal error (<type>)"}``. Left to
  uvicorn, the message would be logged as it is.
- :func:`log_config`: uvicorn's logging set-up plus the ``scamguard`` loggers on the same handler,
  so the request log and the load messages reach the console under ``scamguard serve``.

Request bodies are never logged.
"""

from __future__ import annotations

import copy
import json
import logging
import time
import traceback
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scamguard.privacy import pseudonym

access_log = logging.getLogger("scamguard.access")
error_log = logging.getLogger("scamguard.errors")


def route_label(scope: Scope, status: int) -> str:
    """The route template; the raw path only for a success without a route object (e.g. the
    OpenAPI schema, a bounded set); ``unmatched`` otherwise."""
    path = getattr(scope.get("route"), "path", None)
    if path:
        return path
    return scope["path"] if status < 400 else "unmatched"


class RequestLogMiddleware:
    """Pure ASGI middleware: one pseudonymised line per HTTP request; unhandled errors as 500s
    logged without their message."""

    def __init__(self, app: ASGIApp, pii_key: str) -> None:
        self.app = app
        self.pii_key = pii_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # logged here without the message; the caller gets a 500
            error_log.error(
                "unhandled %s in %s %s (message withheld: it may quote the request)\n%s",
                type(exc).__name__,
                scope["method"],
                route_label(scope, 500),
                "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
            )
            if status == 0:
                status = 500
                await _internal_error(send, type(exc).__name__)
        if access_log.isEnabledFor(logging.INFO):
            client = scope.get("client")
            access_log.info(
                'client=%s "%s %s" %d %.1fms',
                pseudonym(client[0], self.pii_key) if client else "-",
                scope["method"],
                route_label(scope, status),
                status,
                (time.perf_counter() - started) * 1000.0,
            )


async def _internal_error(send: Send, kind: str) -> None:
    body = json.dumps({"detail": f"internal error ({kind})"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _drop(record: logging.LogRecord) -> bool:
    return False


def silence_uvicorn_access_log() -> None:
    """Drop every record of uvicorn's access logger (client IP and port, raw path and query).

    ``access_log=False`` alone is not enough: uvicorn then only empties that logger's handlers
    and stops it propagating, and a later logging set-up in the process (a library's) can make
    it propagate to the root handlers again. A filter on the logger drops the records at the
    source, whatever the handlers."""
    logger = logging.getLogger("uvicorn.access")
    if _drop not in logger.filters:
        logger.addFilter(_drop)


def log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's default logging config with the ``scamguard`` loggers on its console handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["scamguard"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config
