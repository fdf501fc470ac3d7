"""Statistics of the scaler sample: feature/label scaling (optionally decorrelated), class and
positive-example weights, and the per-model hyperparameter grid that depends on them.

Everything here comes from the first num_point_for_scaler training records (summed over hosts in
multi-host jobs), read once, so File, Pipe and streamed training see the same numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..batch import Batch
from ..config.hyperparams import Hyperparameters
from ..learner.grid import ModelGrid, build_grid
from ..learner.scaler import Scaler, fit_scaler, standardised_moments, with_decorrelation
from . import distributed
from .comm import Comm

log = logging.getLogger(__name__)

MAX_DECORRELATED_FEATURES = 1000


@dataclass(frozen=True)
class SampleStatistics:
    """What training needs from the sample: the scaler, the model grid and class weights."""

    scaler: Scaler
    grid: ModelGrid
    class_weights: np.ndarray | None


def class_weights(y: np.ndarray, k: int, comm: Comm | None = None) -> np.ndarray:
    """Inverse frequency on the sample (every host's, with comm); absent class -> 1,000,000 (ref §6)."""
    counts = np.bincount(y.astype(np.int64), minlength=k).astype(np.float64)
    if comm is not None:
        comm.allreduce_sum(counts)
    freq = counts / max(counts.sum(), 1.0)
    return np.where(counts > 0, 1.0 / np.maximum(freq, 1e-300), 1_000_000.0).astype(np.float32)


def _decorrelate(scaler: Scaler, hp: Hyperparameters, X_sample, any_sparse: bool, comm: Comm) -> Scaler:
    """Add the ZCA rotation for dense, centred, normalised in-memory data of modest width.

    L1 acts on the coordinates the model trains in; a user who sets l1 expects exact zeros on
    their own features, so decorrelation is off then (and for sparse or very wide data). The
    covariance is summed over every host's sample so all hosts train in the same coordinates.
    """
    F = X_sample.shape[1]
    user_l1 = "l1" in hp.user_set and hp.l1 > 0
    if any_sparse or user_l1 or not (hp.normalize_data and hp.unbias_data and hp.use_bias):
        return scaler
    if not 1 < F <= MAX_DECORRELATED_FEATURES:
        return scaler
    n = np.array([float(X_sample.shape[0])])
    comm.allreduce_sum(n)
    if n[0] <= F:
        return scaler
    moments = standardised_moments(scaler, X_sample) if X_sample.shape[0] else np.zeros((F, F))
    comm.allreduce_sum(moments)
    log.info("Dense data with %d features: training on decorrelated (ZCA) features", F)
    return with_decorrelation(scaler, moments, int(n[0]))


def fit_statistics(
    hp: Hyperparameters, train: Batch, comm: Comm, any_sparse: bool, *, rotate: bool
) -> SampleStatistics:
    """Scaler, class weights and grid from the scaler sample; `rotate` allows decorrelation."""
    k = hp.num_classes if hp.predictor_type == "multiclass_classifier" else 1
    n_sample = min(distributed.share(hp.num_point_for_scaler, comm), train.n_rows)
    X_sample, y_sample = train.X[:n_sample], train.y[:n_sample]
    is_regressor = hp.predictor_type == "regressor"
    if train.is_sparse and hp.unbias_data:
        log.info("Sparse data: features are scaled but not centred (unbias_data ignored).")
    if not hp.use_bias and (hp.unbias_data or (hp.unbias_label and is_regressor)):
        # Centring adds -mean·w (+ label mean) to the folded bias: a model without a bias must pass
        # through the origin in the user's units, so use_bias=false wins over an explicit unbias_*.
        log.warning("use_bias=false: unbias_data/unbias_label ignored so the model keeps bias 0")
    fit = (
        fit_scaler
        if comm.world_size == 1
        else partial(distributed.fit_scaler_all, comm, any_sparse=any_sparse)
    )
    scaler = fit(
        X_sample,
        y_sample if is_regressor else None,
        normalize_data=hp.normalize_data,
        unbias_data=hp.unbias_data and hp.use_bias,
        normalize_label=hp.normalize_label and is_regressor,
        unbias_label=hp.unbias_label and is_regressor and hp.use_bias,
    )
    if rotate:
        scaler = _decorrelate(scaler, hp, X_sample, any_sparse, comm)
    log.info(
        "Scaling model computed with parameters: %s",
        {
            "stdev_weight": float(np.mean(scaler.std)),
            "mean_weight": float(np.mean(scaler.mean)),
            "stdev_label": scaler.label_std if is_regressor else None,
            "mean_label": scaler.label_mean if is_regressor else None,
        },
    )
    positive_ratio, positive_weight = None, 1.0
    if hp.predictor_type == "binary_classifier":
        n_pos = float(np.sum(y_sample > 0.5))
        n_neg = float(len(y_sample) - n_pos)
        n_pos, n_neg = distributed.sum_counts(comm, n_pos, n_neg)  # over every host's sample
        ratio = n_neg / n_pos if n_pos > 0 and n_neg > 0 else 1.0
        if n_pos == 0 or n_neg == 0:
            log.warning(
                "The scaler sample holds only one class; positive_example_weight_mult falls back to 1"
            )
        if hp.positive_example_weight_mult == "balanced":
            positive_weight = ratio
            log.info("positive_example_weight_mult=balanced -> %s (n_neg/n_pos on the sample)", ratio)
        elif hp.positive_example_weight_mult == "auto":
            positive_ratio = ratio
        else:
            positive_weight = float(hp.positive_example_weight_mult)
    weights_per_class = None
    if hp.predictor_type == "multiclass_classifier" and hp.balance_multiclass_weights:
        weights_per_class = class_weights(y_sample, k, comm)
        log.info(
            "balance_multiclass_weights: class weights %s", [round(float(w), 4) for w in weights_per_class]
        )

    vary = lambda name: name not in hp.user_set  # noqa: E731
    grid = build_grid(
        hp.num_models,
        learning_rate=hp.learning_rate,
        wd=hp.wd,
        l1=hp.l1,
        vary_learning_rate=vary("learning_rate"),
        vary_wd=vary("wd"),
        vary_l1=vary("l1"),
        positive_weight=positive_weight,
        positive_ratio=positive_ratio,
    )
    return SampleStatistics(scaler, grid, weights_per_class)
