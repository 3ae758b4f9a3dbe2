"""The text model at event time: score an event's documents for the ``textmodel_*`` features.

The champion's feature list decides: a champion with ``textmodel_*`` features needs the text
model its training run recorded (param ``text_model_uri``, else ``scamguard-text@marketplace``)
and a store whose backfill loaded the pipeline's document scores (meta ``text_scores``); either
missing is a start-up problem on ``/readyz``. A champion without them serves without a text model.
Each text model loaded from the registry is copied to a local cache; while the registry is
unreachable the copy last loaded for the champion's run is served, verified by its SHA-256
(``/readyz``: ``text_model_source: "cache"``).

Each recorded message, job post (title and description), proposal or sign-up (profile text) is
scored here before the store is locked: off the event loop, together with the documents of
requests that arrive meanwhile (``serving.text_batch``); the scores go to the store with
the event (``features.online.text``). Served scores come from the served text model, while the
store's backfilled history and the training table hold cross-fitted scores (docs/results/text.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from features.online.store import to_micros
from features.online.text import ScoredDocument
from features.text_scores import PREFIX, document_rows
from scamguard.settings import Settings

from .text_batch import TextBatcher

log = logging.getLogger("scamguard.serving")

MARKETPLACE_ALIAS = "marketplace"


@dataclass(frozen=True)
class ServedTextModel:
    """A loaded text model: ``score`` maps texts [N] to P(scam) [N] (no I/O)."""

    model_uri: str
    score: Callable[[list[str]], np.ndarray]
    source: str = "registry"  # or "cache": the local verified copy (the registry was unreachable)
    batcher: TextBatcher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "batcher", TextBatcher(self.score))

    async def documents(self, table: str, row: Mapping[str, Any]) -> list[ScoredDocument]:
        """The scored documents of one raw row (none for a table without text), scored off the
        event loop together with concurrent requests' documents."""
        docs = document_rows(table, row)
        if not docs:
            return []
        scores = await self.batcher.score([d[3] for d in docs])
        return [
            (user, to_micros(ts), kind, float(s))
            for (user, ts, kind, _), s in zip(docs, scores, strict=True)
        ]


def needs_text_model(feature_names: list[str]) -> bool:
    """Whether a model with these features reads ``textmodel_*`` features."""
    return any(name.startswith(PREFIX) for name in feature_names)


def recorded_text_model_uri(settings: Settings, run_id: str | None) -> str | None:
    """The text model URI the champion's training run recorded (param ``text_model_uri``)."""
    if run_id is None:
        return None
    from scamguard import tracking

    params = tracking.client(settings).get_run(run_id).data.params
    return params.get("text_model_uri") or None


def load_served_text_model(settings: Settings, run_id: str | None) -> ServedTextModel:
    """The text model for a champion trained with ``textmodel_*`` features (run ``run_id``), from
    the registry, set up for single-text CPU inference (``models.text.inference``) and copied to
    the local cache (``models.text.cache``) for a start while the registry is unreachable."""
    from models.text.cache import write_text_cache
    from models.text.inference import fast_predictor
    from models.text.registry import load_text_scorer, load_text_scorer_uri

    uri = recorded_text_model_uri(settings, run_id)
    scorer = (
        load_text_scorer_uri(settings, uri)
        if uri
        else load_text_scorer(settings, MARKETPLACE_ALIAS)
    )
    predictor = fast_predictor(scorer.predictor)  # an ensemble scores as it was registered
    log.info("text model %s loaded for the textmodel_* features", scorer.model_uri)
    try:
        write_text_cache(settings, scorer, predictor, run_id)
    except OSError as exc:  # serving goes on; the next start needs the registry
        log.warning("could not write the text model cache: %s", exc)
    return ServedTextModel(model_uri=scorer.model_uri, score=predictor.predict_proba)


def load_cached_served_text_model(settings: Settings, run_id: str | None) -> ServedTextModel:
    """The text model last loaded for the champion of run ``run_id``, from the local cache,
    verified by SHA-256 (``models.text.cache``; raises ``CacheError`` with the reason)."""
    from models.text.cache import load_cached_text_model

    cached = load_cached_text_model(settings, run_id)
    log.warning("registry unreachable: serving the cached text model %s", cached.model_uri)
    return ServedTextModel(
        model_uri=cached.model_uri, score=cached.predictor.predict_proba, source="cache"
    )
