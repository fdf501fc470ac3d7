"""One optimizer step computed by hand per optimizer, L1's exact zeros, the scheduler's formula."""

from __future__ import annotations

import numpy as np
import pytest

from linear_learner.learner.optimizers import EPSILON, RMSPROP_DECAY, Optimizer, scheduled_lr

F, C = 3, 2


def _state():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(F, C)).astype(np.float32)
    b = rng.normal(size=C).astype(np.float32)
    gW = rng.normal(size=(F, C)).astype(np.float32)
    gb = rng.normal(size=C).astype(np.float32)
    lr = np.array([0.1, 0.01], np.float32)
    wd = np.array([0.0, 0.5], np.float32)
    l1 = np.zeros(C, np.float32)
    return W, b, gW, gb, lr, wd, l1


def test_sgd_step_adds_weight_decay_and_uses_bias_multipliers():
    W, b, gW, gb, lr, wd, l1 = _state()
    W0, b0 = W.copy(), b.copy()
    opt = Optimizer("sgd", (F, C), bias_lr_mult=10.0, bias_wd_mult=2.0)
    opt.step(W, b, gW.copy(), gb.copy(), lr, wd, l1)
    np.testing.assert_allclose(W, W0 - lr * (gW + wd * W0), rtol=1e-6)
    np.testing.assert_allclose(b, b0 - 10.0 * lr * (gb + 2.0 * wd * b0), rtol=1e-6)


def test_sgd_momentum_accumulates_velocity():
    W, b, gW, gb, lr, wd, l1 = _state()
    wd[:] = 0
    W0 = W.copy()
    opt = Optimizer("sgd", (F, C), momentum=0.9)
    opt.step(W, b, gW.copy(), gb.copy(), lr, wd, l1)
    opt.step(W, b, gW.copy(), gb.copy(), lr, wd, l1)
    # v1 = g, v2 = 0.9 g + g: two steps move 2.9 lr g
    np.testing.assert_allclose(W, W0 - 2.9 * lr * gW, rtol=1e-5)


def test_adam_first_steps_by_hand():
    W, b, gW, gb, lr, wd, l1 = _state()
    wd[:] = 0
    W0 = W.copy()
    b1, b2 = 0.8, 0.99
    opt = Optimizer("adam", (F, C), beta_1=b1, beta_2=b2, bias_lr_mult=1.0)
    g2 = 0.5 * gW
    opt.step(W, b, gW.copy(), gb.copy(), lr, wd, l1)
    opt.step(W, b, g2.copy(), gb.copy(), lr, wd, l1)
    m, v, expected = np.zeros_like(W0, np.float64), np.zeros_like(W0, np.float64), W0.astype(np.float64)
    for t, g in ((1, gW), (2, g2)):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        expected -= lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + EPSILON)
    np.testing.assert_allclose(W, expected, rtol=1e-5)


def test_adam_betas_change_the_step():
    steps = []
    for beta_1 in (0.9, 0.5):
        W, b, gW, gb, lr, wd, l1 = _state()
        opt = Optimizer("adam", (F, C), beta_1=beta_1)
        for _ in range(2):
            opt.step(W, b, gW.copy() * (1 + len(steps)), gb.copy(), lr, wd, l1)
        steps.append(W.copy())
    assert not np.allclose(steps[0], steps[1])


def test_rmsprop_one_step_by_hand():
    W, b, gW, gb, lr, wd, l1 = _state()
    wd[:] = 0
    W0 = W.copy()
    opt = Optimizer("rmsprop", (F, C))
    opt.step(W, b, gW.copy(), gb.copy(), lr, wd, l1)
    v = (1 - RMSPROP_DECAY) * gW.astype(np.float64) ** 2
    np.testing.assert_allclose(W, W0 - lr * gW / (np.sqrt(v) + EPSILON), rtol=1e-5)


def test_sgd_l1_proximal_step_gives_exact_zeros_and_shrinks_the_rest():
    W = np.array([[0.001, 0.001], [-0.002, -0.002], [3.0, 3.0]], np.float32)
    b = np.zeros(C, np.float32)
    opt = Optimizer("sgd", (F, C))
    l1 = np.array([0.0, 0.5], np.float32)
    lr = np.full(C, 0.01, np.float32)
    opt.step(W, b, np.zeros((F, C), np.float32), np.zeros(C, np.float32), lr, np.zeros(C, np.float32), l1)
    assert np.all(W[:2, 1] == 0.0)  # |w| < lr*l1 = 0.005: exactly zero, not tiny
    assert W[2, 1] == pytest.approx(3.0 - 0.005)
    np.testing.assert_array_equal(W[:, 0], np.float32([0.001, -0.002, 3.0]))  # model without L1 untouched


@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_adaptive_l1_threshold_is_scaled_like_the_step(name):
    """Soft-threshold by lr*l1/(sqrt(v)+eps): the same per-weight scale as the gradient step."""
    g = np.array([[0.1, 0.1], [1.0, 1.0], [-2.0, -2.0]], np.float32)
    W = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]], np.float32)
    W_plain = W.copy()
    lr, l1 = np.full(C, 0.01, np.float32), np.array([0.0, 3.0], np.float32)
    zeros = np.zeros(C, np.float32)
    Optimizer(name, (F, C)).step(W, zeros.copy(), g.copy(), zeros.copy(), lr, zeros, l1)
    Optimizer(name, (F, C)).step(W_plain, zeros.copy(), g.copy(), zeros.copy(), lr, zeros, zeros)
    v = (1 - (0.999 if name == "adam" else RMSPROP_DECAY)) * g[:, 1].astype(np.float64) ** 2
    denom = np.sqrt(v / (1 - 0.999)) if name == "adam" else np.sqrt(v)
    expected = np.sign(W_plain[:, 1]) * np.maximum(np.abs(W_plain[:, 1]) - 0.03 / (denom + EPSILON), 0)
    np.testing.assert_allclose(W[:, 1], expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(W[:, 0], W_plain[:, 0])


def test_bias_is_frozen_when_not_updated():
    W, b, gW, gb, lr, wd, l1 = _state()
    b0 = b.copy()
    Optimizer("adam", (F, C)).step(W, b, gW, gb, lr, wd, l1, update_bias=False)
    np.testing.assert_array_equal(b, b0)


def test_scheduler_follows_the_formula():
    base = np.array([0.1, 1e-6], np.float32)
    for t in (0, 99, 100, 250, 10_000):
        lr = scheduled_lr(base, t, enabled=True, step=100, factor=0.9, minimum=1e-3)
        expected = np.maximum(base * 0.9 ** (t // 100), np.minimum(1e-3, base))
        np.testing.assert_allclose(lr, expected, rtol=1e-5)
    # the floor never raises a learning rate that starts below it
    assert scheduled_lr(base, 10**6, enabled=True, step=1, factor=0.5, minimum=1e-3)[1] == pytest.approx(1e-6)
    assert scheduled_lr(base, 10**6, enabled=True, step=1, factor=0.5, minimum=1e-3)[0] == pytest.approx(1e-3)


def test_scheduler_disabled_keeps_the_base_rate():
    base = np.array([0.1], np.float32)
    np.testing.assert_array_equal(
        scheduled_lr(base, 5000, enabled=False, step=1, factor=0.5, minimum=1e-5), base
    )


def test_unknown_optimizer_is_rejected():
    with pytest.raises(ValueError):
        Optimizer("adagrad", (F, C))
