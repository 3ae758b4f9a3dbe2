"""The text model inside the risk pipeline: marketplace documents -> cross-fitted scores -> features.

1. **Corpus.** Every document (``features.text_scores.text_documents``: messages, job titles and
   descriptions, proposals, profiles) written before ``cutoff`` — the first ``as_of`` of the
   training table's valid split — labelled 1 when its author's scam label was decided before
   ``cutoff`` and the document was written at or after the scam began (``first_bad_ts``: a
   taken-over account's earlier messages are benign), else 0. Labels decided later are unknown at
   ``cutoff``; their authors count as benign, which can only make the text model more cautious.
2. **Cross-fitting by author.** Authors are split into ``folds`` seeded groups. The models of
   fold k train on a sample of the corpus written by authors outside fold k and score every
   document, of any date, written by fold-k authors. So no score comes from a model that trained
   on its author's labelled text: the train split's ``textmodel_*`` features are as honest as the
   test split's, and the risk model does not learn to over-trust an in-sample text score.
   Each fold fits the three candidates of ``train-text`` (``models.text.ensemble``): the
   fine-tuned transformer, TF-IDF + logistic regression on the same training rows, and their
   log-odds ensemble. The one with the best pooled out-of-fold average precision over the corpus
   gives the scores; the choice sees only documents and labels from before ``cutoff``.
3. **Features.** ``features.text_scores.add_text_score_features`` aggregates the scores per
   (user, ``as_of``), point in time.
4. **Serving model.** The chosen candidate, fitted once more on the whole corpus sample, is
   registered as ``scamguard-text`` (alias ``marketplace``); it is the model to score new
   documents with, and its version is recorded with the risk model trained on these features.

:func:`train_with_and_without_text` then trains the LightGBM risk model on the same table and
split with and without the ``textmodel_*`` columns and logs both runs (tagged as one ablation).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from features.text_scores import (
    TEXT_SCORE_DESCRIPTIONS,
    add_text_score_features,
    score_documents,
    text_score_columns,
)
from scamguard.schema import SCAM_TYPOLOGIES
from scamguard.settings import Settings

from .ensemble import (
    CANDIDATES,
    best_candidate,
    candidate_predictor,
    candidate_scores,
    fit_tfidf_lr,
)
from .fit import StepCallback, fit_text_model, text_metrics
from .model import TextPredictor

if TYPE_CHECKING:
    from models.train import TrainResult

    from .fit import FittedTextModel
    from .model import TextModelConfig

MARKETPLACE_ALIAS = "marketplace"
TEXT_FEATURES_ALIAS = "text-features"
StageCallback = Callable[[str], None]


def cutoff_of(table: pl.DataFrame) -> datetime:
    """The first ``as_of`` of the valid split: text labels must be known before it."""
    valid = table.filter(pl.col("split") == "valid")
    if valid.height == 0:
        raise ValueError("the training table has no valid split")
    return valid["as_of"].min()  # type: ignore[return-value]


def labelled_corpus(
    documents: pl.DataFrame, labels: pl.LazyFrame | pl.DataFrame, cutoff: datetime
) -> pl.DataFrame:
    """Documents written before ``cutoff`` with a 0/1 ``label`` known at ``cutoff`` (see step 1)."""
    known = (
        labels.lazy()
        .filter(pl.col("decided_ts") < cutoff)
        .filter(pl.col("label").is_in(SCAM_TYPOLOGIES))
        .select("user_id", "first_bad_ts")
        .unique("user_id")
        .collect()
    )
    usable = pl.col("text").is_not_null() & (pl.col("text").str.strip_chars() != "")
    return (
        documents.filter((pl.col("ts") < cutoff) & usable)
        .join(known, on="user_id", how="left")
        .with_columns(
            (pl.col("first_bad_ts").is_not_null() & (pl.col("ts") >= pl.col("first_bad_ts")))
            .cast(pl.Int64)
            .alias("label")
        )
        .drop("first_bad_ts")
    )


def author_folds(user_ids: pl.Series, folds: int, seed: int) -> pl.DataFrame:
    """``user_id`` -> ``fold`` in [0, folds): a seeded shuffle of the sorted distinct ids."""
    users = user_ids.unique().sort()
    order = np.random.default_rng(seed).permutation(users.len())
    return pl.DataFrame(
        {"user_id": users, "fold": pl.Series(order % folds, dtype=pl.Int64)},
    )


def sample_corpus(corpus: pl.DataFrame, max_rows: int, seed: int) -> pl.DataFrame:
    """At most ``max_rows`` rows: every positive up to half of them, negatives fill the rest.

    Positives are rare (a few % of documents), so a uniform sample would teach the model little
    about them; the over-weighting only shifts the scores' base rate, which the risk model (a
    tree ensemble on the aggregates) does not care about.
    """
    if corpus.height <= max_rows:
        return corpus
    pos = corpus.filter(pl.col("label") == 1)
    neg = corpus.filter(pl.col("label") == 0)
    n_pos = min(pos.height, max_rows // 2)
    pos = pos.sample(n_pos, seed=seed) if pos.height > n_pos else pos
    neg = neg.sample(min(neg.height, max_rows - n_pos), seed=seed + 1)
    return pl.concat([pos, neg]).sample(fraction=1.0, shuffle=True, seed=seed + 2)


@dataclass
class CrossFitResult:
    """Cross-fitted scores of every document, and how the fold models did on held-out authors.

    ``scored["score"]`` holds the chosen candidate's scores (``chosen``: ``tfidf-lr``,
    ``finetuned`` or ``ensemble``); ``candidate_metrics`` holds each candidate's pooled
    out-of-fold metrics, from which it was chosen."""

    scored: pl.DataFrame  # documents (user_id, ts, kind, text) + score + fold
    cutoff: datetime
    folds: int
    corpus_rows: int  # labelled documents before the cutoff
    corpus_positives: int
    train_rows_per_fold: list[int]
    fold_train_authors: list[frozenset[str]] = field(repr=False)  # authors each fold model saw
    fold_metrics: list[dict[str, float]]  # the chosen candidate per fold, held-out authors
    oof_metrics: dict[str, float]  # the chosen candidate pooled over folds
    config: TextModelConfig
    seconds: float
    chosen: str = "finetuned"
    candidate_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    full: FittedTextModel | None = field(default=None, repr=False)
    full_sample: pl.DataFrame | None = field(default=None, repr=False)


def _column(candidate: str) -> str:
    """The score column of one candidate in a fold's scored documents."""
    return f"score_{candidate.replace('-', '_')}"


def _fold_scores(
    documents: pl.DataFrame, fitted: FittedTextModel, tfidf: Any, candidates: tuple[str, ...]
) -> pl.DataFrame:
    """``documents`` with a ``score_<candidate>`` column [N] per candidate (null for a blank
    text): the transformer and TF-IDF + LR of one fold, each distinct text scored once."""
    if tfidf is None:
        return score_documents(documents, fitted.predictor.predict_proba, (_column("finetuned"),))

    def score(texts: list[str]) -> np.ndarray:  # [N, len(candidates)]
        p_tfidf = tfidf.predict_proba(texts)[:, 1]
        by_name = candidate_scores(p_tfidf, fitted.predictor.predict_proba(texts))
        return np.column_stack([by_name[name] for name in candidates])

    return score_documents(documents, score, tuple(_column(name) for name in candidates))


def cross_fit_scores(
    documents: pl.DataFrame,
    labels: pl.LazyFrame | pl.DataFrame,
    cutoff: datetime,
    config: TextModelConfig,
    *,
    folds: int = 3,
    max_train_rows: int = 6_000,
    seed: int = 0,
    candidates: tuple[str, ...] = CANDIDATES,
    fit_full: bool = True,
    device: str | None = None,
    on_stage: StageCallback | None = None,
    on_step: StepCallback | None = None,
) -> CrossFitResult:
    """Steps 1, 2 and 4 of the module docstring; returns every document with its ``score``.

    ``documents`` is ``text_documents(...)`` collected. Blank documents get a null score.
    Each fold fits the transformer and, unless ``candidates`` is ``("finetuned",)``, TF-IDF + LR
    on the transformer's training rows; the candidate with the best pooled out-of-fold AP (ties:
    recall at 0.2% FPR, the ensemble first; ``models.text.ensemble.best_candidate``) gives the
    scores and is the serving model fitted on the whole corpus sample.
    """
    if folds < 2:
        raise ValueError("cross-fitting needs at least 2 folds")
    unknown = sorted(set(candidates) - set(CANDIDATES))
    if unknown or not candidates:
        raise ValueError(f"text model candidates must be among {', '.join(CANDIDATES)}: {unknown}")
    started = time.perf_counter()
    corpus = labelled_corpus(documents, labels, cutoff)
    if corpus["label"].n_unique() < 2:
        raise ValueError(f"no scam-labelled documents before {cutoff}: cannot train a text model")
    assignment = author_folds(documents["user_id"], folds, seed)
    docs = documents.join(assignment, on="user_id", how="left")
    corpus = corpus.join(assignment, on="user_id", how="left")
    with_tfidf = candidates != ("finetuned",)
    columns = [_column(name) for name in candidates]

    parts, train_rows, held_parts, authors = [], [], [], []
    for k in range(folds):
        sample = sample_corpus(corpus.filter(pl.col("fold") != k), max_train_rows, seed + k)
        train_rows.append(sample.height)
        authors.append(frozenset(sample["user_id"].unique().to_list()))
        if on_stage:
            on_stage(f"fold {k + 1}/{folds}: fine-tuning on {sample.height:,} documents")
        fitted = fit_text_model(
            sample["text"].to_list(),
            sample["label"].to_numpy(),
            replace(config, seed=config.seed + k),
            device=device,
            on_step=on_step,
        )
        tfidf = _fit_tfidf(sample, fitted, seed + k) if with_tfidf else None
        if on_stage:
            on_stage(f"fold {k + 1}/{folds}: scoring held-out authors' documents")
        scored_k = _fold_scores(docs.filter(pl.col("fold") == k), fitted, tfidf, candidates)
        parts.append(scored_k)
        lookup = scored_k.select("text", *columns).unique("text")  # a score depends on the text
        held_parts.append(corpus.filter(pl.col("fold") == k).join(lookup, on="text", how="left"))
    held = pl.concat(held_parts)  # every corpus row, scored out of fold by each candidate
    y = held["label"].to_numpy()
    metrics = {
        n: text_metrics(y, held[c].to_numpy()) for n, c in zip(candidates, columns, strict=True)
    }
    chosen = best_candidate(metrics)
    column = _column(chosen)
    result = CrossFitResult(
        scored=pl.concat(parts).with_columns(score=pl.col(column)).drop(columns),
        cutoff=cutoff,
        folds=folds,
        corpus_rows=corpus.height,
        corpus_positives=int(corpus["label"].sum()),
        train_rows_per_fold=train_rows,
        fold_train_authors=authors,
        fold_metrics=[
            text_metrics(h["label"].to_numpy(), h[column].to_numpy()) for h in held_parts
        ],
        oof_metrics=metrics[chosen],
        config=config,
        seconds=0.0,
        chosen=chosen,
        candidate_metrics=metrics,
    )
    if fit_full:
        sample = sample_corpus(corpus, max_train_rows, seed + folds)
        if on_stage:
            on_stage(f"serving model ({chosen}): fitting on {sample.height:,} documents")
        full = fit_text_model(
            sample["text"].to_list(),
            sample["label"].to_numpy(),
            config,
            device=device,
            on_step=on_step,
        )
        if chosen != "finetuned":
            full = _as_candidate(full, chosen, sample, _fit_tfidf(sample, full, seed + folds))
        result.full, result.full_sample = full, sample
    result.seconds = time.perf_counter() - started
    return result


def _fit_tfidf(sample: pl.DataFrame, fitted: FittedTextModel, seed: int) -> Any:
    """TF-IDF + LR on the rows the transformer ``fitted`` trained on (its validation rows stay
    held out, as in ``train-text``)."""
    rows = fitted.train_rows
    return fit_tfidf_lr(
        sample["text"].gather(rows).to_list(), sample["label"].gather(rows).to_numpy(), seed
    )


def _as_candidate(
    fitted: FittedTextModel, chosen: str, sample: pl.DataFrame, tfidf: Any
) -> FittedTextModel:
    """``fitted`` with the ``chosen`` candidate as its predictor and validation scores."""
    finetuned = fitted.predictor
    assert isinstance(finetuned, TextPredictor)
    valid = sample["text"].gather(fitted.valid_rows).to_list()
    p_tfidf = tfidf.predict_proba(valid)[:, 1] if valid else np.empty(0)
    return replace(
        fitted,
        predictor=candidate_predictor(chosen, tfidf, finetuned),
        valid_scores=candidate_scores(p_tfidf, fitted.valid_scores)[chosen],
    )


def add_text_model_features(table: pl.DataFrame, scored: pl.DataFrame) -> pl.DataFrame:
    """``table`` (any columns, incl. ``user_id`` / ``as_of``) with the ``textmodel_*`` columns appended, row order kept."""
    present = text_score_columns(table.columns)
    if present:
        table = table.drop(present)
    return (
        table.with_row_index("_row")
        .lazy()
        .pipe(add_text_score_features, scored=scored.lazy())
        .sort("_row")
        .drop("_row")
        .collect()
    )


@dataclass(frozen=True)
class TextAblation:
    """The risk model on the same table and split, without and with the ``textmodel_*`` features."""

    without: TrainResult
    with_text: TrainResult
    ablation_id: str
    text_features: list[str]

    def table_rows(self) -> list[tuple[str, str, str]]:
        """(metric, without, with) rows on the test split (the CLI renders them)."""
        a, b = self.without.metrics, self.with_text.metrics
        keys = [
            ("test_pr_auc", "test PR-AUC"),
            ("test_roc_auc", "test ROC-AUC"),
            ("test_recall_at_1pct_fpr", "test recall @ 1% FPR"),
            ("test_expected_cost", "test expected cost / row"),
            ("valid_pr_auc", "valid PR-AUC"),
        ]
        keys += [
            (k, f"test recall {k.removeprefix('test_recall_')}")
            for k in sorted(a)
            if k.startswith("test_recall_")
            and k not in ("test_recall_at_1pct_fpr",)
            and k != "test_recall"
        ]
        return [
            (label, f"{a.get(k, np.nan):.4f}", f"{b.get(k, np.nan):.4f}") for k, label in keys
        ] + [
            (
                "features",
                str(len(self.without.feature_names)),
                str(len(self.with_text.feature_names)),
            )
        ]


def train_with_and_without_text(
    table: pl.DataFrame,
    *,
    settings: Settings,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    text_model_uri: str | None = None,
    alias: str | None = TEXT_FEATURES_ALIAS,
    extra_params: dict[str, Any] | None = None,
) -> TextAblation:
    """Two LightGBM runs on ``table``'s split: without the ``textmodel_*`` columns (logged only)
    and with them (registered, ``alias``). Both are tagged ``ablation=<id>``; the with-text run
    records ``text_model_uri`` and the text features' descriptions (reason codes)."""
    from models.train import train_risk_model

    text_cols = text_score_columns(table.columns)
    if not text_cols:
        raise ValueError("the table has no textmodel_* columns: run add_text_model_features first")
    ablation_id = uuid.uuid4().hex[:12]
    common = {"ablation": ablation_id}
    without = train_risk_model(
        table.drop(text_cols),
        settings=settings,
        params=params,
        seed=seed,
        register=False,
        run_name=f"lgbm-seed{seed}-without-text",
        tags={**common, "feature_set": "base"},
        extra_params={"feature_set": "base"},
    )
    with_text = train_risk_model(
        table,
        settings=settings,
        params=params,
        seed=seed,
        alias=alias,
        register=True,
        feature_descriptions=TEXT_SCORE_DESCRIPTIONS,
        run_name=f"lgbm-seed{seed}-with-text",
        tags={**common, "feature_set": "base+textmodel"},
        extra_params={
            "feature_set": "base+textmodel",
            "text_model_uri": text_model_uri or "",
            "text_features": ",".join(text_cols),
            **(extra_params or {}),
        },
        extra_dicts={
            "ablation.json": {
                "ablation": ablation_id,
                "without_run_id": without.run_id,
                "without_metrics": without.metrics,
                "text_model_uri": text_model_uri,
                "text_features": text_cols,
                "online": "textmodel_* features are computed offline only (text-features command);"
                " pipelines/batch.py and the online store do not compute them yet",
            }
        },
    )
    return TextAblation(
        without=without, with_text=with_text, ablation_id=ablation_id, text_features=text_cols
    )
