"""Compiled kernels and execution policy for the training hot loop.

Why compiled: a mini-batch step of 32 softmax models on 1,000 rows and 7 classes spends two GEMMs of
~24 MFLOP each (~0.2 ms apiece on one core) and, in numpy, three times as long again on the
element-wise softmax and the adam update: a dozen passes over 224,000 scores, and twenty calls on a
12,000-weight matrix whose per-call overhead exceeds the arithmetic. One fused pass each brings that
down to a tenth of the GEMMs (bench/bench_train.py, section step).

Why a hand-written exp: numba calls the C library's scalar expf unless llvmlite was built with Intel's
SVML, which the PyPI wheels are not; scalar exp made a fused kernel barely faster than numpy's own
SIMD exp. The Cephes polynomial below (relative error < 3e-7 on [-80, 0], the only range the softmax
feeds it) is plain arithmetic that LLVM vectorises.

Why one BLAS thread: each GEMM is a fraction of a millisecond, and OpenBLAS's thread hand-off costs as
much on a quiet 2-core machine and, measured on a shared one, up to 100x more whenever the second core
is busy. Training uses the second core itself instead: a grid's models train in two column groups,
one thread each (training/model_groups.py), and a single group's batch is cut into row chunks that
either thread may take (training/step.py); both degrade to one core rather than stalling.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
from numba import njit

_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy", inline="always")
def _exp_parts(x):
    """exp(x) = mantissa * 2**n for x in [-80, 0]: returns (mantissa in [0.7, 1.5], n as float)."""
    n = np.floor(x * _LOG2E + np.float32(0.5))
    r = x - n * _LN2_HI - n * _LN2_LO
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    return p * (r * r) + r + np.float32(1.0), n


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _log_range(d, bits, out):
    """out = log(d) for positive normal float32 d, vectorised: d = 2**e * f, f in [1, 2).

    log f = 2 atanh(s), s = (f - 1) / (f + 1) in [0, 1/3), by its series to s**11 (error < 2e-7).
    bits (len(d),) int32 is scratch through which the mantissa is reassembled.
    """
    raw = d.view(np.int32)
    f = bits.view(np.float32)
    for i in range(d.shape[0]):
        bits[i] = (raw[i] & 0x007FFFFF) | 0x3F800000
    for i in range(d.shape[0]):
        e = np.float32((raw[i] >> 23) - 127)
        s = (f[i] - np.float32(1.0)) / (f[i] + np.float32(1.0))
        s2 = s * s
        p = np.float32(1.0 / 11.0)
        p = p * s2 + np.float32(1.0 / 9.0)
        p = p * s2 + np.float32(1.0 / 7.0)
        p = p * s2 + np.float32(1.0 / 5.0)
        p = p * s2 + np.float32(1.0 / 3.0)
        p = p * s2 + np.float32(1.0)
        out[i] = e * np.float32(0.6931471805599453) + np.float32(2.0) * s * p


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def softmax_gradient_t(ST, b, y, w, gb, loss):
    """Softmax cross-entropy on transposed scores, in place: ST becomes the weighted gradient.

    ST (K, M, R) holds W^T X^T: class k of model m for each row r, so every loop runs over R contiguous
    rows; b (K*M,) is added here. y (R,) float labels 0..K-1; w (1 or M, R) row weights. Writes
    gb[k*M + m] = sum_r gradient (the bias gradient) and loss[m] = sum_r w_r (log sum_k e^s - s_y).

    Scores more than 80 below a row's maximum are clamped there: their probability (< 1e-34) leaves
    the sums and the gradient unchanged in float32, and exp stays a normal number (denormals cost
    ~100x per operation, here and in the X^T G product that follows).
    """
    K, M, R = ST.shape
    lo = np.float32(-80.0 + np.log(K))
    per_model_w = w.shape[0] > 1
    mx = np.empty(R, np.float32)
    zy = np.empty(R, np.float32)
    den = np.empty(R, np.float32)
    tmp = np.empty(R, np.float32)
    pow2 = np.empty(R, np.int32)
    scale = pow2.view(np.float32)
    for m in range(M):
        s0 = ST[0, m]
        b0 = b[m]
        for r in range(R):
            v = s0[r] + b0
            s0[r] = v
            mx[r] = v
            zy[r] = v
        for k in range(1, K):  # the bias, the row maximum and the label's score in one pass
            s = ST[k, m]
            bk = b[k * M + m]
            fk = np.float32(k)
            for r in range(R):
                v = s[r] + bk
                s[r] = v
                mx[r] = v if v > mx[r] else mx[r]
                zy[r] = v if y[r] == fk else zy[r]
        for r in range(R):
            den[r] = 0.0
        for k in range(K):
            s = ST[k, m]
            for r in range(R):
                x = s[r] - mx[r]
                x = x if x > lo else lo
                mant, n = _exp_parts(x)
                pow2[r] = (np.int32(n) + 127) << 23  # 2**n through the float view of these bits
                e = mant * scale[r]
                s[r] = e
                den[r] += e
        wr = w[m] if per_model_w else w[0]
        _log_range(den, pow2, tmp)
        total = 0.0
        for r in range(R):
            total += wr[r] * (tmp[r] - (zy[r] - mx[r]))
        loss[m] = total
        for r in range(R):
            mx[r] = wr[r] / den[r]
        for k in range(K):
            s = ST[k, m]
            fk = np.float32(k)
            g = np.float32(0.0)
            for r in range(R):
                v = s[r] * mx[r] - (wr[r] if y[r] == fk else np.float32(0.0))
                s[r] = v
                g += v
            gb[k * M + m] = g


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy", inline="always")
def _adam_element(p, g, m1, m2, lr, wd, l1, beta_1, beta_2, c1, c2, eps):
    """(new weight, new first moment, new second moment) of one weight; lr and wd already scaled."""
    g = g + wd * p
    a = beta_1 * m1 + (np.float32(1.0) - beta_1) * g
    v = beta_2 * m2 + (np.float32(1.0) - beta_2) * g * g
    denom = np.sqrt(v / c2) + eps
    p = p - lr * (a / c1) / denom
    if l1 > 0:
        mag = abs(p) - lr * l1 / denom
        p = np.copysign(mag, p) if mag > 0 else np.float32(0.0)
    return p, a, v


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _adam_per_column(P, g, m1, m2, lr, wd, l1, lr_mult, wd_mult, beta_1, beta_2, c1, c2, eps):
    R, C = P.shape
    for i in range(R):
        for j in range(C):
            P[i, j], m1[i, j], m2[i, j] = _adam_element(
                P[i, j], g[i, j], m1[i, j], m2[i, j], lr[j] * lr_mult, wd[j] * wd_mult, l1[j],
                beta_1, beta_2, c1, c2, eps,
            )  # fmt: skip


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _adam_per_row(P, g, m1, m2, lr, wd, l1, lr_mult, wd_mult, beta_1, beta_2, c1, c2, eps):
    R, C = P.shape
    for i in range(R):
        lr_i, wd_i, l1_i = lr[i] * lr_mult, wd[i] * wd_mult, l1[i]
        for j in range(C):
            P[i, j], m1[i, j], m2[i, j] = _adam_element(
                P[i, j], g[i, j], m1[i, j], m2[i, j], lr_i, wd_i, l1_i, beta_1, beta_2, c1, c2, eps
            )


def adam_update(P, g, m1, m2, lr, wd, l1, lr_mult, wd_mult, beta_1, beta_2, c1, c2, eps) -> None:
    """One adam step in place on P (R, C) with per-column lr, wd, l1 (C,), and an L1 proximal step.

    g is the loss gradient without regularisation; wd_mult / lr_mult scale wd and lr (the bias's
    bias_wd_mult / bias_lr_mult, 1 for weights). c1, c2 are the bias corrections 1 - beta**t. The L1
    threshold is lr * l1 divided by the same preconditioner as the step, so it acts in adam's metric.
    Column-major P (training's weights) is walked as its transpose, so the inner loop always runs
    along contiguous memory and vectorises (strided, it was 5x slower).
    """
    args = (lr, wd, l1, lr_mult, wd_mult, beta_1, beta_2, c1, c2, eps)
    if P.ndim == 2 and P.shape[0] > 1 and P.flags.f_contiguous:
        _adam_per_row(P.T, g.T, m1.T, m2.T, *args)
    else:
        _adam_per_column(P, g, m1, m2, *args)


def warm_up() -> None:
    """Compile the kernels (or load them from numba's cache) for the argument types training uses.

    Called before the first epoch, so its timing is not charged for compilation, and in the image
    build, so a container's first job does not compile at all.
    """
    f32 = np.float32
    K, M, R = 2, 1, 2
    ST = np.zeros((K, M, R), f32)
    softmax_gradient_t(
        ST, np.zeros(K * M, f32), np.zeros(R, f32), np.ones((1, R), f32), np.zeros(K * M, f32), np.zeros(M)
    )
    cols = np.zeros(2, f32)
    hp = (cols, cols, cols, f32(1), f32(1), f32(0.9), f32(0.999), f32(0.1), f32(0.001), f32(1e-8))
    for order in ("C", "F"):  # training's column-major weights, and the biases' (1, C) rows
        P = np.zeros((2, 2), f32, order=order)
        adam_update(P, P.copy(order="K"), P.copy(order="K"), P.copy(order="K"), *hp)
        # the row-major gradient numpy returns beside column-major state (sgd's and tests' callers)
        adam_update(P, np.zeros((2, 2), f32), P.copy(order="K"), P.copy(order="K"), *hp)


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread inside the block (no-op when threadpoolctl is unavailable)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
