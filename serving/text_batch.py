"""Score the documents of concurrent requests together, off the event loop.

The endpoint's request path runs on one asyncio event loop. Scoring a document with the text
model (ONNX Runtime or torch, which release the GIL while they compute) takes several
milliseconds of CPU; done on the loop, it holds every other request up. :class:`TextBatcher`
hands the scoring to one background thread instead, and batches what arrives while it works:

- a request's texts join the pending queue and the request awaits their scores;
- whenever the scoring thread is free, everything pending (whole requests, up to ``max_texts``
  texts) is scored as one batch, in arrival order;
- so a request arriving alone is scored at once, alone, and requests arriving while a batch is
  being scored go together in the next one. There is no fixed wait.

Scores are what the model gives for the batch: a padded batch equals one-at-a-time scoring to
float rounding (``tests/serving/test_text_batch.py``). A failure of the model fails the requests
of that batch only, with the model's exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

MAX_TEXTS = 16  # texts per batch: a few requests' documents, short padding waste


class TextBatcher:
    """``await score(texts)`` -> P(scam) [N] float64, from ``predict`` (texts [M] -> [M]) run in
    one background thread on batches of concurrent requests' texts. Use from one event loop."""

    def __init__(self, predict: Callable[[list[str]], np.ndarray], *, max_texts: int = MAX_TEXTS):
        if max_texts < 1:
            raise ValueError(f"max_texts must be at least 1, got {max_texts}")
        self._predict = predict
        self.max_texts = max_texts
        self._pending: list[tuple[list[str], asyncio.Future[np.ndarray]]] = []
        self._task: asyncio.Task[None] | None = None  # the drain (a strong reference)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="text-model")

    async def score(self, texts: list[str]) -> np.ndarray:
        """P(scam) of each of ``texts``, in order (scored with other requests' texts)."""
        if not texts:
            return np.empty(0, dtype=np.float64)
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._pending.append((list(texts), future))
        if self._task is None or self._task.done():
            # the drain starts once this request awaits: requests arriving meanwhile join it
            self._task = asyncio.create_task(self._drain())
        return await future

    def _take(self) -> list[tuple[list[str], asyncio.Future[np.ndarray]]]:
        """Whole requests from the head of the queue, up to ``max_texts`` texts (at least one)."""
        n, total = 0, 0
        while n < len(self._pending) and (
            n == 0 or total + len(self._pending[n][0]) <= self.max_texts
        ):
            total += len(self._pending[n][0])
            n += 1
        batch, self._pending = self._pending[:n], self._pending[n:]
        return batch

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch = self._take()
            texts = [t for request, _ in batch for t in request]
            try:
                scores = await loop.run_in_executor(self._executor, self._predict, texts)
            except Exception as exc:  # the model failed: these requests fail with it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for request, future in batch:
                if not future.done():  # a request cancelled meanwhile wants nothing
                    future.set_result(np.asarray(scores[start : start + len(request)]))
                start += len(request)
