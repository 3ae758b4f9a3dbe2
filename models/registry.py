"""Load the registered risk model by alias into an in-memory scorer (batch scoring, the endpoint).

The alias is resolved to a version once, that exact version is loaded, and nothing is fetched
again: a :class:`RiskScorer` keeps working if the tracking server goes away after loading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from scamguard import tracking
from scamguard.settings import Settings

from .decisions import Thresholds

if TYPE_CHECKING:
    import pandas as pd

    from .pyfunc import TreeRiskModel


def _score_schema() -> dict[str, pl.DataType]:
    return {
        "risk": pl.Float64(),
        "decision": pl.String(),
        "reason_1": pl.String(),
        "reason_2": pl.String(),
        "reason_3": pl.String(),
        "reasons": pl.List(pl.String()),
    }


@dataclass(frozen=True)
class RiskScorer:
    """A loaded risk model, held in memory: ``score`` does no I/O and never reloads."""

    model_version: str  # registry version, e.g. "3"
    model_uri: str  # models:/<name>/<version>
    alias: str | None
    run_id: str | None
    model: TreeRiskModel = field(repr=False)  # LightGBM RiskModel or XGBoost XGBRiskModel

    @property
    def family(self) -> str:
        """The booster family: "lightgbm" or "xgboost"."""
        return self.model.family

    @property
    def feature_names(self) -> list[str]:
        return list(self.model.feature_names)

    @property
    def thresholds(self) -> Thresholds:
        return self.model.thresholds

    def _check_columns(self, df: pl.DataFrame | pd.DataFrame) -> None:
        columns = set(df.columns)
        missing = [c for c in self.model.feature_names if c not in columns]
        if missing:
            raise ValueError(
                f"input is missing {len(missing)} feature column(s): {', '.join(missing)}"
            )

    def _matrix(self, df: pl.DataFrame | pd.DataFrame) -> np.ndarray:
        """Feature columns as float64 [N, F] in model order (null -> NaN)."""
        from .pyfunc import feature_matrix

        self._check_columns(df)
        names = self.model.feature_names
        if isinstance(df, pl.DataFrame):
            return (
                df.select(pl.col(names).cast(pl.Float64)).to_numpy().astype(np.float64, copy=False)
            )
        return feature_matrix(df, names)

    def risk(self, df: pl.DataFrame | pd.DataFrame) -> np.ndarray:
        """Calibrated risks [N] only (no decisions or reasons; several times cheaper than ``score``)."""
        return self.model.risk_from_matrix(self._matrix(df))

    def score(self, df: pl.DataFrame | pd.DataFrame) -> pl.DataFrame:
        """Risk, decision and reasons for each row of ``df``, in row order.

        ``df`` holds the feature columns (extra columns such as ``user_id`` are ignored; null
        values mean "no data"). Returns columns ``risk``, ``decision``, ``reason_1..3`` (String,
        null when fewer positive contributions) and ``reasons`` (List[String]). Raises ValueError
        naming any missing feature columns.
        """
        cols = self.model.explain_matrix(self._matrix(df))
        return pl.DataFrame(
            {
                **cols,
                "risk": np.asarray(cols["risk"], dtype=np.float64),
                "decision": cols["decision"].tolist(),
            },
            schema=_score_schema(),
        )

    def score_one(self, features: Mapping[str, float | None]) -> dict[str, Any]:
        """``score`` of one row given as a mapping ``name -> value`` (absent or None: no data),
        without building a DataFrame: the endpoint's path, several times cheaper for one row.

        Returns ``{"risk": float, "decision": str, "reason_1".."reason_3": str | None,
        "reasons": list[str]}``, equal to ``score(frame).row(0, named=True)`` for the same row.
        """
        names = self.model.feature_names
        x = np.fromiter(
            (np.nan if (v := features.get(n)) is None else v for n in names),
            dtype=np.float64,
            count=len(names),
        ).reshape(1, -1)  # [1, F]
        cols = self.model.explain_matrix(x)
        return {
            "risk": float(cols["risk"][0]),
            "decision": str(cols["decision"][0]),
            **{f"reason_{k}": cols[f"reason_{k}"][0] for k in (1, 2, 3)},
            "reasons": list(cols["reasons"][0]),
        }


def load_scorer(settings: Settings, alias: str = "champion") -> RiskScorer:
    """The model that ``alias`` of ``settings.risk_model_name`` points at, loaded into memory.

    Resolves ``models:/<name>@<alias>`` to its version first and loads that exact version, so
    ``model_version`` always matches the model served even if the alias moves meanwhile.
    """
    version = tracking.resolve_alias(
        settings, settings.risk_model_name, alias, hint="run `scamguard train` first"
    )
    model = tracking.load_python_model(settings, version)
    return RiskScorer(
        model_version=version.version,
        model_uri=version.uri,
        alias=alias,
        run_id=version.run_id,
        model=model,
    )
