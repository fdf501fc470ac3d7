"""Orchestration of one training job: config -> channels -> scaler -> trainer -> selection -> artifact.

Everything cheap is validated before any data is read (hyperparameters, channels, tuning metric) so
user errors fail in seconds. Only hosts[0] writes the model; the test channel is scored with the
final model through the same Predictor the endpoint uses.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import scipy.sparse as sp

from ..batch import Batch
from ..config.channels import (
    ChannelSpec,
    Cluster,
    load_json_config,
    parse_inputdataconfig,
    parse_resourceconfig,
)
from ..config.hyperparams import Hyperparameters, default_configuration, parse_hyperparameters
from ..data.reader import read_channel
from ..data.sources import list_channel_files
from ..data.streaming import StreamedRows, StreamSettings
from ..env import Paths
from ..errors import ClientError
from ..learner.losses import make_loss
from . import checkpoint, distributed, logs, memory
from .data_feed import InMemoryFeed, StreamingFeed
from .finalize import build_artifact, select_model
from .statistics import fit_statistics
from .streamed import open_stream, prepare_chunks, score_channels, streamed_channel
from .trainer import EpochReport, Trainer, TrainSettings, sample_weights

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    paths: Paths
    hp: Hyperparameters
    channels: dict[str, ChannelSpec]
    cluster: Cluster
    content_type_given: dict[str, bool]


def load_context(paths: Paths) -> JobContext:
    """Read and validate every config file; log the three configuration lines like the built-in."""
    hp_file = load_json_config(paths.hyperparameters_file, required=False)
    raw_hp = hp_file or {}
    log.info("Reading default configuration: %s", json.dumps(default_configuration()))
    log.info("Reading provided configuration from %s: %s", paths.hyperparameters_file, json.dumps(raw_hp))
    try:
        hp = parse_hyperparameters(raw_hp)
    except ClientError as exc:
        if hp_file is not None:
            raise
        # SageMaker always writes the file: its absence locally usually means a wrong base directory
        raise ClientError(
            f"{exc} (there is no {paths.hyperparameters_file}: is SAGEMAKER_BASE_DIR right?)"
        ) from None
    for warning in hp.warnings:
        log.warning(warning)
    raw_channels = load_json_config(paths.inputdataconfig_file, required=False)
    if raw_channels is None:
        found = (
            sorted(p.name for p in paths.data_dir.iterdir() if p.is_dir()) if paths.data_dir.is_dir() else []
        )
        raw_channels = {name: {} for name in found}
        log.info("No %s; using the channel folders found: %s", paths.inputdataconfig_file, found)
    channels = parse_inputdataconfig(raw_channels)
    given = {
        name: isinstance(entry, dict) and bool(entry.get("ContentType"))
        for name, entry in raw_channels.items()
    }
    cluster = parse_resourceconfig(load_json_config(paths.resourceconfig_file, required=False))
    if hp.tuning_objective_metric:
        chan = hp.tuning_objective_metric.split(":", 1)[0]
        if chan not in channels:
            raise ClientError(
                f"_tuning_objective_metric '{hp.tuning_objective_metric}' needs a '{chan}' channel, "
                f"but the job has only: {', '.join(sorted(channels))}"
            )
    log.info("Final configuration: %s", json.dumps(hp.as_log_dict()))
    return JobContext(paths, hp, channels, cluster, given)


def _streams(ctx: JobContext, spec: ChannelSpec, settings: StreamSettings) -> bool:
    """Pipe mode, or File-mode data beyond the memory budget (data/streaming.py), is read as a stream."""
    if spec.is_pipe:
        return True
    if settings.fits_in_memory(list_channel_files(ctx.paths.channel_dir(spec.name), spec.name)):
        return False
    log.info(
        "channel '%s' exceeds the memory budget of %d bytes; streaming it", spec.name, settings.memory_budget
    )
    return True


def _empty_shard(ctx: JobContext, spec: ChannelSpec) -> bool:
    """An optional File-mode channel whose ShardedByS3Key shard gave this host no files: say so, carry on."""
    if spec.name == "train" or spec.is_pipe or spec.distribution != "ShardedByS3Key":
        return False
    try:
        list_channel_files(ctx.paths.channel_dir(spec.name), spec.name)
    except ClientError:
        log.info("channel '%s': this host's ShardedByS3Key shard is empty; carrying on without it", spec.name)
        return True
    return False


def _read(
    ctx: JobContext, name: str, feature_dim: int | None, settings: StreamSettings | None = None
) -> Batch | None:
    spec = ctx.channels.get(name)
    if spec is None or _empty_shard(ctx, spec):
        return None
    if settings is not None and _streams(ctx, spec, settings):
        sharded = spec.distribution == "ShardedByS3Key"
        return streamed_channel(open_stream(spec, ctx.paths, ctx.hp, settings, feature_dim, sharded))
    return read_channel(
        name,
        ctx.paths.channel_dir(name),
        spec.content_type,
        predictor_type=ctx.hp.predictor_type,
        num_classes=ctx.hp.num_classes,
        feature_dim=feature_dim,
        content_type_given=ctx.content_type_given.get(name, True),
    )


def train_settings(hp: Hyperparameters, k: int) -> TrainSettings:
    """The trainer's plain settings: every TrainSettings field named like a hyperparameter is copied."""
    criterion = "loss"
    if (
        hp.predictor_type == "binary_classifier"
        and hp.binary_classifier_model_selection_criteria != "loss_function"
    ):
        criterion = hp.binary_classifier_model_selection_criteria
    same_name = {f.name: getattr(hp, f.name) for f in fields(TrainSettings) if hasattr(hp, f.name)}
    return TrainSettings(**same_name, num_outputs=k, criterion=criterion)


def _warn_absent_classes(y: np.ndarray, k: int, comm, *, sample: bool) -> None:
    """num_classes larger than the labels used: those classes cannot be learned, and their recall in
    the reports is undefined (null), so say which ones before training."""
    counts = np.bincount(y.astype(np.int64), minlength=k).astype(np.float64)
    comm.allreduce_sum(counts)
    absent = np.flatnonzero(counts == 0)
    if absent.size:
        where = "the first training rows (the streamed sample)" if sample else "the training data"
        shown = ", ".join(str(c) for c in absent[:10]) + (", ..." if absent.size > 10 else "")
        log.warning(
            "%d of num_classes=%d classes never occur in %s (class %s): they cannot be learned, and "
            "their recall is reported as null; is num_classes right?",
            absent.size,
            k,
            where,
            shown,
        )


def run_training(paths: Paths, should_stop: Callable[[], bool] = lambda: False) -> None:
    """The whole job. Raises ClientError for the user's mistakes; writes the model only on success."""
    t_start = time.time()
    ctx = load_context(paths)
    hp, host = ctx.hp, ctx.cluster.current_host
    if hp.feature_dim is not None:  # fail in seconds, before any data is read
        memory.check_job(hp, hp.feature_dim)
    if hp.log_level == "debug":  # `_log_level=debug` (reference §1.1): e.g. the scheduled lr per step
        logging.getLogger().setLevel(logging.DEBUG)
    comm = distributed.connect(ctx.cluster, should_stop)  # SingleHost (torch never imported) for one host
    stream_cfg = StreamSettings.from_environ(os.environ)
    feed: InMemoryFeed | StreamingFeed | None = None
    if comm.world_size > 1:
        read = distributed.shard_reader(
            lambda name, fd: _read(ctx, name, fd), paths.channel_dir, ctx.channels
        )
        shards = distributed.read_shards(comm, ctx.cluster.hosts, read, hp.feature_dim)
        train, validation, test = shards.train, shards.validation, shards.test
    else:
        if _streams(ctx, ctx.channels["train"], stream_cfg):
            # The first pass stays open: its first rows are the scaler sample, the rest epoch 0.
            stream = open_stream(ctx.channels["train"], ctx.paths, hp, stream_cfg, hp.feature_dim)
            feed = StreamingFeed(stream, shuffle_buffer_bytes=stream_cfg.shuffle_buffer_bytes)
            train = feed.prime(max(hp.num_point_for_scaler, hp.mini_batch_size))
        else:
            train = _read(ctx, "train", hp.feature_dim)
        validation = _read(ctx, "validation", train.n_features, stream_cfg)
        test = _read(ctx, "test", train.n_features, stream_cfg)
    feature_dim = train.n_features
    any_sparse = shards.any_sparse if comm.world_size > 1 else train.is_sparse
    if validation is None:
        log.info("Validation data is not provided; early stopping and model selection use training data.")
    k = hp.num_classes if hp.predictor_type == "multiclass_classifier" else 1
    memory.check_job(  # the data's real width and size, before the trainer allocates
        hp,
        feature_dim,
        batch_rows=min(hp.mini_batch_size, train.n_rows),
        eval_rows=validation.n_rows if validation is not None else min(train.n_rows, 1_000_000),
        data_bytes=sum(memory.batch_bytes(b) for b in (train, validation, test)),
    )
    if hp.mini_batch_size > train.n_rows:
        log.warning(
            "mini_batch_size=%d is larger than the %d training records; using one batch per epoch",
            hp.mini_batch_size,
            train.n_rows,
        )
    if hp.predictor_type == "multiclass_classifier":
        _warn_absent_classes(train.y, hp.num_classes, comm, sample=feed is not None)

    stats = fit_statistics(hp, train, comm, any_sparse, rotate=feed is None)
    scaler, grid, weights_per_class = stats.scaler, stats.grid, stats.class_weights
    is_regressor = hp.predictor_type == "regressor"
    loss_args = dict(
        margin=hp.margin,
        quantile=hp.quantile,
        loss_insensitivity=hp.loss_insensitivity,
        huber_delta=hp.huber_delta,
    )
    train_loss = make_loss(hp.loss, label_scale=scaler.label_std, **loss_args)
    eval_loss = make_loss(hp.loss, **loss_args)

    # Scale the training rows once, in place (they are ours: decoded fresh from the files).
    if feed is None:
        X = train.X if train.is_sparse else np.ascontiguousarray(train.X, dtype=np.float32)
        if sp.issparse(X):
            X = X.astype(np.float32)
        X = scaler.transform_inplace(X)
    settings = train_settings(hp, k)
    objective = train_loss.objective_name

    def on_epoch(r: EpochReport) -> None:
        if not comm.is_master:  # reduced values are the same on every host: hosts[0] prints them
            logs.emit(logs.progress(host, 100.0 * (r.epoch + 1) / hp.epochs))
            return
        for m in range(grid.num_models):
            dims = {"model": m, "Host": host, "Operation": "training", "epoch": r.epoch}
            metrics = {f"train_{objective}": float(r.train_loss[m])}
            if r.val_loss is not None:
                metrics[f"validation_{objective}"] = float(r.val_loss[m])
            logs.emit(logs.metrics_json(metrics, dims, start=time.time() - r.seconds))
        logs.emit(logs.epoch_quality(host, r.epoch, "train", objective, float(r.train_loss[0])))
        if r.val_loss is not None:
            logs.emit(logs.epoch_quality(host, r.epoch, "validation", objective, float(r.val_loss[0])))
        finite = r.criterion_values[np.isfinite(r.criterion_values)]
        if finite.size:
            value = float(finite.max() if r.maximize else finite.min())
            logs.emit(logs.early_stopping(host, r.epoch, r.criterion_name, value))
        if r.improved:
            log.info("Epoch %d: Loss improved. Updating best model", r.epoch)
        else:  # K counts this epoch too, so training stops when K reaches early_stopping_patience
            log.info(
                "Epoch %d: Loss has not improved for %d epochs (early_stopping_patience=%d).",
                r.epoch,
                r.epochs_without_improvement,
                hp.early_stopping_patience,
            )
        logs.emit(logs.progress(host, 100.0 * (r.epoch + 1) / hp.epochs))
        logs.emit(logs.throughput(host, r.records_per_second))

    trainer = Trainer(
        settings,
        grid,
        train_loss,
        eval_loss,
        scaler,
        weights_per_class,
        should_stop,
        on_epoch,
        n_features=feature_dim,
        comm=comm,
    )
    if feed is None:
        y_train = scaler.scale_labels(train.y) if is_regressor else train.y
        feed = InMemoryFeed(X, y_train, sample_weights(hp.predictor_type, train.y, grid, weights_per_class))
    else:
        feed.configure(prepare_chunks(scaler, hp.predictor_type, grid, weights_per_class, is_regressor))
    if comm.world_size > 1:
        feed = distributed.synced_feed(comm, feed, hp.mini_batch_size, X, feed.w.shape[1])
    val_X = validation.X if validation is not None else None
    val_y = validation.y if validation is not None else None
    if comm.world_size == 1 and isinstance(feed, InMemoryFeed):  # streamed/multi-host epochs: no resume
        shape = (feature_dim, k, grid.num_models)
        trainer.checkpointer = checkpoint.for_job(paths, hp.raw, shape, [X, feed.y, val_X, val_y])
    elif paths.checkpointconfig_file.exists():
        why = "multi-host" if comm.world_size > 1 else "streamed (Pipe mode or larger than the memory budget)"
        log.warning(
            "%s exists but checkpoints are written only for single-host training from memory; this job "
            "is %s, so a restart trains from the first epoch",
            paths.checkpointconfig_file,
            why,
        )
    t_train = time.time()
    result = trainer.fit(feed, val_X, val_y)
    if result.epochs_run < hp.epochs:
        logs.emit(logs.progress(host, 100.0))

    sel_train = train
    if isinstance(feed, StreamingFeed):
        # Streamed training rows, read again when needed: raw for the report, scaled for selection.
        # Both hold scores per row, so they use the first rows only, as many as the shuffle buffer's
        # bytes allow: peak memory stays bounded by the buffer, not by the data.
        limit = max(10_000, stream_cfg.shuffle_buffer_bytes // (16 * k * grid.num_models))
        train = Batch(
            StreamedRows(feed.stream, feed.n_rows, feature_dim, limit=limit),
            feed.labels[:limit],
            origin="channel 'train'",
        )
        X = StreamedRows(feed.stream, feed.n_rows, feature_dim, scaler.transform_inplace, limit)
        if validation is None:
            log.info(
                "Model selection and train metrics on the first %d of %d streamed training records",
                X.n_rows,
                feed.n_rows,
            )
        sel_train = Batch(X, feed.labels[: X.n_rows], origin=train.origin)
    # Selection data: validation, else the training rows (scaled -> evaluate via scaled weights).
    winner, calibration = select_model(trainer, result, hp, sel_train, X, validation)
    artifact = build_artifact(hp, trainer, result, winner, calibration, scaler, feature_dim, grid)
    log.info("Best model found for hyperparameters: %s", json.dumps(artifact.selected_model))
    if calibration is not None:
        log.info(
            "Calibrated threshold %s for %s: precision %.4f, recall %.4f on the selection data",
            repr(calibration.threshold),
            hp.binary_classifier_model_selection_criteria,
            calibration.precision,
            calibration.recall,
        )
    report_channels = {"validation": validation} if validation is not None else {"train": train}
    if test is not None:
        report_channels["test"] = test
    else:
        log.info("Test data is not provided.")
    # Rotated rows were scaled into a new array, so train.X is still raw: score it like the others.
    scaled_train = X if scaler.rotation is None else None
    results = score_channels(artifact, report_channels, hp, host, scaled_train=scaled_train, comm=comm)
    # The report first: if it fails, the job fails with nothing in model/ (the success contract).
    from .report import write_report

    write_report(paths.output_data_dir, artifact, results, hp)
    if ctx.cluster.is_master:
        from ..model.artifact import save_artifact

        save_artifact(artifact, paths.model_dir)
    t_end = time.time()
    logs.emit(
        logs.metrics_json(
            {
                "totaltime": (t_end - t_start) * 1000,
                "setuptime": (t_train - t_start) * 1000,
                "update.time": (t_end - t_train) * 1000,
                "epochs": float(result.epochs_run),
            },
            {"Host": host, "Operation": "training"},
            start=t_start,
            end=t_end,
        )
    )
    comm.barrier()  # hosts finish together: a host that failed after training fails the others too
    comm.close()
