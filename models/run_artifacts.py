"""What a risk-model run logs beside its metrics: signature, input example, requirements,
artifacts (feature list, data window, plots) and the registered version's tags.

Used by ``models.train.log_risk_model`` inside an active MLflow run (``scamguard.tracking``).
"""

from __future__ import annotations

import tempfile
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from scamguard import tracking
from scamguard.settings import Settings

if TYPE_CHECKING:
    from .train import FittedRiskModel


def signature(feature_names: list[str]):  # type: ignore[no-untyped-def]
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, Schema

    inputs = Schema([ColSpec("double", name) for name in feature_names])
    outputs = Schema(
        [
            ColSpec("double", "risk"),
            ColSpec("string", "decision"),
            *[ColSpec("string", f"reason_{k}", required=False) for k in (1, 2, 3)],
            ColSpec(Array("string"), "reasons"),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example(fitted: FittedRiskModel, n: int = 5):  # type: ignore[no-untyped-def]
    """A few valid rows (highest risk first, so the example shows reasons) as a pandas frame."""
    import pandas as pd

    valid = fitted.splits["valid"]
    rows = np.argsort(-fitted.risk["valid"])[:n]
    return pd.DataFrame(valid.x[rows], columns=fitted.model.feature_names)


def pip_requirements(family: str = "lightgbm") -> list[str]:
    booster = {"lightgbm": "lightgbm", "xgboost": "xgboost-cpu"}[family]
    return [
        f"{p}=={package_version(p)}"
        for p in ("mlflow", booster, "scikit-learn", "numpy", "pandas", "cloudpickle")
    ]


def log_run_artifacts(fitted: FittedRiskModel, extra_dicts: dict[str, dict]) -> None:
    """``features.json``, ``data_window.json``, ``extra_dicts`` and the plots, into the active run."""
    import mlflow

    from .plots import save_all

    model = fitted.model
    mlflow.log_dict(
        {"features": model.feature_names, "descriptions": model.feature_descriptions},
        "features.json",
    )
    mlflow.log_dict(
        {
            s: {
                "as_of_min": d.as_of_min,
                "as_of_max": d.as_of_max,
                "rows": d.rows,
                "positives": int(d.y.sum()),
            }
            for s, d in fitted.splits.items()
        },
        "data_window.json",
    )
    for name, content in extra_dicts.items():
        mlflow.log_dict(content, name)
    with tempfile.TemporaryDirectory() as tmp:
        curves: dict[str, tuple[np.ndarray, np.ndarray]] = {
            s: (fitted.splits[s].y, fitted.risk[s])
            for s in ("valid", "test")
            if s in fitted.risk and 0 < fitted.splits[s].y.sum() < fitted.splits[s].rows
        }
        gain = fitted.gain if fitted.gain is not None else np.zeros(len(model.feature_names))
        save_all(curves, model.feature_names, gain, Path(tmp))
        mlflow.log_artifacts(tmp, artifact_path="plots")


def tag_version(
    settings: Settings,
    version: str,
    fitted: FittedRiskModel,
    metrics: dict[str, float],
    alias: str | None,
) -> None:
    """Tag a registered version with its test metrics, thresholds and family; move ``alias``."""
    client = tracking.client(settings)
    name = settings.risk_model_name
    for key in ("test_pr_auc", "test_roc_auc", "test_expected_cost"):
        client.set_model_version_tag(name, version, key, f"{metrics.get(key, float('nan')):.4f}")
    thresholds = fitted.model.thresholds
    client.set_model_version_tag(
        name, version, "thresholds", f"review={thresholds.review:.4f} block={thresholds.block:.4f}"
    )
    client.set_model_version_tag(name, version, "family", fitted.family)
    if alias:
        client.set_registered_model_alias(name, alias, version)
