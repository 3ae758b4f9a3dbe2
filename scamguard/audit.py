"""The append-only decision audit log (one JSON object per line)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from scamguard.settings import Settings


def append_audit(settings: Settings, record: dict) -> None:
    """Append ``record`` (plus ``logged_at``) to ``settings.audit_log``; never rewrites earlier lines."""
    settings.audit_log.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"logged_at": datetime.now(UTC).isoformat(), **record}, default=str)
    with open(settings.audit_log, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
