"""Early stopping's relative tolerance and patience, per-model bests and the winner (reference §6, D3)."""

from __future__ import annotations

import numpy as np

from linear_learner.learner.selection import BestPerModel, EarlyStopping, best_model


def test_relative_tolerance_and_patience_when_minimising():
    es = EarlyStopping(patience=2, tolerance=0.01, maximize=False)
    assert es.update(1.0)
    assert es.update(0.98)  # 2 % better
    assert not es.update(0.975)  # 0.5 %: not an improvement
    assert not es.should_stop
    assert not es.update(0.974)
    assert es.should_stop


def test_maximising_flips_the_sign():
    es = EarlyStopping(patience=1, tolerance=0.001, maximize=True)
    assert es.update(0.5) and es.update(0.6)
    assert not es.update(0.59)
    assert es.should_stop


def test_non_finite_values_never_improve():
    es = EarlyStopping(patience=3, tolerance=0.001, maximize=False)
    es.update(1.0)
    assert not es.update(float("nan"))
    assert es.epochs_without_improvement == 1


def test_patience_longer_than_the_run_never_stops():
    es = EarlyStopping(patience=6, tolerance=0.001, maximize=False)
    for _ in range(5):
        es.update(1.0)
    assert not es.should_stop


def test_best_per_model_tracks_each_model():
    best = BestPerModel(maximize=False)
    np.testing.assert_array_equal(best.update(np.array([1.0, np.nan, 3.0])), [True, False, True])
    np.testing.assert_array_equal(best.update(np.array([2.0, 5.0, 1.0])), [False, True, True])
    np.testing.assert_array_equal(best.values, [1.0, 5.0, 1.0])


def test_best_model_lowest_index_on_ties_and_none_when_all_diverged():
    assert best_model(np.array([2.0, 1.0, 1.0]), maximize=False) == 1
    assert best_model(np.array([0.5, 0.9, 0.9, np.nan]), maximize=True) == 1
    assert best_model(np.array([np.nan, np.inf]), maximize=False) is None
