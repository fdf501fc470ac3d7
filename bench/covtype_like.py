"""A synthetic data set shaped like UCI covtype (581,012 x 54, 7 classes with covtype's class priors).

Why synthetic: the benchmarks must run offline. Like covtype it has 10 continuous columns and 44 binary
(one-hot-like) columns, the classes overlap (a linear model reaches roughly 70% accuracy, not 100%),
and the two big classes dominate, so accuracy differences between learners are meaningful.
"""

from __future__ import annotations

import numpy as np

N_ROWS = 581_012
N_FEATURES = 54
# covtype class counts (Cover_Type 1..7 -> labels 0..6)
CLASS_COUNTS = np.array([211_840, 283_301, 35_754, 2_747, 9_493, 17_367, 20_510])
PRIORS = CLASS_COUNTS / CLASS_COUNTS.sum()


def make(n: int = N_ROWS, seed: int = 0, separation: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """(X float32 (n, 54), y float32 (n,) labels 0..6), rows in random order."""
    rng = np.random.default_rng(seed)
    y = rng.choice(7, size=n, p=PRIORS)
    centers = rng.normal(scale=separation, size=(7, 10))
    centers[1] = centers[0] + rng.normal(scale=separation / 2, size=10)  # the two big classes overlap most
    X = np.empty((n, N_FEATURES), np.float32)
    # continuous part: class centre + correlated noise + a non-linear twist no linear model captures
    mix = rng.normal(size=(10, 10)) / np.sqrt(10)
    X[:, :10] = centers[y] + rng.normal(size=(n, 10)) @ mix + 0.5 * np.sin(3 * rng.normal(size=(n, 1)))
    X[:, :10] = X[:, :10] * rng.uniform(1, 300, size=10) + rng.uniform(0, 3000, size=10)  # covtype-like units
    # binary part: 4 "wilderness" + 40 "soil" one-hot groups, class dependent
    wild = 0.8 * rng.dirichlet(np.ones(4), size=1) + 0.2 * rng.dirichlet(np.ones(4) * 0.7, size=7)
    soil = 0.8 * rng.dirichlet(np.ones(40), size=1) + 0.2 * rng.dirichlet(np.ones(40) * 0.3, size=7)
    X[:, 10:] = 0
    u = rng.random(n)
    X[np.arange(n), 10 + (np.cumsum(wild[y], axis=1) < u[:, None]).sum(axis=1)] = 1
    u = rng.random(n)
    X[np.arange(n), 14 + np.minimum((np.cumsum(soil[y], axis=1) < u[:, None]).sum(axis=1), 39)] = 1
    return X, y.astype(np.float32)
