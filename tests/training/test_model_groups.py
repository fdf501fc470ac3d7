"""Model groups: the split depends on the shape only, one thread and two train the same bits, a
group's columns round-trip through load/store, and a worker's error reaches the caller."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import linear_learner.training.trainer as trainer_module
from linear_learner.learner.grid import build_grid
from linear_learner.learner.losses import make_loss
from linear_learner.learner.optimizers import Optimizer
from linear_learner.learner.scaler import fit_scaler
from linear_learner.training.data_feed import InMemoryFeed
from linear_learner.training.model_groups import ModelGroup, ModelGroups, group_count, group_models
from linear_learner.training.trainer import Trainer, sample_weights
from support.settings import train_settings


def _multiclass(n: int = 6000, F: int = 30, K: int = 7, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, F))
    y = rng.integers(0, K, n)
    X = (centres[y] + rng.normal(scale=1.5, size=(n, F))).astype(np.float32)
    return X, y.astype(np.float32)


def _grid(m: int):
    return build_grid(
        m, learning_rate=0.01, wd=1e-4, l1=0.0, vary_learning_rate=True, vary_wd=True, vary_l1=True
    )


def _fit(threads: int, M: int = 24, K: int = 7, zeros: str = ""):
    """zeros="dense" or "csr": the scaled rows with small values zeroed, in that layout."""
    X, y = _multiclass(K=K)
    scaler = fit_scaler(
        X, None, normalize_data=True, unbias_data=True, normalize_label=False, unbias_label=False
    )
    Xs = scaler.transform_inplace(X.copy())
    if zeros:
        Xs[np.abs(Xs) < 0.7] = 0.0  # about half the entries
        Xs = sp.csr_matrix(Xs) if zeros == "csr" else Xs
    s = train_settings(predictor_type="multiclass_classifier", num_outputs=K, epochs=3, mini_batch_size=1000)
    grid = _grid(M)
    loss = make_loss("softmax_loss")
    trainer = Trainer(s, grid, loss, loss, scaler, n_features=X.shape[1], threads=threads)
    feed = InMemoryFeed(Xs, y, sample_weights("multiclass_classifier", y, grid, None))
    return trainer.fit(feed)


def test_the_split_depends_on_the_shape_only():
    assert group_count(32, 7, 54, 1000, world_size=1) == 2
    assert group_count(1, 7, 54, 1000, world_size=1) == 1  # one model cannot be split
    assert group_count(32, 7, 54, 1000, world_size=2) == 1  # collectives stay on one thread
    assert group_count(2, 1, 5, 10, world_size=1) == 1  # too little work to pay for a thread
    # the thread that also gathers the batches gets fewer models, more so when models are cheap
    assert group_models(32, 2, 7) == [range(0, 14), range(14, 32)]
    assert group_models(32, 2, 1) == [range(0, 5), range(5, 32)]
    assert group_models(2, 2, 1) == [range(0, 1), range(1, 2)]  # never an empty group
    assert group_models(9, 1, 7) == [range(0, 9)]


def test_two_threads_train_the_same_bits_as_one():
    assert group_count(24, 7, 30, 1000, world_size=1) == 2  # the case under test really is split
    one, two = _fit(threads=1), _fit(threads=2)
    assert np.array_equal(one.W, two.W)
    assert np.array_equal(one.b, two.b)
    assert [r.train_loss.tolist() for r in one.history] == [r.train_loss.tolist() for r in two.history]


def test_grouped_models_equal_the_same_models_trained_whole(monkeypatch):
    """Splitting into groups changes no model beyond float rounding of the per-group GEMMs."""
    grouped = _fit(threads=2)
    monkeypatch.setattr(trainer_module, "group_count", lambda *args: 1)
    whole = _fit(threads=1)
    assert not np.array_equal(grouped.W, whole.W)  # the two paths really differ
    np.testing.assert_allclose(grouped.W, whole.W, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grouped.b, whole.b, rtol=1e-4, atol=1e-5)


def test_sparse_rows_train_in_groups_like_the_same_rows_dense():
    csr, dense = _fit(threads=2, zeros="csr"), _fit(threads=2, zeros="dense")
    np.testing.assert_allclose(csr.W, dense.W, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(csr.b, dense.b, rtol=1e-4, atol=1e-5)


def _mean(gW, gb, bs):
    return gW / bs, gb / bs


def _group(models: range, M: int, K: int, F: int, reduce_gradient=_mean) -> ModelGroup:
    C = K * M
    return ModelGroup(
        models,
        num_models=M,
        num_outputs=K,
        n_features=F,
        loss=make_loss("softmax_loss"),
        optimizer=lambda shape: Optimizer("adam", shape, order="F"),
        base_lr=np.full(C, 0.01, np.float32),
        wd=np.zeros(C, np.float32),
        l1=np.zeros(C, np.float32),
        lr_schedule=lambda base, t: base,
        lr_period=1,
        update_bias=True,
        reduce_gradient=reduce_gradient,
        step_threads=1,
        row_chunks=1,
    )


def test_load_then_store_round_trips_a_groups_columns():
    M, K, F = 6, 3, 4
    rng = np.random.default_rng(1)
    W = np.asfortranarray(rng.normal(size=(F, K * M)).astype(np.float32))
    b = rng.normal(size=K * M).astype(np.float32)
    opt = Optimizer("adam", W.shape, order="F")
    opt.t = 7
    opt.mW[...] = rng.normal(size=W.shape)
    group = _group(range(2, 5), M, K, F)
    group.load(W, b, opt)
    cols = [k * M + m for k in range(K) for m in range(2, 5)]  # class-major
    assert np.array_equal(group.W, W[:, cols]) and np.array_equal(group.b, b[cols])
    assert group.opt.t == 7 and np.array_equal(group.opt.mW, opt.mW[:, cols])
    group.W += 1.0
    group.opt.t = 9
    W2, b2, opt2, loss = W.copy(order="F"), b.copy(), Optimizer("adam", W.shape, order="F"), np.zeros(M)
    opt2.mW[...] = opt.mW
    group.store(W2, b2, opt2, loss)
    assert np.array_equal(W2[:, cols], W[:, cols] + 1.0)
    others = [c for c in range(K * M) if c not in cols]
    assert np.array_equal(W2[:, others], W[:, others])  # columns of other groups untouched
    assert opt2.t == 9


def test_a_workers_error_reaches_the_feeding_thread():
    M, K, F = 8, 3, 4

    def failing(gW, gb, bs):
        raise RuntimeError("worker failed")

    groups = ModelGroups([_group(range(0, 4), M, K, F), _group(range(4, 8), M, K, F, failing)], threads=2)
    W = np.asfortranarray(np.zeros((F, K * M), np.float32))
    groups.load(W, np.zeros(K * M, np.float32), Optimizer("adam", W.shape, order="F"))
    x = np.ones((10, F), np.float32)
    y = np.zeros(10, np.float32)
    w = np.ones((10, 1), np.float32)
    with pytest.raises(RuntimeError, match="worker failed"), groups.epoch() as train_batch:
        for _ in range(3):
            train_batch(x, y, w)
    groups.close()
