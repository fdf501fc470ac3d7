"""One mini-batch's loss and gradient for all stacked models, on up to two cores.

Why chunks: the batch's rows are cut into a fixed number of chunks (a function of the batch shape
only) and each chunk's partial sums are added in chunk order, so the result is the same bits whichever
thread computed which chunk, on one core or two. Both threads take the next free chunk, so a busy
second core slows the step to one core's speed instead of stalling it (OpenBLAS's own threads wait
for each other; learner/kernels.py).

Why transposed scores for softmax: computing S^T = W^T X^T puts each (class, model) row of scores
contiguous over the batch, so the fused kernel's loops are long and vectorised.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from ..learner.kernels import softmax_gradient_t, warm_up
from ..learner.losses import Loss

T = TypeVar("T")
MIN_CHUNK_WORK = 1 << 21  # rows x features x outputs below which a second thread costs more than it saves
FIRST_CHUNK_WEIGHT = 1.2
MAX_CHUNKS = 2  # two cores; more chunks measured slower (smaller GEMMs, more hand-offs)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def chunk_count(rows: int, features: int, outputs: int, max_chunks: int = MAX_CHUNKS) -> int:
    """How many chunks a dense batch is cut into: depends on the shape only, never on the machine."""
    if rows * features * outputs < MIN_CHUNK_WORK:
        return 1
    return max(1, min(max_chunks, rows // 256))


@functools.lru_cache(maxsize=64)
def chunk_bounds(rows: int, n: int) -> tuple[int, ...]:
    """Row boundaries of n chunks; the first, which the calling thread always takes at once, is 20%
    larger than the others because the helper starts later (a thread wake-up, ~50 us here, plus the
    next batch's gather when prefetching)."""
    weights = np.array([FIRST_CHUNK_WEIGHT] + [1.0] * (n - 1))
    edges = np.rint(np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() * rows).astype(int)
    return tuple(int(e) for e in edges)


class GradientStep:
    """Weighted loss sums (M,) and unnormalised gradient sums of W (F, K*M) and b (K*M,) for a batch."""

    def __init__(
        self,
        loss: Loss,
        num_outputs: int,
        num_models: int,
        n_features: int,
        *,
        threads: int = 0,
        max_chunks: int = MAX_CHUNKS,
    ):
        """max_chunks=1 keeps each batch whole (model groups already use the second core)."""
        self.loss = loss
        self._fused_softmax = loss.name == "softmax_loss"
        self.K, self.M, self.F = num_outputs, num_models, n_features
        self.max_chunks = max_chunks
        self.threads = max(1, min(2, max_chunks, threads or usable_cores()))
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="gradient") if self.threads > 1 else None
        # column-major gradient slots: S^T X (below) writes each output's row of W^T contiguously
        C = num_outputs * num_models
        # one slot per chunk a batch can be cut into (a model group's step keeps batches whole)
        self._gW = np.empty((max_chunks, C, n_features), np.float32).transpose(0, 2, 1)
        self._gb = np.empty((max_chunks, C), np.float32)
        self._loss = np.empty((max_chunks, num_models), np.float64)
        self._scores: list[np.ndarray | None] = [None] * max_chunks  # transposed scores per chunk
        self._W_rows: np.ndarray | None = None
        warm_up()  # compile before the first epoch is timed

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def is_parallel(self, rows: int) -> bool:
        """Whether a dense batch of this many rows is shared between two threads."""
        return self._pool is not None and self._chunks(rows) > 1

    def prefetched(self, batches: Iterator[T]) -> Iterator[T]:
        """Yield from `batches`, producing each next item on the helper thread while the caller works.

        Only for sources that are plain in-memory gathers: a batch read from a file or pipe could
        block the helper, and with it the thread pool's shutdown, on input that never arrives. And
        only for parallel steps: for a small step, two thread hand-offs cost more than the gather.
        """
        if self._pool is None:
            yield from batches
            return
        pending = self._pool.submit(next, batches, None)
        while (item := pending.result()) is not None:
            pending = self._pool.submit(next, batches, None)
            yield item

    def __call__(self, xb, yb: np.ndarray, wb: np.ndarray, W: np.ndarray, b: np.ndarray):
        rows = xb.shape[0]
        n = self._chunks(rows) if isinstance(xb, np.ndarray) else 1  # sparse rows: one chunk
        bounds = chunk_bounds(rows, n)
        W_rows = self._row_major(W)

        def run(c: int) -> None:
            lo, hi = bounds[c], bounds[c + 1]
            self._chunk(xb[lo:hi], yb[lo:hi], wb[lo:hi], W_rows, b, c)

        if n == 1:
            run(0)
        else:
            self._parallel(run, n)
        if n == 1:
            return self._gW[0], self._gb[0], self._loss[0]
        gW, gb, loss = self._gW[0].copy(order="K"), self._gb[0].copy(), self._loss[0].copy()
        for c in range(1, n):
            gW += self._gW[c]
            gb += self._gb[c]
            loss += self._loss[c]
        return gW, gb, loss

    def _row_major(self, W: np.ndarray) -> np.ndarray:
        """W for the forward product, row-major: OpenBLAS multiplies a narrow column-major W (a few
        outputs) up to 2x slower, and the copy costs about 1% of the product."""
        if W.flags.c_contiguous:
            return W
        if self._W_rows is None or self._W_rows.shape != W.shape:
            self._W_rows = np.empty(W.shape, np.float32)
        np.copyto(self._W_rows, W)
        return self._W_rows

    def _chunks(self, rows: int) -> int:
        return chunk_count(rows, self.F, self.K * self.M, self.max_chunks)

    def _parallel(self, run, n: int) -> None:
        claim = itertools.count()  # next() is atomic under the GIL

        def worker() -> None:
            while (c := next(claim)) < n:
                run(c)

        helper = self._pool.submit(worker) if self._pool is not None else None
        worker()
        if helper is not None:
            helper.result()

    def _chunk(self, x, y, w, W, b, c: int) -> None:
        """Fill chunk c's slots: X^T G, sum of G over rows, and sum of weighted losses per model."""
        K, M = self.K, self.M
        rows = x.shape[0]
        if self._fused_softmax and isinstance(x, np.ndarray):
            buf = self._scores[c]
            if buf is None or buf.size < K * M * rows:
                buf = self._scores[c] = np.empty(K * M * rows, np.float32)
            ST = buf[: K * M * rows].reshape(K * M, rows)
            np.matmul(W.T, x.T, out=ST)
            softmax_gradient_t(
                ST.reshape(K, M, rows), b, y, np.ascontiguousarray(w.T), self._gb[c], self._loss[c]
            )
            _softmax_backward(ST, x, self._gW[c].T, K, M)
            return
        S = np.asarray(x @ W, dtype=np.float32)
        S += b
        lval, G = self.loss.value_and_grad(S.reshape(rows, K, M), y, w)
        self._loss[c] = lval.sum(axis=0)
        G = G.reshape(rows, K * M)
        self._gW[c] = x.T @ G
        np.sum(G, axis=0, out=self._gb[c])


def _softmax_backward(G: np.ndarray, x: np.ndarray, out: np.ndarray, K: int, M: int) -> None:
    """out (K*M, F) = G (K*M, R) @ x, with the last class's rows derived instead of multiplied.

    Every row's softmax gradient sums to zero over the classes (w_r (sum_k p_k - 1)), so the last
    class's gradient is minus the sum of the others': one product in K saved, and the sum costs
    (K-1) M F additions. The difference from multiplying is float32 rounding of p summing to 1.
    """
    head = (K - 1) * M
    np.matmul(G[:head], x, out=out[:head])
    last = out[head:]
    np.add.reduce(out[:head].reshape(K - 1, M, -1), axis=0, out=last)
    np.negative(last, out=last)
