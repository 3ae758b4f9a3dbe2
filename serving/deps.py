"""Serving state and the request dependencies (``Annotated`` aliases: ``StateDep``, ``ScorerDep``...).

The state lives on ``app.state.serving``: the settings, the metrics registry, and, once the
lifespan has loaded them, the champion scorer and the online feature view. Both stay in memory, so
the endpoint keeps serving if the tracking database goes away after start.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from typing import Annotated, Protocol

import polars as pl
from fastapi import Depends, Header, HTTPException, Request, status

from scamguard.audit import append_audit
from scamguard.settings import Settings
from serving.metrics import ServingMetrics
from serving.online import OnlineFeatures

log = logging.getLogger("scamguard.serving")


class Scorer(Protocol):
    """What the endpoint needs of ``models.registry.RiskScorer``."""

    @property
    def model_version(self) -> str: ...

    @property
    def feature_names(self) -> list[str]: ...

    def score(self, df: pl.DataFrame) -> pl.DataFrame:
        """Columns ``risk, decision, reason_1..3, reasons`` for each row of ``df``."""
        ...


@dataclass
class ServingState:
    settings: Settings
    metrics: ServingMetrics
    scorer: Scorer | None = None
    online: OnlineFeatures | None = None
    problems: dict[str, str] = field(default_factory=lambda: {"startup": "still loading"})
    _audit_lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self) -> None:
        """Load the champion scorer and open the online store; record what failed (no raise)."""
        from models.registry import load_scorer

        self.problems = {}
        try:
            self.scorer = load_scorer(self.settings, alias="champion")
        except Exception as exc:  # any failure leaves the endpoint alive but not ready
            log.exception("could not load the champion model")
            self.problems["model"] = f"champion model not loaded: {type(exc).__name__}: {exc}"
        try:
            self.online = OnlineFeatures.load(self.settings)
        except Exception as exc:
            log.exception("could not load the online features")
            self.problems["features"] = f"online features not loaded: {type(exc).__name__}: {exc}"
        if self.scorer is not None and self.online is not None:
            missing = sorted(set(self.scorer.feature_names) - set(self.online.feature_names))
            if missing:
                log.warning(
                    "features the model needs but the online store lacks (scored as null): %s", missing
                )
        m = self.metrics
        m.ready.set(1 if self.ready else 0)
        if self.scorer is not None:
            as_of = self.online.as_of.isoformat() if self.online is not None else ""
            m.model_info.labels(
                self.settings.risk_model_name, self.scorer.model_version, as_of
            ).set(1)

    @property
    def ready(self) -> bool:
        return self.scorer is not None and self.online is not None and not self.problems

    @property
    def reason(self) -> str | None:
        return "; ".join(self.problems.values()) or None

    def audit(self, record: dict) -> None:
        """Append one decision to the audit log (serialised: lines never interleave)."""
        with self._audit_lock:
            append_audit(self.settings, record)


def get_state(request: Request) -> ServingState:
    return request.app.state.serving


StateDep = Annotated[ServingState, Depends(get_state)]


def _not_ready(state: ServingState) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"not ready: {state.reason}")


def get_scorer(state: StateDep) -> Scorer:
    if state.scorer is None:
        raise _not_ready(state)
    return state.scorer


def get_online(state: StateDep) -> OnlineFeatures:
    if state.online is None:
        raise _not_ready(state)
    return state.online


ScorerDep = Annotated[Scorer, Depends(get_scorer)]
OnlineDep = Annotated[OnlineFeatures, Depends(get_online)]


def require_api_key(
    state: StateDep,
    x_api_key: Annotated[str | None, Header(description="The API key (settings.api_key).")] = None,
) -> None:
    """401 unless the ``X-API-Key`` header equals ``settings.api_key`` (constant-time compare)."""
    if not x_api_key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing API key: send it in the X-API-Key header",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    expected = state.settings.api_key.encode()
    if not secrets.compare_digest(x_api_key.encode(), expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="invalid API key",
            headers={"WWW-Authenticate": "ApiKey"},
        )


ApiKeyDep = Depends(require_api_key)
