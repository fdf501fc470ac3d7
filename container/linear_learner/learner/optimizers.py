"""In-place optimizers over stacked parameters, with per-column learning rate, wd and l1.

Every model's hyperparameters are (C,) column vectors broadcast over the weight matrix, so the
parameter grid is data rather than a loop. L1 is a proximal soft-threshold after the step (scaled
by adam's/rmsprop's per-weight step size), which yields exact zeros; the bias gets its own lr/wd
multipliers and no L1 (reference §6).
"""

from __future__ import annotations

import numpy as np

from .kernels import adam_update

RMSPROP_DECAY = 0.9
EPSILON = 1e-8
_EPS32 = np.float32(EPSILON)
_ONE32 = np.float32(1.0)


def scheduled_lr(
    base_lr: np.ndarray, update: int, *, enabled: bool, step: int, factor: float, minimum: float
) -> np.ndarray:
    """lr after `update` updates: base * factor^(update // step), floored at min(minimum, base)."""
    if not enabled:
        return base_lr
    decayed = base_lr * np.float32(factor) ** (update // step)
    return np.maximum(decayed, np.minimum(np.float32(minimum), base_lr)).astype(np.float32)


class Optimizer:
    """sgd (momentum), adam (beta_1, beta_2) or rmsprop for W (F, C) and b (C,)."""

    def __init__(
        self,
        name: str,
        shape: tuple[int, int],
        *,
        momentum: float = 0.0,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        bias_lr_mult: float = 10.0,
        bias_wd_mult: float = 0.0,
        order: str = "C",
    ) -> None:
        """order: the weights' memory layout, which the state arrays share (training uses "F")."""
        if name not in ("sgd", "adam", "rmsprop"):
            raise ValueError(f"unknown optimizer {name!r}")
        self.name = name
        self.momentum = np.float32(momentum)
        self.beta_1 = np.float32(beta_1)
        self.beta_2 = np.float32(beta_2)
        self.bias_lr_mult = np.float32(bias_lr_mult)
        self.bias_wd_mult = np.float32(bias_wd_mult)
        F, C = shape
        self.t = 0
        self.mW = np.zeros((F, C), np.float32, order=order)
        self.mb = np.zeros(C, np.float32)
        self.vW = np.zeros((F, C), np.float32, order=order) if name != "sgd" else None
        self.vb = np.zeros(C, np.float32) if name != "sgd" else None
        self._tmp = np.empty((F, C), np.float32, order=order)
        self._denom: np.ndarray | None = None  # adam/rmsprop preconditioner of the last W step
        self._bias_views: tuple | None = None  # adam: b, (1, C) views of b, mb, vb, and zero L1

    def state(self) -> dict[str, np.ndarray]:
        """Arrays that a checkpoint must hold to resume identically."""
        out = {"t": np.array([self.t], np.int64), "mW": self.mW, "mb": self.mb}
        if self.vW is not None:
            out.update(vW=self.vW, vb=self.vb)
        return out

    def column_arrays(self) -> dict[str, np.ndarray]:
        """The state arrays whose last axis is the parameter column (F, C) or (C,)."""
        return {k: v for k, v in self.state().items() if k != "t"}

    def copy_columns(self, full: Optimizer, cols: np.ndarray) -> None:
        """Take the update count and columns `cols` of a wider optimizer's state (model groups)."""
        self.t = full.t
        theirs = full.column_arrays()
        for name, arr in self.column_arrays().items():
            arr[...] = theirs[name][..., cols]

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        self.t = int(state["t"][0])
        self.mW[...] = state["mW"]
        self.mb[...] = state["mb"]
        if self.vW is not None:
            self.vW[...] = state["vW"]
            self.vb[...] = state["vb"]

    def step(
        self,
        W: np.ndarray,
        b: np.ndarray,
        gW: np.ndarray,
        gb: np.ndarray,
        lr: np.ndarray,
        wd: np.ndarray,
        l1: np.ndarray,
        *,
        update_bias: bool = True,
    ) -> None:
        """One update in place. gW/gb are loss gradients (without regularisation); lr, wd, l1 are (C,)."""
        self.t += 1
        if self.name == "adam":
            self._adam_step(W, b, gW, gb, lr, wd, l1, update_bias)
            return
        gW += wd * W
        if update_bias:
            gb = gb + (wd * self.bias_wd_mult) * b
        dW = self._direction(gW, self.mW, self.vW, self._tmp)
        W -= lr * dW
        if update_bias:
            db = self._direction(gb, self.mb, self.vb, None)
            b -= (lr * self.bias_lr_mult) * db
        if np.any(l1 > 0):
            # The proximal step in the optimizer's own metric: adam/rmsprop move each weight by
            # lr / (sqrt(v) + eps) per unit gradient, so the L1 threshold is scaled the same way.
            # A plain lr*l1 threshold is dwarfed by adam's ~lr steps and never produces zeros.
            thresh = lr * l1 if self._denom is None else (lr * l1) / self._denom
            np.copysign(np.maximum(np.abs(W) - thresh, 0.0), W, out=W)

    def _adam_step(self, W, b, gW, gb, lr, wd, l1, update_bias: bool) -> None:
        """adam in one compiled pass per array (learner/kernels.py): ~20 numpy calls cost more than the
        maths, and so would rebuilding the bias's (1, C) views and zero L1 at every one of the
        thousands of steps an epoch takes."""
        c1 = np.float32(1 - float(self.beta_1) ** self.t)
        c2 = np.float32(1 - float(self.beta_2) ** self.t)
        common = (self.beta_1, self.beta_2, c1, c2, _EPS32)
        adam_update(W, gW, self.mW, self.vW, lr, wd, l1, _ONE32, _ONE32, *common)
        if update_bias:
            if self._bias_views is None or self._bias_views[0] is not b:
                zeros = np.zeros(self.mb.shape, np.float32)
                self._bias_views = (
                    b,
                    b.reshape(1, -1),
                    self.mb.reshape(1, -1),
                    self.vb.reshape(1, -1),
                    zeros,
                )
            _, P, m1, m2, no_l1 = self._bias_views
            g = np.asarray(gb, np.float32).reshape(1, -1)
            adam_update(P, g, m1, m2, lr, wd, no_l1, self.bias_lr_mult, self.bias_wd_mult, *common)

    def _direction(self, g: np.ndarray, m: np.ndarray, v: np.ndarray | None, tmp) -> np.ndarray:
        """sgd or rmsprop (adam has its own kernel)."""
        if self.name == "sgd":
            if self.momentum == 0:
                return g
            m *= self.momentum
            m += g
            return m
        v *= RMSPROP_DECAY
        v += (1 - RMSPROP_DECAY) * g * g
        denom = np.sqrt(v) + EPSILON
        if tmp is not None:
            self._denom = denom
        return g / denom
