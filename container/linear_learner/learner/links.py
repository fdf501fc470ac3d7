"""Inverse links that turn raw linear outputs into scores (shared by losses and the Predictor)."""

from __future__ import annotations

import numpy as np


def identity(f: np.ndarray) -> np.ndarray:
    return f


def sigmoid(f: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function (no overflow warnings for large |f|)."""
    out = np.empty_like(f)
    pos = f >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-f[pos]))
    ez = np.exp(f[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def softmax(f: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax over `axis`, shifted by the max for stability."""
    z = f - f.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z


LINKS = {"identity": identity, "sigmoid": sigmoid, "softmax": softmax}


def link_for_loss(predictor_type: str, loss: str) -> str:
    """Which link maps a model's raw output to its served `score` (reference §2)."""
    if predictor_type == "multiclass_classifier":
        return "softmax"
    if predictor_type == "binary_classifier" and loss == "logistic":
        return "sigmoid"
    return "identity"
