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

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from scamguard.schema import SCAM_TYPOLOGIES

HUB_LIMIT = 50
GRAPH_FEATURES = (
    "shared_device_users",
    "shared_ip_users",
    "shared_instrument_users",
    "linked_users",
    "component_size",
    "known_bad_neighbors",
    "known_bad_in_component",
)


def identifier_links(
    *, users: pl.LazyFrame, logins: pl.LazyFrame, payments: pl.LazyFrame
) -> pl.LazyFrame:
    """``user_id, kind, ident, first_ts``: when each user was first linked to each identifier."""
    owner = (
        pl.when(pl.col("kind").is_in(["charge", "chargeback"]))
        .then(pl.col("payer_id"))
        .otherwise(pl.col("payee_id"))
    )
    parts = [
        users.select(
            "user_id",
            pl.lit("device").alias("kind"),
            pl.col("signup_device_id").alias("ident"),
            pl.col("signup_ts").alias("ts"),
        ),
        users.select(
            "user_id",
            pl.lit("ip").alias("kind"),
            pl.col("signup_ip").alias("ident"),
            pl.col("signup_ts").alias("ts"),
        ),
        logins.filter(pl.col("success")).select(
            "user_id", pl.lit("device").alias("kind"), pl.col("device_id").alias("ident"), "ts"
        ),
        logins.filter(pl.col("success")).select(
            "user_id", pl.lit("ip").alias("kind"), pl.col("ip").alias("ident"), "ts"
        ),
        payments.select(
            owner.alias("user_id"),
            pl.lit("instrument").alias("kind"),
            pl.col("instrument_id").alias("ident"),
            "ts",
        ),
    ]
    return (
        pl.concat(parts)
        .group_by("user_id", "kind", "ident")
        .agg(pl.col("ts").min().alias("first_ts"))
    )


def known_bad_users(labels: pl.LazyFrame) -> pl.LazyFrame:
    """``user_id, decided_ts`` of users labelled with a scam typology."""
    return labels.filter(pl.col("label").is_in(SCAM_TYPOLOGIES)).select("user_id", "decided_ts")


def graph_features_as_of(
    links: pl.DataFrame, bad: pl.DataFrame, as_of, *, hub_limit: int = HUB_LIMIT
) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    """Graph features of every linked user at one instant ``as_of`` (links and labels strictly before it)."""
    live = links.filter(pl.col("first_ts") < as_of)
    sizes = live.group_by("kind", "ident").agg(pl.len().alias("n_users"))
    live = live.join(sizes.filter(pl.col("n_users") <= hub_limit), on=["kind", "ident"], how="semi")
    bad_now = bad.filter(pl.col("decided_ts") < as_of).select("user_id", pl.lit(1).alias("is_bad"))

    pairs = live.join(
        live.select(pl.col("user_id").alias("other"), "kind", "ident"), on=["kind", "ident"]
    ).filter(pl.col("user_id") != pl.col("other"))
    per_kind = pairs.group_by("user_id").agg(
        *[
            pl.col("other").filter(pl.col("kind") == k).n_unique().alias(f"shared_{k}_users")
            for k in ("device", "ip", "instrument")
        ],
        pl.col("other").n_unique().alias("linked_users"),
    )
    bad_neighbors = (
        pairs.select("user_id", "other")
        .unique()
        .join(bad_now, left_on="other", right_on="user_id")
        .group_by("user_id")
        .agg(pl.len().alias("known_bad_neighbors"))
    )

    # components of the bipartite user-identifier graph
    user_ids = live["user_id"].unique().sort()
    ident_keys = live.select(pl.concat_str("kind", "ident", separator=":").alias("k"))["k"]
    ident_codes = ident_keys.cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
    user_codes = live.join(
        pl.DataFrame({"user_id": user_ids, "u": np.arange(len(user_ids))}),
        on="user_id",
        how="left",
        maintain_order="left",
    )["u"].to_numpy()
    n_u = len(user_ids)
    n_nodes = n_u + (int(ident_codes.max()) + 1 if len(ident_codes) else 0)
    graph = coo_matrix(
        (np.ones(len(user_codes)), (user_codes, n_u + ident_codes)), shape=(n_nodes, n_nodes)
    )
    _, component = connected_components(graph, directed=False)
    comp = pl.DataFrame({"user_id": user_ids, "component": component[:n_u]})
    comp = comp.join(bad_now, on="user_id", how="left").with_columns(pl.col("is_bad").fill_null(0))
    comp = comp.with_columns(
        pl.len().over("component").alias("component_size"),
        (pl.col("is_bad").sum().over("component") - pl.col("is_bad")).alias(
            "known_bad_in_component"
        ),
    ).select("user_id", "component_size", "known_bad_in_component")
    return (
        comp.join(per_kind, on="user_id", how="left")
        .join(bad_neighbors, on="user_id", how="left")
        .with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in GRAPH_FEATURES)
    )


def add_graph_features(
    spine: pl.LazyFrame, *, links: pl.LazyFrame, labels: pl.LazyFrame, hub_limit: int = HUB_LIMIT
) -> pl.LazyFrame:
    """Per (user_id, as_of): linkage and component features as of each distinct ``as_of``.

    Collects once per distinct ``as_of`` (training uses a handful of weekly snapshots).
    """
    spine_df = spine.collect()
    links_df = links.collect()
    bad_df = known_bad_users(labels).collect()
    parts = []
    for as_of in spine_df["as_of"].unique().sort():
        feats = graph_features_as_of(links_df, bad_df, as_of, hub_limit=hub_limit)
        parts.append(
            spine_df.filter(pl.col("as_of") == as_of).join(feats, on="user_id", how="left")
        )
    out = (
        pl.concat(parts)
        if parts
        else spine_df.with_columns(pl.lit(0).alias(c) for c in GRAPH_FEATURES)
    )
    return out.with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in GRAPH_FEATURES).lazy()
