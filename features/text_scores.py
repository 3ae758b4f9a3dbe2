"""Text-model features: per-user aggregates of transformer scores, ``textmodel_*`` columns.

A *document* is a text a user wrote, stamped with when it was written:

========= ================= ==================================== ====================
kind      author            text                                 ts
========= ================= ==================================== ====================
message   ``sender_id``     ``text``                             message ``ts``
job       ``client_id``     ``title`` and ``description``, as    job ``ts``
                            two documents
proposal  ``freelancer_id`` ``cover_text``                       proposal ``ts``
profile   ``user_id``       ``profile_text``                     ``signup_ts``
========= ================= ==================================== ====================

Scoring is not done here (this module never imports torch): :func:`score_documents` takes the
scoring function, scores each distinct text once and joins the scores back. The aggregates in
:func:`add_text_score_features` use only documents written strictly before ``as_of``; message
features use the 30 days before it, the others the whole history (a scam job post stays telling).
A user with no document of a kind gets null for that kind's max/mean ("no data") and 0 for counts.

The investigation agent treats every ``textmodel_*`` column as the ``text_model`` evidence group.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import polars as pl

from features.aggregates import ordered_sum

PREFIX = "textmodel_"
TEXT_KINDS: tuple[str, ...] = ("message", "job", "proposal", "profile")
MESSAGE_WINDOW = timedelta(days=30)
HIGH_SCORE = 0.5  # a document "reads as a scam" at or above this score

TEXT_SCORE_DESCRIPTIONS: dict[str, str] = {
    "textmodel_msg_max_30d": "highest text-model scam score of messages sent in 30d",
    "textmodel_msg_mean_30d": "mean text-model scam score of messages sent in 30d",
    "textmodel_msg_high_30d": "messages the text model reads as scams in 30d",
    "textmodel_job_max": "highest text-model scam score of the account's job posts",
    "textmodel_proposal_max": "highest text-model scam score of the account's proposals",
    "textmodel_proposal_high": "proposals the text model reads as scams",
    "textmodel_profile": "text-model scam score of the profile text",
    "textmodel_max": "highest text-model scam score of anything the account wrote",
}
TEXT_SCORE_FEATURES: tuple[str, ...] = tuple(TEXT_SCORE_DESCRIPTIONS)
_COUNTS = ("textmodel_msg_high_30d", "textmodel_proposal_high")

DOCUMENT_SCHEMA = pl.Schema(
    {
        "user_id": pl.String(),
        "ts": pl.Datetime("us", "UTC"),
        "kind": pl.String(),
        "text": pl.String(),
    }
)


def describe_text_score_feature(name: str) -> str:
    """Words for a ``textmodel_*`` feature in a reason code; falls back to the column name."""
    return TEXT_SCORE_DESCRIPTIONS.get(name, name.replace("_", " "))


def text_score_columns(columns: list[str]) -> list[str]:
    """The ``textmodel_*`` columns among ``columns``, in order."""
    return [c for c in columns if c.startswith(PREFIX)]


def text_documents(
    *, users: pl.LazyFrame, messages: pl.LazyFrame, jobs: pl.LazyFrame, proposals: pl.LazyFrame
) -> pl.LazyFrame:
    """Every document (``user_id``, ``ts``, ``kind``, ``text``) of the contract tables; see the module docstring."""

    def docs(frame: pl.LazyFrame, author: str, ts: str, kind: str, text: str) -> pl.LazyFrame:
        return frame.select(
            pl.col(author).alias("user_id"),
            pl.col(ts).alias("ts"),
            pl.lit(kind).alias("kind"),
            pl.col(text).alias("text"),
        ).cast(dict(DOCUMENT_SCHEMA))  # type: ignore[arg-type]

    return pl.concat(
        [
            docs(messages, "sender_id", "ts", "message", "text"),
            docs(jobs, "client_id", "ts", "job", "title"),
            docs(jobs, "client_id", "ts", "job", "description"),
            docs(proposals, "freelancer_id", "ts", "proposal", "cover_text"),
            docs(users, "user_id", "signup_ts", "profile", "profile_text"),
        ]
    )


def score_documents(
    documents: pl.LazyFrame | pl.DataFrame, score_texts: Callable[[list[str]], np.ndarray]
) -> pl.DataFrame:
    """``documents`` with a ``score`` column: ``score_texts`` applied once per distinct usable text.

    ``score_texts`` maps a list of non-blank strings to P(scam) [N]. Blank or null texts (an empty
    profile) get a null score: there is nothing to read. This is the pipeline's one ``collect``.
    """
    docs = documents.lazy().collect()
    usable = pl.col("text").is_not_null() & (pl.col("text").str.strip_chars() != "")
    distinct = docs.filter(usable).select("text").unique(maintain_order=True)
    texts = distinct["text"].to_list()
    scores = np.asarray(score_texts(texts), dtype=np.float64) if texts else np.empty(0)
    if scores.shape != (len(texts),):
        raise ValueError(f"score_texts returned shape {scores.shape} for {len(texts)} texts")
    lookup = distinct.with_columns(pl.Series("score", scores, dtype=pl.Float64))
    return docs.join(lookup, on="text", how="left", nulls_equal=False)


def add_text_score_features(spine: pl.LazyFrame, *, scored: pl.LazyFrame) -> pl.LazyFrame:
    """Per (user_id, as_of) of ``spine``: the ``textmodel_*`` aggregates of documents before ``as_of``.

    ``scored`` has ``user_id``, ``ts``, ``kind`` and ``score`` (documents with a null score are
    ignored). Only documents with ``ts < as_of`` count; messages only when also
    ``ts >= as_of - 30 days``. Other spine columns are kept.
    """
    docs = scored.filter(pl.col("score").is_not_null()).select("user_id", "ts", "kind", "score")
    before = (
        spine.select("user_id", "as_of")
        .unique()
        .join(docs, on="user_id", how="inner")
        .filter(pl.col("ts") < pl.col("as_of"))
    )
    in_window = (pl.col("kind") != "message") | (pl.col("ts") >= pl.col("as_of") - MESSAGE_WINDOW)
    is_msg = pl.col("kind") == "message"
    is_job = pl.col("kind") == "job"
    is_prop = pl.col("kind") == "proposal"
    score = pl.col("score")
    msg_scores = score.filter(is_msg)
    agg = (
        before.filter(in_window)
        .group_by("user_id", "as_of")
        .agg(
            msg_scores.max().alias("textmodel_msg_max_30d"),
            # the mean as an ordered sum: the join above hands rows over in thread order
            (ordered_sum(msg_scores) / msg_scores.count()).alias("textmodel_msg_mean_30d"),
            (msg_scores >= HIGH_SCORE).sum().alias("textmodel_msg_high_30d"),
            score.filter(is_job).max().alias("textmodel_job_max"),
            score.filter(is_prop).max().alias("textmodel_proposal_max"),
            (score.filter(is_prop) >= HIGH_SCORE).sum().alias("textmodel_proposal_high"),
            score.filter(pl.col("kind") == "profile").max().alias("textmodel_profile"),
            score.max().alias("textmodel_max"),
        )
    )
    return (
        spine.join(agg, on=["user_id", "as_of"], how="left")
        .with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in _COUNTS)
        .with_columns(pl.col(c).cast(pl.Float64) for c in TEXT_SCORE_FEATURES if c not in _COUNTS)
    )
