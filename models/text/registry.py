"""Load the registered text model by alias, and score a text CSV with it.

Like ``models.registry.load_scorer``: the alias is resolved to a version once and that exact
version is loaded into memory; scoring does no I/O.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from scamguard import tracking
from scamguard.settings import Settings

from .data import TextTable, read_text_csv
from .train import CHAMPION_ALIAS, TEXT_MODEL_NAME

if TYPE_CHECKING:
    from .ensemble import EnsemblePredictor
    from .model import TextPredictor


@dataclass(frozen=True)
class TextScorer:
    """A loaded text model: ``score`` maps texts to P(scam) with per-row errors."""

    model_version: str
    model_uri: str  # models:/scamguard-text/<version>
    alias: str | None
    run_id: str | None
    predictor: TextPredictor | EnsemblePredictor = field(repr=False)

    def score(self, texts: list) -> tuple[np.ndarray, list[str | None]]:  # type: ignore[type-arg]
        """(scores [N] with NaN for unusable rows, errors [N]); see ``pyfunc.score_texts``."""
        from .pyfunc import score_texts

        return score_texts(self.predictor, texts)


def load_text_scorer(settings: Settings, alias: str = CHAMPION_ALIAS) -> TextScorer:
    """The text model that ``scamguard-text@alias`` points at, loaded into memory."""
    version = tracking.resolve_alias(
        settings, TEXT_MODEL_NAME, alias, hint="run `scamguard train-text --data FILE.csv` first"
    )
    wrapper = tracking.load_python_model(settings, version)
    return TextScorer(
        model_version=version.version,
        model_uri=version.uri,
        alias=alias,
        run_id=version.run_id,
        predictor=wrapper.predictor,
    )


def load_text_scorer_uri(settings: Settings, uri: str) -> TextScorer:
    """The text model at ``models:/scamguard-text/<version>`` (what a risk model's training run
    records as ``text_model_uri``), loaded into memory."""
    name, _, number = uri.removeprefix("models:/").partition("/")
    if name != TEXT_MODEL_NAME or not number.isdigit():
        raise ValueError(f"not a {TEXT_MODEL_NAME} version URI: {uri!r}")
    version = tracking.client(settings).get_model_version(name, number)
    registered = tracking.RegisteredVersion(name=name, version=number, run_id=version.run_id)
    wrapper = tracking.load_python_model(settings, registered)
    return TextScorer(
        model_version=number,
        model_uri=uri,
        alias=None,
        run_id=version.run_id,
        predictor=wrapper.predictor,
    )


@dataclass(frozen=True)
class ScoredCsv:
    """What :func:`score_csv` wrote: one output row per input row, same ids, same order."""

    path: Path
    rows: int
    scored: int
    errors: list[tuple[int, str, str]]  # (0-based data row, id, error) of the rows not scored
    model_version: str
    id_column: str | None


def score_table(scorer: TextScorer, table: TextTable) -> tuple[np.ndarray, list[str | None]]:
    """Scores [N] and errors [N] for the rows of ``table`` (read errors kept as they are)."""
    scores = np.full(len(table), np.nan, dtype=np.float64)
    errors = list(table.errors)
    ok = np.flatnonzero(table.ok)
    if ok.size:
        s, e = scorer.score([table.texts[i] for i in ok])
        scores[ok] = s
        for i, err in zip(ok, e, strict=True):
            errors[i] = errors[i] or err
    return scores, errors


def write_scores(path: Path, ids: list[str], scores: np.ndarray, errors: list[str | None]) -> None:
    """``id,score,error`` CSV: score blank and error filled for rows that were not scored."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "score", "error"])
        for i, s, e in zip(ids, scores, errors, strict=True):
            writer.writerow([i, "" if e is not None or np.isnan(s) else f"{s:.6f}", e or ""])
    tmp.replace(path)


def score_csv(scorer: TextScorer, data: Path | str, out: Path | str) -> ScoredCsv:
    """Score every row of the text CSV ``data`` into ``out`` (``id,score,error``, input order)."""
    table = read_text_csv(data)
    scores, errors = score_table(scorer, table)
    out = Path(out)
    write_scores(out, table.ids, scores, errors)
    bad = [(i, table.ids[i], e) for i, e in enumerate(errors) if e is not None]
    return ScoredCsv(
        path=out,
        rows=len(table),
        scored=len(table) - len(bad),
        errors=bad,
        model_version=scorer.model_version,
        id_column=table.id_column,
    )
