"""Scaler statistics, dense and CSR transforms, and folding back into original units (reference D6, D8)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from linear_learner.learner.scaler import fit_scaler

FLAGS = dict(normalize_data=True, unbias_data=True, normalize_label=True, unbias_label=True)


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(200, 4)) * [1, 10, 0.1, 0] + [5, -3, 0, 2]).astype(np.float32)
    y = (X[:, 0] * 3 + 100).astype(np.float32)
    return X, y


def test_dense_statistics_and_constant_column():
    X, y = _data()
    s = fit_scaler(X, y, **FLAGS)
    np.testing.assert_allclose(s.mean, X.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s.std[:3], X.std(axis=0)[:3], rtol=1e-4)
    assert s.std[3] == 1.0  # constant column: left unscaled, never divided by 0
    assert s.label_mean == pytest.approx(y.mean(), rel=1e-5) and s.label_std == pytest.approx(
        y.std(), rel=1e-4
    )


@pytest.mark.parametrize(
    ("flag", "field", "neutral"),
    [("normalize_data", "std", 1.0), ("unbias_data", "mean", 0.0)],
)
def test_each_data_flag_is_honoured(flag, field, neutral):
    X, y = _data()
    s = fit_scaler(X, y, **{**FLAGS, flag: False})
    assert np.all(getattr(s, field) == neutral)
    assert not np.all(getattr(fit_scaler(X, y, **FLAGS), field) == neutral)


@pytest.mark.parametrize(
    ("flag", "field", "neutral"), [("normalize_label", "label_std", 1.0), ("unbias_label", "label_mean", 0.0)]
)
def test_each_label_flag_is_honoured(flag, field, neutral):
    X, y = _data()
    assert getattr(fit_scaler(X, y, **{**FLAGS, flag: False}), field) == neutral
    assert getattr(fit_scaler(X, y, **FLAGS), field) != neutral


def test_sparse_is_scaled_but_never_centred():
    X, y = _data()
    X[X < 0] = 0
    Xs = sp.csr_matrix(X)
    s = fit_scaler(Xs, y, **FLAGS)
    assert np.all(s.mean == 0)
    np.testing.assert_allclose(s.std[:3], X.std(axis=0)[:3], rtol=1e-4)
    nnz = Xs.nnz
    out = s.transform_inplace(Xs.copy())
    assert out.nnz == nnz
    np.testing.assert_allclose(out.toarray(), X / s.std, rtol=1e-6)


def test_dense_transform_equals_csr_transform_without_centring():
    X, y = _data()
    s = fit_scaler(X, y, **{**FLAGS, "unbias_data": False})
    dense = s.transform_inplace(X.copy())
    csr = s.transform_inplace(sp.csr_matrix(X))
    np.testing.assert_allclose(csr.toarray(), dense, rtol=1e-6)


@pytest.mark.parametrize("centre", [True, False])
def test_fold_gives_the_same_predictions_in_original_units(centre):
    X, y = _data()
    s = fit_scaler(X, y, **{**FLAGS, "unbias_data": centre, "unbias_label": centre})
    rng = np.random.default_rng(1)
    W, b = rng.normal(size=(4, 2)).astype(np.float32), rng.normal(size=2).astype(np.float32)
    scaled_pred = (s.transform_inplace(X.copy()) @ W + b) * s.label_std + s.label_mean
    Wf, bf = s.fold(W, b)
    np.testing.assert_allclose(X @ Wf + bf, scaled_pred, rtol=1e-4, atol=1e-3)


def test_scale_labels_round_trips():
    X, y = _data()
    s = fit_scaler(X, y, **FLAGS)
    z = s.scale_labels(y)
    assert abs(z.mean()) < 1e-4 and z.std() == pytest.approx(1.0, rel=1e-4)
