"""The endpoint's rules: loaded at start, re-read without a restart, never lost to a bad file.

:class:`RulesHolder` keeps the current ``models.rules.RuleSet`` of ``settings.rules_path`` in
memory. A background thread re-reads the file every ``settings.rules_poll_s`` seconds (2 by
default) and swaps the rules in when its content changed and stayed the same for one more poll
(a file caught half-written is never loaded); ``SIGHUP`` asks for the same at once
(installed when the server runs in the main thread, as ``scamguard serve`` does). A file that
fails to load (bad YAML, an unknown field, a bad regex) changes nothing: the server keeps its
current rules and logs one line naming the problems. A file that disappears means no rules.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from models.rules import RulesError, RuleSet, load_rules

log = logging.getLogger("scamguard.serving.rules")


@dataclass(frozen=True)
class RulesStatus:
    path: str
    rules: list[str]
    loaded_at: str | None
    last_error: str | None


class RulesHolder:
    """The current rules of one file, and the reloading (see the module docstring)."""

    def __init__(self, path: Path, *, poll_s: float = 2.0):
        self.path = Path(path)
        self.poll_s = poll_s
        self._rules = RuleSet(source=f"{self.path} (not loaded yet)")
        self._digest: str | None = None
        self._pending: str | None = None  # new content seen by one poll, not yet loaded
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.loaded_at: datetime | None = None
        self.last_error: str | None = None

    @property
    def current(self) -> RuleSet:
        return self._rules

    def reload(self, *, force: bool = False, settle: bool = False) -> bool:
        """Re-read the file if its content changed (or ``force``); True if the rules changed.
        On a bad file: keep the current rules, log one line, remember the error.

        ``settle`` (the poller): load new content only once two reads in a row saw it, so a
        file caught half-written (an editor truncating, then writing) is never loaded."""
        with self._lock:
            try:
                content = self.path.read_bytes() if self.path.exists() else b""
            except OSError as exc:
                return self._failed(f"cannot read {self.path}: {exc}")
            digest = hashlib.sha256(content).hexdigest() if self.path.exists() else "absent"
            if digest == self._digest and not force:
                return False
            if settle and digest != self._pending:
                self._pending = digest  # seen once: load it at the next poll if still the same
                return False
            try:
                rules = load_rules(self.path)
            except RulesError as exc:
                self._digest = digest  # do not retry (and log) the same bad content every poll
                return self._failed(str(exc))
            self._rules, self._digest = rules, digest
            self.loaded_at, self.last_error = datetime.now(UTC), None
            log.info("rules loaded from %s: %s", rules.source, [r.id for r in rules.rules])
            return True

    def _failed(self, message: str) -> bool:
        self.last_error = message
        kept = [r.id for r in self._rules.rules]
        log.warning("rules not reloaded, keeping %s: %s", kept, message)
        return False

    def status(self) -> RulesStatus:
        return RulesStatus(
            path=str(self.path),
            rules=[r.id for r in self._rules.rules],
            loaded_at=self.loaded_at.isoformat() if self.loaded_at else None,
            last_error=self.last_error,
        )

    def start(self) -> None:
        """Load now, then poll in a daemon thread; reload on SIGHUP when in the main thread."""
        self.reload(force=True)
        self._thread = threading.Thread(target=self._poll, name="scamguard-rules", daemon=True)
        self._thread.start()
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, lambda *_: self.reload(force=True))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.reload(settle=True)
            except Exception:  # never let the poller die: the next poll tries again
                log.exception("rules reload failed")


def get_rules(request: Request) -> RuleSet:
    holder: RulesHolder | None = getattr(request.app.state, "rules", None)
    return holder.current if holder is not None else RuleSet()


RulesDep = Annotated[RuleSet, Depends(get_rules)]
