"""``textmodel_*`` columns for batch scoring, when the champion reads them.

The document scores are those the online store holds for the same documents: the text pipeline's
stored cross-fitted scores (``<data_dir>/features/text_scores.parquet``) where a document has
one, and the champion's text model (``text_model_uri`` of its run, else
``scamguard-text@marketplace``) for documents written since. The aggregates are
``features.text_scores.add_text_score_features`` at each row's ``as_of``.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from features.build import Tables
from features.online.local import text_scores_path
from features.text_scores import (
    PREFIX,
    add_text_score_features,
    score_documents,
    text_documents,
    text_score_columns,
)
from scamguard.settings import Settings

KEY = ["user_id", "ts", "kind"]


def needs_text_features(scorer: Any) -> bool:
    """Whether ``scorer``'s model reads ``textmodel_*`` features."""
    return any(name.startswith(PREFIX) for name in scorer.feature_names)


def load_text_predictor(settings: Settings, run_id: str | None) -> Any:
    """The text model recorded by the risk model's run ``run_id`` (or ``@marketplace``)."""
    from models.text.registry import load_text_scorer, load_text_scorer_uri
    from scamguard import tracking

    uri = None
    if run_id is not None:
        uri = tracking.client(settings).get_run(run_id).data.params.get("text_model_uri")
    scorer = (
        load_text_scorer_uri(settings, uri) if uri else load_text_scorer(settings, "marketplace")
    )
    return scorer.predictor


def with_text_features(
    features: pl.DataFrame, tables: Tables, settings: Settings, run_id: str | None
) -> pl.DataFrame:
    """``features`` (``user_id``, ``as_of``, ...) with the ``textmodel_*`` columns (module
    docstring); documents without a stored score are scored by the champion's text model."""
    docs = text_documents(
        users=tables.users, messages=tables.messages, jobs=tables.jobs, proposals=tables.proposals
    ).collect()
    path = text_scores_path(settings)
    schema = pl.Schema(
        {
            "user_id": pl.String(),
            "ts": docs.schema["ts"],
            "kind": pl.String(),
            "score": pl.Float64(),
        }
    )
    stored = (
        pl.read_parquet(path).select(*KEY, "score").cast(schema)  # type: ignore[arg-type]
        if path.exists()
        else pl.DataFrame(schema=schema)
    )
    new = docs.join(stored.select(KEY).unique(), on=KEY, how="anti")
    if new.height:
        new = score_documents(new, load_text_predictor(settings, run_id).predict_proba)
    else:
        new = new.with_columns(pl.lit(None, dtype=pl.Float64).alias("score"))
    scored = pl.concat([stored, new.select(stored.columns).cast(schema)])  # type: ignore[arg-type]
    present = text_score_columns(features.columns)
    return (
        features.drop(present)
        .with_row_index("_row")
        .lazy()
        .pipe(add_text_score_features, scored=scored.lazy())
        .sort("_row")
        .drop("_row")
        .collect()
    )
