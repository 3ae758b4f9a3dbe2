"""Ingest with real great-expectations suites: bad rows are quarantined with the check named."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines import contracts
from pipelines.ingest import (
    INGESTED_AT,
    QUARANTINE_FILE,
    IngestReport,
    ingest,
    read_raw,
)
from scamguard.io import raw_files, read_table
from scamguard.schema import LOAD_ORDER, TABLES
from tests.utils.raw_factory import (
    NOW,
    add_raw_file,
    frame,
    job,
    label,
    login,
    message,
    payment,
    proposal,
    user,
    valid_raw_tables,
    write_raw,
)

FAILED = contracts.EXPECTATION


def _with_bad_rows() -> dict[str, pl.DataFrame]:
    """The valid dataset plus one planted bad row per kind of failure (ids start with ``bad``)."""
    tables = valid_raw_tables()

    def plant(table: str, rows: list[dict]) -> None:
        tables[table] = pl.concat([tables[table], frame(table, rows)])

    plant(
        "users",
        [
            user(None, email_domain="null-id.example"),
            user("bad_role", "admin"),
            user("bad_two", "admin", kyc_status="bogus"),
        ],
    )
    plant(
        "jobs",
        [
            job("bad_budget", "u1", budget=-5.0),
            job("bad_nan", "u1", budget=float("nan")),
            job("j1", "u1", days=9, title="duplicate"),  # a later file than the first j1
            job("bad_client", "bad_role"),  # its client was quarantined
        ],
    )
    plant(
        "logins",
        [
            login("bad_future", "u1", days=150),  # 2024-07-29, after NOW
            login("bad_ancient", "u1", days=-9000),  # 1999
            login("bad_null_ts", "u2", ts=None),
        ],
    )
    plant(
        "proposals",
        [proposal("bad_job", "bad_budget", "u2")],  # its job was quarantined
    )
    plant(
        "messages",
        [
            message("bad_ghost", "ghost", "u2"),
            message("bad_quarantined_sender", "bad_role", "u2"),
            message("bad_job_ref", "u1", "u2", "no_such_job"),
        ],
    )
    plant("payments", [payment("bad_kind", "u1", "u2", kind="gift")])
    plant("labels", [label("u2", "alien")])
    return tables


def _add_mistyped_files(raw_dir: Path) -> None:
    """Files whose dtypes break the contract: text in a float column and in a timestamp column."""
    jobs = frame("jobs", [job("bad_type", "u1"), job("j_text_ok", "u4")]).with_columns(
        pl.Series("budget_usd", ["lots", " 12.5 "])
    )
    add_raw_file(raw_dir, "jobs", jobs, date="2024-03-20", name="typed-badly.parquet")
    logins = frame("logins", [login("bad_ts_text", "u1"), login("l_text_ok", "u1")]).with_columns(
        pl.Series("ts", ["not-a-date", "2024-03-05T10:00:00Z"])
    )
    add_raw_file(raw_dir, "logins", logins, date="2024-03-20", name="typed-badly.parquet")


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    out = {k: root / k for k in ("raw", "clean", "quarantine")}
    write_raw(_with_bad_rows(), out["raw"])
    _add_mistyped_files(out["raw"])
    return out


@pytest.fixture(scope="module")
def report(dirs: dict[str, Path]) -> IngestReport:
    return ingest(dirs["raw"], dirs["clean"], dirs["quarantine"], now=NOW)


def _quarantine(dirs: dict[str, Path], table: str) -> pl.DataFrame:
    return pl.read_parquet(dirs["quarantine"] / table / QUARANTINE_FILE)


def _failure_of(dirs: dict[str, Path], table: str, **match: str) -> str:
    q = _quarantine(dirs, table)
    hit = q.filter(*(pl.col(c) == v for c, v in match.items()))
    assert hit.height == 1, f"{table}: {match} quarantined {hit.height} times\n{q}"
    return hit.item(0, FAILED)


def _raw_row_count(raw_dir: Path, table: str) -> int:
    return sum(
        pl.read_parquet(p, hive_partitioning=False).height for p in raw_files(raw_dir, table)
    )


@pytest.mark.parametrize(
    ("table", "match", "expected"),
    [
        (
            "users",
            {"email_domain": "null-id.example"},
            "expect_column_values_to_not_be_null(user_id)",
        ),
        ("users", {"user_id": "bad_role"}, "expect_column_values_to_be_in_set(role)"),
        (
            "users",
            {"user_id": "bad_two"},
            "expect_column_values_to_be_in_set(role); expect_column_values_to_be_in_set(kyc_status)",
        ),
        ("jobs", {"job_id": "bad_budget"}, "expect_column_values_to_be_between(budget_usd)"),
        ("jobs", {"job_id": "bad_nan"}, "expect_column_values_to_not_be_null(budget_usd)"),
        ("jobs", {"job_id": "j1"}, "expect_column_values_to_be_unique(job_id)"),
        ("jobs", {"job_id": "bad_client"}, "expect_column_values_to_be_in_set(client_id)"),
        ("jobs", {"job_id": "bad_type"}, "expect_column_values_to_be_of_type(budget_usd)"),
        ("logins", {"login_id": "bad_future"}, "expect_column_values_to_be_between(ts)"),
        ("logins", {"login_id": "bad_ancient"}, "expect_column_values_to_be_between(ts)"),
        ("logins", {"login_id": "bad_null_ts"}, "expect_column_values_to_not_be_null(ts)"),
        ("logins", {"login_id": "bad_ts_text"}, "expect_column_values_to_be_of_type(ts)"),
        ("proposals", {"proposal_id": "bad_job"}, "expect_column_values_to_be_in_set(job_id)"),
        ("messages", {"message_id": "bad_ghost"}, "expect_column_values_to_be_in_set(sender_id)"),
        (
            "messages",
            {"message_id": "bad_quarantined_sender"},
            "expect_column_values_to_be_in_set(sender_id)",
        ),
        ("messages", {"message_id": "bad_job_ref"}, "expect_column_values_to_be_in_set(job_id)"),
        ("payments", {"payment_id": "bad_kind"}, "expect_column_values_to_be_in_set(kind)"),
        ("labels", {"user_id": "u2"}, "expect_column_values_to_be_in_set(label)"),
    ],
)
def test_bad_row_is_quarantined_with_the_failed_expectation_named(
    report: IngestReport, dirs: dict[str, Path], table: str, match: dict[str, str], expected: str
) -> None:
    assert _failure_of(dirs, table, **match) == expected


def test_quarantine_keeps_the_raw_text_of_a_value_that_did_not_cast(
    report: IngestReport, dirs: dict[str, Path]
) -> None:
    q = _quarantine(dirs, "jobs").filter(pl.col("job_id") == "bad_type")
    assert q.item(0, "budget_usd") == "lots"
    assert q.schema[INGESTED_AT] == pl.Datetime("us", "UTC")


def test_good_rows_are_accepted(report: IngestReport, dirs: dict[str, Path]) -> None:
    clean = {name: read_table(dirs["clean"], name) for name in LOAD_ORDER}
    for name, df in valid_raw_tables().items():
        pk = TABLES[name].primary_key
        assert pk is not None, name
        assert set(df[pk]) <= set(clean[name][pk]), name
    # Castable text is cast; the first of two duplicated keys wins.
    jobs = clean["jobs"]
    assert jobs.filter(pl.col("job_id") == "j_text_ok").item(0, "budget_usd") == 12.5
    assert jobs.filter(pl.col("job_id") == "j1").item(0, "title") == "Build a site"
    assert "l_text_ok" in clean["logins"]["login_id"].to_list()
    assert clean["messages"].filter(pl.col("message_id") == "m2").item(0, "job_id") is None
    assert not any(str(i).startswith("bad") for t in clean.values() for i in t[t.columns[0]])


def test_rows_in_equals_accepted_plus_quarantined_for_every_table(
    report: IngestReport, dirs: dict[str, Path]
) -> None:
    assert [t.table for t in report.tables] == list(LOAD_ORDER)
    for t in report.tables:
        assert t.rows_in == _raw_row_count(dirs["raw"], t.table) > 0
        assert t.rows_in == t.accepted + t.quarantined
        assert read_table(dirs["clean"], t.table).height == t.accepted
        assert _quarantine(dirs, t.table).height == t.quarantined
    assert report.rows_in == report.accepted + report.quarantined
    assert report.table("users").quarantined == 3
    assert report.table("logins").failures["expect_column_values_to_be_between(ts)"] == 2


def test_rerun_replaces_outputs_with_identical_counts(
    report: IngestReport, dirs: dict[str, Path]
) -> None:
    again = ingest(dirs["raw"], dirs["clean"], dirs["quarantine"], now=NOW)
    assert again.tables == report.tables
    for name in LOAD_ORDER:
        clean = read_table(dirs["clean"], name)
        pk = TABLES[name].primary_key
        assert pk is not None, name
        assert clean.height == report.table(name).accepted
        assert clean[pk].n_unique() == clean.height
        assert _quarantine(dirs, name).height == report.table(name).quarantined
    assert not list(dirs["clean"].glob("*.tmp")) and not list(dirs["quarantine"].glob("*.tmp"))


def test_rich_rows_end_with_totals(report: IngestReport) -> None:
    rows = report.rich_rows()
    assert len(rows) == len(LOAD_ORDER) + 1
    assert all(len(r) == len(IngestReport.COLUMNS) for r in rows)
    assert rows[-1][:4] == (
        "total",
        f"{report.rows_in:,}",
        f"{report.accepted:,}",
        f"{report.quarantined:,}",
    )


def test_a_valid_dataset_is_fully_accepted(tmp_path: Path) -> None:
    raw = valid_raw_tables()
    write_raw(raw, tmp_path / "raw")
    report = ingest(tmp_path / "raw", tmp_path / "clean", tmp_path / "q", now=NOW)
    assert report.quarantined == 0
    for name, df in raw.items():
        clean = read_table(tmp_path / "clean", name)
        assert clean.sort(clean.columns[0]).equals(df.sort(df.columns[0])), name


def test_a_missing_raw_table_reads_as_empty(tmp_path: Path) -> None:
    df = read_raw(tmp_path, TABLES["reports"])
    assert df.height == 0
    assert df.select(list(TABLES["reports"].columns)).schema == TABLES["reports"].schema


def test_conform_casts_text_and_keeps_what_did_not_cast() -> None:
    spec = TABLES["jobs"]
    raw = frame("jobs", [job("a", "u"), job("b", "u"), job("c", "u")]).with_columns(
        pl.Series("budget_usd", ["1e3", "abc", None])
    )
    out = contracts.conform(raw, spec)
    assert out["budget_usd"].to_list() == [1000.0, None, None]
    assert out[contracts.uncastable_column("budget_usd")].to_list() == [None, "abc", None]
    assert out.select(list(spec.columns)).schema == spec.schema


def test_suite_checks_keys_and_refuses_a_naive_now() -> None:
    spec = TABLES["messages"]
    suite = contracts.build_suite(spec, now=NOW, reference_ids={"users": ["u1"], "jobs": []})
    labels = [contracts.expectation_label(e) for e in suite.expectations]
    assert "expect_column_values_to_be_unique(message_id)" in labels
    assert "expect_column_values_to_not_be_null(job_id)" not in labels  # nullable foreign key
    assert "expect_column_values_to_be_in_set(job_id)" in labels
    with pytest.raises(ValueError):
        contracts.build_suite(spec, now=NOW.replace(tzinfo=None), reference_ids={})


def test_conform_reads_naive_and_text_times_as_utc_and_refuses_integers() -> None:
    raw = pl.DataFrame(
        {
            "login_id": ["a", "b", "c", "d"],
            "ts": ["2024-03-05 10:00:00", "2024-03-05T12:00:00+02:00", "2024-03-05", "1709632800"],
        }
    )
    out = contracts.conform(raw, TABLES["logins"])
    expected = [datetime(2024, 3, 5, 10, tzinfo=UTC)] * 2 + [datetime(2024, 3, 5, tzinfo=UTC), None]
    assert out["ts"].to_list() == expected
    assert out["ts__uncastable"].to_list() == [None, None, None, "1709632800"]
    assert out["user_id"].null_count() == 4  # a missing column reads as null

    naive = pl.DataFrame({"ts": [datetime(2024, 3, 5, 10)], "success": [b"no"]})
    out = contracts.conform(naive, TABLES["logins"])
    assert out["ts"].to_list() == [datetime(2024, 3, 5, 10, tzinfo=UTC)]
    assert out["success"].to_list() == [False]
    ints = contracts.conform(pl.DataFrame({"ts": [1_709_632_800]}), TABLES["logins"])
    assert ints["ts"].to_list() == [None] and ints["ts__uncastable"].to_list() == ["1709632800"]
