"""The offline feature pipeline: a spine of (user_id, as_of) rows, every feature family piped on.

Every feature of a user as of ``as_of`` uses only events strictly before ``as_of`` and labels
decided strictly before ``as_of``. Training rows are weekly snapshots of the users active in the
week before each ``as_of``; the target uses labels as eventually known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from scamguard.schema import SCAM_TYPOLOGIES

from .aggregates import Spec, add_aggregates
from .graph import GRAPH_FEATURES, HUB_LIMIT, add_graph_features, identifier_links
from .labels import latest_labels, ordered_labels
from .ledger import build_ledger, first_sightings
from .payments import PAYMENT_FEATURES, REPORT_FEATURES
from .profile import PROFILE_FEATURES, add_profile_features
from .text import TEXT_FEATURES
from .velocity import VELOCITY_FEATURES, actor_events

ACTIVE_WINDOW = timedelta(days=7)
SNAPSHOT_EVERY = timedelta(days=7)
MIN_HISTORY = timedelta(days=14)

# every aggregate over the ledger, and the table's feature columns in order
ACTIVITY_FEATURES: tuple[Spec, ...] = (
    *VELOCITY_FEATURES,
    *TEXT_FEATURES,
    *PAYMENT_FEATURES,
    *REPORT_FEATURES,
)
FEATURE_COLUMNS: tuple[str, ...] = (
    *PROFILE_FEATURES,
    *(s.name for s in VELOCITY_FEATURES),
    *(s.name for s in TEXT_FEATURES),
    *GRAPH_FEATURES,
    *(s.name for s in PAYMENT_FEATURES),
    *(s.name for s in REPORT_FEATURES),
)


@dataclass(frozen=True)
class Tables:
    """The clean contract tables as lazy frames."""

    users: pl.LazyFrame
    logins: pl.LazyFrame
    jobs: pl.LazyFrame
    proposals: pl.LazyFrame
    messages: pl.LazyFrame
    payments: pl.LazyFrame
    reports: pl.LazyFrame
    labels: pl.LazyFrame

    @classmethod
    def from_frames(cls, frames: Mapping[str, pl.DataFrame | pl.LazyFrame]) -> Tables:
        return cls(**{k: v.lazy() for k, v in frames.items() if k in cls.__dataclass_fields__})

    def events(self) -> pl.LazyFrame:
        return actor_events(
            messages=self.messages,
            jobs=self.jobs,
            proposals=self.proposals,
            payments=self.payments,
            logins=self.logins,
        )

    def as_dict(self) -> dict[str, pl.LazyFrame]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def build_features(
    spine: pl.LazyFrame, tables: Tables, *, hub_limit: int = HUB_LIMIT
) -> pl.LazyFrame:
    """All feature families for each (user_id, as_of) row of ``spine``; other spine columns are kept.

    Rows keep the spine's order. The ledger and first sightings (``features.ledger``) are built
    once with Polars' streaming engine; the aggregates of every family are then evaluated together
    (``features.aggregates.add_aggregates``), profile and graph features by their own families.
    """
    frames = tables.as_dict()
    spine_df = spine.collect()
    keys = spine_df.select("user_id", "as_of").with_row_index("_spine_row")
    # sightings and links read only the first time of each (user, device, ip, country) of the
    # successful logins: reduce the logins once, then derive both from the few rows left
    seen = first_logins(tables.logins).collect(engine="streaming").lazy()
    activity = add_aggregates(  # the ledger is built here and dropped inside once encoded
        keys,
        ledger=build_ledger(frames).collect(engine="streaming"),
        first_seen=first_sightings({**frames, "logins": seen}).collect(engine="streaming"),
        specs=ACTIVITY_FEATURES,
    )
    links = identifier_links(users=tables.users, logins=seen, payments=tables.payments)
    in_order = pl.col("_spine_row")
    profile = keys.lazy().pipe(add_profile_features, users=tables.users).sort(in_order).collect()
    graph = (
        keys.lazy()
        .pipe(add_graph_features, links=links, labels=tables.labels, hub_limit=hub_limit)
        .sort(in_order)
        .collect()
    )
    # every part is in spine order: put the columns side by side (no join, no copy)
    parts = pl.concat(
        [
            spine_df,
            profile.drop(keys.columns),
            activity.drop(keys.columns),
            graph.drop(keys.columns),
        ],
        how="horizontal",
    )
    return parts.select(*spine_df.columns, *FEATURE_COLUMNS).lazy()


def first_logins(logins: pl.LazyFrame) -> pl.LazyFrame:
    """Successful logins reduced to the first one per (user, device, IP, country): the same
    first sightings and identifier links as all of them, from far fewer rows."""
    return (
        logins.filter(pl.col("success"))
        .group_by("user_id", "device_id", "ip", "country")
        .agg(pl.col("ts").min(), pl.col("login_id").first())
        .with_columns(pl.lit(True).alias("success"))
    )


def data_window(tables: Tables) -> tuple[datetime, datetime]:
    """(first, last) event time across the activity tables."""
    bounds = (
        tables.events()
        .select(pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi"))
        .collect()
    )
    if bounds["lo"][0] is None:
        raise ValueError(
            "no events in the data: run `scamguard simulate` and `scamguard ingest` first"
        )
    return bounds["lo"][0], bounds["hi"][0]


def snapshot_times(tables: Tables) -> list[datetime]:
    """Weekly ``as_of`` instants ending at midnight after the last event, with at least 14 days of history."""
    return weekly_snapshots(*data_window(tables))


def weekly_snapshots(lo: datetime, hi: datetime) -> list[datetime]:
    """Weekly instants ending at midnight after ``hi``, none with less than 14 days after ``lo``
    (the rule of :func:`snapshot_times`, for any engine's data window)."""
    end = datetime.combine(hi.date() + timedelta(days=1), datetime.min.time(), tzinfo=hi.tzinfo)
    times = []
    t = end
    while t - MIN_HISTORY >= lo:
        times.append(t)
        t -= SNAPSHOT_EVERY
    return sorted(times)


def active_spine(tables: Tables, as_of_times: list[datetime]) -> pl.LazyFrame:
    """(user_id, as_of) for users who acted or signed up in the 7 days before each ``as_of``.

    One filter per ``as_of`` over the acts (no acts x times cross join).
    """
    acts = pl.concat(
        [
            tables.events().select("user_id", "ts"),
            tables.users.select("user_id", pl.col("signup_ts").alias("ts")),
        ]
    )
    parts = [
        acts.filter((pl.col("ts") < as_of) & (pl.col("ts") >= as_of - ACTIVE_WINDOW))
        .select("user_id")
        .unique()
        .with_columns(pl.lit(as_of).cast(pl.Datetime("us", "UTC")).alias("as_of"))
        for as_of in as_of_times
    ]
    if not parts:
        return pl.LazyFrame(schema={"user_id": pl.String, "as_of": pl.Datetime("us", "UTC")})
    return pl.concat(parts)


def attach_target(
    spine: pl.LazyFrame, labels: pl.LazyFrame, *, known_by: datetime | None = None
) -> pl.LazyFrame:
    """Add ``label`` (1 if the user's scam had begun before ``as_of``) and ``typology``.

    ``labels`` is a label history (``features.labels.label_history``; a bare platform table works
    too) and the target uses the labels decided strictly before ``known_by`` (None: every label in
    it, as eventually known), each user's latest one by the history's precedence. Rows of users
    whose known label at ``as_of`` (the latest decided strictly before it) is a scam are dropped:
    they would have been actioned, so they are not cases the model must find.
    """
    history = ordered_labels(labels)
    if known_by is not None:
        history = history.filter(pl.col("decided_ts") < known_by)
    final = latest_labels(history).select("user_id", "label", "first_bad_ts")
    is_scam = pl.col("label").is_in(SCAM_TYPOLOGIES)
    known_then = (
        spine.select("user_id", "as_of")
        .unique()
        .join(history.select("user_id", "decided_ts", "seq", "label"), on="user_id")
        .filter(pl.col("decided_ts") < pl.col("as_of"))
        .group_by("user_id", "as_of")
        .agg(pl.col("label").sort_by("seq").last())
        .filter(is_scam)
        .select("user_id", "as_of")
    )
    return (
        spine.join(known_then, on=["user_id", "as_of"], how="anti")
        .join(final, on="user_id", how="left")
        .with_columns(
            (is_scam & (pl.col("first_bad_ts") < pl.col("as_of")))
            .fill_null(False)
            .cast(pl.Int8)
            .alias("target")
        )
        .with_columns(
            pl.when(pl.col("target") == 1)
            .then(pl.col("label"))
            .otherwise(pl.lit("benign"))
            .alias("typology")
        )
        .drop("label", "first_bad_ts")
        .rename({"target": "label"})
    )


def assign_split(
    df: pl.DataFrame, *, test_snapshots: int = 2, valid_snapshots: int = 1
) -> pl.DataFrame:
    """Time-based split: the latest snapshots are test, the ones before are valid, the rest train."""
    valid_from, test_from = split_bounds(
        df["as_of"].unique().sort().to_list(),
        test_snapshots=test_snapshots,
        valid_snapshots=valid_snapshots,
    )
    return df.with_columns(
        pl.when(pl.col("as_of") >= test_from)
        .then(pl.lit("test"))
        .when(pl.col("as_of") >= valid_from)
        .then(pl.lit("valid"))
        .otherwise(pl.lit("train"))
        .alias("split")
    )


def split_bounds(
    times: list[datetime], *, test_snapshots: int = 2, valid_snapshots: int = 1
) -> tuple[datetime, datetime]:
    """(first valid ``as_of``, first test ``as_of``) of a table whose snapshots are ``times``
    (sorted, distinct); raises ValueError when there are too few for a time split."""
    if len(times) < test_snapshots + valid_snapshots + 1:
        raise ValueError(
            f"need at least {test_snapshots + valid_snapshots + 1} weekly snapshots for a time split, got {len(times)}: simulate more weeks"
        )
    return times[-(test_snapshots + valid_snapshots)], times[-test_snapshots]


def build_training_table(
    tables: Tables,
    as_of_times: list[datetime] | None = None,
    *,
    labels_known_by: datetime | None = None,
) -> pl.DataFrame:
    """The training table of features/catalog.py: weekly snapshots, features, target, split.

    ``tables.labels`` is the label history (``features.tables.load_clean_tables`` merges the
    analysts' labels in); the target uses the labels decided before ``labels_known_by`` (None: all
    of them), the features only those decided before each row's ``as_of``.
    """
    times = as_of_times or snapshot_times(tables)
    spine = attach_target(active_spine(tables, times), tables.labels, known_by=labels_known_by)
    # sorted first: features keep the spine's order, so the table needs no sort (and no copy)
    spine = spine.sort("as_of", "user_id")
    table = build_features(spine, tables).collect()
    key = ["user_id", "as_of", "label", "typology"]
    return assign_split(table.select(*key, *[c for c in table.columns if c not in key]))


def build_scoring_table(tables: Tables, as_of: datetime) -> pl.DataFrame:
    """Features as of one instant for every user active in the 7 days before it (batch scoring)."""
    spine = active_spine(tables, [as_of])
    return build_features(spine, tables).collect().sort("user_id")
