"""The one MLflow module: experiments found or created once, and no process-wide state left behind."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import is_tracking_uri_set

from scamguard import tracking
from scamguard.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def test_an_experiment_is_created_once_with_its_artifacts_under_the_data_dir(
    settings: Settings,
) -> None:
    first = tracking.ensure_experiment(settings, "scamguard-test")
    assert tracking.ensure_experiment(settings, "scamguard-test") == first
    experiment = tracking.client(settings).get_experiment(first)
    assert experiment.artifact_location == settings.artifact_root.as_uri()


def test_a_run_leaves_the_tracking_uri_as_it_found_it(settings: Settings, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    mlflow.set_tracking_uri(other)
    try:
        with tracking.start_run(settings, "scamguard-test", run_name="r") as run:
            assert mlflow.get_tracking_uri() == settings.tracking_uri
            mlflow.log_param("x", 1)
        assert mlflow.get_tracking_uri() == other
        assert tracking.client(settings).get_run(run.info.run_id).data.params == {"x": "1"}
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


def test_an_unset_tracking_uri_stays_unset(settings: Settings) -> None:
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    with tracking.tracking(settings):
        assert is_tracking_uri_set()
    assert not is_tracking_uri_set()
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert "MLFLOW_REGISTRY_URI" not in os.environ


def test_an_unknown_alias_names_the_model_the_alias_and_the_fix(settings: Settings) -> None:
    tracking.ensure_experiment(settings, "scamguard-test")
    with pytest.raises(LookupError, match=r"'nope'.*'champion'.*run `scamguard train`"):
        tracking.resolve_alias(settings, "nope", "champion", hint="run `scamguard train` first")
