"""Every metric of reference §5, from labels and scores of one model (original units).

Definitions where the built-in is silent follow reference §5.4: binary accuracy/precision/recall/F
at the calibrated threshold, roc_auc on the score, dcg = mean 1/log2(1 + rank of the true class),
macro_* = unweighted means over the classes seen as label or prediction, balanced accuracy = mean per-class recall.
"""

from __future__ import annotations

import numpy as np


def _safe_div(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


def f_beta_score(precision: float, recall: float, beta: float) -> float:
    b2 = beta * beta
    return _safe_div((1 + b2) * precision * recall, b2 * precision + recall)


def roc_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks for ties; 0.5 when only one class is present."""
    y = y.astype(bool)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return 0.5
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(s.size, np.float64)
    # average ranks over runs of equal scores
    boundaries = np.flatnonzero(np.diff(s)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [s.size]))
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_metrics(y: np.ndarray, scores: np.ndarray, threshold: float, beta: float) -> dict[str, float]:
    pred = scores > threshold
    pos = y > 0.5
    tp = int(np.sum(pred & pos))
    fp = int(np.sum(pred & ~pos))
    fn = int(np.sum(~pred & pos))
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    return {
        "binary_classification_accuracy": float(np.mean(pred == pos)) if y.size else 0.0,
        f"binary_f_{beta:.3f}": f_beta_score(precision, recall, beta),
        "precision": precision,
        "recall": recall,
        "roc_auc_score": roc_auc(pos, scores),
    }


def confusion_matrix(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """(k, k) counts, rows = true class, columns = predicted class."""
    return np.bincount(y.astype(np.int64) * k + pred.astype(np.int64), minlength=k * k).reshape(k, k)


def multiclass_metrics(y: np.ndarray, probs: np.ndarray, top_k: int, beta: float) -> dict[str, float]:
    """probs: (n, k) class probabilities."""
    n, k = probs.shape
    yi = y.astype(np.int64)
    pred = np.argmax(probs, axis=1)
    true_p = probs[np.arange(n), yi]
    # rank of the true class: 1 + number of classes scored strictly higher
    rank = 1 + np.sum(probs > true_p[:, None], axis=1)
    cm = confusion_matrix(yi, pred, k)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    diag = np.diag(cm).astype(np.float64)
    recall = np.divide(diag, support, out=np.zeros(k), where=support > 0)
    precision = np.divide(diag, predicted, out=np.zeros(k), where=predicted > 0)
    b2 = beta * beta
    denom = b2 * precision + recall
    f = np.divide((1 + b2) * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    # macro_* average over the classes that occur as a label or a prediction (scikit-learn's
    # average="macro"): a class that never occurs says nothing, one that is only predicted counts 0.
    seen = (support > 0) | (predicted > 0)
    present = support > 0  # balanced accuracy: mean recall over the true classes
    macro = lambda v: float(v[seen].mean()) if seen.any() else 0.0  # noqa: E731
    return {
        "multiclass_accuracy": float(np.mean(pred == yi)) if n else 0.0,
        f"multiclass_top_k_accuracy_{top_k}": float(np.mean(rank <= top_k)) if n else 0.0,
        "dcg": float(np.mean(1.0 / np.log2(1.0 + rank))) if n else 0.0,
        "macro_recall": macro(recall),
        "macro_precision": macro(precision),
        f"macro_f_{beta:.3f}": macro(f),
        "multiclass_balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "multiclass_log_loss": float(np.mean(-np.log(np.clip(true_p, 1e-15, 1.0)))) if n else 0.0,
    }


def per_class_recall(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """Recall of each class; NaN for a class with no rows (undefined, not 0: nothing was missed)."""
    cm = confusion_matrix(y, pred, k)
    support = cm.sum(axis=1)
    return np.divide(np.diag(cm).astype(np.float64), support, out=np.full(k, np.nan), where=support > 0)


def regression_metrics(y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    e = scores.astype(np.float64) - y.astype(np.float64)
    mse = float(np.mean(e * e)) if e.size else 0.0
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "absolute_loss": float(np.mean(np.abs(e))) if e.size else 0.0,
    }
