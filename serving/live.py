"""A user's live score: the champion on the online store's features just after their latest event.

The analyst view (CLI and API) shows it beside the last batch score, so a user or an event that
arrived through the endpoint is visible at once. "Live" is as of just after the user's latest
event in the store (their sign-up if they have none): what the endpoint answered, or would have
answered, at that event. Known labels apply as in the endpoint (``models.overrides``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from features.online import OnlineStore
from features.online.local import store_path
from models.overrides import apply_known_label
from scamguard.settings import Settings
from serving.online import feature_frame, known_label

if TYPE_CHECKING:
    from serving.deps import Scorer

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _unavailable(note: str, **extra: Any) -> dict[str, Any]:
    return {"available": False, "in_store": True, "note": note, **extra}


def live_score(
    settings: Settings,
    user_id: str,
    *,
    store: OnlineStore | None = None,
    scorer: Scorer | None = None,
) -> dict[str, Any]:
    """``{"available": True, "risk", "decision", "reasons", "model_version", "as_of", "override",
    "in_store", "signup_ts", "profile_text"}``, or ``{"available": False, "in_store", "note": why}``
    (no store, the user unknown to it, no champion model).

    ``store`` / ``scorer``: the endpoint's own (else the store file is opened and the champion
    loaded for this call).
    """
    own_store = store is None
    if store is None:
        path = store_path(settings)
        if not path.exists():
            return {
                **_unavailable(f"no online store at {path}: run `scamguard online-load`"),
                "in_store": False,
            }
        store = OnlineStore(path)
    try:
        last = store.last_event_ts(user_id)
        if last is None:
            return {**_unavailable(f"{user_id} is not in the online store"), "in_store": False}
        signup = store.signup_ts(user_id)
        profile_text = store.profile_text(user_id)
        as_of = last + 1  # just after the latest event: it counts
        features = {**store.features(user_id, as_of), **store.text_features(user_id, as_of)}
        known = known_label(store, user_id, as_of)
    finally:
        if own_store:
            store.close()
    if scorer is None:
        from models.registry import load_scorer

        try:
            scorer = load_scorer(settings, alias="champion")
        except LookupError as exc:
            return _unavailable(str(exc), signup_ts=_at(signup), profile_text=profile_text)
    row = scorer.score(feature_frame(features, scorer.feature_names)).row(0, named=True)
    decided = apply_known_label(row["decision"], [str(r) for r in row["reasons"] or []], known)
    return {
        "available": True,
        "risk": float(row["risk"]),
        "decision": decided.decision,
        "reasons": decided.reasons,
        "model_version": scorer.model_version,
        "as_of": _at(as_of),
        "override": decided.rule,
        "in_store": True,
        "signup_ts": _at(signup),
        "profile_text": profile_text,
    }


def _at(micros: int | None) -> datetime | None:
    return None if micros is None else _EPOCH + timedelta(microseconds=micros)
