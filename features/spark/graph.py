"""Graph features on Spark: ``features.graph`` for many (user, as_of) rows.

As of each instant, a user is linked to an identifier (device, IP, payment instrument) first seen
with them strictly before it; identifiers shared by more than ``hub_limit`` users are left out;
a neighbour is "known bad" when their latest label decided strictly before the instant is a
scam (a later benign label clears them; ``features.spark.labels.bad_at``). All
instants are evaluated together: every frame below is keyed by the instant's index ``g``.

Connected components use the **large-star / small-star** algorithm of Kiveris et al., "Connected
Components in MapReduce and Beyond" (SoCC 2014), the algorithm behind GraphFrames'
``connectedComponents`` (whose JVM package cannot be fetched here): on an undirected edge list
with ordered node ids, alternate

- *large-star*: every node ``u`` links each larger neighbour to ``m(u)``, the smallest of ``u``
  and its neighbours;
- *small-star*: every node ``u`` links itself and each smaller neighbour to the smallest of them;

until every component is a star around its smallest node (no node both a centre and a leaf, no
leaf with two centres). It takes ``O(log^2 n)`` rounds (a handful here), against the diameter of
the graph for plain min-label propagation; each round is two group-bys and two joins over the
edges, checkpointed so the plan does not grow with the rounds.

The graph is the users' projection of the user-identifier graph: each identifier's live users are
joined to its smallest user (a star, not a clique), which has the same components over users.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from features.graph import GRAPH_FEATURES, HUB_LIMIT, LINK_KINDS

from .aggregates import KEYS, instant_index
from .labels import bad_at

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

MAX_ROUNDS = 60


def _checkpoint(frame: DataFrame) -> DataFrame:
    """Materialise ``frame`` and cut its lineage: reliably when the session has a checkpoint
    directory (a cluster), else on the executors."""
    if frame.sparkSession.sparkContext.getCheckpointDir():
        return frame.checkpoint(eager=True)
    return frame.localCheckpoint(eager=True)


@dataclass(frozen=True)
class Components:
    """Component labels: ``labels`` has ``g, node, label`` (the smallest node of the component)
    for every node with an edge; ``rounds``: large-star + small-star rounds until stars."""

    labels: DataFrame
    rounds: int


def _smallest_neighbour(edges: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    return edges.groupBy("g", "hi").agg(F.min("lo").alias("m"))


def _large_star(edges: DataFrame) -> DataFrame:
    """Every edge (v > u) becomes (v, m(u)), m(u) the smallest of u and its neighbours."""
    from pyspark.sql import functions as F

    m = _smallest_neighbour(edges).withColumnRenamed("hi", "lo")
    # duplicates are harmless to the small-star step that follows, which removes them
    return edges.join(m, on=["g", "lo"], how="left").select(
        "g", "hi", F.coalesce(F.col("m"), F.col("lo")).alias("lo")
    )


def _small_star(edges: DataFrame) -> DataFrame:
    """For every node u with smaller neighbours, u and each of them link to the smallest, m."""
    from pyspark.sql import functions as F

    m = _smallest_neighbour(edges)
    joined = edges.join(m, on=["g", "hi"])
    leaves = joined.filter(F.col("lo") != F.col("m")).select(
        "g", F.col("lo").alias("hi"), F.col("m").alias("lo")
    )
    centre = joined.select("g", "hi", F.col("m").alias("lo"))
    return leaves.unionByName(centre).distinct()


def _is_stars(edges: DataFrame) -> bool:
    """True when no node is both a leaf (``hi``) and a centre (``lo``), and no leaf has two
    centres: every component is then a star around its smallest node."""
    from pyspark.sql import functions as F

    roles = edges.select(
        "g", F.col("hi").alias("node"), F.lit(1).alias("leaf"), F.lit(0).alias("centre")
    )
    roles = roles.unionByName(
        edges.select(
            "g", F.col("lo").alias("node"), F.lit(0).alias("leaf"), F.lit(1).alias("centre")
        )
    )
    bad = (
        roles.groupBy("g", "node")
        .agg(F.sum("leaf").alias("leaf"), F.max("centre").alias("centre"))
        .filter((F.col("leaf") > 1) | ((F.col("leaf") > 0) & (F.col("centre") > 0)))
    )
    return bad.limit(1).count() == 0


def connected_components(edges: DataFrame, *, max_rounds: int = MAX_ROUNDS) -> Components:
    """Components of the undirected graphs ``edges`` (``g, a, b``: long node ids, one graph per
    ``g``), by large-star / small-star (module docstring). Raises RuntimeError if the graph is
    not stars after ``max_rounds`` rounds."""
    from pyspark.sql import functions as F

    current = _checkpoint(
        edges.filter(F.col("a") != F.col("b"))
        .select(
            "g",
            F.greatest("a", "b").alias("hi"),
            F.least("a", "b").alias("lo"),
        )
        .distinct()
    )
    rounds = 0
    while not _is_stars(current):
        if rounds == max_rounds:
            raise RuntimeError(f"connected components: not converged after {max_rounds} rounds")
        current = _checkpoint(_small_star(_large_star(current)))
        rounds += 1
    labels = current.select("g", F.col("hi").alias("node"), F.col("lo").alias("label")).unionByName(
        current.select("g", F.col("lo").alias("node"), F.col("lo").alias("label")).distinct()
    )
    return Components(labels=labels, rounds=rounds)


def user_codes(user_ids: DataFrame) -> DataFrame:
    """``user_id, code``: a unique long per distinct ``user_id`` (checkpointed, so every use of
    the codes sees the same ones)."""
    from pyspark.sql import functions as F

    return _checkpoint(
        user_ids.select("user_id").distinct().withColumn("code", F.monotonically_increasing_id())
    )


def add_graph_features(
    spine: DataFrame,
    *,
    links: DataFrame,
    labels: DataFrame,
    instants: Sequence[int],
    hub_limit: int = HUB_LIMIT,
) -> tuple[DataFrame, int]:
    """``spine`` (``user_id, g``; other columns kept) plus ``GRAPH_FEATURES``, and the
    components' rounds.

    ``links``: ``features.spark.rows.identifier_links`` (``first_ts`` in microseconds);
    ``labels``: the label history (``features.spark.labels``); a neighbour is known bad at an
    instant when their latest label decided before it is a scam (``labels.bad_at``).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    n = len(instants)
    wanted = spine.select(*KEYS).distinct()
    bad = bad_at(labels, instants)
    codes = user_codes(links)
    # live links per instant: first seen strictly before it (first instant after first_ts on)
    live = (
        links.join(codes, on="user_id")
        .withColumn("_from", instant_index(F.col("first_ts"), instants))
        .filter(F.col("_from") < n)
        .withColumn("g", F.explode(F.sequence(F.col("_from"), F.lit(n - 1))))
        .join(wanted.select("g").distinct(), on="g", how="left_semi")
    )
    per_ident = Window.partitionBy("g", "kind", "ident")
    live = (
        live.withColumn("_users", F.count(F.lit(1)).over(per_ident))
        .withColumn("_hub_min", F.min("code").over(per_ident))
        .filter(F.col("_users") <= hub_limit)
        .select("g", "user_id", "code", "kind", "ident", F.col("_hub_min").alias("star"))
    )
    live = _checkpoint(live)
    is_bad = F.coalesce(F.col("_bad"), F.lit(0).cast("long"))

    # components: each identifier's users joined to its smallest user
    components = connected_components(
        live.select("g", F.col("code").alias("a"), F.col("star").alias("b"))
    )
    linked = (
        live.select("g", "user_id", "code")
        .distinct()
        .join(components.labels.withColumnRenamed("node", "code"), on=["g", "code"], how="left")
        .withColumn("label", F.coalesce("label", "code"))
        .join(bad, on=["user_id", "g"], how="left")
        .withColumn("_bad", is_bad)
    )
    sizes = linked.groupBy("g", "label").agg(
        F.count(F.lit(1)).alias("_size"), F.sum("_bad").alias("_bad_in")
    )
    component = (
        linked.join(wanted, on=list(KEYS), how="left_semi")
        .join(sizes, on=["g", "label"])
        .select(
            *KEYS,
            F.col("_size").alias("component_size"),
            (F.col("_bad_in") - F.col("_bad")).alias("known_bad_in_component"),
        )
    )

    # neighbours: users sharing a live identifier with a wanted user
    mine = live.join(wanted, on=list(KEYS), how="left_semi").select("g", "user_id", "kind", "ident")
    others = live.select("g", F.col("user_id").alias("other"), "kind", "ident")
    pairs = (
        mine.join(others, on=["g", "kind", "ident"])
        .filter(F.col("user_id") != F.col("other"))
        .groupBy("g", "user_id", "other")
        .agg(*(F.max((F.col("kind") == k).cast("long")).alias(f"_{k}") for k in LINK_KINDS))
        .join(bad.withColumnRenamed("user_id", "other"), on=["other", "g"], how="left")
        .withColumn("_bad", is_bad)
    )
    neighbours = pairs.groupBy(*KEYS).agg(
        *(F.sum(f"_{k}").alias(f"shared_{k}_users") for k in LINK_KINDS),
        F.count(F.lit(1)).alias("linked_users"),
        F.sum("_bad").alias("known_bad_neighbors"),
    )
    out = spine.join(component, on=list(KEYS), how="left").join(
        neighbours, on=list(KEYS), how="left"
    )
    return (
        out.select(
            *spine.columns,
            *(
                F.coalesce(F.col(c).cast("long"), F.lit(0).cast("long")).alias(c)
                for c in GRAPH_FEATURES
            ),
        ),
        components.rounds,
    )
