"""The evaluation report in output/data: metrics.json for every scored channel, plots for one.

SageMaker uploads output/data as output.tar.gz next to the model, so a user sees how the final
model did without deploying it. The plotted channel is test, else validation, else train: the most
honest estimate available. Numbers come from the same ChannelResult objects that printed the
`#quality_metric` lines, so the JSON and the log cannot disagree.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..config.hyperparams import Hyperparameters
from ..model.artifact import ModelArtifact
from . import plots
from .evaluate import ChannelResult

log = logging.getLogger(__name__)

REPORT_CHANNEL_ORDER = ("test", "validation", "train")


def report_channel(results: dict[str, ChannelResult]) -> str | None:
    """The channel the plots describe: test, else validation, else train."""
    return next((name for name in REPORT_CHANNEL_ORDER if name in results), None)


def class_names(artifact: ModelArtifact, k: int) -> list[str]:
    """The user's class_names when given, else the label values as text ("0".."k-1")."""
    if artifact.class_names and len(artifact.class_names) == k:
        return list(artifact.class_names)
    return [str(i) for i in range(k)]


def _classifier_plots(
    out_dir: Path, artifact: ModelArtifact, r: ChannelResult, names: list[str]
) -> list[Path]:
    counts = np.asarray(r.extra["confusion_matrix"], dtype=np.int64)
    support = counts.sum(axis=1)
    recall = np.divide(np.diag(counts), support, out=np.zeros(len(support)), where=support > 0)
    made = [
        plots.confusion_heatmap(
            out_dir / "confusion_matrix.png",
            counts,
            names,
            f"Confusion matrix, {r.channel} channel (row-normalised, {int(support.sum())} rows)",
        ),
        plots.recall_bars(
            out_dir / "per_class_recall.png",
            recall,
            support,
            names,
            f"Per-class recall, {r.channel} channel (accuracy {np.trace(counts) / max(support.sum(), 1):.3f})",
        ),
    ]
    if artifact.predictor_type == "binary_classifier":
        threshold = 0.5 if artifact.threshold is None else float(artifact.threshold)
        y, scores = r.y.astype(np.float64), r.predictions.scores.astype(np.float64)
        made.append(
            plots.precision_recall_plot(
                out_dir / "precision_recall_curve.png",
                y,
                scores,
                threshold,
                names[1],
                f"Precision-recall, {r.channel} channel",
            )
        )
        made.append(
            plots.roc_plot(
                out_dir / "roc_curve.png",
                y,
                scores,
                threshold,
                float(r.metrics.get("roc_auc_score", float("nan"))),
                names[1],
                f"ROC, {r.channel} channel",
            )
        )
    return [p for p in made if p is not None]


def _regression_plots(out_dir: Path, r: ChannelResult) -> list[Path]:
    y, scores = r.y.astype(np.float64), r.predictions.scores.astype(np.float64)
    rmse = float(np.sqrt(np.mean((y - scores) ** 2))) if y.size else float("nan")
    return [
        plots.predicted_vs_actual(
            out_dir / "predicted_vs_actual.png",
            y,
            scores,
            f"Predicted vs actual, {r.channel} channel (rmse {rmse:.4g}, {y.size} rows)",
        ),
        plots.residual_plot(out_dir / "residuals.png", y, scores, f"Residuals, {r.channel} channel"),
    ]


def write_report(
    out_dir: Path, artifact: ModelArtifact, results: dict[str, ChannelResult], hp: Hyperparameters
) -> list[Path]:
    """Write metrics.json and the plots for report_channel(results); returns the files written.

    metrics.json: predictor_type, threshold, selected_model, class_names, report_channel, plots and,
    per channel, rows, metrics (the exact values logged) and for classifiers confusion_matrix
    (counts, rows = actual) and per_class_recall.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = report_channel(results)
    k = artifact.num_classes or 2
    names = class_names(artifact, k) if artifact.predictor_type != "regressor" else None
    made: list[Path] = []
    if chosen is not None and results[chosen].y.size:
        r = results[chosen]
        if artifact.predictor_type == "regressor":
            made = _regression_plots(out_dir, r)
        else:
            made = _classifier_plots(out_dir, artifact, r, names or [])
    elif chosen is not None:
        log.warning("The %s channel is empty; the report has no plots", chosen)
    channels = {}
    for name, r in results.items():
        entry: dict = {"rows": int(r.y.size), "metrics": r.metrics, **r.extra}
        if artifact.predictor_type == "binary_classifier" and "confusion_matrix" in r.extra:
            counts = np.asarray(r.extra["confusion_matrix"], dtype=np.float64)
            support = counts.sum(axis=1)
            entry["per_class_recall"] = np.divide(
                np.diag(counts), support, out=np.zeros(2), where=support > 0
            ).tolist()
        channels[name] = entry
    doc = {
        "predictor_type": artifact.predictor_type,
        "threshold": artifact.threshold,
        "selected_model": artifact.selected_model,
        "class_names": names,
        "report_channel": chosen,
        "plots": [p.name for p in made],
        "channels": channels,
    }
    path = out_dir / "metrics.json"
    path.write_text(json.dumps(doc, indent=2, sort_keys=True))
    log.info(
        "Evaluation report for the %s channel written to %s: %s", chosen, out_dir, ", ".join(doc["plots"])
    )
    return [path, *made]
