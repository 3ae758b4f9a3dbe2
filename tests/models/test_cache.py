"""The local model cache: a verified round trip, the newest copy first, a tampered copy refused."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from models.cache import MANIFEST_FILE, MODEL_FILE, CacheError, load_cached, write_cache
from models.registry import load_scorer
from scamguard.settings import Settings


@pytest.fixture
def cache_settings(trained_env: Settings, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    """``trained_env``'s registry, a cache in a fresh folder."""
    return trained_env.model_copy(
        update={"mlflow_uri": trained_env.tracking_uri, "data_dir": tmp_path / "data"}
    )


def test_a_cached_model_scores_as_the_registry_one(
    cache_settings: Settings, training_table: pl.DataFrame
) -> None:
    scorer = load_scorer(cache_settings)
    folder = write_cache(cache_settings, scorer)
    cached = load_cached(cache_settings)
    assert (cached.model_version, cached.run_id) == (scorer.model_version, scorer.run_id)
    rows = training_table.head(200)
    np.testing.assert_array_equal(cached.risk(rows), scorer.risk(rows))
    assert folder.name == f"{cache_settings.risk_model_name}-v{scorer.model_version}"


def test_the_most_recently_loaded_copy_is_served(cache_settings: Settings) -> None:
    scorer = load_scorer(cache_settings)
    older = write_cache(cache_settings, scorer)
    manifest = json.loads((older / MANIFEST_FILE).read_text())
    renamed = older.with_name(f"{cache_settings.risk_model_name}-v99")
    older.rename(renamed)
    (renamed / MANIFEST_FILE).write_text(
        json.dumps({**manifest, "version": "99", "loaded_at": "2000-01-01T00:00:00+00:00"})
    )
    write_cache(cache_settings, scorer)  # loaded now: newer than v99's copy
    assert load_cached(cache_settings).model_version == scorer.model_version


def test_no_copy_or_a_tampered_copy_is_refused_with_the_reason(cache_settings: Settings) -> None:
    with pytest.raises(CacheError, match="no cached copy"):
        load_cached(cache_settings)
    folder = write_cache(cache_settings, load_scorer(cache_settings))
    with open(folder / MODEL_FILE, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(CacheError, match="refused: sha256 of model.pkl is"):
        load_cached(cache_settings)
