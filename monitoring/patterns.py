"""Emerging patterns: clusters of new texts that do not resemble what the models were trained on.

A day's texts (messages, job posts as title + description, proposal cover letters) are embedded
as TF-IDF over hashed character 3-5-grams (word-bounded). The IDF is learnt on the training texts
and an n-gram they never contained gets the largest weight, so a text made of unseen fragments is
far from all of them (a vocabulary fitted on the training texts would drop exactly those
fragments). A text is *novel* when its cosine similarity to its nearest training text is below
``novel_below``; novel texts are linked when their cosine reaches ``link_at`` and the connected
groups are the candidate patterns. A pattern counts the accounts sending it: a new campaign is
the same text, lightly varied, from several accounts on one day, while an unseen benign message
is one text from one account.

The day's signal is the largest number of accounts behind one novel cluster; its threshold comes
from the same signal over the previous days (:mod:`monitoring.thresholds`). Similarities are exact
sparse dot products: the distinct texts of a day number in the hundreds and the distinct training
texts in the thousands.
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
    """The training texts as L2-normalised TF-IDF rows over hashed character n-grams."""

    def __init__(self, texts: list[str]):
        from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

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
        self.matrix = self._tfidf.transform(counts).tocsr()  # [R, N_FEATURES]
        self.size = len(texts)
        words: Counter[str] = Counter()
        for text in texts:
            words.update(set(_WORD.findall(text.lower())))
        self._word_df = words

    def embed(self, texts: list[str]) -> csr_matrix:
        """[N, N_FEATURES] L2-normalised rows."""
        return self._tfidf.transform(self._hasher.transform(texts)).tocsr()

    def nearest(self, embedded: csr_matrix, chunk: int = 2048) -> np.ndarray:
        """[N] cosine similarity of each row to its nearest training text (0 with none)."""
        if self.size == 0 or embedded.shape[0] == 0:
            return np.zeros(embedded.shape[0])
        out = np.empty(embedded.shape[0])
        for lo in range(0, embedded.shape[0], chunk):
            block = embedded[lo : lo + chunk] @ self.matrix.T
            out[lo : lo + chunk] = block.max(axis=1).toarray().ravel()
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
    """One day's texts grouped by distinct text, embedded, with their nearest-training cosine."""

    day: date
    groups: pl.DataFrame  # text, rows, senders (list), sources (list)
    embedded: csr_matrix
    nearest: np.ndarray


def embed_days(texts: pl.DataFrame, index: TextIndex, days: list[date]) -> dict[date, DayTexts]:
    """Group ``texts`` (from :func:`texts_between`) by day and distinct text; embed each distinct
    text once across all ``days``."""
    dated = texts.with_columns(pl.col("ts").dt.date().alias("day")).filter(
        pl.col("day").is_in(days)
    )
    distinct = dated.select(pl.col("text").unique().sort())
    embedded = index.embed(distinct["text"].to_list())
    nearest = index.nearest(embedded)
    position = {t: i for i, t in enumerate(distinct["text"].to_list())}
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
        rows = np.array([position[t] for t in groups["text"].to_list()], dtype=np.int64)
        out[day] = DayTexts(day, groups, embedded[rows], nearest[rows])
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
    vectors = day_texts.embedded[novel]
    linked = (vectors @ vectors.T) >= link_at
    n_clusters, labels = connected_components(linked, directed=False)
    groups = day_texts.groups
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
