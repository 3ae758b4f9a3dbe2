"""The feature table's key columns and a plain-words description of every feature.

The training table (``<data_dir>/features/training.parquet``) has one row per (user, as_of):
``user_id`` (str), ``as_of`` (UTC datetime; features use events strictly before it), ``label``
(int8: 1 if the user is a scammer whose scam had begun before ``as_of``), ``typology`` (str,
"benign" or a scam typology), ``split`` (str: train / valid / test, by ``as_of`` week), then
numeric feature columns (Float64 / Int64; null means "no data").
"""

from __future__ import annotations

KEY_COLUMNS: tuple[str, ...] = ("user_id", "as_of", "label", "typology", "split")

# feature name -> what a high value means, in words an analyst reads in a reason code
FEATURE_DESCRIPTIONS: dict[str, str] = {}


def describe_feature(name: str) -> str:
    """Words for a feature in a reason code; falls back to the column name."""
    return FEATURE_DESCRIPTIONS.get(name, name.replace("_", " "))


def feature_columns(columns: list[str]) -> list[str]:
    """The model's input columns: every column that is not a key column, in table order."""
    return [c for c in columns if c not in KEY_COLUMNS]
