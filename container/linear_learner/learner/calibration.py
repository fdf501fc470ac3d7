"""Binary threshold choice per selection criterion (reference §6, D3).

Candidate thresholds are midpoints between consecutive distinct calibration scores, so the chosen
threshold separates the calibration rows exactly as evaluated. Everything is one sort + cumsums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CRITERIA = ("accuracy", "f_beta", "precision_at_target_recall", "recall_at_target_precision", "loss_function")


@dataclass(frozen=True)
class Calibration:
    """threshold: predicted_label = score > threshold; value: the criterion reached on the sample."""

    threshold: float
    value: float
    precision: float
    recall: float
    reachable: bool = True


def _curve(y: np.ndarray, scores: np.ndarray):
    """Precision/recall/accuracy for 'predict positive iff score > t' at every candidate t."""
    order = np.argsort(-scores, kind="mergesort")
    s = scores[order].astype(np.float64)
    pos = (y[order] > 0.5).astype(np.float64)
    n, n_pos = s.size, pos.sum()
    # cut after index i (i = -1 means nothing predicted positive); only where score changes
    last_of_run = np.concatenate((np.flatnonzero(np.diff(s) != 0), [n - 1]))
    tp = np.concatenate(([0.0], np.cumsum(pos)[last_of_run]))
    pp = np.concatenate(([0.0], last_of_run + 1.0))
    fp = pp - tp
    # thresholds: above the max, then midpoints between the run end and the next distinct score
    nxt = np.concatenate((s[last_of_run[:-1] + 1], [s[-1] - 1.0]))
    thr = np.concatenate(([s[0] + 1.0 if n else 1.0], (s[last_of_run] + nxt) / 2.0))
    precision = np.divide(tp, pp, out=np.ones_like(tp), where=pp > 0)
    recall = tp / n_pos if n_pos else np.zeros_like(tp)
    accuracy = (tp + (n - n_pos - fp)) / n if n else np.zeros_like(tp)
    return thr, precision, recall, accuracy


def _middle_of_best(values: np.ndarray) -> int:
    """Among thresholds that tie for the best value, the middle one.

    On small calibration sets many thresholds reach the same accuracy; the first of them hugs the
    extreme scores and generalises worst, the middle one leaves the most room on both sides.
    """
    best = np.flatnonzero(values >= values.max() - 1e-12)
    return int(best[len(best) // 2])


def calibrate(
    y: np.ndarray,
    scores: np.ndarray,
    criterion: str,
    *,
    beta: float = 1.0,
    target_recall: float = 0.8,
    target_precision: float = 0.8,
    default_threshold: float = 0.5,
    out_of_sample: bool = False,
) -> Calibration:
    """Choose the threshold that optimises `criterion` on (y, scores) (ties: see _middle_of_best).

    out_of_sample: precision_at_target_recall keeps tp >= target * (n_pos + 1) positives above the
    threshold rather than target * n_pos. A cut below the k-th highest of n positive scores passes on
    average k / (n + 1) of unseen positives, so the target then holds in expectation on new rows (the
    test channel, the endpoint) and not only on the sample; with a few dozen validation positives the
    plain rule lands several points under the target. Samples too small for it use the plain rule.
    """
    if y.size == 0:
        return Calibration(default_threshold, 0.0, 0.0, 0.0, False)
    thr, precision, recall, accuracy = _curve(y, scores)
    if criterion == "loss_function":
        pred = scores > default_threshold
        pos = y > 0.5
        tp = float(np.sum(pred & pos))
        p = tp / max(float(pred.sum()), 1.0)
        r = tp / max(float(pos.sum()), 1.0)
        return Calibration(default_threshold, float(np.mean(pred == pos)), p, r)
    if criterion == "accuracy":
        i = _middle_of_best(accuracy)
        value = accuracy[i]
    elif criterion == "f_beta":
        b2 = beta * beta
        denom = b2 * precision + recall
        f = np.divide((1 + b2) * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
        i = _middle_of_best(f)
        value = f[i]
    elif criterion == "precision_at_target_recall":
        ok = recall >= target_recall
        n_pos = float(np.sum(y > 0.5))
        if out_of_sample and np.any(recall * n_pos >= target_recall * (n_pos + 1) - 1e-9):
            ok = recall * n_pos >= target_recall * (n_pos + 1) - 1e-9
        cand = np.where(ok, precision, -1.0)
        i = int(np.argmax(cand))
        value = precision[i]
    elif criterion == "recall_at_target_precision":
        ok = (precision >= target_precision) & (np.arange(precision.size) > 0)
        if not ok.any():
            i = int(np.argmax(np.where(np.arange(precision.size) > 0, precision, -1.0)))
            return Calibration(float(thr[i]), float(recall[i]), float(precision[i]), float(recall[i]), False)
        cand = np.where(ok, recall, -1.0)
        i = int(np.argmax(cand))
        value = recall[i]
    else:
        raise ValueError(f"unknown criterion {criterion!r}")
    return Calibration(float(thr[i]), float(value), float(precision[i]), float(recall[i]))
