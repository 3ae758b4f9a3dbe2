"""A templated text corpus for the text-model tests: scam and benign messages, seeded."""

from __future__ import annotations

import numpy as np

SCAMS = [
    "Kindly add me on WhatsApp {n} for the interview and send the registration fee first",
    "URGENT you won a prize of ${n}, claim it now at http://bit.ly/{n}",
    "Send the deposit of ${n} via gift cards to secure your position today",
    "Your account will be suspended, verify your payment details at http://verify-{n}.net",
]
BENIGN = [
    "Thanks for the proposal, can you share a sample of your work {n}?",
    "I pushed the changes to the landing page, milestone {n} is ready",
    "Sounds good, see you at the call tomorrow at {n}",
    "Great work on the dashboard, releasing milestone {n} now",
]


def templated_corpus(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``n`` templated texts, a quarter of them scams (label 1)."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.25).astype(np.int64)
    texts = [
        (SCAMS if y else BENIGN)[rng.integers(4)].format(n=int(rng.integers(10, 999)))
        for y in labels
    ]
    return texts, labels
