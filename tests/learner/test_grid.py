"""The deterministic per-model grid of reference D1/D2."""

from __future__ import annotations

import numpy as np
import pytest

from linear_learner.learner.grid import build_grid

VARY_ALL = dict(vary_learning_rate=True, vary_wd=True, vary_l1=True)


def test_model_zero_is_the_defaults_and_adam_learning_rates_match_d1():
    g = build_grid(32, learning_rate=0.01, wd=1e-4, l1=0.0, **VARY_ALL)
    assert g.describe(0) == pytest.approx(
        {"learning_rate": 0.01, "wd": 1e-4, "l1": 0.0, "positive_example_weight_mult": 1.0}
    )
    np.testing.assert_allclose(g.learning_rate[:4], [0.01, 0.03162, 0.003162, 0.1], rtol=1e-3)
    np.testing.assert_allclose(g.wd[::4][:4], [1e-4, 1e-3, 1e-5, 1e-2], rtol=1e-6)
    np.testing.assert_array_equal(g.l1[:16], 0.0)
    np.testing.assert_allclose(g.l1[16:], 1e-4)


def test_each_configuration_appears_once_in_32_models_and_repeats_after():
    g = build_grid(64, learning_rate=0.1, wd=1e-4, l1=0.0, **VARY_ALL)
    configs = {(g.learning_rate[i], g.wd[i], g.l1[i]) for i in range(32)}
    assert len(configs) == 32
    for i in range(32, 64):
        assert g.describe(i) == g.describe(i - 32)


def test_fewer_models_take_the_first_configurations():
    big = build_grid(32, learning_rate=0.01, wd=1e-4, l1=0.0, **VARY_ALL)
    small = build_grid(5, learning_rate=0.01, wd=1e-4, l1=0.0, **VARY_ALL)
    assert small.num_models == 5
    for i in range(5):
        assert small.describe(i) == big.describe(i)


def test_user_set_values_are_used_by_every_model():
    g = build_grid(
        32, learning_rate=0.5, wd=0.25, l1=0.125, vary_learning_rate=False, vary_wd=False, vary_l1=False
    )
    assert set(g.learning_rate) == {np.float32(0.5)}
    assert set(g.wd) == {np.float32(0.25)} and set(g.l1) == {np.float32(0.125)}


def test_positive_weight_is_fixed_unless_auto():
    g = build_grid(32, learning_rate=0.01, wd=1e-4, l1=0.0, positive_weight=7.0, **VARY_ALL)
    assert set(g.positive_weight) == {np.float32(7.0)}


def test_auto_positive_weights_cover_every_lr_weight_pair_once_per_16_models():
    r = 27.0
    g = build_grid(16, learning_rate=0.01, wd=1e-4, l1=0.0, positive_ratio=r, **VARY_ALL)
    np.testing.assert_allclose(sorted(set(g.positive_weight.tolist())), [1, 3, 9, 27], rtol=1e-5)
    pairs = {(float(g.learning_rate[i]), float(g.positive_weight[i])) for i in range(16)}
    assert len(pairs) == 16
    assert g.positive_weight[0] == 1.0
    # every (wd, weight) pair too: the weight is not confounded with wd
    assert len({(float(g.wd[i]), float(g.positive_weight[i])) for i in range(16)}) == 16
