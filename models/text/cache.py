"""A local copy of the served text model, for a start while the registry is unreachable.

The twin of ``models.cache`` for the text model that a champion with ``textmodel_*`` features
needs. After each load from the registry the endpoint writes what it serves with::

    <data_dir>/serving/cache/text/<name>-v<version>/text_model.onnx   the exported classifier
    <data_dir>/serving/cache/text/<name>-v<version>/tokenizer.json    its WordPiece tokenizer
    <data_dir>/serving/cache/text/<name>-v<version>/manifest.json     {name, version, model_uri,
        run_id, format, max_len, files: {path: sha256}, bytes, champion_run_ids, loaded_at}

(``format: "onnx"``); a predictor served without ONNX Runtime (an ensemble, or no
``onnxruntime``) is saved as its artifact folder instead (``format: "predictor"``, the files
under ``predictor/``). ``champion_run_ids`` are the training runs of the champions it was loaded
for: :func:`load_cached_text_model` takes the most recently loaded copy recorded for the served
champion's run, so a cached champion never gets another champion's text model. Every file's
SHA-256 is checked against the manifest before anything is loaded (the ONNX model and the
tokenizer from the very bytes hashed); a mismatch or a missing file is refused with the reason,
and no older copy is tried in its place. Writes go to a temporary folder renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scamguard.settings import Settings

from ..cache import KEEP, MANIFEST_FILE, CacheError, sha256_file

if TYPE_CHECKING:
    from .ensemble import EnsemblePredictor
    from .inference import FastEnsemble, FastPredictor, OnnxPredictor
    from .registry import TextScorer

    Served = FastPredictor | OnnxPredictor | FastEnsemble | EnsemblePredictor

ONNX_FILE, TOKENIZER_FILE, PREDICTOR_DIR = "text_model.onnx", "tokenizer.json", "predictor"


@dataclass(frozen=True)
class CachedTextModel:
    """A verified cached text model: ``predictor.predict_proba`` scores texts [N] -> [N]."""

    model_uri: str
    version: str
    folder: Path
    predictor: Served


def text_cache_dir(settings: Settings) -> Path:
    return settings.model_cache_dir / "text"


def _manifests(settings: Settings) -> list[tuple[Path, dict[str, Any]]]:
    """(folder, manifest) of every cached text model, most recently loaded first."""
    root = text_cache_dir(settings)
    found = []
    for folder in root.glob("*-v*") if root.exists() else []:
        try:
            found.append((folder, json.loads((folder / MANIFEST_FILE).read_text())))
        except (OSError, ValueError):
            continue
    return sorted(found, key=lambda item: str(item[1].get("loaded_at", "")), reverse=True)


def write_text_cache(
    settings: Settings, scorer: TextScorer, served: Served, champion_run_id: str | None
) -> Path:
    """Save the text model served for the champion of run ``champion_run_id``: ``served``'s ONNX
    file and tokenizer when it is an exported :class:`OnnxPredictor`, else ``scorer``'s predictor
    folder. Replaces an older copy of the same version (keeping its champion runs) and keeps the
    ``KEEP`` most recently loaded copies. Returns the folder."""
    from .inference import OnnxPredictor

    name, _, version = scorer.model_uri.removeprefix("models:/").partition("/")
    root = text_cache_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"{name}-v{version}"
    runs: list[str] = []
    if (folder / MANIFEST_FILE).exists():
        try:
            runs = list(json.loads((folder / MANIFEST_FILE).read_text())["champion_run_ids"])
        except (OSError, ValueError, KeyError):
            runs = []
    if champion_run_id is not None and champion_run_id not in runs:
        runs.append(champion_run_id)
    staging = Path(tempfile.mkdtemp(prefix=".writing-", dir=root))
    try:
        if isinstance(served, OnnxPredictor) and served.path is not None:
            fmt, max_len = "onnx", int(scorer.predictor.config.max_len)
            shutil.copyfile(served.path, staging / ONNX_FILE)
            (staging / TOKENIZER_FILE).write_text(served.tokenizer.to_str())
        else:
            fmt, max_len = "predictor", None
            scorer.predictor.save(staging / PREDICTOR_DIR)
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        manifest = {
            "name": name,
            "version": version,
            "model_uri": scorer.model_uri,
            "run_id": scorer.run_id,
            "format": fmt,
            "max_len": max_len,
            "files": {str(p.relative_to(staging)): sha256_file(p) for p in files},
            "bytes": sum(p.stat().st_size for p in files),
            "champion_run_ids": runs,
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


def _verified(folder: Path, manifest: dict[str, Any]) -> dict[str, bytes]:
    """Every file the manifest lists, read once and checked against its SHA-256."""
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not listed:
        raise CacheError(f"cached text model {folder} refused: the manifest lists no files")
    out = {}
    for rel, expected in sorted(listed.items()):
        path = folder / rel
        if not path.is_file():
            raise CacheError(f"cached text model {folder} refused: {rel} is missing")
        data = path.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise CacheError(
                f"cached text model {folder} refused: sha256 of {rel} is {actual}, "
                f"the manifest says {expected}"
            )
        out[rel] = data
    return out


def load_cached_text_model(settings: Settings, champion_run_id: str | None) -> CachedTextModel:
    """The most recently loaded cached text model recorded for the champion of run
    ``champion_run_id``, verified file by file and set up as the endpoint serves it.

    Raises :class:`CacheError` naming the folder and the reason: no copy for that champion, a
    missing file, or a SHA-256 that does not match the manifest.
    """
    copies = [
        (folder, m)
        for folder, m in _manifests(settings)
        if champion_run_id is not None and champion_run_id in m.get("champion_run_ids", [])
    ]
    if not copies:
        raise CacheError(
            f"no cached text model for the champion of run {champion_run_id} "
            f"in {text_cache_dir(settings)}"
        )
    folder, manifest = copies[0]
    files = _verified(folder, manifest)
    if manifest.get("format") == "onnx":
        from .inference import OnnxPredictor
        from .model import load_tokenizer

        tokenizer = load_tokenizer(int(manifest["max_len"]), files[TOKENIZER_FILE].decode())
        predictor: Served = OnnxPredictor.from_onnx(files[ONNX_FILE], tokenizer)
    elif manifest.get("format") == "predictor":
        from .ensemble import load_predictor
        from .inference import fast_predictor

        predictor = fast_predictor(load_predictor(folder / PREDICTOR_DIR))  # hashed just above
    else:
        raise CacheError(
            f"cached text model {folder} refused: unknown format {manifest.get('format')!r}"
        )
    return CachedTextModel(
        model_uri=str(manifest["model_uri"]),
        version=str(manifest["version"]),
        folder=folder,
        predictor=predictor,
    )
