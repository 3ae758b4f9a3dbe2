"""``serving.text_batch.TextBatcher``: documents of concurrent requests scored together, off the
event loop, each request getting its own scores back in order.

The batching tests use a plain function as the model (it records the batches it was given and
can be made slow or failing); the last test uses the registered text model of the serving
tests' world (``text_env``) through the endpoint's ONNX predictor.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from scamguard.settings import Settings
from serving.text_batch import TextBatcher


class RecordingModel:
    """P(scam) = len(text) / 1000; records each batch; sleeps ``delay`` s per batch (in the
    scoring thread); raises for a batch containing ``fail_on``."""

    def __init__(self, delay: float = 0.0, fail_on: str | None = None):
        self.delay, self.fail_on = delay, fail_on
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        if self.fail_on in texts:
            raise RuntimeError(f"model failed on {self.fail_on!r}")
        return np.array([len(t) / 1000 for t in texts])


def expected(texts: list[str]) -> list[float]:
    return [len(t) / 1000 for t in texts]


def test_requests_arriving_while_a_batch_is_scored_go_together_in_the_next() -> None:
    model = RecordingModel(delay=0.2)

    async def run() -> list[np.ndarray]:
        batcher = TextBatcher(model)
        first = asyncio.create_task(batcher.score(["a"]))
        await asyncio.sleep(0.05)  # the first batch is being scored in the thread
        rest = [batcher.score(["bb", "ccc"]), batcher.score(["dddd"]), batcher.score(["e" * 5])]
        return [await first, *await asyncio.gather(*rest)]

    results = asyncio.run(run())
    assert model.batches == [["a"], ["bb", "ccc", "dddd", "eeeee"]]
    assert [r.tolist() for r in results] == [
        expected(["a"]),
        expected(["bb", "ccc"]),
        expected(["dddd"]),
        expected(["eeeee"]),
    ]
    assert model.threads == {"text-model_0"}  # never on the event loop's thread


def test_a_batch_holds_whole_requests_up_to_max_texts() -> None:
    model = RecordingModel(delay=0.1)

    async def run() -> list[np.ndarray]:
        batcher = TextBatcher(model, max_texts=3)
        first = asyncio.create_task(batcher.score(["x"]))
        await asyncio.sleep(0.03)
        requests = [["a1", "a2"], ["b1"], ["c1", "c2"], ["d1", "d2", "d3", "d4"]]
        return [await first, *await asyncio.gather(*(batcher.score(r) for r in requests))]

    results = asyncio.run(run())
    # a request is never split; one larger than max_texts goes alone
    assert model.batches == [["x"], ["a1", "a2", "b1"], ["c1", "c2"], ["d1", "d2", "d3", "d4"]]
    assert [len(r) for r in results] == [1, 2, 1, 2, 4]


def test_the_event_loop_keeps_running_while_texts_are_scored() -> None:
    model = RecordingModel(delay=0.3)

    async def run() -> int:
        batcher = TextBatcher(model)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        await batcher.score(["slow"])
        task.cancel()
        return ticks

    assert asyncio.run(run()) >= 10  # ~30 ticks fit in the 0.3 s the model holds its thread


def test_a_model_failure_fails_its_batch_only() -> None:
    model = RecordingModel(delay=0.1, fail_on="boom")

    async def run() -> tuple[list[np.ndarray | BaseException], np.ndarray]:
        batcher = TextBatcher(model, max_texts=2)
        first = asyncio.create_task(batcher.score(["ok"]))
        await asyncio.sleep(0.03)
        failing = [batcher.score(["boom"]), batcher.score(["also"])]  # one batch
        later = batcher.score(["fine", "too"])  # the next batch
        out = await asyncio.gather(first, *failing, return_exceptions=True)
        return out, await later

    out, later = asyncio.run(run())
    assert isinstance(out[0], np.ndarray)
    assert all(isinstance(e, RuntimeError) and "boom" in str(e) for e in out[1:])
    assert later.tolist() == expected(["fine", "too"])


def test_no_texts_is_no_batch_and_max_texts_is_checked() -> None:
    model = RecordingModel()
    assert asyncio.run(TextBatcher(model).score([])).shape == (0,)
    assert model.batches == []
    with pytest.raises(ValueError, match="max_texts"):
        TextBatcher(model, max_texts=0)


def test_the_registered_text_model_scores_a_batch_as_one_at_a_time(text_env: Settings) -> None:
    from models.text.inference import fast_predictor
    from models.text.registry import load_text_scorer

    predictor = fast_predictor(load_text_scorer(text_env, "marketplace").predictor)
    texts = [
        "hi",
        "Hello, can you start on the logo tomorrow?",
        "URGENT: pay the refundable training fee by gift card today to get the job " * 3,
        "I can build this in React within a week.",
        "Contact me on WhatsApp for paid remote work, deposit required.",
    ]
    alone = np.concatenate([predictor.predict_proba([t]) for t in texts])

    async def run() -> list[np.ndarray]:
        batcher = TextBatcher(predictor.predict_proba)
        return list(await asyncio.gather(*(batcher.score([t]) for t in texts)))

    together = np.concatenate(asyncio.run(run()))
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)
