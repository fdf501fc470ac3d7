"""The evaluation report's figures: one PNG per function, drawn from label and score arrays.

matplotlib is imported inside `_new_figure` (training jobs that never reach the report do not pay
for it) and used through its object API on an Agg canvas: no pyplot, no global backend switch, so
the functions are safe in a headless container and in a test process alike. Every figure is saved
with bbox_inches="tight" so long class names and tick labels are never clipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

MAX_MATRIX_CLASSES = 40  # beyond this a heatmap's cells are unreadable
MAX_BAR_CLASSES = 200
MAX_POINTS = 20_000  # scatter plots subsample (seeded) above this
DPI = 120


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white")
    return path


def _marker_size(n: int) -> float:
    return 18.0 if n < 500 else 8.0 if n < 5000 else 3.0


def _subsample(n: int) -> np.ndarray:
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, MAX_POINTS, replace=False))


def row_normalise(counts: np.ndarray) -> np.ndarray:
    """Each row (true class) divided by its total, so the diagonal is per-class recall; NaN rows for
    classes absent from the channel (drawn blank, not as a misleading 0)."""
    totals = counts.sum(axis=1, keepdims=True).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, counts / np.where(totals > 0, totals, 1), np.nan)


def confusion_heatmap(path: Path, counts: np.ndarray, names: Sequence[str], title: str) -> Path | None:
    """Row-normalised confusion matrix, fraction and count in each cell. None when too many classes."""
    k = counts.shape[0]
    if k > MAX_MATRIX_CLASSES:
        return None
    norm = row_normalise(counts)
    side = max(4.5, 0.9 * k + 2.5)
    fig = _new_figure(side + 1.2, side)
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(norm), cmap="YlGnBu", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class")
    ax.set_xticks(range(k), labels=names, rotation=35, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), labels=names)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("Actual class")
    ax.set_title(title)
    font = 10 if k <= 8 else 8 if k <= 15 else 6
    for i in range(k):
        for j in range(k):
            if np.isnan(norm[i, j]):
                continue
            dark = norm[i, j] > 0.55
            text = f"{norm[i, j]:.2f}\n({counts[i, j]})" if k <= 12 else f"{norm[i, j]:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=font, color="white" if dark else "black")
    return _save(fig, path)


def recall_bars(
    path: Path, recall: np.ndarray, support: np.ndarray, names: Sequence[str], title: str
) -> Path | None:
    """Horizontal bars, first class on top (the article's layout), recall and support written beside."""
    k = len(recall)
    if k > MAX_BAR_CLASSES:
        return None
    fig = _new_figure(7.0, max(2.5, 0.45 * k + 1.2))
    ax = fig.add_subplot()
    rows = np.arange(k)
    ax.barh(rows, recall, color="steelblue")
    ax.set_yticks(rows, labels=names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.18)
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel("Recall (fraction of the class predicted correctly)")
    ax.set_title(title)
    for i in rows:
        label = f"{recall[i]:.2f} (n={support[i]})" if support[i] else "no rows"
        ax.text(recall[i] + 0.01, i, label, va="center", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def binary_curves(y: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray] | None:
    """Precision, recall and false-positive rate at every distinct score (descending), or None when
    the channel holds only one class (no curve exists)."""
    pos = y > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(-scores, kind="mergesort")
    s, t = scores[order], pos[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last row of each run of equal scores
    tp = np.cumsum(t)[last].astype(np.float64)
    fp = np.cumsum(~t)[last].astype(np.float64)
    return {
        "threshold": s[last],
        "precision": tp / (tp + fp),
        "recall": tp / n_pos,
        "fpr": fp / n_neg,
    }


def operating_point(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision, recall and FPR of the rule the Predictor applies (label 1 when score > threshold)."""
    pred, pos = scores > np.float32(threshold), y > 0.5
    tp, fp = float(np.sum(pred & pos)), float(np.sum(pred & ~pos))
    return {
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / max(float(pos.sum()), 1.0),
        "fpr": fp / max(float((~pos).sum()), 1.0),
    }


def _curve(
    path: Path, x, y, point: tuple[float, float], labels: tuple[str, str], title: str, note: str, diag: bool
):
    fig = _new_figure(5.8, 5.2)
    ax = fig.add_subplot()
    ax.plot(x, y, color="steelblue", lw=2, drawstyle="steps-post" if not diag else "default")
    if diag:
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance")
    ax.plot(*point, "o", color="crimson", ms=9, label=note)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right" if diag else "lower left")
    return _save(fig, path)


def precision_recall_plot(path: Path, y, scores, threshold: float, positive: str, title: str) -> Path | None:
    curves = binary_curves(y, scores)
    if curves is None:
        return None
    op = operating_point(y, scores, threshold)
    recall = np.r_[0.0, curves["recall"]]
    precision = np.r_[curves["precision"][0], curves["precision"]]
    note = f"threshold {threshold:.4g}: precision {op['precision']:.3f}, recall {op['recall']:.3f}"
    labels = (f"Recall (positive class: {positive})", "Precision")
    return _curve(path, recall, precision, (op["recall"], op["precision"]), labels, title, note, diag=False)


def roc_plot(path: Path, y, scores, threshold: float, auc: float, positive: str, title: str) -> Path | None:
    curves = binary_curves(y, scores)
    if curves is None:
        return None
    op = operating_point(y, scores, threshold)
    fpr, tpr = np.r_[0.0, curves["fpr"]], np.r_[0.0, curves["recall"]]
    note = f"threshold {threshold:.4g}: TPR {op['recall']:.3f}, FPR {op['fpr']:.3f}"
    labels = ("False positive rate", f"True positive rate (positive class: {positive})")
    return _curve(
        path, fpr, tpr, (op["fpr"], op["recall"]), labels, f"{title} (AUC {auc:.3f})", note, diag=True
    )


def predicted_vs_actual(path: Path, y: np.ndarray, scores: np.ndarray, title: str) -> Path:
    idx = _subsample(y.size)
    fig = _new_figure(5.8, 5.6)
    ax = fig.add_subplot()
    ax.scatter(y[idx], scores[idx], s=_marker_size(idx.size), alpha=0.5, color="steelblue", edgecolors="none")
    lo = float(min(y.min(), scores.min()))
    hi = float(max(y.max(), scores.max()))
    ax.plot([lo, hi], [lo, hi], ls="--", color="crimson", lw=1, label="predicted = actual")
    ax.set_xlabel("Actual label")
    ax.set_ylabel("Predicted score")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return _save(fig, path)


def residual_plot(path: Path, y: np.ndarray, scores: np.ndarray, title: str) -> Path:
    """Residual (actual - predicted) against the prediction, and its histogram."""
    residual = y.astype(np.float64) - scores.astype(np.float64)
    idx = _subsample(y.size)
    fig = _new_figure(10.0, 4.6)
    left, right = fig.subplots(1, 2, width_ratios=(3, 2))
    left.scatter(
        scores[idx], residual[idx], s=_marker_size(idx.size), alpha=0.5, color="steelblue", edgecolors="none"
    )
    left.axhline(0.0, ls="--", color="crimson", lw=1)
    left.set_xlabel("Predicted score")
    left.set_ylabel("Residual (actual - predicted)")
    left.grid(alpha=0.3)
    right.hist(residual, bins=min(50, max(10, y.size // 20)), color="steelblue")
    right.axvline(0.0, ls="--", color="crimson", lw=1)
    right.set_xlabel("Residual (actual - predicted)")
    right.set_ylabel("Rows")
    fig.suptitle(title)
    return _save(fig, path)
