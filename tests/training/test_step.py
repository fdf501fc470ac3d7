"""GradientStep: the same bits on one thread or two, the same sums as the plain numpy loss for every
kind of loss and for sparse rows, chunking fixed by the batch shape, and prefetching that neither
reorders nor loses batches."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from linear_learner.learner.losses import make_loss
from linear_learner.training.step import MIN_CHUNK_WORK, GradientStep, chunk_bounds, chunk_count


def _batch(rows: int, F: int, K: int, M: int, loss: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, F)).astype(np.float32)
    W = rng.normal(0.0, 0.5, size=(F, K * M)).astype(np.float32)
    b = rng.normal(size=K * M).astype(np.float32)
    if loss == "softmax_loss":
        y = rng.integers(0, K, rows).astype(np.float32)
    elif loss == "logistic":
        y = rng.integers(0, 2, rows).astype(np.float32)
    else:
        y = rng.normal(size=rows).astype(np.float32)
    w = rng.uniform(0.5, 2.0, size=(rows, 1)).astype(np.float32)
    return X, y, w, W, b


def _reference(X, y, w, W, b, loss_name: str, K: int, M: int):
    S = (np.asarray(X @ W) + b).astype(np.float32).reshape(X.shape[0], K, M)
    lval, G = make_loss(loss_name).value_and_grad(S, y, w)
    G = G.reshape(X.shape[0], K * M).astype(np.float64)
    return np.asarray(X.T @ G), G.sum(axis=0), lval.sum(axis=0)


@pytest.mark.parametrize("loss,K,M", [("softmax_loss", 7, 32), ("logistic", 1, 32), ("squared_loss", 1, 8)])
def test_step_sums_match_the_numpy_loss(loss, K, M):
    X, y, w, W, b = _batch(1000, 54, K, M, loss)
    step = GradientStep(make_loss(loss), K, M, 54, threads=1)
    gW, gb, lsum = step(X, y, w, W, b)
    want_gW, want_gb, want_loss = _reference(X, y, w, W, b, loss, K, M)
    scale = np.abs(want_gW).max()
    assert np.abs(gW - want_gW).max() < 1e-5 * scale
    np.testing.assert_allclose(gb, want_gb, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(lsum, want_loss, rtol=1e-5)
    step.close()


def test_two_threads_give_the_same_bits_as_one():
    X, y, w, W, b = _batch(1000, 54, 7, 32, "softmax_loss", seed=3)
    assert chunk_count(1000, 54, 7 * 32) == 2  # the case under test really is split
    results = []
    for threads in (1, 2):
        step = GradientStep(make_loss("softmax_loss"), 7, 32, 54, threads=threads)
        results.append([a.copy() for a in step(X, y, w, W, b)])
        step.close()
    for one, two in zip(*results, strict=True):
        assert np.array_equal(one, two)


def test_sparse_rows_give_the_dense_result():
    X, y, w, W, b = _batch(600, 40, 7, 4, "softmax_loss", seed=5)
    X[np.abs(X) < 1.0] = 0.0
    step = GradientStep(make_loss("softmax_loss"), 7, 4, 40, threads=2)
    dense = [a.copy() for a in step(X, y, w, W, b)]
    sparse = step(sp.csr_matrix(X), y, w, W, b)
    for d, s in zip(dense, sparse, strict=True):
        np.testing.assert_allclose(s, d, rtol=1e-4, atol=1e-4)
    step.close()


def test_chunking_depends_on_the_shape_only():
    assert chunk_count(10, 3, 2) == 1
    assert chunk_count(1000, 54, 7) == 1  # one model: too little work to share
    assert 1000 * 54 * 7 < MIN_CHUNK_WORK <= 1000 * 54 * 224
    assert chunk_count(1000, 54, 224) == 2
    assert chunk_count(300, 54, 224) == 1  # chunks of at least 256 rows


def test_prefetched_keeps_order_and_ends_cleanly():
    step = GradientStep(make_loss("squared_loss"), 1, 1, 3, threads=2)
    items = [(np.full((2, 3), i, np.float32), i) for i in range(25)]
    got = list(step.prefetched(iter(items)))
    assert [i for _, i in got] == list(range(25))
    assert list(step.prefetched(iter([]))) == []
    step.close()


def test_prefetched_passes_on_a_source_error():
    def source():
        yield 1
        raise ValueError("bad record 7")

    step = GradientStep(make_loss("squared_loss"), 1, 1, 3, threads=2)
    it = step.prefetched(source())
    assert next(it) == 1
    with pytest.raises(ValueError, match="bad record 7"):
        next(it)
    step.close()


@pytest.mark.parametrize("rows,n", [(1000, 1), (1000, 2), (7, 2), (999, 3)])
def test_chunk_bounds_cover_every_row_once_with_the_first_chunk_largest(rows, n):
    edges = chunk_bounds(rows, n)
    assert edges[0] == 0 and edges[-1] == rows and len(edges) == n + 1
    sizes = np.diff(edges)
    assert (sizes > 0).all()
    assert sizes[0] == sizes.max()
