"""Graph features over identifiers users share: devices, IPs and payment instruments.

A user is linked to an identifier from the first time they were seen with it (sign-up device and IP,
login device and IP, the instrument of a payment they made or received). As of ``t`` only links
first seen strictly before ``t`` exist, and only labels decided strictly before ``t`` make a
neighbour "known bad". Identifiers shared by more than ``hub_limit`` users (mobile carriers, VPN
exits, big offices) carry little information and are left out of linkage and components.
Connected components use scipy's sparse ``connected_components`` on the user-identifier graph:
no Python loop over nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TypeVar

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from scamguard.schema import SCAM_TYPOLOGIES, TS

from .labels import ordered_labels

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

HUB_LIMIT = 50
GRAPH_FEATURES = (
    "component_size",
    "known_bad_in_component",
    "shared_device_users",
    "shared_ip_users",
    "shared_instrument_users",
    "linked_users",
    "known_bad_neighbors",
)


@cache
def link_plan(table: str) -> tuple[pl.Expr | None, tuple[pl.Expr, ...]]:
    """(row filter or None, columns with ``kind`` / ``ident`` as lists to explode)."""
    if table == "users":
        return None, (
            pl.col("user_id"),
            pl.lit(["device", "ip"], dtype=pl.List(pl.String)).alias("kind"),
            pl.concat_list("signup_device_id", "signup_ip").alias("ident"),
            pl.col("signup_ts").alias("ts"),
        )
    if table == "logins":
        return pl.col("success"), (
            pl.col("user_id"),
            pl.lit(["device", "ip"], dtype=pl.List(pl.String)).alias("kind"),
            pl.concat_list("device_id", "ip").alias("ident"),
            pl.col("ts"),
        )
    if table == "payments":
        owner = (
            pl.when(pl.col("kind").is_in(["charge", "chargeback"]))
            .then(pl.col("payer_id"))
            .otherwise(pl.col("payee_id"))
        )
        return None, (
            owner.alias("user_id"),
            pl.lit(["instrument"], dtype=pl.List(pl.String)).alias("kind"),
            pl.concat_list("instrument_id").alias("ident"),
            pl.col("ts"),
        )
    return None, ()


def link_rows(table: str, frame: Frame) -> Frame:
    """``user_id, kind, ident, ts``: the identifier links one raw table makes (row-level).

    Users: the sign-up device and IP. Logins (successful only): the device and IP. Payments: the
    instrument, owned by the payer of a charge or chargeback and by the payee of a payout or refund.
    Other tables link nothing.
    """
    keep, columns = link_plan(table)
    if not columns:
        return frame.select(
            pl.lit(None, dtype=pl.String).alias("user_id"),
            pl.lit(None, dtype=pl.String).alias("kind"),
            pl.lit(None, dtype=pl.String).alias("ident"),
            pl.lit(None, dtype=TS).alias("ts"),
        ).clear()
    rows = frame if keep is None else frame.filter(keep)
    return rows.select(*columns).explode(["kind", "ident"])


def identifier_links(
    *, users: pl.LazyFrame, logins: pl.LazyFrame, payments: pl.LazyFrame
) -> pl.LazyFrame:
    """``user_id, kind, ident, first_ts``: when each user was first linked to each identifier."""
    parts = [
        link_rows("users", users),
        link_rows("logins", logins),
        link_rows("payments", payments),
    ]
    return (
        pl.concat(parts)
        .group_by("user_id", "kind", "ident")
        .agg(pl.col("ts").min().alias("first_ts"))
    )


def known_bad_users(labels: pl.LazyFrame) -> pl.LazyFrame:
    """``user_id, decided_ts, bad`` of every label in precedence order (``features.labels``):
    ``bad`` when it is a scam typology. As of ``t`` a user is known bad when their latest label
    decided strictly before ``t`` is a scam one, so an analyst's later ``benign`` clears them from
    its decision time on (and never before)."""
    return ordered_labels(labels).select(
        "user_id", "decided_ts", pl.col("label").is_in(SCAM_TYPOLOGIES).alias("bad")
    )


LINK_KINDS = ("device", "ip", "instrument")
LINK_TABLES = ("users", "logins", "payments")  # raw tables that link users to identifiers
_KIND_BITS, _KIND_MASK = 10, (1 << 10) - 1  # packed shared-identifier counts, per link kind


@dataclass(frozen=True)
class LinkGraph:
    """Identifier links and scam labels with integer codes, for evaluating many instants.

    ``user``, ``ident``, ``kind``, ``first_ts``: one entry per (user, identifier) link, shape
    ``[L]``: user code, identifier code (kind-specific), index into ``LINK_KINDS``, first seen
    (integer microseconds, UTC). ``label_user``, ``label_ts``, ``label_bad``: one entry per label,
    shape ``[B]``, in precedence order: user code, decision time (microseconds), scam or not.
    """

    user: np.ndarray
    ident: np.ndarray
    kind: np.ndarray
    first_ts: np.ndarray
    label_user: np.ndarray
    label_ts: np.ndarray
    label_bad: np.ndarray
    n_users: int
    n_idents: int

    @classmethod
    def encode(
        cls, links: pl.DataFrame, bad: pl.DataFrame, users: pl.Series
    ) -> tuple[LinkGraph, np.ndarray]:
        """The graph of ``links`` / ``bad`` (``known_bad_users``) and the codes of ``users``."""
        ids = (
            pl.concat([users, links["user_id"], bad["user_id"]])
            .cast(pl.Categorical)
            .to_physical()
            .to_numpy()
            .astype(np.int64)
        )
        n_spine, n_links = len(users), links.height
        idents = (
            links.select(pl.concat_str("kind", "ident", separator="\x1f"))
            .to_series()
            .cast(pl.Categorical)
            .to_physical()
            .to_numpy()
            .astype(np.int64)
        )
        kind = links["kind"].cast(pl.Enum(LINK_KINDS)).to_physical().to_numpy().astype(np.int8)
        n_users = int(ids.max()) + 1 if len(ids) else 0
        is_bad = bad["bad"] if "bad" in bad.columns else pl.repeat(True, bad.height, eager=True)
        graph = cls(
            user=ids[n_spine : n_spine + n_links],
            ident=idents,
            kind=kind,
            first_ts=_micros(links["first_ts"]),
            label_user=ids[n_spine + n_links :],
            label_ts=_micros(bad["decided_ts"]),
            label_bad=is_bad.cast(pl.Boolean).to_numpy().astype(np.int64),
            n_users=n_users,
            n_idents=int(idents.max()) + 1 if len(idents) else 0,
        )
        return graph, ids[:n_spine]

    def bad_at(self, as_of: int) -> np.ndarray:
        """``[n_users]`` 1 where the user's latest label decided strictly before ``as_of`` is a
        scam typology, else 0 (labels are in precedence order: the last one before wins)."""
        before = np.flatnonzero(self.label_ts < as_of)
        latest = np.full(self.n_users, -1, dtype=np.int64)
        np.maximum.at(latest, self.label_user[before], before)
        known = latest >= 0
        out = np.zeros(self.n_users, dtype=np.int64)
        out[known] = self.label_bad[latest[known]]
        return out

    def live(self, as_of: int, *, hub_limit: int = HUB_LIMIT) -> np.ndarray:
        """Mask ``[L]`` of the links that exist strictly before ``as_of`` to a non-hub identifier."""
        live = self.first_ts < as_of
        users_per_ident = np.bincount(self.ident[live], minlength=self.n_idents)
        return live & (users_per_ident[self.ident] <= hub_limit)


def _micros(series: pl.Series) -> np.ndarray:
    return series.cast(pl.Datetime("us", "UTC")).cast(pl.Int64).to_numpy()


def connected_components_scipy(
    user: np.ndarray, ident: np.ndarray, n_users: int, n_idents: int
) -> np.ndarray:
    """Component label of every node of the bipartite user-identifier graph with edges
    ``(user[k], ident[k])``: shape ``[n_users + n_idents]``, users first (scipy's sparse
    ``connected_components``; no Python loop over nodes)."""
    n = n_users + n_idents
    graph = coo_matrix((np.ones(len(user), dtype=np.int8), (user, n_users + ident)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels


def connected_components_polars(
    user: np.ndarray, ident: np.ndarray, n_users: int, n_idents: int
) -> tuple[np.ndarray, int]:
    """The same partition by iterative min-label propagation in Polars (for comparison).

    Returns (label ``[n_users]``: the smallest user code in the component, iterations). Users with
    no edge are their own component. Each iteration is two joins and two group-bys over the edges;
    it takes about the diameter of the graph in iterations.
    """
    edges = pl.DataFrame({"u": user, "i": ident}, schema={"u": pl.Int64, "i": pl.Int64})
    label = edges.select("u").unique().with_columns(pl.col("u").alias("label"))
    iterations = 0
    while True:
        iterations += 1
        per_ident = edges.join(label, on="u").group_by("i").agg(pl.col("label").min())
        new = (
            edges.join(per_ident, on="i")
            .group_by("u")
            .agg(pl.col("label").min())
            .join(label.rename({"label": "old"}), on="u")
            .with_columns(pl.min_horizontal("label", "old").alias("label"))
        )
        changed = new.filter(pl.col("label") != pl.col("old")).height
        label = new.select("u", "label")
        if changed == 0:
            break
    out = np.arange(n_users, dtype=np.int64)
    out[label["u"].to_numpy()] = label["label"].to_numpy()
    return out, iterations


def graph_features_at(
    graph: LinkGraph, as_of: int, users: np.ndarray, *, hub_limit: int = HUB_LIMIT
) -> pl.DataFrame:
    """``GRAPH_FEATURES`` of ``users`` (codes) at one instant ``as_of`` (integer microseconds):
    links first seen and labels decided strictly before it, hub identifiers left out."""
    live = graph.live(as_of, hub_limit=hub_limit)
    u, i, k = graph.user[live], graph.ident[live], graph.kind[live]
    is_bad = graph.bad_at(as_of)

    component = connected_components_scipy(u, i, graph.n_users, graph.n_idents)[: graph.n_users]
    linked = np.zeros(graph.n_users, dtype=bool)
    linked[u] = True
    size = np.bincount(component[linked], minlength=graph.n_users)
    bad_in = np.bincount(component[linked], weights=is_bad[linked], minlength=graph.n_users)
    comp = component[users]
    out = {
        "user": users,
        "component_size": np.where(linked[users], size[comp], 0),
        "known_bad_in_component": np.where(
            linked[users], bad_in[comp].astype(np.int64) - is_bad[users], 0
        ),
    }

    # neighbours: one sparse product S @ A.T over the live links, where S holds the rows of the
    # wanted users weighted by link kind (1, 2**10, 2**20), so entry (user, other) packs how many
    # identifiers of each kind the two share (never near 2**10 of one kind)
    wanted = np.unique(users)
    weight = (1 << (_KIND_BITS * k.astype(np.int64))).astype(np.int32)
    shape = (graph.n_users, graph.n_idents)
    a = csr_matrix((np.ones(len(u), dtype=np.int32), (u, i)), shape=shape)
    s = csr_matrix((weight, (u, i)), shape=shape)[wanted]
    shared = (s @ a.T).tocsr()  # [n_wanted, n_users]; the diagonal entry is the user themself
    bounds = shared.indptr

    def per_row(values: np.ndarray) -> np.ndarray:
        total = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
        return total[bounds[1:]] - total[bounds[:-1]]

    def own(kind: int | None) -> np.ndarray:  # 1 where the wanted user has a live link (of kind)
        mine = u if kind is None else u[k == kind]
        return np.isin(wanted, mine).astype(np.int64)

    counts = {
        f"shared_{name}_users": per_row((shared.data >> (_KIND_BITS * j)) & _KIND_MASK > 0) - own(j)
        for j, name in enumerate(LINK_KINDS)
    }
    linked_self = own(None)
    counts["linked_users"] = np.diff(bounds) - linked_self
    counts["known_bad_neighbors"] = per_row(is_bad[shared.indices]) - linked_self * is_bad[wanted]
    neighbours = pl.DataFrame({"user": wanted, **counts})
    return (
        pl.DataFrame(out)
        .join(neighbours, on="user", how="left")
        .with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in GRAPH_FEATURES)
        .select("user", *GRAPH_FEATURES)
    )


def add_graph_features(
    spine: pl.LazyFrame, *, links: pl.LazyFrame, labels: pl.LazyFrame, hub_limit: int = HUB_LIMIT
) -> pl.LazyFrame:
    """Per (user_id, as_of): linkage and component features as of each distinct ``as_of``.

    The graph is encoded once; each distinct ``as_of`` (training uses a handful of weekly
    snapshots) costs one connected-components pass and one self-join of its live links.
    """
    spine_df = spine.collect().with_row_index("_graph_row")
    graph, codes = LinkGraph.encode(
        links.collect(), known_bad_users(labels).collect(), spine_df["user_id"]
    )
    as_of = _micros(spine_df["as_of"])
    parts = []
    for t in np.unique(as_of):
        rows = np.flatnonzero(as_of == t)
        feats = graph_features_at(graph, int(t), codes[rows], hub_limit=hub_limit)
        parts.append(
            pl.DataFrame({"_graph_row": rows.astype(np.uint32), "user": codes[rows]})
            .join(feats.unique("user"), on="user", how="left")
            .drop("user")
        )
    features = (
        pl.concat(parts)
        if parts
        else pl.DataFrame(
            schema={"_graph_row": pl.UInt32, **dict.fromkeys(GRAPH_FEATURES, pl.Int64)}
        )
    )
    return (
        spine_df.join(features, on="_graph_row", how="left")
        .drop("_graph_row")
        .with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in GRAPH_FEATURES)
        .lazy()
    )
