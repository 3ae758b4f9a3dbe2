"""Labelled and unlabelled text CSVs, read robustly, and the batching of texts by length.

A text CSV has a header row with a ``text`` column, optionally ``label`` (1 = scam, 0 = benign;
``spam``/``ham``, ``scam``/``benign`` and ``true``/``false`` are read too) and an id column (``id``
or ``message_id``; without one, ids are the 0-based data-row numbers). Reading never
fails because of one bad row: a row whose text is empty or not valid UTF-8, or whose field count
differs from the header's, gets a per-row ``error`` and the other rows are kept. Only a file that
cannot be read as CSV at all (no header, broken quoting, no ``text`` column) raises
:class:`TextCsvError`, whose message is one line naming the problem.

The file is decoded as UTF-8 with ``surrogateescape``, so each invalid byte survives as a lone
surrogate (U+DC80..U+DCFF) in exactly the field that held it; such fields are flagged, while a
genuine U+FFFD in a valid file is left alone.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ID_COLUMNS: tuple[str, ...] = ("id", "message_id")  # the first present is the id column
_BAD_BYTE = re.compile("[\udc80-\udcff]")  # a byte that was not valid UTF-8
_SPACE = re.compile(r"\s+")

ERR_EMPTY = "empty text"
# label spellings: 1 = scam / spam, 0 = benign / ham; anything else is "no label"
_POSITIVE = frozenset({"1", "1.0", "true", "scam", "spam"})
_NEGATIVE = frozenset({"0", "0.0", "false", "benign", "ham"})
ERR_UTF8 = "text is not valid UTF-8"


class TextCsvError(ValueError):
    """The file is not a usable text CSV (the message is one line naming the problem)."""


@dataclass(frozen=True)
class TextTable:
    """The rows of a text CSV, in file order.

    ``texts[i]`` is None when row i has an error; ``errors[i]`` says why (None for good rows).
    ``labels`` [N] int64 is 0/1, or -1 where the label is missing/invalid; None without a
    ``label`` column.
    """

    ids: list[str]
    texts: list[str | None]
    errors: list[str | None]
    labels: np.ndarray | None
    id_column: str | None  # the CSV column the ids came from (None: row numbers)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def ok(self) -> np.ndarray:
        """Rows with a usable text [N] bool."""
        return np.array([e is None for e in self.errors], dtype=bool)

    def labelled(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(texts, labels [M], row indices [M]) of the rows with a usable text and a 0/1 label."""
        if self.labels is None:
            raise TextCsvError("the CSV has no 'label' column")
        rows = np.flatnonzero(self.ok & (self.labels >= 0))
        return [self.texts[i] for i in rows], self.labels[rows], rows  # type: ignore[misc]


def _parse_label(value: str) -> int:
    v = value.strip().lower()
    if v in _NEGATIVE:
        return 0
    if v in _POSITIVE:
        return 1
    return -1


def check_text(value: str | None) -> str | None:
    """Why ``value`` cannot be scored (``ERR_EMPTY`` / ``ERR_UTF8``), or None if it can."""
    if value is None or not value.strip():
        return ERR_EMPTY
    if _BAD_BYTE.search(value):
        return ERR_UTF8
    return None


def read_text_csv(path: Path | str) -> TextTable:
    """Read a text CSV (see the module docstring). Raises :class:`TextCsvError` or OSError."""
    path = Path(path)
    raw = path.read_bytes()
    if b"\x00" in raw[:65536]:
        raise TextCsvError(f"{path} is not a CSV file (it contains NUL bytes)")
    decoded = raw.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.reader(io.StringIO(decoded, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise TextCsvError(f"{path} is empty: expected a header row with a 'text' column")
        header = [h.strip() for h in header]
        if "text" not in header:
            shown = ", ".join(repr(_BAD_BYTE.sub("?", h)) for h in header[:10])
            raise TextCsvError(f"{path} has no 'text' column (columns: {shown})")
        text_col = header.index("text")
        label_col = header.index("label") if "label" in header else None
        id_name = next((c for c in ID_COLUMNS if c in header), None)
        id_col = header.index(id_name) if id_name else None

        ids: list[str] = []
        texts: list[str | None] = []
        errors: list[str | None] = []
        labels: list[int] = []
        for row_number, row in enumerate(reader):
            if not row:  # a blank line is not a row
                continue
            ok_shape = len(row) == len(header)
            ids.append(
                _BAD_BYTE.sub("?", row[id_col])
                if id_col is not None and id_col < len(row)
                else str(row_number)
            )
            if not ok_shape:
                texts.append(None)
                errors.append(f"row has {len(row)} fields, the header has {len(header)}")
                labels.append(-1)
                continue
            error = check_text(row[text_col])
            texts.append(row[text_col] if error is None else None)
            errors.append(error)
            labels.append(_parse_label(row[label_col]) if label_col is not None else -1)
    except csv.Error as exc:
        raise TextCsvError(f"{path} is not valid CSV (line {reader.line_num}: {exc})") from None
    if id_col is None:  # row numbers count the rows kept (blank lines skipped)
        ids = [str(i) for i in range(len(ids))]
    return TextTable(
        ids=ids,
        texts=texts,
        errors=errors,
        labels=np.asarray(labels, dtype=np.int64) if label_col is not None else None,
        id_column=id_name,
    )


def normalise_text(text: str) -> str:
    """Lower-cased, whitespace-collapsed text: equal for texts that are duplicates in practice."""
    return _SPACE.sub(" ", text.strip().lower())


def stratified_split(labels: np.ndarray, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held_out) with ``frac`` of each class held out (at least one per class)."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for cls in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        n = max(1, round(frac * rows.size)) if rows.size > 1 else 0
        held.append(rows[:n])
        train.append(rows[n:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def length_batches(
    lengths: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | None = None,
    *,
    bucket: int = 50,
) -> list[np.ndarray]:
    """Row indices grouped into batches of similar length (less padding).

    With ``rng`` (training): shuffle, sort by length within chunks of ``bucket`` batches, cut into
    batches and shuffle the batches, so every epoch sees different, still length-homogeneous
    batches. Without ``rng`` (inference): sorted by length, in order.
    """
    lengths = np.asarray(lengths)
    if rng is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, order.size, batch_size)]
    order = rng.permutation(lengths.size)
    chunk = batch_size * bucket
    batches = []
    for start in range(0, order.size, chunk):
        rows = order[start : start + chunk]
        rows = rows[np.argsort(lengths[rows], kind="stable")]
        batches += [rows[i : i + batch_size] for i in range(0, rows.size, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]
