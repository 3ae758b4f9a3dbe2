"""The champion's training reference: what the monitors compare each day with.

For the model version that ``champion`` points at, from its MLflow run's ``data_window.json``:

* ``features``: the feature rows of its train and valid snapshots, from the training table
  ``features/training.parquet`` when it still holds them, else rebuilt from the clean tables at
  the same weekly ``as_of`` instants (the same definitions, point in time);
* ``risk``: the champion's risk on those rows (the reference for score drift);
* ``texts``: the distinct message, job and proposal texts sent before the end of that window
  (what the models were trained on, for emerging patterns).

The first monitor run for a version writes them under ``<data_dir>/monitoring/reference/v<N>/``
and later runs read them back, so the reference stays fixed while the training table is rebuilt.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from features.build import SNAPSHOT_EVERY, active_spine, build_features
from features.tables import load_clean_tables
from scamguard import tracking
from scamguard.settings import Settings

MAX_ROWS = 200_000  # reference feature rows kept (a deterministic sample beyond)
REFERENCE_SPLITS = ("train", "valid")


@dataclass(frozen=True)
class Reference:
    model_version: str
    window_start: datetime  # first as_of of the reference rows
    window_end: datetime  # last as_of: texts strictly before it are the training texts
    features: pl.DataFrame  # user_id, as_of, then the model's feature columns
    risk: np.ndarray  # [N] the champion's risk on ``features``
    texts: pl.DataFrame  # text (distinct), source

    @property
    def feature_names(self) -> list[str]:
        return [c for c in self.features.columns if c not in ("user_id", "as_of")]


def reference_dir(settings: Settings, model_version: str) -> Path:
    return settings.data_dir / "monitoring" / "reference" / f"v{model_version}"


def _data_window(settings: Settings, run_id: str | None) -> dict[str, Any]:
    if not run_id:
        raise LookupError("the champion has no training run to take its data window from")
    with tempfile.TemporaryDirectory() as tmp:
        path = tracking.client(settings).download_artifacts(run_id, "data_window.json", tmp)
        return json.loads(Path(path).read_text())


def _window(data_window: dict[str, Any]) -> tuple[datetime, datetime]:
    splits = [data_window[s] for s in REFERENCE_SPLITS if s in data_window]
    if not splits:
        raise LookupError(f"data_window.json has none of the splits {REFERENCE_SPLITS}")
    start = min(datetime.fromisoformat(str(s["as_of_min"])) for s in splits)
    end = max(datetime.fromisoformat(str(s["as_of_max"])) for s in splits)
    return start, end


def _feature_rows(
    settings: Settings, names: list[str], start: datetime, end: datetime
) -> pl.DataFrame:
    path = settings.features_dir / "training.parquet"
    if path.exists():
        table = pl.scan_parquet(path)
        if set(names) <= set(table.collect_schema().names()):
            rows = (
                table.filter(
                    pl.col("split").is_in(REFERENCE_SPLITS) & pl.col("as_of").is_between(start, end)
                )
                .select("user_id", "as_of", *names)
                .collect()
            )
            if rows.height:
                return rows
    times = []
    t = end
    while t >= start:
        times.append(t)
        t -= SNAPSHOT_EVERY
    tables = load_clean_tables(settings)
    spine = active_spine(tables, sorted(times)).sort("as_of", "user_id")
    return build_features(spine, tables).collect().select("user_id", "as_of", *names)


def _texts(settings: Settings, end: datetime) -> pl.DataFrame:
    from monitoring.patterns import texts_between

    frame = texts_between(load_clean_tables(settings), None, end)
    return frame.group_by("text").agg(pl.col("source").first()).sort("text")


def load_reference(settings: Settings, scorer: Any) -> Reference:
    """The reference of ``scorer``'s model version (a :class:`models.registry.RiskScorer`),
    read from its folder or built and written there on first use."""
    folder = reference_dir(settings, scorer.model_version)
    meta_path = folder / "reference.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        return Reference(
            model_version=scorer.model_version,
            window_start=datetime.fromisoformat(meta["window_start"]),
            window_end=datetime.fromisoformat(meta["window_end"]),
            features=pl.read_parquet(folder / "features.parquet"),
            risk=np.load(folder / "risk.npy"),
            texts=pl.read_parquet(folder / "texts.parquet"),
        )
    start, end = _window(_data_window(settings, scorer.run_id))
    rows = _feature_rows(settings, scorer.feature_names, start, end)
    if rows.height > MAX_ROWS:
        rows = rows.sample(MAX_ROWS, seed=0).sort("as_of", "user_id")
    risk = np.asarray(scorer.risk(rows), dtype=np.float64)
    texts = _texts(settings, end)
    folder.mkdir(parents=True, exist_ok=True)
    rows.write_parquet(folder / "features.parquet")
    np.save(folder / "risk.npy", risk)
    texts.write_parquet(folder / "texts.parquet")
    meta = {
        "model_version": scorer.model_version,
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "rows": rows.height,
        "texts": texts.height,
    }
    tmp = folder / ".reference.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2))
    tmp.replace(meta_path)  # written last: a half-built folder is rebuilt next time
    return Reference(scorer.model_version, start, end, rows, risk, texts)
