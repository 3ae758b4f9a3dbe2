"""The training and scoring tables on Spark: ``features.build`` evaluated by a third engine.

The same specs as the Polars builder (``features.build.ACTIVITY_FEATURES``, the profile and graph
families), the same spine (users who acted or signed up in the 7 days before each ``as_of``), the
same target and time split; every feature of a user as of ``t`` uses only events strictly before
``t`` and labels decided strictly before ``t``. Instants are integer microseconds inside; a spine
row names its instant by its index ``g`` (``features.spark.aggregates``).

The result is a Spark DataFrame in the table's column order; :func:`to_polars` brings a small one
to the driver in the Polars table's exact dtypes, ``features.spark.io.write_parquet`` writes one
in the layout the Polars builder writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import TYPE_CHECKING

import polars as pl

from features.aggregates import micros
from features.build import (
    ACTIVE_WINDOW,
    ACTIVITY_FEATURES,
    FEATURE_COLUMNS,
    split_bounds,
    weekly_snapshots,
)
from features.graph import GRAPH_FEATURES, HUB_LIMIT
from features.profile import add_profile_features as polars_profile_features
from scamguard.schema import SCAM_TYPOLOGIES, TABLES, TS

from .aggregates import KEYS, add_aggregates, spread_over_instants
from .graph import add_graph_features
from .profile import add_profile_features
from .rows import first_logins, first_sightings, identifier_links, ledger
from .tables import SparkTables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

KEY_COLUMNS = ("user_id", "as_of", "label", "typology")
_US = timedelta(microseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SparkTable:
    """A feature table built on Spark: ``frame`` (lazy: nothing is computed until it is written
    or collected), its ``as_of`` instants, and the connected-components rounds per build."""

    frame: DataFrame
    instants: list[datetime]
    graph_rounds: int


def _us(t: datetime) -> int:
    return micros(t - EPOCH)


def actor_events(tables: SparkTables) -> DataFrame:
    """``user_id, ts`` (microseconds) of every act that makes a user active: messages sent, jobs
    posted, proposals sent, charges paid, logins (``features.velocity.actor_events``)."""
    from pyspark.sql import functions as F

    parts = [
        tables.messages.select(F.col("sender_id").alias("user_id"), "ts"),
        tables.jobs.select(F.col("client_id").alias("user_id"), "ts"),
        tables.proposals.select(F.col("freelancer_id").alias("user_id"), "ts"),
        tables.payments.filter(F.col("kind") == "charge").select(
            F.col("payer_id").alias("user_id"), "ts"
        ),
        tables.logins.select("user_id", "ts"),
    ]
    acts = reduce(lambda a, b: a.unionByName(b), parts)
    return acts.select("user_id", F.unix_micros("ts").alias("ts"))


def data_window(tables: SparkTables) -> tuple[datetime, datetime]:
    """(first, last) event time across the activity tables (``features.build.data_window``)."""
    from pyspark.sql import functions as F

    row = actor_events(tables).agg(F.min("ts").alias("lo"), F.max("ts").alias("hi")).first()
    if row is None or row["lo"] is None:
        raise ValueError(
            "no events in the data: run `scamguard simulate` and `scamguard ingest` first"
        )
    return _dt(row["lo"]), _dt(row["hi"])


def snapshot_times(tables: SparkTables) -> list[datetime]:
    """Weekly ``as_of`` instants, the rule of ``features.build.snapshot_times``."""
    return weekly_snapshots(*data_window(tables))


def active_spine(tables: SparkTables, instants: Sequence[int]) -> DataFrame:
    """``user_id, g, as_of``: users who acted or signed up in the 7 days before each instant."""
    from pyspark.sql import functions as F

    signups = tables.users.select("user_id", F.unix_micros("signup_ts").alias("ts"))
    acts = actor_events(tables).unionByName(signups)
    spread = spread_over_instants(acts, "ts", F.lit(micros(ACTIVE_WINDOW)), instants)
    return spread.select("user_id", "g", "as_of").distinct()


def attach_target(spine: DataFrame, labels: DataFrame) -> DataFrame:
    """``label`` (1 if the user's scam had begun before ``as_of``) and ``typology``, from each
    user's latest label in ``labels`` (the label history: greatest ``seq``); rows of users whose
    latest label decided strictly before ``as_of`` is a scam dropped
    (``features.build.attach_target`` with every label known)."""
    from pyspark.sql import functions as F

    lab = labels.select("user_id", "seq", "label", F.unix_micros("decided_ts").alias("_decided"))
    final = labels.groupBy("user_id").agg(
        F.max_by(F.struct("label", F.unix_micros("first_bad_ts").alias("fb")), "seq").alias("_f")
    )
    final = final.select("user_id", F.col("_f.label").alias("_label"), F.col("_f.fb").alias("_fb"))
    known_then = (
        spine.select("user_id", "g", "as_of")
        .distinct()
        .join(lab, on="user_id")
        .filter(F.col("_decided") < F.col("as_of"))
        .groupBy("user_id", "g")
        .agg(F.max_by("label", "seq").alias("_then"))
        .filter(F.col("_then").isin(list(SCAM_TYPOLOGIES)))
        .select("user_id", "g")
    )
    is_scam = F.col("_label").isin(list(SCAM_TYPOLOGIES))
    target = F.coalesce(is_scam & (F.col("_fb") < F.col("as_of")), F.lit(False))
    return (
        spine.join(known_then, on=["user_id", "g"], how="left_anti")
        .join(final, on="user_id", how="left")
        .withColumn("label", target.cast("byte"))
        .withColumn(
            "typology", F.when(F.col("label") == 1, F.col("_label")).otherwise(F.lit("benign"))
        )
        .drop("_label", "_fb")
    )


def build_features(
    spine: DataFrame,
    tables: SparkTables,
    instants: Sequence[int],
    *,
    hub_limit: int = HUB_LIMIT,
) -> tuple[DataFrame, int]:
    """Every feature family for each spine row (``user_id, g, as_of``; other columns kept), in
    ``FEATURE_COLUMNS`` order after the spine's columns; and the components' rounds.

    The spine is cached: each family reads it, and their results are joined on ``(user_id, g)``.
    """
    from pyspark.sql import functions as F

    spine = spine.cache()
    keys = spine.select(*KEYS, "as_of")
    # the row-level maps run once each (Python workers), their results read by several families
    seen_logins = first_logins(tables.logins).cache()
    activity = add_aggregates(
        keys.select(*KEYS),
        ledger=ledger(tables).cache(),
        first_seen=first_sightings(tables, seen_logins).cache(),
        specs=ACTIVITY_FEATURES,
        instants=instants,
    )
    profile = add_profile_features(keys, users=tables.users, instants=instants).drop("as_of")
    graph, rounds = add_graph_features(
        keys.select(*KEYS),
        links=identifier_links(tables, seen_logins).cache(),
        labels=tables.labels,
        instants=instants,
        hub_limit=hub_limit,
    )
    table = (
        spine.join(profile, on=list(KEYS)).join(activity, on=list(KEYS)).join(graph, on=list(KEYS))
    )
    return table.select(*spine.columns, *(F.col(c) for c in FEATURE_COLUMNS)), rounds


def _instants(times: Sequence[datetime]) -> list[int]:
    return sorted({_us(t) for t in times})


def build_training_table(
    tables: SparkTables, as_of_times: Sequence[datetime] | None = None
) -> SparkTable:
    """The training table of ``features.build.build_training_table``: weekly snapshots, every
    feature, target, split; rows sorted by ``as_of, user_id``."""
    from pyspark.sql import functions as F

    instants = _instants(as_of_times or snapshot_times(tables))
    spine = attach_target(active_spine(tables, instants), tables.labels).cache()
    present = sorted(r["g"] for r in spine.select("g").distinct().collect())
    valid_from, test_from = split_bounds([instants[g] for g in present])
    table, rounds = build_features(spine, tables, instants)
    split = (
        F.when(F.col("as_of") >= test_from, F.lit("test"))
        .when(F.col("as_of") >= valid_from, F.lit("valid"))
        .otherwise(F.lit("train"))
    )
    table = table.withColumn("split", split).withColumn("as_of", F.timestamp_micros("as_of"))
    table = table.select(*KEY_COLUMNS, *FEATURE_COLUMNS, "split").orderBy("as_of", "user_id")
    return SparkTable(frame=table, instants=[_dt(t) for t in instants], graph_rounds=rounds)


def build_scoring_table(tables: SparkTables, as_of: datetime) -> SparkTable:
    """Features as of one instant for every user active in the 7 days before it (batch scoring),
    sorted by ``user_id`` (``features.build.build_scoring_table``)."""
    from pyspark.sql import functions as F

    instants = _instants([as_of])
    table, rounds = build_features(active_spine(tables, instants), tables, instants)
    table = table.withColumn("as_of", F.timestamp_micros("as_of")).drop("g")
    table = table.select("user_id", "as_of", *FEATURE_COLUMNS).orderBy("user_id")
    return SparkTable(frame=table, instants=[as_of], graph_rounds=rounds)


def _dt(us: int) -> datetime:
    return EPOCH + us * _US


def feature_dtypes() -> dict[str, pl.DataType]:
    """The Polars builder's dtype of every feature column (the specs' dtypes, the profile
    family's from its own definition, Int64 for graph features)."""
    users = pl.LazyFrame(schema=TABLES["users"].schema)
    spine = pl.LazyFrame(schema={"user_id": pl.String(), "as_of": TS})
    profile = polars_profile_features(spine, users=users).collect_schema()
    dtypes: dict[str, pl.DataType] = {
        c: profile[c] for c in profile if c not in spine.collect_schema()
    }
    dtypes |= {s.name: s.dtype for s in ACTIVITY_FEATURES}
    dtypes |= dict.fromkeys(GRAPH_FEATURES, pl.Int64())
    return {c: dtypes[c] for c in FEATURE_COLUMNS}


def to_polars(frame: DataFrame) -> pl.DataFrame:
    """A (small) Spark feature table on the driver, in the Polars builder's dtypes."""
    out = pl.from_arrow(frame.toArrow())
    assert isinstance(out, pl.DataFrame)
    dtypes = {"as_of": TS, "label": pl.Int8(), **feature_dtypes()}
    return out.with_columns(pl.col(c).cast(t) for c, t in dtypes.items() if c in out.columns)
