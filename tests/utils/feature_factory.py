"""A synthetic training table in the contract of ``features/catalog.py``, for model tests.

Rows are (user, weekly ``as_of``) snapshots; ``split`` is by week (first 60% of weeks train, next
20% valid, last 20% test). Three scam typologies, each with its own planted feature:

=============== ===================== ==================================
typology        planted feature       scams vs benign (Poisson means)
=============== ===================== ==================================
fake_client     msg_contact_30d       4.0 vs 0.2
fraud_ring      shared_device_users   5.0 vs 0.3
payment_fraud   chargebacks_total     2.0 vs 0.05
=============== ===================== ==================================

A fifth of the scammers show no planted signal (they look benign), scams are younger accounts
(``account_age_days``, 5% null), and ``noise_XX`` columns (N(0, 1), 2% null) carry nothing.
Deterministic for a seed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

PLANTED: dict[str, str] = {
    "fake_client": "msg_contact_30d",
    "fraud_ring": "shared_device_users",
    "payment_fraud": "chargebacks_total",
}
_SCAM_MEAN = {"msg_contact_30d": 4.0, "shared_device_users": 5.0, "chargebacks_total": 2.0}
_BENIGN_MEAN = {"msg_contact_30d": 0.2, "shared_device_users": 0.3, "chargebacks_total": 0.05}
FIRST_AS_OF = datetime(2024, 1, 7, tzinfo=UTC)


def make_training_table(
    n_rows: int = 4_000,
    *,
    n_noise: int = 3,
    weeks: int = 10,
    scam_rate: float = 0.06,
    seed: int = 0,
) -> pl.DataFrame:
    """``n_rows`` rows with key columns then ``5 + n_noise`` feature columns."""
    rng = np.random.default_rng(seed)
    week = rng.integers(0, weeks, n_rows)
    split = np.where(
        week < round(0.6 * weeks), "train", np.where(week < round(0.8 * weeks), "valid", "test")
    )
    label = (rng.random(n_rows) < scam_rate).astype(np.int8)
    typology = np.where(label == 1, rng.choice(list(PLANTED), n_rows), "benign").astype(object)
    # A few scammers whose scam has not begun yet at as_of: typology set, label 0, benign-looking.
    pre_scam = (label == 0) & (rng.random(n_rows) < 0.01)
    typology[pre_scam] = rng.choice(list(PLANTED), int(pre_scam.sum()))
    shows_signal = (label == 1) & (rng.random(n_rows) < 0.8)

    columns: dict[str, pl.Series] = {}
    for t, feature in PLANTED.items():
        mean = np.where(shows_signal & (typology == t), _SCAM_MEAN[feature], _BENIGN_MEAN[feature])
        columns[feature] = pl.Series(feature, rng.poisson(mean), dtype=pl.Int64)
    age = rng.exponential(np.where(label == 1, 30.0, 300.0))
    age[rng.random(n_rows) < 0.05] = np.nan
    columns["account_age_days"] = pl.Series("account_age_days", age, nan_to_null=True)
    columns["messages_24h"] = pl.Series(
        "messages_24h", rng.poisson(np.where(label == 1, 6.0, 3.0)), dtype=pl.Int64
    )
    for i in range(n_noise):
        noise = rng.normal(size=n_rows)
        noise[rng.random(n_rows) < 0.02] = np.nan
        columns[f"noise_{i:02d}"] = pl.Series(f"noise_{i:02d}", noise, nan_to_null=True)

    keys = pl.DataFrame(
        {
            "user_id": [f"u{i:07d}" for i in range(n_rows)],
            "as_of": [FIRST_AS_OF + timedelta(weeks=int(w)) for w in week],
            "label": pl.Series(label, dtype=pl.Int8),
            "typology": typology.astype(str),
            "split": split,
        }
    )
    return pl.concat([keys, pl.DataFrame(list(columns.values()))], how="horizontal").sort(
        "as_of", "user_id"
    )


def benign_and_scam_twin(
    table: pl.DataFrame, feature: str = "msg_contact_30d", value: int = 15
) -> pl.DataFrame:
    """Two rows with identical, typical benign features except ``feature = value`` in the second."""
    benign = table.filter(pl.col("typology") == "benign")
    row = benign.select(pl.exclude("user_id", "as_of", "label", "typology", "split").median())
    base = pl.concat([row, row]).with_columns(pl.col(c).cast(table.schema[c]) for c in row.columns)
    return base.with_columns(
        pl.Series(feature, [0, value]).cast(table.schema[feature]),
        pl.Series("user_id", ["benign-twin", "scam-twin"]),
    )
