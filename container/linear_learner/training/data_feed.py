"""Mini-batches for each epoch: the trainer asks a feed, so in-memory, streaming and Pipe-mode
sources are interchangeable (issue 6 adds the streaming feeds beside this one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np


class EpochFeed(Protocol):
    n_rows: int

    def batches(self, epoch: int, batch_size: int) -> Iterator[tuple[object, np.ndarray, np.ndarray]]:
        """Yield (X rows already scaled, labels in training units, weights (B, 1|M)) for one pass."""
        ...


class InMemoryFeed:
    """Whole training set in memory: one contiguous shuffled copy per epoch, sliced into batches."""

    def __init__(self, X, y: np.ndarray, w: np.ndarray, seed: int = 0, shuffle: bool = True) -> None:
        self.X, self.y, self.w = X, y, w
        self.n_rows = int(X.shape[0])
        self.seed = seed
        self.shuffle = shuffle

    def batches(self, epoch: int, batch_size: int):
        n = self.n_rows
        if self.shuffle:
            perm = np.random.default_rng(self.seed * 1_000_003 + epoch).permutation(n)
            X, y, w = self.X[perm], self.y[perm], self.w[perm]
        else:
            X, y, w = self.X, self.y, self.w
        for start in range(0, n, batch_size):
            yield X[start : start + batch_size], y[start : start + batch_size], w[start : start + batch_size]
