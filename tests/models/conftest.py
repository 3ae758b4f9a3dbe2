"""Fixtures of the text-model tests (``test_text_model.py``, ``test_text_pipeline.py``): one torch
thread, a templated corpus and a tiny model fitted on it, each built once per module."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from models.text.fit import FittedTextModel, fit_text_model
from models.text.model import TextModelConfig
from tests.models.text_corpus import templated_corpus


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Small models on a shared 2-core CI box: one thread avoids OpenMP oversubscription stalls."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], np.ndarray]:
    return templated_corpus(400, seed=0)


@pytest.fixture(scope="module")
def fitted(corpus: tuple[list[str], np.ndarray]) -> FittedTextModel:
    texts, labels = corpus
    return fit_text_model(texts, labels, TextModelConfig.tiny(epochs=3), device="cpu")
