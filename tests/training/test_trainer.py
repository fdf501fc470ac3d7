"""The epoch loop on small real data: stacked models equal single runs, dense equals CSR, the bias,
initialisation, early stopping, divergence and the scheduler's debug log."""

from __future__ import annotations

import dataclasses
import logging
import re

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_diabetes

from linear_learner.learner.grid import build_grid
from linear_learner.learner.losses import make_loss
from linear_learner.learner.scaler import fit_scaler
from linear_learner.training.data_feed import InMemoryFeed
from linear_learner.training.trainer import Trainer, init_parameters, sample_weights
from support.settings import train_settings

SETTINGS = train_settings()


def _regression(n: int = 300):
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:n].astype(np.float32), y[:n].astype(np.float32)
    scaler = fit_scaler(X, y, normalize_data=True, unbias_data=True, normalize_label=True, unbias_label=True)
    return scaler.transform_inplace(X.copy()), scaler.scale_labels(y), scaler


def _trainer(settings, grid, scaler, loss="squared_loss", **kw):
    return Trainer(settings, grid, make_loss(loss), make_loss(loss), scaler, n_features=kw.pop("F", 10), **kw)


def _grid(m: int, **kw):
    args = dict(learning_rate=0.01, wd=1e-4, l1=0.0, vary_learning_rate=True, vary_wd=True, vary_l1=True)
    return build_grid(m, **{**args, **kw})


def _fit(settings, grid, X, y, scaler, **kw):
    w = np.ones((len(y), 1), np.float32)
    return _trainer(settings, grid, scaler, **kw).fit(InMemoryFeed(X, y, w))


def test_stacked_models_equal_separate_single_model_runs():
    X, y, scaler = _regression()
    grid = _grid(20)  # models 16..19 carry l1 > 0
    stacked = _fit(SETTINGS, grid, X, y, scaler)
    for m in (0, 3, 5, 17):
        one = dataclasses.replace(
            grid, **{f.name: getattr(grid, f.name)[m : m + 1] for f in dataclasses.fields(grid)}
        )
        single = _fit(dataclasses.replace(SETTINGS, seed=m), one, X, y, scaler)
        np.testing.assert_allclose(stacked.model(m, 20, 1)[0], single.W, rtol=2e-4, atol=1e-6)
        np.testing.assert_allclose(stacked.model(m, 20, 1)[1], single.b, rtol=2e-4, atol=1e-6)


def test_multiclass_stacked_models_equal_single_runs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    y = np.argmax(X[:, :3] + 0.3 * rng.normal(size=(200, 3)), axis=1).astype(np.float32)
    s = dataclasses.replace(SETTINGS, predictor_type="multiclass_classifier", num_outputs=3)
    ident = fit_scaler(
        X, None, normalize_data=False, unbias_data=False, normalize_label=False, unbias_label=False
    )
    grid = _grid(4)
    stacked = _fit(s, grid, X, y, ident, loss="softmax_loss", F=5)
    for m in range(4):
        one = dataclasses.replace(
            grid, **{f.name: getattr(grid, f.name)[m : m + 1] for f in dataclasses.fields(grid)}
        )
        single = _fit(dataclasses.replace(s, seed=m), one, X, y, ident, loss="softmax_loss", F=5)
        np.testing.assert_allclose(stacked.model(m, 4, 3)[0], single.W, rtol=2e-4, atol=1e-6)


def test_dense_and_csr_training_give_the_same_models():
    X, y, scaler = _regression()
    X[np.abs(X) < 0.5] = 0  # genuinely sparse rows
    grid = _grid(4)
    dense = _fit(SETTINGS, grid, X, y, scaler)
    csr = _fit(SETTINGS, grid, sp.csr_matrix(X), y, scaler)
    np.testing.assert_allclose(csr.W, dense.W, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(csr.b, dense.b, rtol=1e-4, atol=1e-6)


def test_use_bias_false_keeps_the_bias_exactly_zero():
    X, y, scaler = _regression()
    s = dataclasses.replace(SETTINGS, use_bias=False, init_bias=3.0, bias_wd_mult=1.0)
    result = _fit(s, _grid(4), X, y, scaler)
    assert np.all(result.b == 0.0)


@pytest.mark.parametrize("method", ["uniform", "normal"])
def test_initialisation_follows_method_scale_sigma_and_bias(method):
    s = dataclasses.replace(SETTINGS, init_method=method, init_scale=0.5, init_sigma=0.2, init_bias=-1.5)
    W, b = init_parameters(2000, 1, 3, s)
    if method == "uniform":
        assert W.min() >= -0.5 and W.max() <= 0.5 and W.std() == pytest.approx(0.5 / np.sqrt(3), rel=0.05)
    else:
        assert W.std() == pytest.approx(0.2, rel=0.05) and np.abs(W).max() > 0.5  # tails beyond ±2.5σ
    assert np.all(b == -1.5)
    W2, _ = init_parameters(2000, 1, 3, s)
    np.testing.assert_array_equal(W, W2)  # model i is seeded by i: runs repeat
    assert not np.array_equal(W[:, 0], W[:, 1])


def test_early_stopping_stops_after_patience_and_long_patience_disables_it():
    X, y, scaler = _regression()
    strict = dataclasses.replace(SETTINGS, epochs=6, early_stopping_patience=1, early_stopping_tolerance=10.0)
    assert _fit(strict, _grid(2), X, y, scaler).epochs_run == 2  # epoch 1 cannot improve by 1000 %
    lenient = dataclasses.replace(strict, early_stopping_patience=7)
    assert _fit(lenient, _grid(2), X, y, scaler).epochs_run == 6


def test_best_epoch_parameters_are_kept():
    X, y, scaler = _regression()
    result = _fit(dataclasses.replace(SETTINGS, epochs=5), _grid(2), X, y, scaler)
    losses = np.array([r.train_loss for r in result.history])
    np.testing.assert_allclose(result.best_values, losses.min(axis=0))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverging_model_is_marked_and_the_others_train_on():
    X, y, scaler = _regression()
    grid = build_grid(
        2, learning_rate=1.0, wd=0.0, l1=0.0, vary_learning_rate=False, vary_wd=False, vary_l1=False
    )
    grid = dataclasses.replace(grid, learning_rate=np.array([0.01, 1e30], np.float32))
    s = dataclasses.replace(SETTINGS, optimizer="sgd", use_lr_scheduler=False)
    result = _fit(s, grid, X, y, scaler)
    assert np.isfinite(result.best_values[0]) and not np.isfinite(result.best_values[1])
    assert np.isnan(result.history[-1].train_loss[1])


def test_scheduled_learning_rate_is_logged_in_debug_mode_and_follows_the_formula(caplog):
    X, y, scaler = _regression(200)
    s = dataclasses.replace(
        SETTINGS, epochs=2, mini_batch_size=10, lr_scheduler_step=3, lr_scheduler_factor=0.5
    )
    with caplog.at_level(logging.DEBUG, logger="linear_learner.training.trainer"):
        _fit(s, _grid(1, learning_rate=0.04), X, y, scaler)
    pairs = [
        (int(m.group(1)), float(m.group(2)))
        for m in (
            re.search(r"update (\d+): learning_rate of model 0 = (\S+)", r.message) for r in caplog.records
        )
        if m
    ]
    assert len(pairs) >= 10
    for t, lr in pairs:
        assert lr == pytest.approx(max(0.04 * 0.5 ** (t // 3), 1e-5), rel=1e-5)


def test_positive_weights_apply_per_model_to_positive_rows_only():
    X, y = load_breast_cancer(return_X_y=True)
    y = y[:50].astype(np.float32)
    grid = _grid(16, positive_ratio=8.0)
    w = sample_weights("binary_classifier", y, grid, None)
    assert w.shape == (50, 16)
    np.testing.assert_array_equal(w[y == 0], 1.0)
    np.testing.assert_allclose(w[y == 1], np.broadcast_to(grid.positive_weight, ((y == 1).sum(), 16)))
    class_w = np.array([1.0, 2.0, 3.0], np.float32)
    w = sample_weights("multiclass_classifier", np.array([2, 0, 1], np.float32), _grid(2), class_w)
    np.testing.assert_array_equal(w[:, 0], [3.0, 1.0, 2.0])


def test_a_model_that_reaches_target_precision_outranks_one_that_does_not():
    """recall_at_target_precision: an unreachable target must not win on its fallback recall."""
    settings = dataclasses.replace(SETTINGS, criterion="recall_at_target_precision", target_precision=0.9)
    X, y, scaler = _regression()
    trainer = _trainer(settings, _grid(2), scaler, loss="logistic")
    y01 = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], np.float32)
    separating = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.01])  # precision 1 reachable
    noisy = np.array([0.9, 0.2, 0.1, 0.05, 0.95, 0.3, 0.25, 0.15, 0.12, 0.11])  # top score is a negative
    reachable = trainer._criterion_value(y01, separating)
    unreachable = trainer._criterion_value(y01, noisy)
    assert reachable == 1.0
    assert unreachable < 0.0 < reachable
