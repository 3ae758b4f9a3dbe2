"""The append-only decision audit log (one JSON object per line).

Records hold no raw personal data: whoever writes one passes identifiers and texts through
``scamguard.privacy`` first (the endpoint's event fields are pseudonymised; feature values,
reasons in words, user ids and times are kept, so an analyst finds a decision by user id and
time).

:func:`append_audit` opens the file for each record (batch runs, investigations: rare);
:class:`AuditLog` keeps one handle open for a process that writes many (the endpoint).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from scamguard.settings import Settings


def _line(record: dict) -> str:
    return json.dumps({"logged_at": datetime.now(UTC).isoformat(), **record}, default=str) + "\n"


def append_audit(settings: Settings, record: dict) -> None:
    """Append ``record`` (plus ``logged_at``) to ``settings.audit_log``; never rewrites earlier lines."""
    settings.audit_log.parent.mkdir(parents=True, exist_ok=True)
    with open(settings.audit_log, "a", encoding="utf-8") as fh:
        fh.write(_line(record))


class AuditLog:
    """The audit log file held open for appending (thread-safe, and safe across processes: lines
    never interleave).

    Each record is flushed to the operating system as it is written (a crash of the process loses
    nothing; a crash of the machine may lose what the OS had not written yet). Opened on the first
    record, so creating one does no I/O.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fh: IO[bytes] | None = None

    def append(self, record: dict) -> None:
        """Append ``record`` (plus ``logged_at``)."""
        line = _line(record).encode("utf-8")
        with self._lock:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "ab", buffering=0)  # noqa: SIM115 (held open)
            # one write() of the whole line on an O_APPEND file: lines of several processes (the
            # server's workers) never interleave
            self._fh.write(line)

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
