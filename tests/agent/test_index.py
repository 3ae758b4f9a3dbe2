"""FAISS search over revealed groups: exact against brute force, owners skipped, labels point-in-time."""

from __future__ import annotations

import numpy as np

from agent.index import NO_SCAM_DISTANCE, MaskedIndex, SimilarCases, Standardizer


def _brute(z: np.ndarray, q: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return np.sqrt((((z - q) * cols) ** 2).sum(axis=1))


def test_masked_search_equals_brute_force_for_every_mask() -> None:
    rng = np.random.default_rng(0)
    group_of = np.asarray([0, 0, 1, 2, 2, 2, 3])
    z = rng.normal(size=(300, 7)).astype(np.float32)
    index = MaskedIndex(z, group_of, 4)
    q = rng.normal(size=(16, 7)).astype(np.float32)
    for mask in range(1, 16, 2):
        bits = np.tile((mask >> np.arange(4)) & 1, (16, 1)).astype(bool)
        dist, idx = index.search(q, bits, 5)
        for b in range(16):
            brute = _brute(z, q[b], bits[b][group_of])
            expected = np.sort(brute)[:5]
            np.testing.assert_allclose(dist[b], expected, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(brute[idx[b]], expected, rtol=1e-4, atol=1e-4)


def test_search_skips_the_queries_own_rows() -> None:
    z = np.asarray([[0.0], [0.1], [5.0], [5.1]], dtype=np.float32)
    index = MaskedIndex(z, np.asarray([0]), 1, owners=np.asarray([7, 7, 8, 9]))
    bits = np.ones((1, 1), bool)
    _, idx = index.search(np.zeros((1, 1), np.float32), bits, 2, exclude_owners=np.asarray([7]))
    assert set(idx[0].tolist()) == {2, 3}


def test_similar_cases_count_only_labels_decided_before_as_of() -> None:
    z = np.asarray([[0.0, 0.0], [0.2, 0.0], [9.0, 9.0]], dtype=np.float32)
    similar = SimilarCases(
        z=z,
        group_of=np.asarray([0, 1]),
        n_groups=2,
        label=np.asarray([1, 0, 0]),
        decided_at=np.asarray([100.0, np.inf, np.inf]),
        owners=np.asarray([1, 2, 3]),
        k=2,
    )
    q = np.zeros((2, 2), np.float32)
    bits = np.ones((2, 2), bool)
    before, after = similar.features(q, bits, np.asarray([50.0, 150.0]), np.asarray([9, 9]))
    assert before[0] == 0.0 and before[1] == NO_SCAM_DISTANCE  # not decided yet at t=50
    assert after[0] == 0.5 and after[1] == 0.0  # decided at t=100: one of the two nearest


def test_standardizer_weights_groups_equally_and_fills_missing_with_zero() -> None:
    x = np.asarray([[1.0, 10.0, np.nan], [3.0, 30.0, 2.0], [5.0, 50.0, 4.0]])
    std = Standardizer().fit(x, np.asarray([0, 0, 1]))
    z = std.transform(x)
    assert z[0, 2] == 0.0
    np.testing.assert_allclose(std.weight_, [1 / np.sqrt(2), 1 / np.sqrt(2), 1.0])
    np.testing.assert_allclose(Standardizer.from_state(std.state()).transform(x), z)
