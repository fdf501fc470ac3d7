"""The deterministic per-model hyperparameter grid (reference D1, D2) as (M,) arrays.

Model i: a = i mod 4 picks the learning-rate multiplier, b = i//4 mod 4 the wd, c = i//16 mod 2
the l1, p = (a + b) mod 4 the positive-example weight. A value the user set is used by every model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LR_MULTIPLIERS = (1.0, 10**0.5, 10**-0.5, 10.0)
WD_VALUES = (1e-4, 1e-3, 1e-5, 1e-2)
L1_VALUES = (0.0, 1e-4)


@dataclass(frozen=True)
class ModelGrid:
    """Per-model values, each (M,) float32, plus a readable description per model."""

    learning_rate: np.ndarray
    wd: np.ndarray
    l1: np.ndarray
    positive_weight: np.ndarray

    @property
    def num_models(self) -> int:
        return int(self.learning_rate.shape[0])

    def describe(self, i: int) -> dict[str, float]:
        return {
            "learning_rate": float(self.learning_rate[i]),
            "wd": float(self.wd[i]),
            "l1": float(self.l1[i]),
            "positive_example_weight_mult": float(self.positive_weight[i]),
        }


def build_grid(
    num_models: int,
    *,
    learning_rate: float,
    wd: float,
    l1: float,
    vary_learning_rate: bool,
    vary_wd: bool,
    vary_l1: bool,
    positive_weight: float = 1.0,
    positive_ratio: float | None = None,
) -> ModelGrid:
    """positive_ratio r = n_neg/n_pos enables the auto positive-weight candidates {1, r^1/3, r^2/3, r}."""
    lr, wds, l1s, pws = [], [], [], []
    for i in range(num_models):
        j = i % 32
        a, b, c = j % 4, (j // 4) % 4, (j // 16) % 2
        p = (a + b) % 4
        lr.append(learning_rate * LR_MULTIPLIERS[a] if vary_learning_rate else learning_rate)
        wds.append(WD_VALUES[b] if vary_wd else wd)
        l1s.append(L1_VALUES[c] if vary_l1 else l1)
        pws.append(positive_ratio ** (p / 3.0) if positive_ratio is not None else positive_weight)
    as32 = lambda v: np.asarray(v, dtype=np.float32)  # noqa: E731
    return ModelGrid(as32(lr), as32(wds), as32(l1s), as32(pws))
