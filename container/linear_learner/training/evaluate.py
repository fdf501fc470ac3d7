"""Final metrics per channel, scored through the same Predictor the endpoint uses (reference §5.4)."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from ..batch import Batch, Predictions
from ..config.hyperparams import Hyperparameters
from ..learner import metrics as M
from ..learner.losses import make_loss
from ..model.artifact import ModelArtifact
from ..model.predictor import Predictor
from . import logs
from .comm import Comm

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ChannelResult:
    """Metrics in print order plus what the report needs to draw its plots."""

    channel: str
    metrics: dict[str, float]
    y: np.ndarray
    predictions: Predictions
    extra: dict


def _scaled_predictor(artifact: ModelArtifact) -> Predictor:
    """A predictor for rows that were already scaled in place (training data): scaled weights."""
    W = artifact.scaled_weights * np.float32(artifact.label_std)
    b = artifact.scaled_bias * np.float32(artifact.label_std) + np.float32(artifact.label_mean)
    return Predictor(dataclasses.replace(artifact, weights=W.astype(np.float32), bias=b.astype(np.float32)))


def _objective(artifact: ModelArtifact, hp: Hyperparameters, y: np.ndarray, pred: Predictions, raw) -> float:
    loss = make_loss(
        hp.loss,
        margin=hp.margin,
        quantile=hp.quantile,
        loss_insensitivity=hp.loss_insensitivity,
        huber_delta=hp.huber_delta,
    )
    f = raw.astype(np.float32)
    S = f[:, :, None]  # (n, K, 1): one model
    w = np.ones((len(y), 1), np.float32)
    return float(np.mean(loss.value(S, y.astype(np.float32), w)))


def channel_metrics(
    artifact: ModelArtifact, hp: Hyperparameters, batch: Batch, predictor: Predictor, comm: Comm | None = None
) -> ChannelResult:
    raw = predictor.raw(batch.X)
    pred = predictor.predict(batch.X)
    y = batch.y
    if comm is not None and comm.world_size > 1:  # metrics over every host's rows (shards)
        y, raw, pred = _gather(comm, y, raw, pred)
    objective_name = make_loss(hp.loss).objective_name
    out: dict[str, float] = {objective_name: _objective(artifact, hp, y, pred, raw)}
    extra: dict = {}
    if artifact.predictor_type == "binary_classifier":
        threshold = 0.5 if artifact.threshold is None else artifact.threshold
        out.update(M.binary_metrics(y, pred.scores, threshold, hp.f_beta))
        extra["confusion_matrix"] = M.confusion_matrix(y, pred.labels, 2).tolist()
    elif artifact.predictor_type == "multiclass_classifier":
        k = artifact.num_classes
        out.update(M.multiclass_metrics(y, pred.scores, hp.accuracy_top_k, hp.f_beta))
        extra["confusion_matrix"] = M.confusion_matrix(y, pred.labels, k).tolist()
        recall = M.per_class_recall(y, pred.labels, k)
        extra["per_class_recall"] = [None if np.isnan(r) else r for r in recall.tolist()]  # no rows: null
    else:
        out.update(M.regression_metrics(y, pred.scores))
    return ChannelResult(batch.origin, out, y, pred, extra)


def _gather(comm: Comm, y: np.ndarray, raw: np.ndarray, pred: Predictions):
    from .distributed import allgather_rows

    if pred.labels is None:
        y, raw, scores = allgather_rows(comm, y, raw, pred.scores)
        return y, raw, Predictions(scores, None)
    y, raw, scores, labels = allgather_rows(comm, y, raw, pred.scores, pred.labels)
    return y, raw, Predictions(scores, labels)


def final_metrics(
    artifact: ModelArtifact,
    channels: dict[str, Batch],
    hp: Hyperparameters,
    host: str,
    scaled_train=None,
    comm: Comm | None = None,
) -> dict[str, ChannelResult]:
    """Score each channel with the final model and print `#<chan>_score` and `#quality_metric` lines.

    With several hosts every host computes the same metrics over all shards; only hosts[0] prints.
    """
    results: dict[str, ChannelResult] = {}
    for name, batch in channels.items():
        if name == "train" and scaled_train is not None:
            batch = dataclasses.replace(batch, X=scaled_train)
            predictor = _scaled_predictor(artifact)
        else:
            predictor = Predictor(artifact)
        result = channel_metrics(artifact, hp, batch, predictor, comm)
        result.channel = name
        results[name] = result
        if comm is not None and not comm.is_master:
            continue
        for metric, value in result.metrics.items():
            logs.emit(logs.channel_score(host, name, metric, value))
        for metric, value in result.metrics.items():
            logs.emit(logs.final_quality(host, name, metric, value, logs.is_loss_metric(metric)))
    return results
