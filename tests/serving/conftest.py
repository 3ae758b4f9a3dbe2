"""Fixtures for the endpoint tests: a live server over a read-only mirror of ``trained_env``.

The server writes its audit log under its own data dir, so ``trained_env`` is never modified: the
mirror symlinks every top-level entry of the trained data dir except ``audit/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scamguard.settings import Settings
from serving.app import create_app
from tests.conftest import make_settings
from tests.utils.server import live_server

API_KEY = "test-key"


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


@pytest.fixture(scope="session")
def serve_settings(trained_env: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return mirror_settings(trained_env, tmp_path_factory.mktemp("serve") / "data")


@pytest.fixture(scope="session")
def base_url(serve_settings: Settings) -> Iterator[str]:
    with live_server(create_app(serve_settings)) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers={"X-API-Key": API_KEY}, timeout=30) as c:
        yield c
