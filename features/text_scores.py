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

from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

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


# (table, author column, time column, kind, text column): one document per row and spec, the
# table above. Offline (``text_documents``) and online (``document_rows``) both read this.
DOCUMENT_SPECS: tuple[tuple[str, str, str, str, str], ...] = (
    ("messages", "sender_id", "ts", "message", "text"),
    ("jobs", "client_id", "ts", "job", "title"),
    ("jobs", "client_id", "ts", "job", "description"),
    ("proposals", "freelancer_id", "ts", "proposal", "cover_text"),
    ("users", "user_id", "signup_ts", "profile", "profile_text"),
)
TEXT_TABLES = frozenset(spec[0] for spec in DOCUMENT_SPECS)


def text_documents(
    *, users: pl.LazyFrame, messages: pl.LazyFrame, jobs: pl.LazyFrame, proposals: pl.LazyFrame
) -> pl.LazyFrame:
    """Every document (``user_id``, ``ts``, ``kind``, ``text``) of the contract tables; see the module docstring."""
    frames = {"users": users, "messages": messages, "jobs": jobs, "proposals": proposals}
    return pl.concat(
        [
            frames[table]
            .select(
                pl.col(author).alias("user_id"),
                pl.col(ts).alias("ts"),
                pl.lit(kind).alias("kind"),
                pl.col(text).alias("text"),
            )
            .cast(dict(DOCUMENT_SCHEMA))  # type: ignore[arg-type]
            for table, author, ts, kind, text in DOCUMENT_SPECS
        ]
    )


def usable_text(text: object) -> bool:
    """Whether a document's text can be scored: a string that is not blank (as ``score_documents``)."""
    return isinstance(text, str) and text.strip() != ""


def document_rows(table: str, row: Mapping[str, Any]) -> list[tuple[str, Any, str, str]]:
    """The documents ``(user_id, ts, kind, text)`` of one raw row of ``table`` (``DOCUMENT_SPECS``),
    usable texts only: the online twin of :func:`text_documents` (a job gives two)."""
    return [
        (row[author], row[ts], kind, row[text])
        for t, author, ts, kind, text in DOCUMENT_SPECS
        if t == table and usable_text(row.get(text))
    ]


def score_documents(
    documents: pl.LazyFrame | pl.DataFrame,
    score_texts: Callable[[list[str]], np.ndarray],
    columns: tuple[str, ...] = ("score",),
) -> pl.DataFrame:
    """``documents`` with a ``score`` column: ``score_texts`` applied once per distinct usable text.

    ``score_texts`` maps a list of non-blank strings to P(scam) [N] (one column), or to scores
    [N, len(columns)], one column each (e.g. several models' scores of the
    same texts). Blank or null texts (an empty profile) get null scores: there is nothing to read.
    This is the pipeline's one ``collect``; the documents keep their order.
    """
    docs = documents.lazy().collect()
    usable = pl.col("text").is_not_null() & (pl.col("text").str.strip_chars() != "")
    distinct = docs.filter(usable).select("text").unique(maintain_order=True)
    texts = distinct["text"].to_list()
    shape = (len(texts), len(columns))
    scores = np.asarray(score_texts(texts), dtype=np.float64) if texts else np.empty(shape)
    allowed = {shape, shape[:1]} if len(columns) == 1 else {shape}
    if scores.shape not in allowed:
        raise ValueError(f"score_texts returned shape {scores.shape} for {len(texts)} texts")
    values = scores.reshape(shape)
    lookup = distinct.with_columns(
        pl.Series(name, values[:, k], dtype=pl.Float64) for k, name in enumerate(columns)
    )
    return docs.join(lookup, on="text", how="left", nulls_equal=False, maintain_order="left")


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


def text_score_values(
    documents: Iterable[tuple[int, str, float]], as_of: int
) -> dict[str, float | int | None]:
    """The ``textmodel_*`` aggregates of one user from its scored documents ``(ts, kind, score)``
    (``ts`` and ``as_of`` in integer microseconds, UTC): the online twin of
    :func:`add_text_score_features`, with the same time semantics (documents strictly before
    ``as_of``; messages only when also at or after ``as_of - 30 days``), the same mean (an
    ascending running sum, ``ordered_sum``) and the same nulls and zeros.
    """
    window_start = as_of - MESSAGE_WINDOW // timedelta(microseconds=1)
    by_kind: dict[str, list[float]] = {kind: [] for kind in TEXT_KINDS}
    for ts, kind, score in documents:
        if ts < as_of and (kind != "message" or ts >= window_start):
            by_kind[kind].append(score)
    msgs, proposals = by_kind["message"], by_kind["proposal"]
    total = 0.0
    for s in sorted(msgs):  # ordered_sum: a cumulative sum in ascending order
        total += s
    everything = [s for scores in by_kind.values() for s in scores]
    return {
        "textmodel_msg_max_30d": max(msgs, default=None),
        "textmodel_msg_mean_30d": total / len(msgs) if msgs else None,
        "textmodel_msg_high_30d": sum(s >= HIGH_SCORE for s in msgs),
        "textmodel_job_max": max(by_kind["job"], default=None),
        "textmodel_proposal_max": max(proposals, default=None),
        "textmodel_proposal_high": sum(s >= HIGH_SCORE for s in proposals),
        "textmodel_profile": max(by_kind["profile"], default=None),
        "textmodel_max": max(everything, default=None),
    }
