"""Choosing the winning model (reference D3), calibrating its threshold and building the artifact."""

from __future__ import annotations

import logging

import numpy as np

from ..batch import Batch
from ..config.hyperparams import Hyperparameters
from ..errors import ClientError
from ..learner.calibration import Calibration, calibrate
from ..learner.grid import ModelGrid
from ..learner.links import sigmoid
from ..learner.scaler import Scaler
from ..learner.selection import best_model
from ..model.artifact import ModelArtifact
from .trainer import Trainer, TrainResult

log = logging.getLogger(__name__)


def select_model(
    trainer: Trainer,
    result: TrainResult,
    hp: Hyperparameters,
    train: Batch,
    X_scaled,
    validation: Batch | None,
) -> tuple[int, Calibration | None]:
    """Index of the winner and (binary) its calibrated threshold, on validation or training rows."""
    if validation is not None:
        X, y, scaled = validation.X, validation.y, False
    else:
        X, y, scaled = X_scaled, train.y, True
    if hp.predictor_type == "binary_classifier":
        n = min(len(y), trainer.calibration_share())  # each host's part of the budget
        X, y = X[:n], y[:n]
    objective, crit = trainer.evaluate(X, y, result.W, result.b, scaled=scaled)
    # A model that never had a finite epoch still holds its initial weights: it must not win.
    never_finite = ~np.isfinite(result.best_values)
    objective, crit = np.where(never_finite, np.nan, objective), np.where(never_finite, np.nan, crit)
    by_criterion = trainer.s.criterion != "loss"
    winner = best_model(crit if by_criterion else objective, maximize=by_criterion)
    if winner is None:
        raise ClientError(
            "every model diverged (non-finite weights or loss); lower learning_rate or check the data scale"
        )
    if hp.predictor_type != "binary_classifier":
        return winner, None
    scores = trainer.raw_scores(X, result.W, result.b, scaled=scaled)[:, 0, winner]
    if hp.loss == "logistic":
        scores = sigmoid(scores)
    if trainer.comm.world_size > 1:  # calibrate on every host's selection rows
        from .distributed import allgather_rows

        y, scores = allgather_rows(trainer.comm, y, np.ascontiguousarray(scores))
    criterion = hp.binary_classifier_model_selection_criteria
    n_pos = int(np.sum(y > 0.5))
    if criterion != "loss_function" and y.size and n_pos in (0, y.size):
        # Every threshold scores the same on one class (all-negative rows: the highest one wins),
        # so calibrating would pick a cut no score can pass, or one every score passes.
        log.warning(
            "the %s holds only label %d (%d rows): binary_classifier_model_selection_criteria=%s cannot "
            "calibrate a threshold on it; using the fixed threshold 0.5 (as for loss_function). Give the "
            "validation channel rows of both classes (shuffle before splitting).",
            "validation channel" if validation is not None else "training sample used for calibration",
            int(n_pos > 0),
            y.size,
            criterion,
        )
        criterion = "loss_function"
    cal = calibrate(
        y,
        scores,
        criterion,
        beta=hp.f_beta,
        target_recall=hp.target_recall,
        target_precision=hp.target_precision,
        out_of_sample=True,
    )
    if not cal.reachable and criterion == "recall_at_target_precision":
        log.warning(
            "target_precision=%s is not reachable on the selection data; using the highest-precision "
            "threshold (precision %.4f)",
            hp.target_precision,
            cal.precision,
        )
    return winner, cal


def build_artifact(
    hp: Hyperparameters,
    trainer: Trainer,
    result: TrainResult,
    winner: int,
    calibration: Calibration | None,
    scaler: Scaler,
    feature_dim: int,
    grid: ModelGrid,
) -> ModelArtifact:
    """Winner's parameters, folded into original units, plus everything serving needs."""
    k = trainer.K
    W_scaled, b_scaled = result.model(winner, trainer.M, k)
    W, b = scaler.fold(W_scaled, b_scaled)
    W_scaled = scaler.unrotate(W_scaled)  # stored on standardised features (reference D8)
    selected = {
        "optimizer": hp.optimizer,
        "learning_rate": float(grid.learning_rate[winner]),
        "wd": float(grid.wd[winner]),
        "l1": float(grid.l1[winner]),
        "lr_scheduler_step": hp.lr_scheduler_step,
        "lr_scheduler_factor": hp.lr_scheduler_factor,
        "lr_scheduler_minimum_lr": hp.lr_scheduler_minimum_lr,
        "model": winner,
    }
    if hp.predictor_type == "binary_classifier":
        selected["positive_example_weight_mult"] = float(grid.positive_weight[winner])
    extra = {"epochs_run": result.epochs_run}
    if calibration is not None:
        extra.update(
            selection_criterion=hp.binary_classifier_model_selection_criteria,
            selection_precision=calibration.precision,
            selection_recall=calibration.recall,
            selection_value=calibration.value,
        )
    return ModelArtifact(
        predictor_type=hp.predictor_type,
        loss=hp.loss,
        feature_dim=feature_dim,
        num_classes=hp.num_classes if hp.predictor_type == "multiclass_classifier" else None,
        weights=W,
        bias=b,
        scaled_weights=W_scaled.astype(np.float32),
        scaled_bias=b_scaled.astype(np.float32),
        feature_mean=scaler.mean.astype(np.float32),
        feature_std=scaler.std.astype(np.float32),
        threshold=calibration.threshold if calibration is not None else None,
        quantile=hp.quantile if hp.loss == "quantile_loss" else None,
        label_mean=scaler.label_mean,
        label_std=scaler.label_std,
        normalize_data=hp.normalize_data,
        unbias_data=bool(np.any(scaler.mean != 0)),
        selected_model=selected,
        class_names=list(hp.class_names) if hp.class_names else None,
        extra=extra,
    )
