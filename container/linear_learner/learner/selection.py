"""Early stopping on the best-over-models value, and per-model best-epoch tracking (reference §6)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class EarlyStopping:
    """Relative-tolerance patience rule; `maximize` flips the sign for score-like criteria.

    A score criterion such as sampled accuracy plateaus on small validation sets long before the
    models converge; when the criterion holds steady, a validation-loss improvement (the optional
    `tiebreak`, always minimised) also counts, so training does not stop at epoch 3 by accident.
    """

    patience: int
    tolerance: float
    maximize: bool
    best: float | None = None
    best_tiebreak: float | None = None
    epochs_without_improvement: int = 0

    def _gain(self, new: float, old: float, maximize: bool) -> float:
        return ((new - old) if maximize else (old - new)) / max(abs(old), 1e-12)

    def update(self, value: float, tiebreak: float | None = None) -> bool:
        """Record one epoch's value; return True if it counts as an improvement."""
        if not np.isfinite(value):
            self.epochs_without_improvement += 1
            return False
        improved = self.best is None or self._gain(value, self.best, self.maximize) >= self.tolerance
        if not improved and tiebreak is not None and np.isfinite(tiebreak) and self.best_tiebreak is not None:
            steady = self._gain(value, self.best, self.maximize) >= 0
            improved = steady and self._gain(tiebreak, self.best_tiebreak, False) >= self.tolerance
        if improved:
            self.best = value if self.best is None else (max if self.maximize else min)(value, self.best)
            if tiebreak is not None and np.isfinite(tiebreak):
                self.best_tiebreak = tiebreak
            self.epochs_without_improvement = 0
            return True
        self.epochs_without_improvement += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.epochs_without_improvement >= self.patience


@dataclass
class BestPerModel:
    """Each model's best value so far (M,), NaN-safe; returns which models improved this epoch.

    Ties on the criterion are broken by a lower `tiebreak` (validation loss), so a model whose
    accuracy is flat but whose loss still falls keeps its newer, better-converged parameters.
    """

    maximize: bool
    values: np.ndarray = field(default_factory=lambda: np.empty(0))
    tiebreaks: np.ndarray = field(default_factory=lambda: np.empty(0))

    def update(self, epoch_values: np.ndarray, tiebreak: np.ndarray | None = None) -> np.ndarray:
        worst = -np.inf if self.maximize else np.inf
        v = np.where(np.isfinite(epoch_values), epoch_values, worst)
        t = (
            np.full(v.shape, np.inf)
            if tiebreak is None
            else np.where(np.isfinite(tiebreak), tiebreak, np.inf)
        )
        if self.values.size == 0:
            self.values, self.tiebreaks = v.astype(np.float64), t.astype(np.float64)
            return np.isfinite(v)
        better = v > self.values if self.maximize else v < self.values
        better |= (v == self.values) & np.isfinite(v) & (t < self.tiebreaks)
        self.values = np.where(better, v, self.values)
        self.tiebreaks = np.where(better, t, self.tiebreaks)
        return better


def best_model(values: np.ndarray, maximize: bool) -> int | None:
    """Index of the best finite value, lowest index on ties; None when every model diverged."""
    finite = np.isfinite(values)
    if not finite.any():
        return None
    v = np.where(finite, values, -np.inf if maximize else np.inf)
    return int(np.argmax(v) if maximize else np.argmin(v))
