"""Serving state and the request dependencies (``Annotated`` aliases: ``StateDep``, ``ScorerDep``...).

The state lives on ``app.state.serving``: the settings, the metrics registry, and, once loaded,
the champion scorer and the online feature view. The lifespan starts :meth:`ServingState.load` in a
background thread and returns at once, so the process answers ``/healthz`` while it loads;
``/readyz`` and the routes that need the scorer or the store answer 503 ("still loading") until
then. Both stay in memory, so the endpoint keeps serving if the tracking database goes away after
start. Each model loaded from the registry is also copied to a local cache (``models.cache``); if
the registry cannot be reached at start, the most recently loaded copy is served (verified by its
SHA-256), and ``/readyz`` says so (``model_source: "cache"`` and the registry's error). The text
model of a champion with ``textmodel_*`` features is cached and served the same way
(``models.text.cache``; ``text_model_source``, ``text_registry_error``).

The API key is an OpenAPI security scheme (``X-API-Key`` header, :data:`api_key_header`): the
docs page gets an Authorize button and the secured operations say so. Several named keys may be
valid at once (``settings.endpoint_keys``: ``api_key`` as "default" plus ``api_keys``, for
rotation); :func:`require_api_key` returns the name of the one presented, which the audit log
records (``KeyNameDep``).
"""

from __future__ import annotations

import logging
import pickle
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

import polars as pl
from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from scamguard.audit import AuditLog
from scamguard.settings import Settings
from serving.metrics import ServingMetrics
from serving.online import OnlineFeatures
from serving.text import (
    ServedTextModel,
    load_cached_served_text_model,
    load_served_text_model,
    needs_text_model,
)

log = logging.getLogger("scamguard.serving")

STILL_LOADING = "still loading the model and the online store"


class Scorer(Protocol):
    """What the endpoint needs of ``models.registry.RiskScorer``."""

    @property
    def model_version(self) -> str: ...

    @property
    def feature_names(self) -> list[str]: ...

    def score(self, df: pl.DataFrame) -> pl.DataFrame:
        """Columns ``risk, decision, reason_1..3, reasons`` for each row of ``df``."""
        ...

    def score_one(self, features: Mapping[str, float | None]) -> dict[str, Any]:
        """The same for one row given as a mapping (no DataFrame built)."""
        ...


@dataclass
class ServingState:
    settings: Settings
    metrics: ServingMetrics
    scorer: Scorer | None = None
    online: OnlineFeatures | None = None
    text_model: ServedTextModel | None = None  # only when the champion reads textmodel_* features
    problems: dict[str, str] = field(default_factory=lambda: {"startup": STILL_LOADING})
    loading: bool = True  # until load() has finished, successfully or not
    model_source: str | None = None  # "registry", or "cache" when the registry was unreachable
    registry_error: str | None = None  # why the registry could not be read (serving a cached copy)
    text_registry_error: str | None = None  # the same for the text model
    audit_log: AuditLog = field(init=False)

    def __post_init__(self) -> None:
        self.audit_log = AuditLog(self.settings.audit_log)  # opened on the first record

    def load(self) -> None:
        """Load the champion scorer and open the online store; record what failed (no raise).

        Blocking (MLflow, the store's backfill on first start: seconds to minutes); the lifespan
        runs it in a background thread. ``problems`` says "still loading" until it returns."""
        started = time.perf_counter()
        problems: dict[str, str] = {}
        self._load_model(problems)
        try:
            self.online = OnlineFeatures.load(self.settings)
        except Exception as exc:
            log.exception("could not load the online features")
            problems["features"] = f"online features not loaded: {type(exc).__name__}: {exc}"
        self._load_text_model(problems)
        if self.scorer is not None and self.online is not None:
            missing = sorted(set(self.scorer.feature_names) - set(self.online.feature_names))
            if missing:
                log.warning(
                    "features the model needs but the online store lacks (scored as null): %s",
                    missing,
                )
        m = self.metrics
        m.ready.set(1 if not problems else 0)
        m.model_cached.set(1 if self.model_source == "cache" else 0)
        if self.scorer is not None:
            as_of = self.online.as_of.isoformat() if self.online is not None else ""
            m.model_info.labels(
                self.settings.risk_model_name, self.scorer.model_version, as_of
            ).set(1)
        self.problems = problems  # last: /readyz says "still loading" until here
        self.loading = False
        log.info("loaded in %.1f s: %s", time.perf_counter() - started, self.reason or "ready")

    def _load_text_model(self, problems: dict[str, str]) -> None:
        """The text model, when the champion reads ``textmodel_*`` features (``serving.text``):
        from the registry, else, the registry being unreachable, the verified cached copy loaded
        for the same champion. A champion served from the cache goes straight to the cache (the
        registry just failed; a down tracking server can take minutes per request to give up).
        A champion that needs it without one, or a store without document scores, is a problem."""
        if self.scorer is None or not needs_text_model(self.scorer.feature_names):
            return
        run_id = getattr(self.scorer, "run_id", None)
        if self.model_source == "cache":
            self.text_registry_error = self.registry_error
            self._load_cached_text_model(run_id, problems)
        else:
            try:
                self.text_model = load_served_text_model(self.settings, run_id)
            except Exception as exc:
                self.text_registry_error = f"{type(exc).__name__}: {exc}"
                log.warning("could not load the text model from the registry (%s)", exc)
                if _unreachable(exc):
                    self._load_cached_text_model(run_id, problems)
                else:
                    problems["text_model"] = (
                        "the champion reads textmodel_* features but no text model could be "
                        f"loaded (run `scamguard text-features`): {self.text_registry_error}"
                    )
        if self.online is not None and self.online.store.meta("text_scores") is None:
            problems["text_scores"] = (
                "the champion reads textmodel_* features but the online store holds no document "
                "scores: run `scamguard online-load` after `scamguard text-features`"
            )

    def _load_cached_text_model(self, run_id: str | None, problems: dict[str, str]) -> None:
        from models.cache import CacheError

        try:
            self.text_model = load_cached_served_text_model(self.settings, run_id)
        except (CacheError, OSError, ValueError, KeyError) as exc:
            log.error("no cached text model to serve: %s", exc)
            problems["text_model"] = (
                "the champion reads textmodel_* features but no text model could be loaded: "
                f"registry: {self.text_registry_error}; cache: {exc}"
            )

    def _load_model(self, problems: dict[str, str]) -> None:
        """The champion from the registry (then cached locally), else the newest verified cached
        copy; what failed goes to ``problems``."""
        from models.cache import CacheError, load_cached, write_cache
        from models.registry import load_scorer

        try:
            scorer = load_scorer(self.settings, alias="champion")
        except Exception as exc:  # any failure leaves the endpoint alive but not ready
            self.registry_error = f"{type(exc).__name__}: {exc}"
            log.warning("could not load the champion from the registry (%s)", self.registry_error)
        else:
            self.scorer, self.model_source = scorer, "registry"
            try:
                write_cache(self.settings, scorer)
            except OSError as exc:  # serving goes on; the next start needs the registry
                log.warning("could not write the model cache: %s", exc)
            return
        try:
            self.scorer, self.model_source = load_cached(self.settings), "cache"
        except (CacheError, OSError, ValueError, pickle.UnpicklingError) as exc:
            log.error("no cached model to serve: %s", exc)
            problems["model"] = (
                f"champion model not loaded: registry: {self.registry_error}; cache: {exc}"
            )
            return
        log.warning(
            "registry unreachable: serving cached %s v%s",
            self.settings.risk_model_name,
            self.scorer.model_version,
        )

    @property
    def text_model_source(self) -> str | None:
        """ "registry" or "cache" when a text model is served, else None."""
        return self.text_model.source if self.text_model is not None else None

    @property
    def ready(self) -> bool:
        return (
            not self.loading
            and self.scorer is not None
            and self.online is not None
            and not self.problems
        )

    @property
    def reason(self) -> str | None:
        return "; ".join(self.problems.values()) or None

    def audit(self, record: dict) -> None:
        """Append one decision to the audit log (one open handle; lines never interleave)."""
        self.audit_log.append(record)


def _unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a connection failure (``OSError``:
    refused, reset, timed out), as when MLflow cannot reach its tracking server, rather than a
    registry that answered (a missing model or version)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def get_state(request: Request) -> ServingState:
    # The dependencies are coroutines that do no I/O: FastAPI runs a plain function dependency
    # in its thread pool, a hop per dependency per request.
    return request.app.state.serving


StateDep = Annotated[ServingState, Depends(get_state)]


def _not_ready(state: ServingState) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"not ready: {state.reason}")


async def get_scorer(state: StateDep) -> Scorer:
    if state.loading or state.scorer is None:
        raise _not_ready(state)
    return state.scorer


async def get_online(state: StateDep) -> OnlineFeatures:
    if state.loading or state.online is None:
        raise _not_ready(state)
    return state.online


ScorerDep = Annotated[Scorer, Depends(get_scorer)]
OnlineDep = Annotated[OnlineFeatures, Depends(get_online)]


api_key_header = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    description="An API key (`SCAMGUARD_API_KEY` or one of `SCAMGUARD_API_KEYS`).",
    auto_error=False,  # require_api_key answers 401 with its own messages
)


def key_name(presented: str, keys: dict[str, str]) -> str | None:
    """The name of the key in ``keys`` equal to ``presented``, or None. Every key is compared, in
    constant time each (``secrets.compare_digest``), whether or not one matched already: the
    time taken says neither how much of a key was right nor which key matched."""
    given = presented.encode()
    found = None
    for name, key in keys.items():
        if secrets.compare_digest(given, key.encode()) and found is None:
            found = name
    return found


async def require_api_key(
    state: StateDep, x_api_key: Annotated[str | None, Security(api_key_header)] = None
) -> str:
    """401 unless the ``X-API-Key`` header is one of ``settings.endpoint_keys``; the key's name."""
    if not x_api_key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing API key: send it in the X-API-Key header",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    name = key_name(x_api_key, state.settings.endpoint_keys)
    if name is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="invalid API key",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    return name


ApiKeyDep = Depends(require_api_key)
KeyNameDep = Annotated[str, Depends(require_api_key)]  # the same check; the key's name
