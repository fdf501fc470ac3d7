"""Per-example losses on stacked model outputs, in the product's label convention.

Scores S have shape (B, K, M): rows, outputs (1, or num_classes), stacked models. The class-major
layout keeps reductions over K running across contiguous blocks of M (performance-notes.md). Labels
stay 0/1, 0..k-1 or reals; `w` is (B, 1) or (B, M) so each model may carry its own positive weight.
A loss never sees X or regularisation: the caller applies X^T G once for all losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REGRESSION_LOSSES = (
    "squared_loss",
    "absolute_loss",
    "eps_insensitive_squared_loss",
    "eps_insensitive_absolute_loss",
    "quantile_loss",
    "huber_loss",
)
BINARY_LOSSES = ("logistic", "hinge_loss")
MULTICLASS_LOSSES = ("softmax_loss",)

_OBJECTIVE_NAMES = {
    "logistic": "binary_classification_cross_entropy_objective",
    "squared_loss": "mse_objective",
    "softmax_loss": "multiclass_cross_entropy_objective",
}


def objective_name(loss: str) -> str:
    """The name the built-in prints for the objective (reference §2): `<loss>_objective` otherwise."""
    return _OBJECTIVE_NAMES.get(loss, f"{loss}_objective")


def _softplus(f: np.ndarray) -> np.ndarray:
    """log(1 + e^f) without overflow."""
    return np.logaddexp(np.float32(0.0), f)


@dataclass(frozen=True)
class Loss:
    """A pointwise loss. `margin`, `quantile`, `epsilon`, `delta` are in the units the model trains in."""

    name: str
    margin: float = 1.0
    quantile: float = 0.5
    epsilon: float = 0.01
    delta: float = 1.0

    @property
    def objective_name(self) -> str:
        return objective_name(self.name)

    def value_and_grad(
        self, S: np.ndarray, y: np.ndarray, w: np.ndarray, *, need_grad: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Return (weighted loss (B, M), weighted d loss / d S (B, K, M) or None).

        The caller builds w: positive-example weights on the positive rows only (binary), class
        weights w_y (multiclass), ones otherwise.
        """
        if self.name == "softmax_loss":
            return _softmax(S, y, w, need_grad)
        f = S[:, 0, :]
        yb = y[:, None]
        loss, g = _SCALAR[self.name](self, f, yb, need_grad)
        loss *= w
        if g is None:
            return loss, None
        g *= w
        return loss, g[:, None, :]

    def value(self, S: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        return self.value_and_grad(S, y, w, need_grad=False)[0]


def _squared(loss: Loss, f, y, need_grad):
    e = f - y
    return e * e, (2.0 * e if need_grad else None)


def _absolute(loss: Loss, f, y, need_grad):
    e = f - y
    return np.abs(e), (np.sign(e) if need_grad else None)


def _eps_squared(loss: Loss, f, y, need_grad):
    e = f - y
    eps = np.float32(loss.epsilon)
    value = np.maximum(e * e - eps * eps, 0.0)
    return value, (np.where(np.abs(e) > eps, 2.0 * e, 0.0).astype(f.dtype) if need_grad else None)


def _eps_absolute(loss: Loss, f, y, need_grad):
    e = f - y
    eps = np.float32(loss.epsilon)
    value = np.maximum(np.abs(e) - eps, 0.0)
    return value, (np.where(np.abs(e) > eps, np.sign(e), 0.0).astype(f.dtype) if need_grad else None)


def _huber(loss: Loss, f, y, need_grad):
    e = f - y
    d = np.float32(loss.delta)
    a = np.abs(e)
    value = np.where(a < d, 0.5 * e * e, d * a - 0.5 * d * d).astype(f.dtype)
    return value, (np.clip(e, -d, d) if need_grad else None)


def _quantile(loss: Loss, f, y, need_grad):
    q = np.float32(loss.quantile)
    e = y - f
    value = np.where(e > 0, q * e, (q - 1.0) * e).astype(f.dtype)
    # d/df: -q where y > f (under-prediction), 1 - q where f > y.
    return value, (np.where(e > 0, -q, np.where(e < 0, 1.0 - q, 0.0)).astype(f.dtype) if need_grad else None)


def _logistic(loss: Loss, f, y, need_grad):
    # y*softplus(-f) + (1-y)*softplus(f); gradient sigma(f) - y.
    value = y * _softplus(-f) + (1.0 - y) * _softplus(f)
    if not need_grad:
        return value, None
    # sigma(f) = (1 + tanh(f/2)) / 2: no overflow (and no warning spam) for large |f|.
    p = np.multiply(f, 0.5)
    np.tanh(p, out=p)
    p += 1.0
    p *= 0.5
    return value, p - y


def _hinge(loss: Loss, f, y, need_grad):
    m = np.float32(loss.margin)
    pos = np.maximum((m + 1.0) / 2.0 - f, 0.0)
    neg = np.maximum((m - 1.0) / 2.0 + f, 0.0)
    value = y * pos + (1.0 - y) * neg
    if not need_grad:
        return value, None
    g = -y * (pos > 0) + (1.0 - y) * (neg > 0)
    return value, g.astype(f.dtype)


_SCALAR = {
    "squared_loss": _squared,
    "absolute_loss": _absolute,
    "eps_insensitive_squared_loss": _eps_squared,
    "eps_insensitive_absolute_loss": _eps_absolute,
    "huber_loss": _huber,
    "quantile_loss": _quantile,
    "logistic": _logistic,
    "hinge_loss": _hinge,
}


def _softmax(S: np.ndarray, y: np.ndarray, w: np.ndarray, need_grad: bool):
    """-log softmax(S)_y per model, class weights already folded into w (B, 1) or (B, M).

    Performance: numpy's reductions over a short middle axis (K classes of a (B, K, M) view) are
    several times slower than K element-wise passes over contiguous (B, M) slices, so max and sum
    loop over the classes; a reciprocal and a multiply replace the divide; unit weights skip their
    multiplies. Together this halves the cost of the step's largest non-GEMM part.
    """
    B, K, M = S.shape
    mx = S[:, 0, :].copy()
    for k in range(1, K):
        np.maximum(mx, S[:, k, :], out=mx)
    z = S - mx[:, None, :]
    rows = np.arange(B)
    yi = y.astype(np.int64)
    zy = z[rows, yi, :]  # taken before the clamp below, so the loss stays exact for very wrong scores
    # Performance: exp of a score far below the row's maximum is a float32 denormal, and denormals
    # cost ~100x per operation on x86 (here, in the multiply and in the X^T G product that follows):
    # a trained model makes many. Clamping keeps exp and p = exp / denom (denom <= K) normal; the
    # probabilities involved (< 1e-34) leave denom and every gradient unchanged in float32.
    np.maximum(z, np.float32(-80.0 + np.log(K)), out=z)
    ez = np.exp(z, out=z)
    denom = ez[:, 0, :].copy()  # (B, M)
    for k in range(1, K):
        denom += ez[:, k, :]
    unit = w.shape[1] == 1 and bool((w == 1).all())
    loss = np.log(denom) - zy
    if not unit:
        loss *= w
    if not need_grad:
        return loss, None
    inv = np.reciprocal(denom)
    if not unit:
        inv *= w
    ez *= inv[:, None, :]
    if unit:
        ez[rows, yi, :] -= 1.0
    else:
        ez[rows, yi, :] -= w
    return loss, ez


def make_loss(
    name: str,
    *,
    margin: float = 1.0,
    quantile: float = 0.5,
    loss_insensitivity: float = 0.01,
    huber_delta: float = 1.0,
    label_scale: float = 1.0,
) -> Loss:
    """Build a loss; label-unit parameters are divided by label_scale once (labels train scaled)."""
    if name not in _SCALAR and name != "softmax_loss":
        raise ValueError(f"unknown loss {name!r}")
    return Loss(
        name=name,
        margin=float(margin),
        quantile=float(quantile),
        epsilon=float(loss_insensitivity) / label_scale,
        delta=float(huber_delta) / label_scale,
    )
