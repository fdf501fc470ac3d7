"""Channels that are not held in memory: opening their streams and scoring them chunk by chunk.

The job asks `open_stream` for a channel in Pipe mode, or in File mode when the data exceeds the memory
budget (data/streaming.py). Validation and test channels read that way become `Batch(X=StreamedRows, y)`:
the trainer's `X @ W` evaluation and model selection work on them unchanged, and `streamed_metrics`
scores them through the same Predictor as in-memory channels while holding only (n, k) scores.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from ..batch import Batch, Predictions
from ..config.channels import ChannelSpec
from ..config.hyperparams import Hyperparameters
from ..data.pipes import PipeChannel
from ..data.reader import CSV
from ..data.streaming import ChannelStream, StreamedRows, StreamSettings, file_streams, open_streamed
from ..env import Paths
from ..model.artifact import ModelArtifact
from ..model.predictor import Predictor
from . import logs
from .evaluate import ChannelResult, channel_metrics

log = logging.getLogger(__name__)


def open_stream(
    spec: ChannelSpec,
    paths: Paths,
    hp: Hyperparameters,
    settings: StreamSettings,
    feature_dim: int | None,
    allow_empty: bool = False,
) -> ChannelStream:
    """Passes over a channel: the next FIFO each time in Pipe mode, the channel's files in File mode."""
    if spec.is_pipe:
        pipe = PipeChannel(
            spec.name,
            paths.data_dir,
            timeout=settings.pipe_timeout,
            record_wrapper=spec.record_wrapper,
            is_csv=spec.content_type == CSV,
        )
        open_pass = pipe.open_pass
    else:
        open_pass = file_streams(spec.name, paths.channel_dir(spec.name))
    return ChannelStream(
        spec.name,
        spec.content_type,
        open_pass,
        predictor_type=hp.predictor_type,
        num_classes=hp.num_classes,
        feature_dim=feature_dim,
        allow_empty=allow_empty,
    )


def streamed_channel(stream: ChannelStream) -> Batch | None:
    """A validation/test channel as Batch(X=StreamedRows, y): one pass now for n and the labels.

    None when the channel allows being empty (a ShardedByS3Key shard) and is.
    """
    rows, y = open_streamed(stream)
    if rows.n_rows == 0:
        log.info("channel '%s': this host's shard holds no records; carrying on without it", stream.channel)
        return None
    log.info("channel '%s': %d records, %d features, scored by streaming", stream.channel, *rows.shape)
    return Batch(X=rows, y=y, origin=f"channel '{stream.channel}'")


class _Precomputed:
    """Stands in for a Predictor whose outputs were computed chunk by chunk (evaluate.channel_metrics)."""

    def __init__(self, raw: np.ndarray, predictions: Predictions) -> None:
        self._raw, self._pred = raw, predictions

    def raw(self, X) -> np.ndarray:
        return self._raw

    def predict(self, X) -> Predictions:
        return self._pred


def streamed_metrics(
    artifact: ModelArtifact, hp: Hyperparameters, name: str, batch: Batch, host: str
) -> ChannelResult:
    """Final metrics of a streamed channel, printed like evaluate.final_metrics prints them."""
    predictor = Predictor(artifact)
    raws, scores, labels = [], [], []
    for chunk in batch.X.iter_rows():
        raws.append(predictor.raw(chunk.X))
        pred = predictor.predict(chunk.X)
        scores.append(pred.scores)
        if pred.labels is not None:
            labels.append(pred.labels)
    raw = np.concatenate(raws)
    pred = Predictions(np.concatenate(scores), np.concatenate(labels) if labels else None)
    placeholder = Batch(np.empty((len(batch.y), 0), np.float32), batch.y, origin=batch.origin)
    result = channel_metrics(artifact, hp, placeholder, _Precomputed(raw, pred))
    result.channel = name
    for metric, value in result.metrics.items():
        logs.emit(logs.channel_score(host, name, metric, value))
    for metric, value in result.metrics.items():
        logs.emit(logs.final_quality(host, name, metric, value, logs.is_loss_metric(metric)))
    return result


def is_streamed(batch: Batch | None) -> bool:
    return batch is not None and isinstance(batch.X, StreamedRows)


def prepare_chunks(scaler, predictor_type: str, grid, class_weights, scale_labels: bool):
    """The per-chunk step of a StreamingFeed: scale features in place, labels to training units, weights."""
    from .trainer import sample_weights

    def prepare(X, y):
        X = X.astype(np.float32) if sp.issparse(X) else np.ascontiguousarray(X, dtype=np.float32)
        X = scaler.transform_inplace(X)  # a new array when the scaler rotates
        w = sample_weights(predictor_type, y, grid, class_weights)
        return X, (scaler.scale_labels(y) if scale_labels else y), w

    return prepare


def score_channels(
    artifact: ModelArtifact, channels: dict[str, Batch], hp: Hyperparameters, host: str, **kwargs
) -> dict[str, ChannelResult]:
    """final_metrics for in-memory channels, streamed_metrics for streamed ones, in the given order."""
    from .evaluate import final_metrics

    results: dict[str, ChannelResult] = {}
    for name, batch in channels.items():
        if is_streamed(batch):
            results[name] = streamed_metrics(artifact, hp, name, batch, host)
        else:
            results.update(final_metrics(artifact, {name: batch}, hp, host, **kwargs))
    return results
