"""Each case's pivot graph as of the case's time: its shared identifiers and the accounts behind them.

For a case (user ``u``, time ``t``) the graph holds the identifiers ``u`` was linked to strictly
before ``t`` (``features.graph.identifier_links``: sign-up and login devices and IPs, payment
instruments) that link at least one other account before ``t``, hubs left out (more than
``hub_limit`` accounts before ``t``, as in ``features.graph``). It is bounded: at most
``max_identifiers`` identifiers (devices first, then instruments, then IPs; earliest link first)
and at most ``max_accounts`` accounts each, every account listed under the first identifier that
reaches it (an account sharing two identifiers with the case appears once; ``shared`` counts them
all). Each linked account carries what a review would show as of ``t``: its feature values at
``t`` (NaN when it has no row that week), and its label if one was decided before ``t``
(``known``); and the truth the environment scores with, ``label`` (its scam had begun before
``t``, the training table's definition). Nothing after ``t`` enters: links first seen at or
after ``t`` do not exist, later labels are not known (tests/agent/test_pivots_graph.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from features.graph import HUB_LIMIT, LINK_KINDS, identifier_links

KIND_ORDER: tuple[str, ...] = ("device", "instrument", "ip")
UNKNOWN, KNOWN_BENIGN, KNOWN_SCAM = -1, 0, 1


@dataclass(frozen=True)
class LinkedAccount:
    """A linked account as a review would show it at the case's time (module docstring)."""

    user_id: str
    values: np.ndarray = field(repr=False)  # [D] layout order, NaN = no data
    known: int  # UNKNOWN, KNOWN_BENIGN or KNOWN_SCAM (a label decided before the case's time)
    label: int  # truth: 1 if its scam had begun before the case's time
    shared: int  # identifiers it shares with the case (before the bound)


@dataclass(frozen=True)
class Identifier:
    kind: str  # one of LINK_KINDS
    accounts: tuple[LinkedAccount, ...]
    key: str = ""  # "<kind>:<raw identifier>" (personal data: pseudonymise before showing it)


@dataclass(frozen=True)
class CaseGraph:
    """The bounded pivot graph of one case; empty when pivots are disabled."""

    identifiers: tuple[Identifier, ...] = ()

    @property
    def accounts(self) -> list[LinkedAccount]:
        return [a for i in self.identifiers for a in i.accounts]

    def members_at_risk(self) -> int:
        """Linked scam accounts not already known: what blocking the ring can catch."""
        return sum(a.label == 1 and a.known != KNOWN_SCAM for a in self.accounts)


EMPTY = CaseGraph()


@dataclass
class LinkIndex:
    """Identifier links with integer times (microseconds), indexed both ways."""

    by_user: dict[str, list[tuple[str, str, int]]]  # user -> [(ident, kind, first_ts)]
    by_ident: dict[str, list[tuple[str, int]]]  # ident -> [(user, first_ts)]

    @classmethod
    def from_links(cls, links: pl.DataFrame) -> LinkIndex:
        """From ``identifier_links`` output: ``user_id, kind, ident, first_ts``."""
        frame = links.select(
            "user_id",
            "kind",
            pl.concat_str("kind", "ident", separator=":").alias("key"),
            pl.col("first_ts").cast(pl.Datetime("us", "UTC")).cast(pl.Int64).alias("ts"),
        ).sort("ts", "user_id", "key")
        by_user: dict[str, list[tuple[str, str, int]]] = {}
        by_ident: dict[str, list[tuple[str, int]]] = {}
        for user, kind, key, ts in frame.iter_rows():
            by_user.setdefault(user, []).append((key, kind, ts))
            by_ident.setdefault(key, []).append((user, ts))
        return cls(by_user, by_ident)


@dataclass
class LabelIndex:
    """Per user: the labels with their decision times, and when its scam began (if ever)."""

    decided: dict[str, list[tuple[int, str]]]  # user -> [(decided_ts, label)] by time
    scam_from: dict[str, int]  # user -> first_bad_ts of a scam label

    @classmethod
    def from_labels(cls, labels: pl.DataFrame) -> LabelIndex:
        """From the clean ``labels`` table: ``user_id, label, decided_ts, first_bad_ts``."""
        frame = labels.select(
            "user_id",
            "label",
            pl.col("decided_ts").cast(pl.Datetime("us", "UTC")).cast(pl.Int64),
            pl.col("first_bad_ts").cast(pl.Datetime("us", "UTC")).cast(pl.Int64),
        ).sort("decided_ts")
        decided: dict[str, list[tuple[int, str]]] = {}
        scam_from: dict[str, int] = {}
        for user, label, ts, bad in frame.iter_rows():
            decided.setdefault(user, []).append((ts, label))
            if label != "benign" and bad is not None:
                scam_from[user] = min(scam_from.get(user, bad), bad)
        return cls(decided, scam_from)

    def known(self, user: str, as_of: int) -> int:
        """The latest label decided strictly before ``as_of``: KNOWN_SCAM / KNOWN_BENIGN / UNKNOWN."""
        latest = None
        for ts, label in self.decided.get(user, ()):
            if ts >= as_of:
                break
            latest = label
        if latest is None:
            return UNKNOWN
        return KNOWN_BENIGN if latest == "benign" else KNOWN_SCAM

    def truth(self, user: str, as_of: int) -> int:
        return int(self.scam_from.get(user, as_of) < as_of)


# (user ids [n], as_of microseconds) -> values [n, D] of their rows at that time (NaN if none)
ValuesFn = Callable[[list[str], int], np.ndarray]


def case_graph(
    user: str,
    as_of: int,
    links: LinkIndex,
    labels: LabelIndex,
    values_of: ValuesFn,
    *,
    max_identifiers: int = 3,
    max_accounts: int = 3,
    hub_limit: int = HUB_LIMIT,
) -> CaseGraph:
    """The bounded pivot graph of ``user`` at ``as_of`` (microseconds; module docstring)."""
    live: list[tuple[str, str, list[str]]] = []  # (ident, kind, other users in link order)
    shared: dict[str, int] = {}
    for key, kind, ts in links.by_user.get(user, ()):
        if ts >= as_of:
            continue
        users = [u for u, uts in links.by_ident[key] if uts < as_of]
        if len(users) > hub_limit:
            continue
        others = [u for u in users if u != user]
        for u in set(others):
            shared[u] = shared.get(u, 0) + 1
        if others:
            live.append((key, kind, others))
    live.sort(key=lambda item: KIND_ORDER.index(item[1]))  # stable: earliest link first per kind
    seen: set[str] = set()
    identifiers: list[Identifier] = []
    for key, kind, others in live:
        if len(identifiers) == max_identifiers:
            break
        fresh = [u for u in others if u not in seen][:max_accounts]
        if not fresh:
            continue
        seen.update(fresh)
        vals = values_of(fresh, as_of)
        accounts = tuple(
            LinkedAccount(
                user_id=u,
                values=vals[i],
                known=labels.known(u, as_of),
                label=labels.truth(u, as_of),
                shared=shared[u],
            )
            for i, u in enumerate(fresh)
        )
        identifiers.append(Identifier(kind=kind, accounts=accounts, key=key))
    return CaseGraph(tuple(identifiers))


def link_tables(users: pl.LazyFrame, logins: pl.LazyFrame, payments: pl.LazyFrame) -> LinkIndex:
    """The :class:`LinkIndex` of the clean tables (every link, every time: filter per case)."""
    links = identifier_links(users=users, logins=logins, payments=payments).collect()
    assert set(links["kind"].unique().to_list()) <= set(LINK_KINDS)
    return LinkIndex.from_links(links)


def table_values(user_id: np.ndarray, as_of: np.ndarray, values: np.ndarray) -> ValuesFn:
    """A :data:`ValuesFn` over case rows: ``user_id`` [N], ``as_of`` [N] (datetime64[us]),
    ``values`` [N, D]; a (user, time) with no row gets NaN."""
    micros = as_of.astype("datetime64[us]").astype(np.int64)
    index = {(u, int(t)): i for i, (u, t) in enumerate(zip(user_id, micros, strict=True))}
    width = values.shape[1]

    def values_of(users: list[str], at: int) -> np.ndarray:
        out = np.full((len(users), width), np.nan)
        for i, u in enumerate(users):
            row = index.get((u, int(at)))
            if row is not None:
                out[i] = values[row]
        return out

    return values_of
