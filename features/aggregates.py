"""Aggregate feature definitions over the ledger, and their two evaluators.

A feature family declares its features as specs (``Count``, ``Share``, ``Distinct``, ``Unique``,
``Max``, ``Sum``, ``CountNew``): which ledger rows (``features.ledger``) or first sightings it
reads, what it aggregates, over which trailing window. A spec is evaluated two ways:

- offline, for many (user_id, as_of) rows at once, by ``add_aggregates`` (Polars);
- online, for one user at one instant, by ``evaluate_online`` over the user's state in the online
  store (``features.online``): ledger rows kept for the longest window, first sightings, and
  running totals of all-history aggregates (``total_update``).

Time semantics (both paths): a window ``w`` covers ``as_of - w <= ts < as_of``; ``window=None``
covers all history before ``as_of``. Timestamps are UTC; online they are integer microseconds
since the epoch, the physical value of the offline ``Datetime("us", "UTC")``.

Offline strategy. Counts, shares and first-sighting counts are differences of running sums: the
ledger rows of a block of users and one probe row per (spine row, window edge) are sorted by
(user, ts) with probes first at equal ``ts`` (strictly before), one cumulative sum is taken, and
the sum at the ``as_of`` probe minus the sum at the ``as_of - w`` probe is the count in the
window. No (spine x events) join. Distinct values, maxima and float sums, which do not difference,
join the spine to the (few) rows of the kinds they read. Users are processed in blocks
(``block_rows`` ledger rows each), which bounds memory at any scale.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import cast

import numpy as np
import polars as pl

US_PER_SECOND = 1_000_000


@cache
def micros(window: timedelta) -> int:
    """A window in integer microseconds (the online time unit)."""
    return window // timedelta(microseconds=1)


# ----------------------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class Count:
    """Ledger rows of ``kinds`` whose 0/1 column ``where`` is 1 (every row if None) in the window."""

    name: str
    kinds: tuple[str, ...]
    where: str | None = None
    window: timedelta | None = None
    dtype: pl.DataType = field(default_factory=pl.Int64)


@dataclass(frozen=True)
class Share:
    """Share of the ledger rows of ``kinds`` in the window whose ``where`` is 1; null when none."""

    name: str
    kinds: tuple[str, ...]
    where: str
    window: timedelta

    dtype: pl.DataType = field(default_factory=pl.Float64)


@dataclass(frozen=True)
class Distinct:
    """Identifiers of sighting ``what`` first seen in the window (``None``: all seen before as_of)."""

    name: str
    what: str
    window: timedelta | None = None
    dtype: pl.DataType = field(default_factory=pl.Int64)


@dataclass(frozen=True)
class Unique:
    """Distinct values of ledger column ``column`` among rows of ``kinds`` in the window."""

    name: str
    kinds: tuple[str, ...]
    column: str
    window: timedelta
    dtype: pl.DataType = field(default_factory=pl.Int64)


@dataclass(frozen=True)
class Max:
    """Largest ``column`` among rows of ``kinds`` in the window; null when there are none."""

    name: str
    kinds: tuple[str, ...]
    column: str
    window: timedelta | None = None
    dtype: pl.DataType = field(default_factory=pl.Float64)


@dataclass(frozen=True)
class Sum:
    """Sum of ``column`` over rows of ``kinds`` in the window; 0.0 when there are none."""

    name: str
    kinds: tuple[str, ...]
    column: str
    window: timedelta
    dtype: pl.DataType = field(default_factory=pl.Float64)


@dataclass(frozen=True)
class CountNew:
    """Rows of ``kinds`` in the window whose ``column`` value was first sighted (as ``what``) in it.

    E.g. payouts in the last 7 days to a payout instrument first used in those 7 days.
    """

    name: str
    kinds: tuple[str, ...]
    column: str
    what: str
    window: timedelta
    dtype: pl.DataType = field(default_factory=pl.Int64)


Spec = Count | Share | Distinct | Unique | Max | Sum | CountNew
_CUMULATIVE = (Count, Share, Distinct)
_ZERO_FILL = (Count, Distinct, Unique, CountNew)


def retention(specs: Sequence[Spec]) -> timedelta:
    """How long the online store must keep ledger rows: the longest window read from rows."""
    windows = [
        s.window
        for s in specs
        if not isinstance(s, Distinct) and s.window is not None  # Distinct reads sightings
    ]
    return max(windows, default=timedelta(0))


def running_totals(specs: Sequence[Spec]) -> list[Count | Max]:
    """All-history specs the online store keeps as running totals (count += 1, max = max)."""
    out: list[Count | Max] = []
    for s in specs:
        if isinstance(s, Count | Max) and s.window is None:
            out.append(s)
        elif s.window is None and not isinstance(s, Distinct):
            raise ValueError(f"{s.name}: an all-history {type(s).__name__} is not supported online")
    return out


def total_update(spec: Count | Max, row: dict) -> float | None:
    """What one ledger row (``LEDGER_SCHEMA`` dict) adds to a running total; None: nothing."""
    if row["kind"] not in spec.kinds:
        return None
    if isinstance(spec, Count):
        return float(1 if spec.where is None else row[spec.where])
    return row[spec.column]


# ------------------------------------------------------------------------------- online evaluator
@dataclass
class UserHistory:
    """One user's online state read for an instant ``as_of`` (integer microseconds).

    ``rows``: kind -> ledger rows with ``ts < as_of`` (at least the last ``retention`` of them),
    sorted by ``ts``; each a tuple of the ``fields`` columns of ``LEDGER_SCHEMA`` (``ts`` first,
    in microseconds). ``sightings``: what -> {value: first_ts}, first sightings strictly before
    ``as_of``. ``totals``: spec name -> running total of an all-history spec (None: nothing yet).
    """

    as_of: int
    fields: tuple[str, ...]
    rows: dict[str, list[tuple]]
    sightings: dict[str, dict[str | None, int]]
    totals: dict[str, float | None]
    _windows: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.fields[0] != "ts":
            raise ValueError("ledger rows must start with ts")
        self.index = {name: i for i, name in enumerate(self.fields)}

    def window(self, kinds: tuple[str, ...], window: timedelta) -> list[tuple]:
        """Rows of ``kinds`` with ``as_of - window <= ts`` (memoised: specs share windows)."""
        key = (kinds, window)
        if key not in self._windows:
            lo = self.as_of - micros(window)
            out: list[tuple] = []
            for kind in kinds:
                rows = self.rows.get(kind, ())
                out.extend(rows[bisect_left(rows, lo, key=_ts) :])
            self._windows[key] = out
        return self._windows[key]


def _ts(row: tuple) -> int:
    return row[0]


def evaluate_online(spec: Spec, history: UserHistory) -> float | None:
    """The value of ``spec`` for the user of ``history`` as of ``history.as_of``."""
    if isinstance(spec, Distinct):
        first_ts = history.sightings.get(spec.what, {}).values()
        if spec.window is None:
            return float(len(first_ts))
        lo = history.as_of - micros(spec.window)
        return float(sum(1 for t in first_ts if t >= lo))
    if spec.window is None:  # a running total (Count or Max, see running_totals)
        total = history.totals.get(spec.name)
        return (0.0 if total is None else total) if isinstance(spec, Count) else total
    rows = history.window(spec.kinds, spec.window)
    if isinstance(spec, Count):
        if spec.where is None:
            return float(len(rows))
        i = history.index[spec.where]
        return float(sum(r[i] for r in rows))
    if isinstance(spec, Share):
        i = history.index[spec.where]
        return sum(r[i] for r in rows) / len(rows) if rows else None
    i = history.index[spec.column]
    if isinstance(spec, Unique):
        return float(len({r[i] for r in rows}))
    if isinstance(spec, Max):
        values = [r[i] for r in rows if r[i] is not None]
        return max(values) if values else None
    if isinstance(spec, Sum):
        return math.fsum(r[i] for r in rows if r[i] is not None)
    if isinstance(spec, CountNew):
        lo = history.as_of - micros(spec.window)
        first = history.sightings.get(spec.what, {})
        return float(sum(1 for r in rows if first.get(r[i], lo - 1) >= lo))
    raise TypeError(f"unknown spec {spec!r}")


# ------------------------------------------------------------------------------ offline evaluator
_ROW = "_row"
_MAX_KEY = 2**62  # composite (user, time) keys stay below this (int64)


def ordered_sum(values: pl.Expr) -> pl.Expr:
    """The sum of ``values`` (floats, in a group) taken in ascending order; null for no rows.

    A float sum depends on the order of its terms, and a join hands rows to a group in thread
    order, so a plain ``sum`` can differ in the last bit between two runs on the same data.
    Polars' optimiser drops a sort before ``sum`` or ``mean`` (order-free in exact arithmetic)
    but not before a cumulative sum.
    """
    return values.sort().cum_sum().last()


def _encode_users(*frames: pl.DataFrame) -> list[pl.DataFrame]:
    """``frames`` with ``user_id`` replaced by a dense UInt32 code, the same code for the same user
    in every frame (one categorical cast over all ids at once)."""
    ids = pl.concat([f["user_id"] for f in frames]).cast(pl.Categorical).to_physical()
    out, start = [], 0
    for f in frames:
        out.append(f.with_columns(ids.slice(start, f.height).alias("user_id")))
        start += f.height
    return out


def _as_enum(column: str, frame: pl.DataFrame) -> pl.Expr:
    """A low-cardinality string column (ledger kind, sighting what) as an Enum of its values."""
    if isinstance(frame.schema[column], pl.Enum):
        return pl.col(column)
    return pl.col(column).cast(pl.Enum(frame[column].unique().drop_nulls().sort()))


def _codes_of(series: pl.Series, values: Sequence[str]) -> tuple[np.ndarray, list[int]]:
    """An Enum series as numpy codes, and the codes of ``values`` (absent values: none)."""
    categories = series.dtype.categories.to_list()  # type: ignore[attr-defined]
    return series.to_physical().to_numpy(), [categories.index(v) for v in values if v in categories]


def _micros(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    return frame.with_columns(
        pl.col(c).cast(pl.Datetime("us", "UTC")).cast(pl.Int64) for c in columns
    )


def _cumulative_block(
    keys: pl.DataFrame,
    ledger: pl.DataFrame,
    first: pl.DataFrame,
    specs: Sequence[Spec],
    *,
    lo: int,
    span: int,
    n_blocks: int,
) -> dict[str, np.ndarray]:
    """Every Count / Share / Distinct spec for one block of users, aligned with ``keys``' rows.

    Ledger rows (and, separately, first sightings) are sorted by the composite key
    ``(user, ts)``; a running sum of each 0/1 column then gives, by binary search of the probe key
    ``(user, as_of - w)``, the number of rows strictly before that instant.
    """
    out: dict[str, np.ndarray] = {}
    as_of = keys["as_of"].to_numpy()
    user_base = (keys["user_id"].to_numpy().astype(np.int64) // n_blocks) * span
    # probes in key order: binary searches of sorted needles walk the array instead of jumping
    probe_order = np.argsort(user_base + (as_of - lo))
    as_of, user_base = as_of[probe_order], user_base[probe_order]

    def stream(users: pl.Series, ts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        composite = (users.to_numpy().astype(np.int64) // n_blocks) * span + (ts.to_numpy() - lo)
        order = np.argsort(composite)
        return composite[order], order

    def running(values: np.ndarray, order: np.ndarray) -> np.ndarray:
        cs = np.zeros(len(order) + 1, dtype=np.int32)
        np.cumsum(values[order], out=cs[1:])
        return cs

    def positions(sorted_keys: np.ndarray, edges: set[timedelta | None]) -> dict:
        return {
            edge: np.searchsorted(
                sorted_keys,
                user_base if edge is None else user_base + (as_of - micros(edge) - lo),
                side="left",
            )
            for edge in edges
        }

    rows = [s for s in specs if isinstance(s, Count | Share)]
    if rows:
        sorted_keys, order = stream(ledger["user_id"], ledger["ts"])
        at = positions(sorted_keys, {timedelta(0), *(s.window for s in rows)})
        cache: dict[tuple[tuple[str, ...], str | None], np.ndarray] = {}

        def count(
            kinds: tuple[str, ...], where: str | None, window: timedelta | None
        ) -> np.ndarray:
            if (kinds, where) not in cache:
                kind, wanted = _codes_of(ledger["kind"], kinds)
                hit = np.isin(kind, wanted)
                if where is not None:
                    hit &= ledger[where].to_numpy() == 1
                cache[(kinds, where)] = running(hit.astype(np.int8), order)
            cs = cache[(kinds, where)]
            return cs[at[timedelta(0)]] - cs[at[window]]

        for s in rows:
            hits = count(s.kinds, s.where, s.window)
            if isinstance(s, Share):
                total = count(s.kinds, None, s.window)
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[s.name] = np.where(total > 0, hits / np.maximum(total, 1), np.nan)
            else:
                out[s.name] = hits
    seen = [d for d in specs if isinstance(d, Distinct)]
    if seen:
        sorted_keys, order = stream(first["user_id"], first["first_ts"])
        at = positions(sorted_keys, {timedelta(0), *(d.window for d in seen)})
        for d in seen:
            what, wanted = _codes_of(first["what"], [d.what])
            cs = running(np.isin(what, wanted).astype(np.int8), order)
            out[d.name] = cs[at[timedelta(0)]] - cs[at[d.window]]
    for name, values in out.items():  # back to the order of ``keys``
        restored = np.empty_like(values)
        restored[probe_order] = values
        out[name] = restored
    return out


def _joined_block(
    keys: pl.DataFrame, ledger: pl.DataFrame, first: pl.DataFrame, specs: Sequence[Spec]
) -> pl.DataFrame:
    """``_row`` and every Unique / Max / Sum / CountNew spec for one block of users.

    Joins each spine row to the user's rows of the spec's kinds (few rows: messages at most).
    """
    out = keys.select(_ROW)
    groups: dict[tuple[str, ...], list[Spec]] = {}
    for s in specs:
        if not isinstance(s, _CUMULATIVE):
            groups.setdefault(s.kinds, []).append(s)  # type: ignore[union-attr]
    for kinds, group in groups.items():
        rows = ledger.filter(pl.col("kind").is_in(list(kinds)))
        for s in group:
            if isinstance(s, CountNew):
                firsts = first.filter(pl.col("what") == s.what).select(
                    "user_id",
                    pl.col("value").alias(s.column),
                    pl.col("first_ts").alias(f"first:{s.name}"),
                )
                rows = rows.join(firsts, on=["user_id", s.column], how="left")
        windows = [s.window for s in group]
        keep = pl.col("ts") < pl.col("as_of")
        if all(w is not None for w in windows):
            widest = micros(max(w for w in windows if w is not None))
            keep = keep & (pl.col("ts") >= pl.col("as_of") - widest)
        aggs = []
        for s in group:
            inside = (
                pl.col("ts") >= pl.col("as_of") - micros(s.window)
                if s.window is not None
                else pl.lit(True)
            )
            if isinstance(s, Unique):
                aggs.append(pl.col(s.column).filter(inside).n_unique().alias(s.name))
            elif isinstance(s, Max):
                aggs.append(pl.col(s.column).filter(inside).max().alias(s.name))
            elif isinstance(s, Sum):
                aggs.append(ordered_sum(pl.col(s.column).filter(inside)).alias(s.name))
            elif isinstance(s, CountNew):
                new = pl.col(f"first:{s.name}") >= pl.col("as_of") - micros(s.window)
                aggs.append((inside & new).sum().alias(s.name))
        per_row = (
            keys.select(_ROW, "user_id", "as_of")
            .join(rows, on="user_id", how="inner")
            .filter(keep)
            .group_by(_ROW)
            .agg(aggs)
        )
        out = out.join(per_row, on=_ROW, how="left")
    return out


def add_aggregates(
    spine: pl.DataFrame,
    *,
    ledger: pl.DataFrame,
    first_seen: pl.DataFrame,
    specs: Sequence[Spec],
    block_rows: int = 4_000_000,
) -> pl.DataFrame:
    """``spine`` (``user_id, as_of``; other columns and the row order kept) plus every spec.

    ``ledger``: ``features.ledger.build_ledger`` rows; ``first_seen``: ``first_sightings`` rows.
    Users are split into blocks of about ``block_rows`` ledger rows; a user's features read only
    that user's rows, so blocks are exact.
    """
    keys = spine.select("user_id", "as_of").with_row_index(_ROW)
    keys, ledger, first_seen = _encode_users(keys, ledger, first_seen)
    keys = _micros(keys, "as_of")
    ledger = _micros(ledger, "ts").with_columns(_as_enum("kind", ledger))
    first_seen = _micros(first_seen, "first_ts").with_columns(_as_enum("what", first_seen))
    widest = max((micros(s.window) for s in specs if s.window is not None), default=0)
    bounds = [f[c] for f, c in ((keys, "as_of"), (ledger, "ts"), (first_seen, "first_ts"))]
    known = [int(cast(int, v)) for b in bounds for v in (b.min(), b.max()) if v is not None]
    lo = min(known) - widest if known else 0
    span = max(known) - lo + 1 if known else 1
    n_users = 1 + max(int(cast(int, f["user_id"].max() or 0)) for f in (keys, ledger, first_seen))
    n_blocks = max(
        math.ceil(ledger.height / max(block_rows, 1)),
        math.ceil(n_users * span / _MAX_KEY),
        1,
    )

    def block(frame: pl.DataFrame, b: int) -> pl.DataFrame:
        return frame if n_blocks == 1 else frame.filter(pl.col("user_id") % n_blocks == b)

    # each block's values go straight to their spine rows: no concatenation, no sort, one copy
    columns = {s.name: np.empty(keys.height, dtype=_numpy_dtype(s.dtype)) for s in specs}
    for b in range(n_blocks):
        k_block, l_block, f_block = block(keys, b), block(ledger, b), block(first_seen, b)
        cumulative = _cumulative_block(
            k_block, l_block, f_block, specs, lo=lo, span=span, n_blocks=n_blocks
        )
        joined = _joined_block(k_block, l_block, f_block, specs)
        values = joined.with_columns(pl.Series(n, v) for n, v in cumulative.items()).select(
            _ROW, *_filled(specs)
        )
        rows = values[_ROW].to_numpy()
        for s in specs:
            columns[s.name][rows] = values[s.name].to_numpy()  # nulls (floats only) become NaN
        del cumulative, joined, values
    features = pl.DataFrame(
        [pl.Series(s.name, columns.pop(s.name), nan_to_null=True).cast(s.dtype) for s in specs]
    )
    return pl.concat([spine, features], how="horizontal")


def _numpy_dtype(dtype: pl.DataType) -> np.dtype:
    return pl.Series([], dtype=dtype).to_numpy().dtype


def _filled(specs: Sequence[Spec]) -> list[pl.Expr]:
    """Each spec's column with its "no rows" value (0, 0.0 or null) and its table dtype."""
    fills = []
    for s in specs:
        expr = pl.col(s.name)
        if isinstance(s, Share):
            expr = expr.fill_nan(None)
        elif isinstance(s, _ZERO_FILL):
            expr = expr.fill_null(0)
        elif isinstance(s, Sum):
            expr = expr.fill_null(0.0)
        fills.append(expr.cast(s.dtype))
    return fills
