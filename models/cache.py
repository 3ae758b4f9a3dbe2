"""A local copy of each served risk model, for a start while the registry is unreachable.

After each successful load from the registry the endpoint writes the python model (the pyfunc's
``TreeRiskModel``, pickled) with a manifest::

    <data_dir>/serving/cache/<name>-v<version>/model.pkl
    <data_dir>/serving/cache/<name>-v<version>/manifest.json   {name, version, alias, run_id,
                                                                 sha256, bytes, loaded_at}

written to a temporary folder and renamed into place, so a crash leaves no half-written copy.
If the registry cannot be reached at the next start, :func:`load_cached` loads the copy loaded
most recently (``loaded_at``), after checking the SHA-256 of ``model.pkl`` against the manifest:
a mismatch (a corrupted or altered file) is refused with the reason, and no older copy is
tried in its place (it could be a model that was demoted since). The hash detects corruption
and accidental edits; whoever can write the cache folder can also rewrite the manifest, so keep
the folder writable by the server's user only.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scamguard.settings import Settings

from .registry import RiskScorer

MODEL_FILE = "model.pkl"
MANIFEST_FILE = "manifest.json"
KEEP = 3  # copies kept per model name (the most recently loaded)


class CacheError(RuntimeError):
    """No usable cached model: none written, or the newest fails its hash check."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifests(settings: Settings) -> list[tuple[Path, dict[str, Any]]]:
    """(folder, manifest) of every cached copy of the settings' risk model, most recently loaded
    first (folders without a readable manifest are skipped)."""
    root = settings.model_cache_dir
    found = []
    for folder in root.glob(f"{settings.risk_model_name}-v*") if root.exists() else []:
        try:
            manifest = json.loads((folder / MANIFEST_FILE).read_text())
        except (OSError, ValueError):
            continue
        if manifest.get("name") == settings.risk_model_name:
            found.append((folder, manifest))
    return sorted(found, key=lambda item: str(item[1].get("loaded_at", "")), reverse=True)


def write_cache(settings: Settings, scorer: RiskScorer) -> Path:
    """Save ``scorer``'s model as ``<name>-v<version>`` (replacing an older copy of that version)
    and keep the :data:`KEEP` most recently loaded copies. Returns the folder."""
    root = settings.model_cache_dir
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"{settings.risk_model_name}-v{scorer.model_version}"
    staging = Path(tempfile.mkdtemp(prefix=".writing-", dir=root))
    try:
        model_path = staging / MODEL_FILE
        model_path.write_bytes(pickle.dumps(scorer.model, protocol=pickle.HIGHEST_PROTOCOL))
        manifest = {
            "name": settings.risk_model_name,
            "version": scorer.model_version,
            "alias": scorer.alias,
            "run_id": scorer.run_id,
            "model_uri": scorer.model_uri,
            "sha256": sha256_file(model_path),
            "bytes": model_path.stat().st_size,
            "loaded_at": datetime.now(UTC).isoformat(),
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for old, _ in _manifests(settings)[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def load_cached(settings: Settings) -> RiskScorer:
    """The most recently loaded cached copy of the settings' risk model, verified by its hash.

    Raises :class:`CacheError` naming the folder and the reason: no copy, a missing file, or a
    SHA-256 that does not match the manifest.
    """
    copies = _manifests(settings)
    if not copies:
        raise CacheError(
            f"no cached copy of {settings.risk_model_name} in {settings.model_cache_dir}"
        )
    folder, manifest = copies[0]
    model_path = folder / MODEL_FILE
    if not model_path.exists():
        raise CacheError(f"cached model {folder} refused: {MODEL_FILE} is missing")
    actual = sha256_file(model_path)
    if actual != manifest.get("sha256"):
        raise CacheError(
            f"cached model {folder} refused: sha256 of {MODEL_FILE} is {actual}, "
            f"the manifest says {manifest.get('sha256')}"
        )
    import models.pyfunc  # noqa: F401  (the pickled classes)

    with open(model_path, "rb") as fh:
        model = pickle.load(fh)  # verified above: the file the endpoint itself wrote
    return RiskScorer(
        model_version=str(manifest["version"]),
        model_uri=str(
            manifest.get("model_uri") or f"models:/{manifest['name']}/{manifest['version']}"
        ),
        alias=manifest.get("alias"),
        run_id=manifest.get("run_id"),
        model=model,
    )
