"""Stacked models cut into column groups that train side by side, one thread each.

Why groups of models rather than chunks of rows: the models of a grid share nothing but their input
rows. Sharing a mini-batch's rows between two threads (training/step.py) costs a thread hand-off and
a sum of partial gradients at every batch, and on this kind of machine that hand-off took a third of
the second core's gain. A group runs forward, loss, backward and its optimizer on its own columns
through the whole epoch; the threads meet only at the epoch's end, and between batches they are
decoupled by a short queue.

Why the split depends on the shape only: which models form a group is fixed by (models, outputs,
features, batch size), never by the number of cores, so one core (groups run one after another) and
two give the same bits.

The Trainer keeps the full (F, K*M) parameters and optimizer state as the truth at epoch
boundaries (evaluation, best-model copies, checkpoints read them); `load` copies each group's
columns out before an epoch and `store` writes them back after it.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator

import numpy as np

from ..learner.losses import Loss
from ..learner.optimizers import Optimizer
from .step import MIN_CHUNK_WORK, GradientStep, usable_cores

MAX_GROUPS = 2  # two cores
QUEUE_DEPTH = 4  # batches a worker may lag behind the feeding thread
FEED_OUTPUTS = 21  # a batch gather costs about as much as this many outputs' two products

GradientReducer = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def group_count(num_models: int, num_outputs: int, n_features: int, batch_size: int, world_size: int) -> int:
    """How many groups the models are cut into: a function of the shape only.

    Multi-host training keeps one group: each batch's gradient is one collective call, and two
    threads issuing collectives could order them differently on different hosts.
    """
    if world_size > 1 or num_models < 2:
        return 1
    per_group = batch_size * n_features * num_outputs * num_models / MAX_GROUPS
    return MAX_GROUPS if per_group >= MIN_CHUNK_WORK else 1


def group_models(num_models: int, groups: int, num_outputs: int) -> list[range]:
    """Contiguous model ranges, the feeding thread's group short by the feed's share of the work.

    The first group runs on the thread that also gathers every batch's rows, which costs about as
    much as FEED_OUTPUTS outputs' forward and backward products (both scale with rows x features):
    for 32 softmax models of 7 classes the split is 14/18 models (measured: 16/16 left the worker
    idle ~15% of each batch, 14/18 made the epoch ~12% faster). Every group keeps at least one model.
    """
    if groups == 1:
        return [range(num_models)]
    head = (num_models - FEED_OUTPUTS / num_outputs) / groups
    first = min(num_models - (groups - 1), max(1, int(head)))
    edges = [0, first] + [first + (num_models - first) * g // (groups - 1) for g in range(1, groups)]
    return [range(edges[g], edges[g + 1]) for g in range(groups)]


class ModelGroup:
    """Parameters, optimizer and gradient step for some of the models, in their own compact columns."""

    def __init__(
        self,
        models: range,
        *,
        num_models: int,
        num_outputs: int,
        n_features: int,
        loss: Loss,
        optimizer: Callable[[tuple[int, int]], Optimizer],
        base_lr: np.ndarray,
        wd: np.ndarray,
        l1: np.ndarray,
        lr_schedule: Callable[[np.ndarray, int], np.ndarray],
        lr_period: int,
        update_bias: bool,
        reduce_gradient: GradientReducer,
        step_threads: int,
        row_chunks: int,
    ) -> None:
        K, M = num_outputs, num_models
        self.models = models
        self.whole = len(models) == M  # the group is every model: it works on the full arrays
        self.cols = (np.arange(K)[:, None] * M + np.array(models)[None, :]).ravel()  # class-major
        C = self.cols.size
        self.base_lr, self.wd, self.l1 = base_lr[self.cols], wd[self.cols], l1[self.cols]
        self.lr_schedule = lr_schedule
        self.lr_period = max(1, lr_period)  # updates over which lr_schedule's result stays the same
        self._lr: tuple[int, np.ndarray] | None = None
        self.update_bias = update_bias
        self.reduce_gradient = reduce_gradient
        self.step = GradientStep(
            loss, K, len(models), n_features, threads=step_threads, max_chunks=row_chunks
        )
        self.loss_sum = np.zeros(len(models), np.float64)
        if self.whole:  # `load` hands it the full arrays: no copies of its own
            return
        self.opt = optimizer((n_features, C))
        self.W = np.empty((n_features, C), np.float32, order="F")  # as init_parameters lays it
        self.b = np.empty(C, np.float32)

    def load(self, W: np.ndarray, b: np.ndarray, opt: Optimizer) -> None:
        """Start an epoch from the full parameters and optimizer state."""
        if self.whole:
            self.W, self.b, self.opt = W, b, opt
        else:
            self.W[...] = W[:, self.cols]
            self.b[...] = b[self.cols]
            self.opt.copy_columns(opt, self.cols)
        self.loss_sum[...] = 0.0

    def store(self, W: np.ndarray, b: np.ndarray, opt: Optimizer, loss_sum: np.ndarray) -> None:
        """Write this group's columns and per-model loss sums back after an epoch."""
        if not self.whole:
            W[:, self.cols] = self.W
            b[self.cols] = self.b
            opt.t = self.opt.t
            mine = self.opt.column_arrays()
            for name, full in opt.column_arrays().items():
                full[..., self.cols] = mine[name]
        loss_sum[self.models.start : self.models.stop] = self.loss_sum

    def train(self, xb, yb: np.ndarray, wb: np.ndarray) -> None:
        """One mini-batch update of this group's models."""
        if wb.shape[1] > 1 and not self.whole:
            wb = wb[:, self.models.start : self.models.stop]
        gW, gb, lsum = self.step(xb, yb, wb, self.W, self.b)
        self.loss_sum += lsum
        gW, gb = self.reduce_gradient(gW, gb, xb.shape[0])
        period = self.opt.t // self.lr_period
        if self._lr is None or self._lr[0] != period:  # ~5 us of numpy per batch otherwise
            self._lr = (period, self.lr_schedule(self.base_lr, self.opt.t))
        lr = self._lr[1]
        self.opt.step(self.W, self.b, gW, gb, lr, self.wd, self.l1, update_bias=self.update_bias)

    def close(self) -> None:
        self.step.close()


class ModelGroups:
    """All groups of a job, and the threads that run them during an epoch."""

    def __init__(self, groups: list[ModelGroup], threads: int) -> None:
        self.groups = groups
        self.threads = max(1, min(len(groups), threads or usable_cores()))

    @property
    def first_step(self) -> GradientStep:
        return self.groups[0].step

    def load(self, W: np.ndarray, b: np.ndarray, opt: Optimizer) -> None:
        for g in self.groups:
            g.load(W, b, opt)

    def store(self, W: np.ndarray, b: np.ndarray, opt: Optimizer, loss_sum: np.ndarray) -> None:
        for g in self.groups:
            g.store(W, b, opt, loss_sum)

    def close(self) -> None:
        for g in self.groups:
            g.close()

    @contextlib.contextmanager
    def epoch(self) -> Iterator[Callable[[object, np.ndarray, np.ndarray], None]]:
        """A function that trains every group on one batch; with two threads the second group's
        batches are queued to a worker and the block's exit waits for it to finish them.

        A worker's error is raised on the next call or at the exit; the worker keeps taking (and
        dropping) batches until then, so the feeding thread never blocks on a full queue.
        """
        if self.threads == 1:

            def train_all(xb, yb, wb) -> None:
                for g in self.groups:
                    g.train(xb, yb, wb)

            yield train_all
            return
        first, rest = self.groups[0], self.groups[1:]
        queues: list[queue.Queue] = [queue.Queue(QUEUE_DEPTH) for _ in rest]
        errors: list[BaseException] = []

        def work(group: ModelGroup, q: queue.Queue) -> None:
            while (item := q.get()) is not None:
                if not errors:
                    try:
                        group.train(*item)
                    except BaseException as exc:  # noqa: BLE001  (re-raised in the feeding thread)
                        errors.append(exc)

        workers = [
            threading.Thread(target=work, args=(g, q), name=f"model-group-{i + 1}", daemon=True)
            for i, (g, q) in enumerate(zip(rest, queues, strict=True))
        ]
        for t in workers:
            t.start()

        def train_all(xb, yb, wb) -> None:
            if errors:
                raise errors[0]
            for q in queues:
                q.put((xb, yb, wb))
            first.train(xb, yb, wb)

        try:
            yield train_all
        finally:
            for q in queues:
                q.put(None)
            for t in workers:
                t.join()
        if errors:
            raise errors[0]
