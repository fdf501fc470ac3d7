"""The epoch loop for all models at once: one GEMM forward and one backward per mini-batch.

Parameters of M models with K outputs live in one (F, K*M) matrix laid out class-major (column
k*M + m), so the softmax reductions run over contiguous model blocks. Per-model learning rate, wd,
l1 and positive weight are column vectors. Each model keeps its best-epoch parameters.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import TrainingInterrupted
from ..learner.calibration import calibrate
from ..learner.grid import ModelGrid
from ..learner.kernels import single_blas_thread
from ..learner.links import sigmoid
from ..learner.losses import Loss
from ..learner.optimizers import Optimizer, scheduled_lr
from ..learner.scaler import Scaler
from ..learner.selection import BestPerModel, EarlyStopping
from . import checkpoint as ckpt
from .comm import Comm, SingleHost
from .data_feed import EpochFeed, InMemoryFeed
from .model_groups import ModelGroup, ModelGroups, group_count, group_models
from .step import MAX_CHUNKS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    """Plain values the loop needs (the Hyperparameters object stays in the job layer)."""

    predictor_type: str
    num_outputs: int
    epochs: int
    mini_batch_size: int
    optimizer: str
    momentum: float
    beta_1: float
    beta_2: float
    bias_lr_mult: float
    bias_wd_mult: float
    use_bias: bool
    init_method: str
    init_scale: float
    init_sigma: float
    init_bias: float
    use_lr_scheduler: bool
    lr_scheduler_step: int
    lr_scheduler_factor: float
    lr_scheduler_minimum_lr: float
    early_stopping_patience: int
    early_stopping_tolerance: float
    criterion: str  # binary selection criterion, or "loss"
    f_beta: float = 1.0
    target_recall: float = 0.8
    target_precision: float = 0.8
    num_calibration_samples: int = 10_000_000
    seed: int = 0


@dataclass
class EpochReport:
    epoch: int
    train_loss: np.ndarray  # (M,)
    val_loss: np.ndarray | None  # (M,)
    criterion_values: np.ndarray  # (M,) the per-model early-stopping value
    criterion_name: str
    maximize: bool
    improved: bool
    records_per_second: float
    seconds: float
    epochs_without_improvement: int = 0  # the current streak, this epoch included (0 if it improved)


@dataclass
class TrainResult:
    W: np.ndarray  # (F, K*M) best-epoch parameters per model, scaled units
    b: np.ndarray  # (K*M,)
    epochs_run: int
    best_values: np.ndarray  # (M,)
    history: list[EpochReport] = field(default_factory=list)

    def model(self, m: int, num_models: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        cols = np.arange(k) * num_models + m
        return self.W[:, cols].copy(), self.b[cols].copy()


def sample_weights(predictor_type: str, y: np.ndarray, grid: ModelGrid, class_weights: np.ndarray | None):
    """(B, M) or (B, 1) weights: positive weight per model (binary), class weight (multiclass)."""
    if predictor_type == "binary_classifier" and np.any(grid.positive_weight != 1):
        return np.where(y[:, None] > 0.5, grid.positive_weight[None, :], np.float32(1.0)).astype(np.float32)
    if predictor_type == "multiclass_classifier" and class_weights is not None:
        return class_weights[y.astype(np.int64)][:, None].astype(np.float32)
    return np.ones((y.shape[0], 1), np.float32)


def init_parameters(F: int, K: int, M: int, s: TrainSettings) -> tuple[np.ndarray, np.ndarray]:
    """Model m's columns drawn from its own generator seeded by m (seed + m), so runs repeat.

    W is column-major: each output's weights are contiguous, which the backward product S^T X
    writes directly (training/step.py) and the optimizer's kernels walk in order.
    """
    W = np.empty((F, K * M), np.float32, order="F")
    for m in range(M):
        rng = np.random.default_rng(s.seed + m)
        cols = np.arange(K) * M + m
        if s.init_method == "normal":
            W[:, cols] = rng.normal(0.0, s.init_sigma, size=(F, K))
        else:
            W[:, cols] = rng.uniform(-s.init_scale, s.init_scale, size=(F, K))
    b = np.full(K * M, s.init_bias if s.use_bias else 0.0, np.float32)
    return W, b


class Trainer:
    """Trains M models on in-memory, already-scaled training data."""

    def __init__(
        self,
        settings: TrainSettings,
        grid: ModelGrid,
        train_loss: Loss,
        eval_loss: Loss,
        scaler: Scaler,
        class_weights: np.ndarray | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_epoch: Callable[[EpochReport], None] = lambda r: None,
        *,
        n_features: int,
        comm: Comm | None = None,
        checkpointer: ckpt.Checkpointer | None = None,
        threads: int = 0,
    ) -> None:
        self.s = settings
        self.grid = grid
        self.train_loss = train_loss
        self.eval_loss = eval_loss
        self.scaler = scaler
        self.class_weights = class_weights
        self.should_stop = should_stop
        self.on_epoch = on_epoch
        self.n_features = n_features
        self.comm = comm or SingleHost()
        self.checkpointer = checkpointer  # per-epoch state for resuming (training/checkpoint.py)
        self.threads = threads  # 0: every usable core (at most two are used)
        self.M = grid.num_models
        self.K = settings.num_outputs

    # ---- evaluation on raw (unscaled) data through folded weights -------------------------------
    def raw_scores(self, X, W: np.ndarray, b: np.ndarray, *, scaled: bool = False) -> np.ndarray:
        """Scores (n, K, M) in original label units, all models at once.

        X holds raw features (folded weights are used) unless `scaled` says it was already scaled.
        """
        if scaled:
            Wf, bf = W, b
        else:
            W64, b64 = self.scaler.fold_features(W, b)
            Wf, bf = W64.astype(np.float32), b64.astype(np.float32)
        f = np.asarray(X @ Wf) + bf
        if self.scaler.label_std != 1.0 or self.scaler.label_mean != 0.0:
            f = f * np.float32(self.scaler.label_std) + np.float32(self.scaler.label_mean)
        return f.reshape(X.shape[0], self.K, self.M)

    def evaluate(
        self, X, y: np.ndarray, W: np.ndarray, b: np.ndarray, *, scaled: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-model (objective loss (M,), criterion value (M,)); binary criteria calibrated."""
        S = self.raw_scores(X, W, b, scaled=scaled)
        w = sample_weights(self.s.predictor_type, y, self.grid, self.class_weights)
        losses = self.eval_loss.value(S, y, w)
        objective = losses.sum(axis=0) / (w.sum(axis=0) if w.shape[1] > 1 else w.sum())
        if self.comm.world_size > 1:
            objective = self._objective_all_hosts(losses, w)
        if self.s.criterion == "loss":
            return objective, objective
        n = min(len(y), self.calibration_share())
        scores = S[:n, 0, :]
        if self.train_loss.name == "logistic":
            scores = sigmoid(scores)
        y_cal = y[:n]
        if self.comm.world_size > 1:
            from .distributed import allgather_rows

            y_cal, scores = allgather_rows(self.comm, y_cal, np.ascontiguousarray(scores))
        crit = np.array(
            [
                self._criterion_value(y_cal, scores[:, m]) if np.all(np.isfinite(scores[:, m])) else np.nan
                for m in range(self.M)
            ]
        )
        return objective, crit

    def _criterion_value(self, y: np.ndarray, scores: np.ndarray) -> float:
        """The calibrated criterion for one model's scores, as a rank: higher is better.

        A model that cannot reach target_precision reports its recall at the highest-precision
        threshold; ranking that beside models that do reach it would prefer a poor model, so an
        unreachable target scores precision - 1 (always below any reachable recall in [0, 1]).
        """
        cal = calibrate(
            y,
            scores,
            self.s.criterion,
            beta=self.s.f_beta,
            target_recall=self.s.target_recall,
            target_precision=self.s.target_precision,
            out_of_sample=True,
        )
        if not cal.reachable and self.s.criterion == "recall_at_target_precision":
            return cal.precision - 1.0
        return cal.value

    # ---- the loop --------------------------------------------------------------------------------
    def fit(self, feed: EpochFeed, X_val=None, y_val=None) -> TrainResult:
        """Train on `feed` (rows already scaled); validate on raw X_val through folded weights.

        BLAS runs single-threaded here; the models' groups, or a step's row chunks, use the second
        core themselves (training/model_groups.py, training/step.py).
        """
        with single_blas_thread():
            return self._fit(feed, X_val, y_val)

    def _optimizer(self, shape: tuple[int, int]) -> Optimizer:
        s = self.s
        return Optimizer(
            s.optimizer,
            shape,
            momentum=s.momentum,
            beta_1=s.beta_1,
            beta_2=s.beta_2,
            bias_lr_mult=s.bias_lr_mult,
            bias_wd_mult=s.bias_wd_mult,
            order="F",
        )

    def _lr(self, base_lr: np.ndarray, update: int, *, announce: bool = False) -> np.ndarray:
        s = self.s
        lr = scheduled_lr(
            base_lr,
            update,
            enabled=s.use_lr_scheduler,
            step=s.lr_scheduler_step,
            factor=s.lr_scheduler_factor,
            minimum=s.lr_scheduler_minimum_lr,
        )
        if announce and update % max(1, s.lr_scheduler_step) == 0 and log.isEnabledFor(logging.DEBUG):
            log.debug("update %d: learning_rate of model 0 = %r", update, float(lr[0]))
        return lr

    def _mean_gradient(self, gW: np.ndarray, gb: np.ndarray, bs: int) -> tuple[np.ndarray, np.ndarray]:
        if self.comm.world_size > 1:
            return self._global_gradient(gW, gb, bs)
        inv = np.float32(1.0 / bs)
        gW *= inv
        gb *= inv
        return gW, gb

    def _model_groups(self, batch_size: int) -> ModelGroups:
        K, M = self.K, self.M
        n_groups = group_count(M, K, self.n_features, batch_size, self.comm.world_size)
        cols = lambda v: np.tile(v.astype(np.float32), K)  # noqa: E731  (M,) -> (K*M,) class-major
        groups = [
            ModelGroup(
                models,
                num_models=M,
                num_outputs=K,
                n_features=self.n_features,
                loss=self.train_loss,
                optimizer=self._optimizer,
                base_lr=cols(self.grid.learning_rate),
                wd=cols(self.grid.wd),
                l1=cols(self.grid.l1),
                lr_schedule=functools.partial(self._lr, announce=models.start == 0),
                lr_period=self.s.lr_scheduler_step,  # also the debug log's period
                update_bias=self.s.use_bias,
                reduce_gradient=self._mean_gradient,
                step_threads=self.threads if n_groups == 1 else 1,
                row_chunks=MAX_CHUNKS if n_groups == 1 else 1,
            )
            for models in group_models(M, n_groups, K)
        ]
        return ModelGroups(groups, self.threads)

    def _fit(self, feed: EpochFeed, X_val=None, y_val=None) -> TrainResult:
        s, M, K = self.s, self.M, self.K
        n = feed.n_rows
        W, b = init_parameters(self.n_features, K, M, s)
        opt = self._optimizer(W.shape)
        # multi-host: a host with an empty validation shard still joins every evaluation round
        has_val = X_val is not None and y_val is not None and (len(y_val) > 0 or self.comm.world_size > 1)
        maximize = s.criterion != "loss" and has_val
        crit_name = self._criterion_name(has_val)
        stopper = EarlyStopping(s.early_stopping_patience, s.early_stopping_tolerance, maximize)
        best = BestPerModel(maximize)
        best_W, best_b = W.copy(), b.copy()
        history: list[EpochReport] = []
        B = max(1, min(s.mini_batch_size, n))
        epochs_run, start_epoch = 0, 0
        loop = dict(W=W, b=b, best_W=best_W, best_b=best_b, optimizer=opt, stopper=stopper, best=best)
        saved = self.checkpointer.load(ckpt.expected_shapes(W, b, opt)) if self.checkpointer else None
        if saved is not None:
            history = ckpt.apply(saved, **loop, report_type=EpochReport)
            epochs_run = start_epoch = saved.epoch + 1
            if saved.finished:
                start_epoch = s.epochs
        groups = self._model_groups(B)
        try:
            for epoch in range(start_epoch, s.epochs):
                t0 = time.perf_counter()
                loss_sum = np.zeros(M, np.float64)
                weight_sum = np.zeros(M, np.float64)
                rows_seen = 0
                batches = feed.batches(epoch, B)
                step = groups.first_step
                if isinstance(feed, InMemoryFeed) and len(groups.groups) == 1 and step.is_parallel(B):
                    batches = step.prefetched(batches)
                groups.load(W, b, opt)
                with groups.epoch() as train_batch:
                    for xb, yb, wb in batches:
                        if self.should_stop():
                            raise TrainingInterrupted(f"stopped during epoch {epoch}")
                        rows_seen += xb.shape[0]
                        weight_sum += wb.sum(axis=0) if wb.shape[1] > 1 else wb.sum()
                        train_batch(xb, yb, wb)
                groups.store(W, b, opt, loss_sum)
                epochs_run = epoch + 1
                self.comm.allreduce_sum(loss_sum)
                self.comm.allreduce_sum(weight_sum)
                train_loss = loss_sum / np.maximum(weight_sum, 1e-12)
                diverged = ~np.isfinite(W).all(axis=0).reshape(K, M).all(axis=0)
                train_loss[diverged] = np.nan
                val_loss = None
                if has_val:
                    val_loss, crit = self.evaluate(X_val, y_val, W, b)
                    val_loss = np.where(diverged, np.nan, val_loss)
                    crit = np.where(diverged, np.nan, crit)
                else:
                    crit = train_loss
                tiebreak = val_loss if (has_val and maximize) else None
                improved_models = best.update(crit, tiebreak)
                for m in np.flatnonzero(improved_models):
                    c = np.arange(K) * M + m
                    best_W[:, c] = W[:, c]
                    best_b[c] = b[c]
                finite = crit[np.isfinite(crit)]
                overall = (finite.max() if maximize else finite.min()) if finite.size else np.nan
                tb = None
                if tiebreak is not None and np.isfinite(tiebreak).any():
                    tb = float(np.nanmin(np.where(np.isfinite(tiebreak), tiebreak, np.nan)))
                improved = stopper.update(float(overall), tb)
                seconds = time.perf_counter() - t0
                report = EpochReport(
                    epoch,
                    train_loss,
                    val_loss,
                    crit,
                    crit_name,
                    maximize,
                    improved,
                    rows_seen / max(seconds, 1e-9),
                    seconds,
                    stopper.epochs_without_improvement,
                )
                history.append(report)
                self.on_epoch(report)
                if self.checkpointer is not None:
                    finished = not finite.size or stopper.should_stop or epoch + 1 == s.epochs
                    self.checkpointer.save(ckpt.capture(epoch, finished, **loop, history=history))
                if not finite.size:
                    break
                if stopper.should_stop:
                    log.info("Early stop condition met. Stopping training.")
                    break
        finally:
            groups.close()
        return TrainResult(best_W, best_b, epochs_run, best.values, history)

    # ---- multi-host reductions (training/distributed.py explains why) ----------------------------
    def _global_gradient(
        self, gW_sum: np.ndarray, gb_sum: np.ndarray, bs: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean gradient over this step's rows on all hosts: one allreduce of [X^T G, sum G, rows].

        Summing unnormalised gradients and dividing by the total row count keeps uneven and empty
        batches (a short shard padded by SyncedFeed) weighted by their rows, not by host.
        """
        F, C = gW_sum.shape
        flat = getattr(self, "_flat", None)
        if flat is None or flat.size != F * C + C + 1:
            flat = self._flat = np.empty(F * C + C + 1, np.float32)
        gW, gb = flat[: F * C].reshape(F, C), flat[F * C : F * C + C]
        gW[...] = gW_sum
        gb[...] = gb_sum
        flat[-1] = bs
        self.comm.allreduce_sum(flat)
        flat[:-1] /= max(float(flat[-1]), 1.0)
        return gW, gb

    def _objective_all_hosts(self, losses: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Weighted mean loss (M,) over every host's validation rows."""
        sums = np.zeros(2 * self.M, np.float64)
        sums[: self.M] = losses.sum(axis=0)
        sums[self.M :] = w.sum(axis=0) if w.shape[1] > 1 else w.sum()
        self.comm.allreduce_sum(sums)
        return (sums[: self.M] / np.maximum(sums[self.M :], 1e-300)).astype(np.float32)

    def calibration_share(self) -> int:
        """This host's part of num_calibration_samples (the whole budget on one host)."""
        return -(-self.s.num_calibration_samples // self.comm.world_size)

    def _criterion_name(self, has_val: bool) -> str:
        if not has_val:
            return f"train_{self.train_loss.objective_name}"
        if self.s.criterion == "loss":
            return f"validation_{self.eval_loss.objective_name}"
        return f"sampled_{self.s.criterion}"
