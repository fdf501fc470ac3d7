"""The compiled kernels against plain numpy: the fused softmax against learner/losses.py (which is
checked against its formula and finite differences), adam against its textbook update, and the
hand-written exp and log against numpy over the ranges the kernels feed them."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from linear_learner.learner.kernels import _exp_parts, _log_range, adam_update, softmax_gradient_t
from linear_learner.learner.losses import make_loss


@njit(error_model="numpy", fastmath=True)
def _exp_all(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        mant, n = _exp_parts(x[i])
        out[i] = mant * np.float32(2.0) ** n
    return out


def test_exp_is_within_three_float32_ulps_on_the_range_the_softmax_uses():
    x = np.linspace(-80.0, 0.0, 200_001, dtype=np.float32)
    got = _exp_all(x)
    want = np.exp(x.astype(np.float64))
    assert np.max(np.abs(got / want - 1.0)) < 3e-7  # numpy's own float32 exp: 2e-7


def test_log_is_within_two_float32_ulps_from_one_to_a_million():
    d = np.geomspace(1.0, 1e6, 100_003).astype(np.float32)
    out = np.empty_like(d)
    _log_range(d, np.empty(d.shape, np.int32), out)
    assert np.max(np.abs(out - np.log(d.astype(np.float64)))) < 2e-6 * np.log(1e6)


@pytest.mark.parametrize("K,M,R,weights", [(7, 32, 500, "row"), (3, 5, 37, "per_model"), (2, 1, 64, "row")])
def test_fused_softmax_matches_the_numpy_loss(K, M, R, weights):
    rng = np.random.default_rng(K * 100 + M)
    S = rng.normal(0.0, 3.0, size=(R, K, M)).astype(np.float32)
    S[:3] *= 60.0  # scores far apart: the clamp and the max shift must keep everything finite and exact
    b = rng.normal(size=K * M).astype(np.float32)
    y = rng.integers(0, K, size=R).astype(np.float32)
    w = rng.uniform(0.5, 2.0, size=(R, 1 if weights == "row" else M)).astype(np.float32)
    want_loss, want_grad = make_loss("softmax_loss").value_and_grad(S + b.reshape(K, M), y, w)

    ST = np.ascontiguousarray(S.transpose(1, 2, 0))  # (K, M, R)
    gb = np.empty(K * M, np.float32)
    loss = np.empty(M, np.float64)
    softmax_gradient_t(ST, b, y, np.ascontiguousarray(w.T), gb, loss)

    np.testing.assert_allclose(ST.transpose(2, 0, 1), want_grad, atol=2e-6)
    np.testing.assert_allclose(gb, want_grad.sum(axis=0).reshape(-1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(loss, want_loss.sum(axis=0), rtol=2e-6)
    assert np.isfinite(ST).all()


def _adam_reference(P, g, m1, m2, lr, wd, l1, lr_mult, wd_mult, b1, b2, t, eps=1e-8):
    g = g + wd * wd_mult * P
    m1 = b1 * m1 + (1 - b1) * g
    m2 = b2 * m2 + (1 - b2) * g * g
    denom = np.sqrt(m2 / (1 - b2**t)) + eps
    step = lr * lr_mult
    P = P - step * (m1 / (1 - b1**t)) / denom
    P = np.sign(P) * np.maximum(np.abs(P) - step * l1 / denom, 0.0)
    return P, m1, m2


@pytest.mark.parametrize("order", ["C", "F"])  # F: training's column-major weights, walked by rows
@pytest.mark.parametrize("lr_mult,wd_mult,with_l1", [(1.0, 1.0, True), (10.0, 0.0, False)])
def test_adam_update_matches_the_textbook_step(lr_mult, wd_mult, with_l1, order):
    rng = np.random.default_rng(1)
    R, C, t = 9, 6, 3
    P = rng.normal(size=(R, C)).astype(np.float32)
    g = rng.normal(size=(R, C)).astype(np.float32)
    m1 = rng.normal(size=(R, C)).astype(np.float32) * 0.1
    m2 = rng.uniform(0.0, 0.1, size=(R, C)).astype(np.float32)
    lr = rng.uniform(0.001, 0.1, size=C).astype(np.float32)
    wd = rng.uniform(0.0, 0.1, size=C).astype(np.float32)
    l1 = (rng.uniform(0.0, 0.5, size=C) if with_l1 else np.zeros(C)).astype(np.float32)
    want = _adam_reference(P.astype(np.float64), g, m1, m2, lr, wd, l1, lr_mult, wd_mult, 0.9, 0.999, t)
    P, g, m1, m2 = (np.asarray(a, order=order) for a in (P, g, m1, m2))
    f32 = np.float32
    c1, c2 = f32(1 - 0.9**t), f32(1 - 0.999**t)
    adam_update(P, g, m1, m2, lr, wd, l1, f32(lr_mult), f32(wd_mult), f32(0.9), f32(0.999), c1, c2, f32(1e-8))
    for got, ref in zip((P, m1, m2), want, strict=True):
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-6)
    if with_l1:
        assert (P == 0).any()  # the proximal step produced exact zeros
