"""Data contracts: one great-expectations suite per raw table, built from ``scamguard.schema``.

A suite checks, row by row: castability to the contract dtype, not-null (every non-nullable column
and always the time column, which partitions the clean table), allowed values, numeric ranges,
a unique primary key, foreign keys against the *accepted* ids of the referenced table (a null in a
nullable foreign key passes), and timestamps in ``[EARLIEST_TS, now]``: a time strictly after
``now`` is in the future and fails, a time equal to ``now`` passes. All times are UTC.

Flow: :func:`conform` casts a permissively read raw frame to the contract dtypes (a value that
does not cast becomes null and its raw text goes to ``<column>__uncastable``);
:func:`find_failures` validates that frame with a real ephemeral GE context and returns one row
per (row, failed expectation).

Importing this module does no work: great-expectations is slow to import and is imported inside
the functions that need it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from scamguard.schema import TableSpec

if TYPE_CHECKING:
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context import AbstractDataContext
    from great_expectations.expectations.expectation import Expectation

# Anything older is treated as a corrupt timestamp (e.g. epoch seconds read as microseconds).
EARLIEST_TS = datetime(2000, 1, 1, tzinfo=UTC)
UNCASTABLE_SUFFIX = "__uncastable"
ROW = "_row"  # 0-based position of a row in the validated frame
EXPECTATION = "_failed_expectation"
DATASOURCE = "scamguard_raw"

# What a raw string timestamp may look like; naive strings are read as UTC.
_TS_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d",
)
_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")

# Check kinds, stored in each expectation's ``meta["check"]``.
TYPE, NOT_NULL, ALLOWED, RANGE, TIME_RANGE, UNIQUE, FOREIGN_KEY = (
    "type",
    "not_null",
    "allowed_values",
    "range",
    "time_range",
    "unique",
    "foreign_key",
)


def uncastable_column(column: str) -> str:
    """Name of the helper column holding ``column``'s raw text where the cast failed, else null."""
    return column + UNCASTABLE_SUFFIX


# --- casting -----------------------------------------------------------------------------------


def _to_datetime(col: pl.Expr, source: pl.DataType, target: pl.Datetime) -> pl.Expr:
    tz = target.time_zone or "UTC"
    if isinstance(source, pl.Datetime):
        if source.time_zone is None:  # naive: the contract says raw times are UTC
            col = col.dt.replace_time_zone(tz)
        return col.dt.convert_time_zone(tz).cast(target)
    if isinstance(source, pl.Date):
        return col.cast(pl.Datetime(target.time_unit)).dt.replace_time_zone(tz)
    if source == pl.String:
        text = col.str.strip_chars()
        parsed = [
            text.str.to_datetime(fmt, time_unit=target.time_unit, time_zone=tz, strict=False)
            for fmt in _TS_FORMATS
        ]
        return pl.coalesce(parsed)
    # Integers have no unit we could trust (seconds? microseconds?): not castable.
    return pl.lit(None, dtype=target)


def _to_boolean(col: pl.Expr, source: pl.DataType) -> pl.Expr:
    if source == pl.Boolean:
        return col
    if source == pl.String:
        text = col.str.strip_chars().str.to_lowercase()
        return pl.when(text.is_in(_TRUE)).then(True).when(text.is_in(_FALSE)).then(False)
    if source.is_numeric():
        return pl.when(col == 1).then(True).when(col == 0).then(False)
    return pl.lit(None, dtype=pl.Boolean)


def _decode_utf8(value: bytes) -> str | None:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _text(column: str, source: pl.DataType) -> pl.Expr:
    """``column`` as text, null where it has none (invalid UTF-8, lists, structs)."""
    col = pl.col(column)
    if source.is_nested():
        return pl.lit(None, dtype=pl.String)
    if source == pl.Binary:  # polars refuses invalid UTF-8 even when not strict; rare: per value
        return col.map_elements(_decode_utf8, return_dtype=pl.String, skip_nulls=True)
    return col.cast(pl.String, strict=False)


def _cast(column: str, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    """``column`` cast from its raw dtype to the contract dtype; null where it does not cast."""
    col = pl.col(column)
    if source == target:
        return col
    if source.is_nested():  # a list or struct is never one scalar value
        return pl.lit(None, dtype=target)
    if source == pl.Binary:  # read as UTF-8 text, then cast like text
        col, source = _text(column, source), pl.String()
        if target == pl.String:
            return col
    if isinstance(target, pl.Datetime):
        return _to_datetime(col, source, target)
    if target == pl.Boolean:
        return _to_boolean(col, source)
    if target == pl.String:
        return col.cast(pl.String, strict=False)
    if source == pl.String and target.is_numeric():
        col = col.str.strip_chars()
    return col.cast(target, strict=False)


def _as_text(column: str, source: pl.DataType) -> pl.Expr:
    """The raw value as text, for quarantine; a placeholder naming the dtype if it has none."""
    return _text(column, source).fill_null(f"<{source}>")


def conform(raw: pl.DataFrame, spec: TableSpec) -> pl.DataFrame:
    """Cast ``raw`` (any dtypes) to ``spec``'s columns, never raising on a bad value.

    Returns the contract columns in contract dtypes, followed by one ``<column>__uncastable``
    String column each: the raw value as text where it was non-null but did not cast (the typed
    value is then null), else null. A contract column missing from ``raw`` is all null; columns
    not in the contract are dropped. Row order is kept.
    """
    typed: list[pl.Expr] = []
    helpers: list[pl.Expr] = []
    for name, dtype in spec.columns.items():
        helper = uncastable_column(name)
        if name not in raw.columns:
            typed.append(pl.repeat(None, raw.height, dtype=dtype).alias(name))
            helpers.append(pl.repeat(None, raw.height, dtype=pl.String).alias(helper))
            continue
        source = raw.schema[name]
        value = _cast(name, source, dtype)
        typed.append(value.alias(name))
        if source == dtype:
            helpers.append(pl.lit(None, dtype=pl.String).alias(helper))
        else:
            as_text = _as_text(name, source)
            failed = pl.col(name).is_not_null() & value.is_null()
            helpers.append(pl.when(failed).then(as_text).otherwise(None).alias(helper))
    return raw.select(typed + helpers)


# --- suites ------------------------------------------------------------------------------------


def _label(expectation_type: str, column: str) -> str:
    return f"{expectation_type}({column})"


def _meta(check: str, column: str, expectation_type: str) -> dict[str, str]:
    return {"check": check, "column": column, "label": _label(expectation_type, column)}


def _type_checks(spec: TableSpec) -> list[Expectation]:
    import great_expectations.expectations as gxe

    # GE runs "be null" on the helper column; the row is reported as a type failure of the column.
    return [
        gxe.ExpectColumnValuesToBeNull(
            column=uncastable_column(name),
            meta=_meta(TYPE, name, "expect_column_values_to_be_of_type"),
            description=f"{name} casts to {dtype}",
        )
        for name, dtype in spec.columns.items()
    ]


def _not_null_checks(spec: TableSpec) -> list[Expectation]:
    import great_expectations.expectations as gxe

    required = [c for c in spec.columns if c not in spec.nullable or c == spec.time_column]
    return [
        gxe.ExpectColumnValuesToNotBeNull(
            column=c, meta=_meta(NOT_NULL, c, "expect_column_values_to_not_be_null")
        )
        for c in required
    ]


def _value_checks(spec: TableSpec) -> list[Expectation]:
    import great_expectations.expectations as gxe

    checks: list[Expectation] = [
        gxe.ExpectColumnValuesToBeInSet(
            column=c,
            value_set=list(values),
            meta=_meta(ALLOWED, c, "expect_column_values_to_be_in_set"),
        )
        for c, values in spec.allowed_values.items()
    ]
    checks += [
        gxe.ExpectColumnValuesToBeBetween(
            column=c,
            min_value=low,
            max_value=high,
            meta=_meta(RANGE, c, "expect_column_values_to_be_between"),
        )
        for c, (low, high) in spec.ranges.items()
    ]
    return checks


def _time_checks(spec: TableSpec, now: datetime) -> list[Expectation]:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToBeBetween(
            column=c,
            min_value=EARLIEST_TS,
            max_value=now,
            meta=_meta(TIME_RANGE, c, "expect_column_values_to_be_between"),
            description=f"{c} in [{EARLIEST_TS.isoformat()}, now={now.isoformat()}]",
        )
        for c, dtype in spec.columns.items()
        if isinstance(dtype, pl.Datetime)
    ]


def _key_checks(spec: TableSpec, reference_ids: Mapping[str, Collection[str]]) -> list[Expectation]:
    import great_expectations.expectations as gxe

    checks: list[Expectation] = []
    if spec.primary_key is not None:
        checks.append(
            gxe.ExpectColumnValuesToBeUnique(
                column=spec.primary_key,
                meta=_meta(UNIQUE, spec.primary_key, "expect_column_values_to_be_unique"),
            )
        )
    for fk in spec.foreign_keys:
        if fk.table not in reference_ids:
            raise KeyError(f"{spec.name}.{fk.column}: no accepted ids given for table {fk.table!r}")
        checks.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=fk.column,
                value_set=list(reference_ids[fk.table]),
                meta=_meta(FOREIGN_KEY, fk.column, "expect_column_values_to_be_in_set"),
                description=f"{fk.column} references an accepted {fk.table} row",
            )
        )
    return checks


def build_suite(
    spec: TableSpec,
    *,
    now: datetime,
    reference_ids: Mapping[str, Collection[str]],
) -> ExpectationSuite:
    """The GE suite for one table, to run on the output of :func:`conform`.

    ``now`` (tz-aware UTC) is the latest admissible timestamp: later times are in the future.
    ``reference_ids`` maps each table named by a foreign key to the ids *accepted* from it.
    Every expectation carries ``meta`` = ``{"check", "column", "label"}``; ``label`` (e.g.
    ``expect_column_values_to_not_be_null(user_id)``) is what quarantine reports.
    """
    import great_expectations as gx

    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    expectations = [
        *_type_checks(spec),
        *_not_null_checks(spec),
        *_value_checks(spec),
        *_time_checks(spec, now),
        *_key_checks(spec, reference_ids),
    ]
    suite = gx.ExpectationSuite(name=f"raw_{spec.name}", expectations=expectations)
    # ExpectationSuite logs and drops an invalid expectation instead of raising: refuse that.
    if len(suite.expectations) != len(expectations):
        raise ValueError(f"suite {suite.name}: an expectation was rejected by great-expectations")
    return suite


def expectation_label(expectation: Expectation) -> str:
    """What quarantine calls a failed expectation: ``<expectation type>(<contract column>)``."""
    meta = expectation.meta or {}
    return meta.get("label") or _label(expectation.expectation_type, str(expectation.column))  # type: ignore[attr-defined]


# --- validating --------------------------------------------------------------------------------


def make_context() -> AbstractDataContext:
    """An in-memory GE context (nothing written to disk) with progress bars off."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def _batch_definition(context: AbstractDataContext, asset_name: str) -> Any:
    datasource: Any
    try:
        datasource = context.data_sources.get(DATASOURCE)
    except KeyError:
        datasource = context.data_sources.add_pandas(DATASOURCE)
    try:
        asset = datasource.get_asset(asset_name)
    except LookupError:
        asset = datasource.add_dataframe_asset(name=asset_name)
    try:
        return asset.get_batch_definition("whole")
    except KeyError:
        return asset.add_batch_definition_whole_dataframe("whole")


_RESULT_FORMAT = {
    "result_format": "COMPLETE",  # every failing row index, not just the first 20
    "exclude_unexpected_values": True,  # we need indices, not the values
    "return_unexpected_index_query": False,  # a pandas "query" is a giant index string
    "partial_unexpected_count": 0,
}


def run_suite(
    frame: pl.DataFrame,
    suite: ExpectationSuite,
    *,
    context: AbstractDataContext,
    asset_name: str,
) -> list[tuple[dict[str, str], np.ndarray]]:
    """Run ``suite`` on ``frame``: per expectation, its ``meta`` and the failing row positions.

    Raises ``RuntimeError`` if an expectation could not be evaluated (a broken check must not
    read as "no failures").
    """
    columns = sorted({str(e.column) for e in suite.expectations})  # type: ignore[attr-defined]
    batch = _batch_definition(context, asset_name).get_batch(
        batch_parameters={"dataframe": frame.select(columns).to_pandas()}
    )
    result = batch.validate(suite, result_format=_RESULT_FORMAT)
    out: list[tuple[dict[str, str], np.ndarray]] = []
    for r in result.results:
        info = r.exception_info or {}
        if info.get("raised_exception"):
            raise RuntimeError(
                f"{suite.name}: {r.expectation_config.type} failed to run: "
                f"{info.get('exception_message')}"
            )
        index = r.result.get("unexpected_index_list") or []
        out.append((dict(r.expectation_config.meta), np.asarray(index, dtype=np.int64)))
    return out


def _apply_policy(
    frame: pl.DataFrame, spec: TableSpec, failed: list[tuple[dict[str, str], np.ndarray]]
) -> list[tuple[dict[str, str], np.ndarray]]:
    """Ingest policy on top of GE's verdicts.

    - A duplicated primary key: the first occurrence (in row order) is kept; only later ones
      fail uniqueness. (GE flags every member of a duplicate group.)
    - A value that did not cast is reported as a type failure only, not also as null.
    """
    untyped = {m["column"]: idx for m, idx in failed if m["check"] == TYPE}
    first: np.ndarray | None = None
    if spec.primary_key is not None:
        first = frame.get_column(spec.primary_key).is_first_distinct().to_numpy()
    out = []
    for meta, idx in failed:
        if meta["check"] == UNIQUE and first is not None:
            idx = idx[~first[idx]]
        elif meta["check"] == NOT_NULL and meta["column"] in untyped:
            idx = np.setdiff1d(idx, untyped[meta["column"]], assume_unique=True)
        out.append((meta, idx))
    return out


def find_failures(
    frame: pl.DataFrame,
    spec: TableSpec,
    *,
    now: datetime,
    reference_ids: Mapping[str, Collection[str]],
    context: AbstractDataContext | None = None,
) -> pl.DataFrame:
    """Validate a :func:`conform`-ed frame; one row per (row position, failed expectation label).

    Columns: ``_row`` (UInt32, 0-based position in ``frame``) and ``_failed_expectation``
    (String), ordered by row then by the suite's order. A row absent from the result passed.
    See :func:`build_suite` for ``now`` and ``reference_ids``.
    """
    suite = build_suite(spec, now=now, reference_ids=reference_ids)
    order = {expectation_label(e): i for i, e in enumerate(suite.expectations)}
    if frame.height == 0:
        return pl.DataFrame(schema={ROW: pl.UInt32, EXPECTATION: pl.String})
    failed = run_suite(frame, suite, context=context or make_context(), asset_name=spec.name)
    failed = _apply_policy(frame, spec, failed)
    parts = [
        pl.DataFrame(
            {
                ROW: idx.astype(np.uint32),
                EXPECTATION: meta["label"],
                "_order": order[meta["label"]],
            },
            schema={ROW: pl.UInt32, EXPECTATION: pl.String, "_order": pl.Int32},
        )
        for meta, idx in failed
        if idx.size
    ]
    if not parts:
        return pl.DataFrame(schema={ROW: pl.UInt32, EXPECTATION: pl.String})
    return pl.concat(parts).sort(ROW, "_order").drop("_order")
