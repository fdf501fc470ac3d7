"""Early stopping on the best-over-models value, and per-model best-epoch tracking (reference §6)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class EarlyStopping:
    """Relative-tolerance patience rule; `maximize` flips the sign for score-like criteria."""

    patience: int
    tolerance: float
    maximize: bool
    best: float | None = None
    epochs_without_improvement: int = 0

    def update(self, value: float) -> bool:
        """Record one epoch's value; return True if it counts as an improvement."""
        if not np.isfinite(value):
            self.epochs_without_improvement += 1
            return False
        if self.best is None:
            self.best = value
            self.epochs_without_improvement = 0
            return True
        gain = (value - self.best) if self.maximize else (self.best - value)
        if gain / max(abs(self.best), 1e-12) >= self.tolerance:
            self.best = value
            self.epochs_without_improvement = 0
            return True
        self.epochs_without_improvement += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.epochs_without_improvement >= self.patience


@dataclass
class BestPerModel:
    """Each model's best value so far (M,), NaN-safe; returns which models improved this epoch."""

    maximize: bool
    values: np.ndarray = field(default_factory=lambda: np.empty(0))

    def update(self, epoch_values: np.ndarray) -> np.ndarray:
        v = np.where(np.isfinite(epoch_values), epoch_values, -np.inf if self.maximize else np.inf)
        if self.values.size == 0:
            self.values = v.astype(np.float64)
            return np.isfinite(v)
        better = v > self.values if self.maximize else v < self.values
        self.values = np.where(better, v, self.values)
        return better


def best_model(values: np.ndarray, maximize: bool) -> int | None:
    """Index of the best finite value, lowest index on ties; None when every model diverged."""
    finite = np.isfinite(values)
    if not finite.any():
        return None
    v = np.where(finite, values, -np.inf if maximize else np.inf)
    return int(np.argmax(v) if maximize else np.argmin(v))
