"""Emerging patterns: clusters of new texts that do not resemble what the models were trained on.

A day's texts (messages, job posts as title + description, proposal cover letters) are embedded
as TF-IDF over hashed character 3-5-grams (word-bounded). The IDF is learnt on the training texts
and an n-gram they never contained gets the largest weight, so a text made of unseen fragments is
far from all of them (a vocabulary fitted on the training texts would drop exactly those
fragments). A text is *novel* when its similarity to its nearest training text (FAISS over a
random projection of those vectors, :class:`TextIndex`) is below ``novel_below``; novel texts are
linked when their exact cosine reaches ``link_at`` and the connected groups are the candidate
patterns. A pattern counts the accounts sending it: a new campaign is
the same text, lightly varied, from several accounts on one day, while an unseen benign message
is one text from one account.

The day's signal is the largest number of accounts behind one novel cluster; its threshold comes
from the same signal over the previous days (:mod:`monitoring.thresholds`).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from features.build import Tables

NOVEL_BELOW = 0.5  # cosine to the nearest training text below which a text is new
LINK_AT = 0.5  # cosine at which two new texts belong to one pattern
NEW_ACCOUNT_DAYS = 30  # an account younger than this on the day is "new"
N_FEATURES = 2**20
EXAMPLES = 5
_WORD = re.compile(r"[a-z][a-z']{2,}")


def texts_between(tables: Tables, start: datetime | None, end: datetime) -> pl.DataFrame:
    """Every message, job post and proposal text sent in ``[start, end)`` (``start=None``: from
    the beginning): ``text``, ``sender_id``, ``ts``, ``source``."""

    def window(lf: pl.LazyFrame) -> pl.LazyFrame:
        lf = lf.filter(pl.col("ts") < end)
        return lf if start is None else lf.filter(pl.col("ts") >= start)

    parts = [
        window(tables.messages).select(
            "text", pl.col("sender_id"), "ts", pl.lit("message").alias("source")
        ),
        window(tables.jobs).select(
            pl.concat_str("title", "description", separator=" - ").alias("text"),
            pl.col("client_id").alias("sender_id"),
            "ts",
            pl.lit("job").alias("source"),
        ),
        window(tables.proposals).select(
            pl.col("cover_text").alias("text"),
            pl.col("freelancer_id").alias("sender_id"),
            "ts",
            pl.lit("proposal").alias("source"),
        ),
    ]
    return (
        pl.concat(parts)
        .filter(pl.col("text").is_not_null() & (pl.col("text").str.len_chars() > 0))
        .collect()
    )


class TextIndex:
    """The training texts, for "how close is this text to anything the models were trained on".

    A text identical to a training text has similarity 1. For the others, the L2-normalised
    TF-IDF vectors over hashed character n-grams are mapped to ``dims`` dimensions by a sparse
    random projection (distances between the original vectors are kept up to a small error, about
    0.05 in cosine at 512 dimensions, and an n-gram no training text contains is kept too) and
    searched exactly in a FAISS inner-product index.
    """

    def __init__(self, texts: list[str], *, dims: int = 512, seed: int = 0):
        from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
        from sklearn.random_projection import SparseRandomProjection

        self._hasher = HashingVectorizer(
            analyzer="char_wb",
            ngram_range=(3, 5),
            n_features=N_FEATURES,
            alternate_sign=False,
            norm=None,
            lowercase=True,
        )
        counts = self._hasher.transform(texts)
        self._tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
        self._projection = SparseRandomProjection(
            n_components=dims, dense_output=True, random_state=seed
        ).fit(counts[:1] if counts.shape[0] else self._hasher.transform(["x"]))
        self._known = set(texts)
        self.size = len(texts)
        self._index = self._faiss(self._dense(self._tfidf.transform(counts)))
        words: Counter[str] = Counter()
        for text in texts:
            words.update(set(_WORD.findall(text.lower())))
        self._word_df = words

    @staticmethod
    def _faiss(vectors: np.ndarray):  # type: ignore[no-untyped-def]
        import faiss

        index = faiss.IndexFlatIP(vectors.shape[1])
        if vectors.shape[0]:
            index.add(vectors)
        return index

    def _dense(self, sparse: csr_matrix) -> np.ndarray:
        """[N, dims] float32 unit rows: the projection of L2-normalised TF-IDF rows."""
        dense = np.asarray(self._projection.transform(sparse), dtype=np.float32)
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        return np.ascontiguousarray(dense / np.maximum(norms, 1e-12))

    def embed(self, texts: list[str]) -> csr_matrix:
        """[N, N_FEATURES] L2-normalised sparse rows (exact cosines between the day's texts)."""
        return self._tfidf.transform(self._hasher.transform(texts)).tocsr()

    def nearest(self, texts: list[str]) -> np.ndarray:
        """[N] similarity of each text to its nearest training text: 1 for a training text itself,
        else the cosine of the projected vectors (0 with no training text)."""
        out = np.array([1.0 if t in self._known else np.nan for t in texts])
        todo = np.flatnonzero(np.isnan(out))
        if todo.size == 0:
            return out
        if self.size == 0:
            out[todo] = 0.0
            return out
        query = self._dense(self.embed([texts[i] for i in todo]))
        similarity, _ = self._index.search(query, 1)
        out[todo] = np.clip(similarity[:, 0], -1.0, 1.0)
        return out

    def distinctive_words(self, texts: list[str], n: int = 4) -> list[str]:
        """Words frequent in ``texts`` and rare in the training texts."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(set(_WORD.findall(text.lower())))
        score = {
            w: c * np.log((1 + self.size) / (1 + self._word_df.get(w, 0)))
            for w, c in counts.items()
        }
        return [w for w, _ in sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


@dataclass(frozen=True)
class Pattern:
    """One cluster of new texts on one day."""

    pattern_id: str  # a short hash of its most frequent text
    name: str  # its distinctive words
    day: date
    messages: int  # texts sent (rows), all sources
    accounts: list[str]  # distinct senders, sorted
    new_accounts: list[str]  # senders younger than NEW_ACCOUNT_DAYS on the day
    examples: list[str]  # most frequent distinct texts first
    similarity_to_training: float  # the highest cosine of any of its texts to a training text
    sources: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "pattern_id": self.pattern_id,
            "name": self.name,
            "messages": self.messages,
            "n_accounts": len(self.accounts),
            "n_new_accounts": len(self.new_accounts),
            "accounts": self.accounts,
            "new_accounts": self.new_accounts,
            "examples": self.examples,
            "similarity_to_training": round(self.similarity_to_training, 3),
            "sources": self.sources,
        }


@dataclass(frozen=True)
class DayTexts:
    """One day's texts grouped by distinct text, with their similarity to the training texts."""

    day: date
    groups: pl.DataFrame  # text, rows, senders (list), source (list); most sent first
    nearest: np.ndarray  # [len(groups)]


def embed_days(texts: pl.DataFrame, index: TextIndex, days: list[date]) -> dict[date, DayTexts]:
    """Group ``texts`` (from :func:`texts_between`) by day and distinct text; each distinct text
    is compared with the training texts once across all ``days``."""
    dated = texts.with_columns(pl.col("ts").dt.date().alias("day")).filter(
        pl.col("day").is_in(days)
    )
    distinct = dated["text"].unique().sort().to_list()
    similarity = dict(zip(distinct, index.nearest(distinct), strict=True))
    out = {}
    for day in days:
        groups = (
            dated.filter(pl.col("day") == day)
            .group_by("text")
            .agg(
                pl.len().alias("rows"),
                pl.col("sender_id").unique().sort().alias("senders"),
                pl.col("source"),
            )
            .sort("rows", "text", descending=[True, False])
        )
        nearest = np.array([similarity[t] for t in groups["text"].to_list()], dtype=np.float64)
        out[day] = DayTexts(day, groups, nearest)
    return out


def find_patterns(
    day_texts: DayTexts,
    index: TextIndex,
    signups: dict[str, datetime],
    *,
    novel_below: float = NOVEL_BELOW,
    link_at: float = LINK_AT,
) -> list[Pattern]:
    """The clusters of the day's novel texts, most accounts first (singletons included)."""
    novel = np.flatnonzero(day_texts.nearest < novel_below)
    if novel.size == 0:
        return []
    groups = day_texts.groups
    vectors = index.embed([groups["text"][int(i)] for i in novel])
    linked = (vectors @ vectors.T) >= link_at
    n_clusters, labels = connected_components(linked, directed=False)
    day_end = datetime.combine(day_texts.day + timedelta(days=1), datetime.min.time()).replace(
        tzinfo=next(iter(signups.values())).tzinfo if signups else None
    )
    patterns = []
    for c in range(n_clusters):
        members = novel[labels == c]  # rows of ``groups``, most frequent first
        texts = [groups["text"][int(i)] for i in members]
        accounts = sorted({s for i in members for s in groups["senders"][int(i)]})
        new = [
            a
            for a in accounts
            if a in signups and day_end - signups[a] < timedelta(days=NEW_ACCOUNT_DAYS)
        ]
        sources = Counter(src for i in members for src in groups["source"][int(i)])
        patterns.append(
            Pattern(
                pattern_id=hashlib.sha1(texts[0].encode()).hexdigest()[:8],
                name=" ".join(index.distinctive_words(texts)),
                day=day_texts.day,
                messages=int(sum(groups["rows"][int(i)] for i in members)),
                accounts=accounts,
                new_accounts=new,
                examples=texts[:EXAMPLES],
                similarity_to_training=float(day_texts.nearest[members].max()),
                sources=dict(sorted(sources.items())),
            )
        )
    patterns.sort(key=lambda p: (-len(p.accounts), -p.messages, p.pattern_id))
    return patterns


def largest_cluster_accounts(patterns: list[Pattern]) -> int:
    """The day's signal: accounts behind the largest novel cluster (0 with no novel text)."""
    return max((len(p.accounts) for p in patterns), default=0)
