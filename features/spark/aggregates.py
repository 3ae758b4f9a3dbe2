"""The Spark evaluator of the aggregate specs (``features.aggregates``): many (user, as_of) rows.

Time semantics are the specs' own: a window ``w`` covers ``as_of - w <= ts < as_of``,
``window=None`` all history before ``as_of``. Times are integer microseconds. The ``as_of``
instants form a short sorted list (weekly snapshots for training, one instant for scoring); a spine
row names its instant by index ``g`` into that list, so every aggregate is an equi-key group-by
on ``(user_id, g)``, Spark's cheapest shape, and no (spine x events) join is ever made.

- **Windowed specs.** A ledger row at ``ts`` is inside the window ``w`` of the instants
  ``ts < as_of <= ts + w``. Each row is repeated once per such instant (``explode`` of an index
  range found by binary search over the instants, :func:`instant_index`), up to the widest window
  its kind is read with, and all windowed specs are then conditional aggregates of one group-by
  on ``(user_id, g)``: ``count``, ``max``, ``sum``, and ``size(collect_set(...))`` for distinct
  values (no ``Expand`` of the rows per distinct aggregate). With weekly instants and a 30-day
  widest window a row is repeated about 4.3 times; for one instant, at most once.
- **All-history specs** (``Count`` and ``Max`` with ``window=None``, ``Distinct`` of all history).
  Each row goes to the first instant after it (``g0``); partial counts and maxima per
  ``(user_id, g0)`` are then carried forward by a running sum / max over ``g`` per user (one
  window function), with the spine's keys among the rows so every spine row gets its total.
- **First sightings** (``Distinct``) are rows of kind ``seen:<what>`` at their first time, so a
  ``Distinct`` spec is a ``Count`` of those rows; ``CountNew`` joins each row of its kinds to the
  first sighting of its ``column`` value.

Result types: counts ``LongType``, shares / maxima / sums ``DoubleType``; "no rows" gives 0, 0.0
or null exactly as the Polars evaluator (``_filled``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from features.aggregates import Count, CountNew, Distinct, Max, Share, Spec, Sum, Unique, micros

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

SEEN = "seen:"  # kind prefix of first-sighting rows
KEYS = ("user_id", "g")


def instant_index(x: Column, instants: Sequence[int]) -> Column:
    """How many of ``instants`` (sorted ascending, microseconds) are ``<= x``: the index of the
    first instant strictly after ``x`` (``len(instants)`` if none). A balanced tree of
    comparisons: ``log2(len(instants))`` of them per row, all in Spark's generated code."""
    from pyspark.sql import functions as F

    def node(lo: int, hi: int) -> Column:  # the answer lies in [lo, hi]
        if lo == hi:
            return F.lit(lo)
        mid = (lo + hi) // 2
        return F.when(x < F.lit(instants[mid]), node(lo, mid)).otherwise(node(mid + 1, hi))

    return node(0, len(instants))


def instant_at(g: Column, instants: Sequence[int]) -> Column:
    """The instant (microseconds) of index ``g``."""
    from pyspark.sql import functions as F

    return F.element_at(F.array(*(F.lit(t) for t in instants)), g + 1)


def spread_over_instants(
    rows: DataFrame, ts: str, width: Column, instants: Sequence[int]
) -> DataFrame:
    """``rows`` repeated once per instant ``as_of`` with ``ts < as_of <= ts + width`` (microseconds),
    with that instant's index ``g`` and value ``as_of``. Rows inside no window are dropped."""
    from pyspark.sql import functions as F

    lo = instant_index(F.col(ts), instants)
    hi = instant_index(F.col(ts) + width, instants)
    return (
        rows.withColumn("_lo", lo)
        .withColumn("_hi", hi)
        .filter(F.col("_hi") > F.col("_lo"))
        .withColumn("g", F.explode(F.sequence(F.col("_lo"), F.col("_hi") - 1)))
        .withColumn("as_of", instant_at(F.col("g"), instants))
        .drop("_lo", "_hi")
    )


def carry_forward(
    partials: DataFrame, keys: DataFrame, aggs: dict[str, str], *, by: str = "user_id"
) -> DataFrame:
    """Running totals over the instants: for each row of ``keys`` (``by, g``), the sum or max
    (``aggs``: column -> "sum" | "max") of ``partials`` (``by, g`` and those columns) over every
    ``g' <= g`` of the same ``by``; nothing there: null. The result also has a row for each
    ``(by, g)`` of ``partials``: join it to the keys to keep theirs."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    merged = (
        partials.select(by, "g", *aggs)
        .unionByName(keys.select(by, "g"), allowMissingColumns=True)
        .repartition(by)  # one shuffle serves the group-by and the window below
        .groupBy(by, "g")
        .agg(*(getattr(F, how)(c).alias(c) for c, how in aggs.items()))
    )
    upto = Window.partitionBy(by).orderBy("g").rowsBetween(Window.unboundedPreceding, 0)
    return merged.select(
        by, "g", *(getattr(F, how)(c).over(upto).alias(c) for c, how in aggs.items())
    )


def _as_count(spec: Spec) -> Spec:
    """A ``Distinct`` spec as the ``Count`` of first-sighting rows it is."""
    if isinstance(spec, Distinct):
        return Count(spec.name, (SEEN + spec.what,), window=spec.window, dtype=spec.dtype)
    return spec


def _windowed_agg(spec: Spec, first: dict[str, str]) -> Column:
    """The conditional aggregate of one windowed spec over rows spread over instants."""
    from pyspark.sql import functions as F

    assert spec.window is not None
    inside = (F.col("ts") >= F.col("as_of") - F.lit(micros(spec.window))) & F.col("kind").isin(
        list(spec.kinds)  # type: ignore[union-attr]
    )
    if isinstance(spec, Count):
        hit = inside if spec.where is None else inside & (F.col(spec.where) == 1)
        return F.count(F.when(hit, 1))
    if isinstance(spec, Share):
        hits = F.count(F.when(inside & (F.col(spec.where) == 1), 1))
        total = F.count(F.when(inside, 1))
        return F.when(total > 0, hits.cast("double") / total.cast("double"))
    if isinstance(spec, Unique):  # null counts as one value, as Polars' n_unique does
        values = F.size(F.collect_set(F.when(inside, F.col(spec.column))))
        has_null = F.max(F.when(inside & F.col(spec.column).isNull(), 1).otherwise(0))
        return values.cast("long") + has_null.cast("long")
    if isinstance(spec, Max):
        return F.max(F.when(inside, F.col(spec.column).cast("double")))
    if isinstance(spec, Sum):
        return F.sum(F.when(inside, F.col(spec.column).cast("double")))
    if isinstance(spec, CountNew):
        new = F.col(first[spec.name]) >= F.col("as_of") - F.lit(micros(spec.window))
        return F.count(F.when(inside & new, 1))
    raise TypeError(f"unknown spec {spec!r}")


def _default(spec: Spec, value: Column) -> Column:
    """The "no rows" value of a spec (0 / 0.0 / null) and its Spark type."""
    from pyspark.sql import functions as F

    if isinstance(spec, Count | Distinct | Unique | CountNew):
        return F.coalesce(value.cast("long"), F.lit(0).cast("long"))
    if isinstance(spec, Sum):
        return F.coalesce(value.cast("double"), F.lit(0.0))
    return value.cast("double")  # Share, Max: null when there are no rows


def add_aggregates(
    spine: DataFrame,
    *,
    ledger: DataFrame,
    first_seen: DataFrame,
    specs: Sequence[Spec],
    instants: Sequence[int],
) -> DataFrame:
    """``spine`` (``user_id``, ``g``: an index into ``instants``; other columns kept) plus a column
    per spec, its value for the user as of ``instants[g]``.

    ``ledger``: ``features.spark.rows.ledger`` rows (``ts`` in microseconds); ``first_seen``:
    ``features.spark.rows.first_sightings`` rows. ``instants``: sorted, distinct, microseconds.
    """
    from pyspark.sql import functions as F

    counted = [_as_count(s) for s in specs]
    seen_rows = first_seen.select(
        "user_id",
        F.col("first_ts").alias("ts"),
        F.concat(F.lit(SEEN), F.col("what")).alias("kind"),
    )
    rows = ledger.unionByName(seen_rows, allowMissingColumns=True)
    # CountNew: each row of its kinds with the first sighting of its value
    first: dict[str, str] = {}
    for s in counted:
        if isinstance(s, CountNew):
            first[s.name] = f"_first_{len(first)}"
            firsts = first_seen.filter(F.col("what") == s.what).select(
                F.col("user_id").alias("_first_user"),
                F.col("value").alias("_first_value"),
                F.col("first_ts").alias(first[s.name]),
            )
            mine = (
                (F.col("user_id") == F.col("_first_user"))
                & F.col("kind").isin(list(s.kinds))
                & (F.col(s.column) == F.col("_first_value"))
            )
            rows = rows.join(firsts, mine, how="left").drop("_first_user", "_first_value")

    keys = spine.select(*KEYS).distinct()
    out = spine
    windowed = [s for s in counted if s.window is not None]
    if windowed:
        widest: dict[str, int] = {}
        for s in windowed:
            for kind in s.kinds:  # type: ignore[union-attr]
                widest[kind] = max(widest.get(kind, 0), micros(s.window))  # type: ignore[arg-type]
        width = F.lit(None).cast("long")
        for kind, w in widest.items():
            width = F.when(F.col("kind") == kind, F.lit(w)).otherwise(width)
        spread = spread_over_instants(
            rows.filter(F.col("kind").isin(list(widest))), "ts", width, instants
        )
        values = spread.groupBy(*KEYS).agg(
            *(_windowed_agg(s, first).alias(s.name) for s in windowed)
        )
        out = out.join(values, on=list(KEYS), how="left")
    totals = [s for s in counted if s.window is None]
    if totals:
        if not all(isinstance(s, Count | Max) for s in totals):
            raise ValueError("all-history specs must be Count, Max or Distinct")
        kinds = sorted({k for s in totals for k in s.kinds})  # type: ignore[union-attr]
        g0 = instant_index(F.col("ts"), instants)
        early = rows.filter(F.col("kind").isin(kinds)).withColumn("g", g0)
        early = early.filter(F.col("g") < len(instants))
        partial_aggs = []
        for s in totals:
            mine = F.col("kind").isin(list(s.kinds))  # type: ignore[union-attr]
            if isinstance(s, Count):
                hit = mine if s.where is None else mine & (F.col(s.where) == 1)
                partial_aggs.append(F.count(F.when(hit, 1)).alias(s.name))
            else:
                column = s.column  # type: ignore[union-attr]  # a Max: Distinct became a Count
                partial_aggs.append(F.max(F.when(mine, F.col(column).cast("double"))).alias(s.name))
        partials = early.groupBy(*KEYS).agg(*partial_aggs)
        running = carry_forward(
            partials, keys, {s.name: "sum" if isinstance(s, Count) else "max" for s in totals}
        )
        out = out.join(running, on=list(KEYS), how="left")
    return out.select(
        *(c for c in spine.columns),
        *(_default(s, F.col(s.name)).alias(s.name) for s in counted),
    )
