"""Threshold choice per binary selection criterion (reference §6) against a brute-force search."""

from __future__ import annotations

import numpy as np
import pytest

from linear_learner.learner.calibration import calibrate


def _data(n: int = 400, seed: int = 0, pos_rate: float = 0.2):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < pos_rate).astype(np.float32)
    scores = np.clip(rng.normal(0.3 + 0.35 * y, 0.2), 0, 1).round(3).astype(np.float32)  # with ties
    return y, scores


def _brute(y, scores):
    """(threshold, precision, recall, accuracy, f1) for 'positive iff score > t' at every midpoint."""
    s = np.unique(scores)
    thresholds = np.concatenate(([s[-1] + 1.0], (s[1:] + s[:-1]) / 2, [s[0] - 1.0]))
    rows = []
    for t in thresholds:
        pred = scores > t
        tp = np.sum(pred & (y == 1))
        precision = tp / pred.sum() if pred.sum() else 1.0
        recall = tp / (y == 1).sum()
        rows.append((t, precision, recall, np.mean(pred == (y == 1))))
    return rows


def _check_threshold_reproduces(cal, y, scores):
    pred = scores > cal.threshold
    tp = np.sum(pred & (y == 1))
    assert cal.precision == pytest.approx(tp / max(pred.sum(), 1))
    assert cal.recall == pytest.approx(tp / (y == 1).sum())


def test_accuracy_maximises_accuracy():
    y, s = _data()
    cal = calibrate(y, s, "accuracy")
    assert cal.value == pytest.approx(max(r[3] for r in _brute(y, s)))
    assert cal.value == pytest.approx(np.mean((s > cal.threshold) == (y == 1)))
    _check_threshold_reproduces(cal, y, s)


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_f_beta_maximises_f_beta(beta):
    y, s = _data()
    cal = calibrate(y, s, "f_beta", beta=beta)
    b2 = beta * beta
    best = max((1 + b2) * p * r / (b2 * p + r) for _, p, r, _ in _brute(y, s) if p + r > 0)
    assert cal.value == pytest.approx(best)
    _check_threshold_reproduces(cal, y, s)


def test_beta_changes_the_threshold():
    y, s = _data()
    assert calibrate(y, s, "f_beta", beta=0.3).threshold > calibrate(y, s, "f_beta", beta=3.0).threshold


@pytest.mark.parametrize("target", [0.5, 0.8, 0.9, 0.99])
def test_precision_at_target_recall(target):
    y, s = _data()
    cal = calibrate(y, s, "precision_at_target_recall", target_recall=target)
    best = max(p for _, p, r, _ in _brute(y, s) if r >= target)
    assert cal.recall >= target and cal.value == pytest.approx(best) == pytest.approx(cal.precision)
    _check_threshold_reproduces(cal, y, s)


@pytest.mark.parametrize("target", [0.5, 0.7, 0.9])
def test_recall_at_target_precision(target):
    y, s = _data()
    cal = calibrate(y, s, "recall_at_target_precision", target_precision=target)
    feasible = [r for t, p, r, _ in _brute(y, s)[1:] if p >= target]
    assert cal.reachable and cal.precision >= target
    assert cal.value == pytest.approx(max(feasible)) == pytest.approx(cal.recall)
    _check_threshold_reproduces(cal, y, s)


def test_unreachable_target_precision_falls_back_to_the_highest_precision_threshold():
    y = np.array([0, 1, 0, 1, 0, 1], np.float32)
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], np.float32)  # the top score is a negative
    cal = calibrate(y, s, "recall_at_target_precision", target_precision=0.99)
    assert not cal.reachable
    assert cal.precision == pytest.approx(max(r[1] for r in _brute(y, s)[1:]))


def test_loss_function_uses_the_fixed_midpoint():
    y, s = _data()
    cal = calibrate(y, s, "loss_function", default_threshold=0.5)
    assert cal.threshold == 0.5
    _check_threshold_reproduces(cal, y, s)


def test_threshold_is_a_midpoint_between_distinct_scores():
    y = np.array([0, 0, 1, 1], np.float32)
    cal = calibrate(y, np.array([0.1, 0.2, 0.6, 0.9], np.float32), "accuracy")
    assert cal.threshold == pytest.approx(0.4) and cal.value == 1.0


def test_unknown_criterion_is_rejected():
    y, s = _data(20)
    with pytest.raises(ValueError):
        calibrate(y, s, "auc")
