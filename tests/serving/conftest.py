"""Fixtures for the endpoint tests: a live server over a read-only mirror of ``trained_env``.

The server writes its audit log under its own data dir, so ``trained_env`` is never modified: the
mirror symlinks every top-level entry of the trained data dir except ``audit/``.

The app loads the model and the store in a background thread after it starts accepting
connections; :func:`serve` waits until that load has finished (ready or not) before the test runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import polars as pl
import pytest
from fastapi import FastAPI, Request

from features.tables import load_clean_tables
from features.text_scores import text_documents
from pipelines.batch import latest_snapshot_path
from scamguard.settings import Settings
from serving.app import create_app
from tests.conftest import FAST_PARAMS, make_settings
from tests.utils.server import live_server

API_KEY = "test-key"
COUNTERPART = "u-counterpart"
COUNTERPART_SIGNUP = {
    "role": "freelancer",
    "country": "DE",
    "email_domain": "example.org",
    "phone_country": "DE",
    "ip": "192.0.2.200",
    "device_id": "dev-counterpart",
}


def wait_loaded(base_url: str, timeout_s: float = 120.0) -> httpx.Response:
    """Poll ``/readyz`` until the server has finished loading (200, or 503 with the reason)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = httpx.get(f"{base_url}/readyz", timeout=5)
        if not response.json()["loading"]:
            return response
        if time.monotonic() > deadline:
            raise TimeoutError(f"{base_url} still loading after {timeout_s:.0f}s")
        time.sleep(0.05)


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """A live server for ``app`` whose model and store have finished loading; yields its URL."""
    with live_server(app) as url:
        wait_loaded(url)
        yield url


def mirror_settings(source: Settings, data_dir: Path, *, copy: tuple[str, ...] = ()) -> Settings:
    """Settings over ``data_dir`` holding symlinks to ``source``'s data (``copy``: copied instead)."""
    import shutil

    data_dir.mkdir(parents=True)
    for entry in source.data_dir.iterdir():
        if entry.name == "audit":
            continue
        if entry.name in copy:
            shutil.copy2(entry, data_dir / entry.name)
        else:
            (data_dir / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    return make_settings(data_dir)


PROD_KEYS = {"ops": "ops-key-0123456789", "partner-a": "partner-a-key-0123456789"}
PII_KEY = "pii-key-for-tests-0123456789"


@pytest.fixture(scope="session")
def prod_settings(trained_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A production configuration over a mirror of ``trained_env``: real keys (``API_KEY`` as
    "default" plus ``PROD_KEYS``), a real PII key, /metrics and the docs hidden (the defaults)."""
    mirrored = mirror_settings(trained_env, tmp_path_factory.mktemp("prod") / "data")
    return Settings(
        data_dir=mirrored.data_dir,
        environment="production",
        api_key=API_KEY,
        api_keys=PROD_KEYS,
        pii_key=PII_KEY,
    )


@pytest.fixture(scope="session")
def prod_app(prod_settings: Settings) -> FastAPI:
    app = create_app(prod_settings)

    @app.post("/v1/test-fail", include_in_schema=False)
    async def fail(request: Request) -> None:
        """What a bug does: an exception whose message quotes the request body."""
        raise ValueError(f"could not handle {(await request.body()).decode()}")

    return app


@pytest.fixture(scope="session")
def prod_url(prod_app: FastAPI) -> Iterator[str]:
    with serve(prod_app) as url:
        yield url


@pytest.fixture(scope="session")
def serve_settings(trained_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return mirror_settings(trained_env, tmp_path_factory.mktemp("serve") / "data")


@pytest.fixture(scope="session")
def base_url(serve_settings: Settings) -> Iterator[str]:
    with serve(create_app(serve_settings)) as url:
        yield url


@pytest.fixture(scope="session")
def counterpart(base_url: str) -> str:
    """``COUNTERPART``, signed up on the session's server long before any test event: the
    recipient and payee of the tests' messages and payments (a counterpart must exist)."""
    response = httpx.post(
        f"{base_url}/v1/events",
        json={"event_type": "signup", "user_id": COUNTERPART, "ts": "2026-01-01T00:00:00Z"}
        | COUNTERPART_SIGNUP,
        headers={"X-API-Key": API_KEY},
    )
    assert response.status_code == 200, response.text
    return COUNTERPART


@pytest.fixture
def client(base_url: str, counterpart: str) -> Iterator[httpx.Client]:
    """A client of the session's server (with the API key), whose store knows ``COUNTERPART``."""
    with httpx.Client(base_url=base_url, headers={"X-API-Key": API_KEY}, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def snapshot(serve_settings) -> pl.DataFrame:
    return pl.read_parquet(latest_snapshot_path(serve_settings))


@pytest.fixture(scope="module")
def known_user(snapshot: pl.DataFrame) -> str:
    return snapshot.sort("messages_30d", descending=True)["user_id"][0]


# ------------------------------------------------------------------ the text model online


def _world_settings(trained_env: Settings, data_dir: Path) -> Settings:
    """Settings over ``data_dir``: the trained world's raw and clean tables (symlinked) and its
    training table, a fresh registry and no online store."""
    data_dir.mkdir(parents=True)
    for name in ("raw", "clean"):
        (data_dir / name).symlink_to((trained_env.data_dir / name).resolve())
    settings = make_settings(data_dir)
    settings.features_dir.mkdir(parents=True)
    (settings.features_dir / "training.parquet").symlink_to(
        (trained_env.features_dir / "training.parquet").resolve()
    )
    return settings


def _text_world(settings: Settings, candidates: tuple[str, ...]) -> Settings:
    """The text pipeline of ``scamguard text-features`` over ``settings`` (a ``_world_settings``),
    with a tiny encoder and the text model ``candidates``: cross-fitted document scores
    (stored), the chosen serving text model (``scamguard-text@marketplace``) and a champion risk
    model trained with the ``textmodel_*`` features."""
    from models.text.model import TextModelConfig
    from models.text.pipeline import add_text_model_features, cross_fit_scores, cutoff_of
    from models.text.train import log_text_model
    from models.train import train_risk_model

    table = pl.read_parquet(settings.features_dir / "training.parquet")
    tables = load_clean_tables(settings)
    docs = text_documents(
        users=tables.users, messages=tables.messages, jobs=tables.jobs, proposals=tables.proposals
    ).collect()
    crossfit = cross_fit_scores(
        docs,
        tables.labels,
        cutoff_of(table),
        TextModelConfig.tiny(epochs=2),
        folds=2,
        max_train_rows=600,
        candidates=candidates,
    )
    assert crossfit.full is not None and crossfit.full_sample is not None
    _, version, _ = log_text_model(
        crossfit.full,
        crossfit.full_sample["text"].to_list(),
        crossfit.full_sample["label"].to_numpy(),
        settings=settings,
        alias="marketplace",
    )
    crossfit.scored.drop("text").write_parquet(settings.features_dir / "text_scores.parquet")
    train_risk_model(
        add_text_model_features(table, crossfit.scored),
        settings=settings,
        params=FAST_PARAMS,
        extra_params={"text_model_uri": f"models:/scamguard-text/{version}"},
    )
    return settings


@pytest.fixture(scope="session")
def text_env(trained_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The text world with the fine-tuned transformer as the text model (served through ONNX
    Runtime, which the cache tests rely on)."""
    data_dir = tmp_path_factory.mktemp("text") / "data"
    return _text_world(_world_settings(trained_env, data_dir), ("finetuned",))


@pytest.fixture(scope="session")
def ensemble_text_env(trained_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The text world with the TF-IDF + LR and transformer ensemble as the text model."""
    data_dir = tmp_path_factory.mktemp("text-ensemble") / "data"
    return _text_world(_world_settings(trained_env, data_dir), ("ensemble",))


@pytest.fixture(scope="session")
def text_url(text_env: Settings) -> Iterator[str]:
    """A server over ``text_env``: it loads the champion and its text model from the registry
    (and so writes both to the local cache)."""
    with serve(create_app(text_env)) as url:
        yield url


@pytest.fixture(scope="session")
def ensemble_text_url(ensemble_text_env: Settings) -> Iterator[str]:
    """A server over ``ensemble_text_env`` (the ensemble loaded from the registry and cached)."""
    with serve(create_app(ensemble_text_env)) as url:
        yield url
