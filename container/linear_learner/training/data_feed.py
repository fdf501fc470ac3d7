"""Mini-batches for each epoch: the trainer asks a feed, so in-memory, streaming and Pipe-mode
sources are interchangeable (issue 6 adds the streaming feeds beside this one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np


class EpochFeed(Protocol):
    n_rows: int

    def batches(self, epoch: int, batch_size: int) -> Iterator[tuple[object, np.ndarray, np.ndarray]]:
        """Yield (X rows already scaled, labels in training units, weights (B, 1|M)) for one pass."""
        ...


class InMemoryFeed:
    """Whole training set in memory: one contiguous shuffled copy per epoch, sliced into batches."""

    def __init__(self, X, y: np.ndarray, w: np.ndarray, seed: int = 0, shuffle: bool = True) -> None:
        self.X, self.y, self.w = X, y, w
        self.n_rows = int(X.shape[0])
        self.seed = seed
        self.shuffle = shuffle

    def batches(self, epoch: int, batch_size: int):
        n = self.n_rows
        if not self.shuffle:
            for start in range(0, n, batch_size):
                yield (
                    self.X[start : start + batch_size],
                    self.y[start : start + batch_size],
                    self.w[start : start + batch_size],
                )
            return
        # Performance: gathering each batch's rows when it is needed keeps them in cache for the GEMM
        # that follows, and np.take gathers dense rows 3x faster than fancy indexing.
        perm = np.random.default_rng(self.seed * 1_000_003 + epoch).permutation(n)
        dense = isinstance(self.X, np.ndarray)
        for start in range(0, n, batch_size):
            rows = perm[start : start + batch_size]
            xb = np.take(self.X, rows, axis=0) if dense else self.X[rows]
            yield xb, np.take(self.y, rows), np.take(self.w, rows, axis=0)


class StreamingFeed:
    """Training rows streamed every epoch (File streaming or Pipe mode) through a seeded shuffle buffer.

    `prime` reads the start of the first pass and returns the scaler sample; that pass stays open and
    epoch 0 continues it, so the sample costs no extra read (no extra FIFO in Pipe mode). `configure`
    then sets how chunks are scaled and weighted. During epoch 0 the raw labels and the row count are
    recorded (n_rows is a lower bound until then). Epoch e shuffles with a generator seeded by
    (seed, e), the same on File and Pipe, so both modes train identical models on the same data.
    """

    def __init__(self, stream, *, seed: int = 0, shuffle_buffer_bytes: int = 128 << 20) -> None:
        self.stream = stream  # data.streaming.ChannelStream
        self.seed = seed
        self.shuffle_buffer_bytes = shuffle_buffer_bytes
        self.n_rows = 0
        self.complete = False  # whether n_rows and labels cover the whole channel
        self.labels: np.ndarray | None = None
        self._first = None
        self._head: list = []
        self._capacity = 0
        self._prepare = None

    def prime(self, n_rows: int):
        """Read at least n_rows rows (or the whole pass if shorter); return those Batches' first n_rows."""
        from ..batch import concat_batches
        from ..data.shuffle import buffer_rows

        self._first = self.stream.chunks()
        got = 0
        for batch in self._first:
            self._head.append(batch)
            got += batch.n_rows
            if got >= n_rows:
                break
        else:
            self.complete = True
        self.n_rows = got
        sample = concat_batches(self._head)
        sample = sample.__class__(sample.X[:n_rows].copy(), sample.y[:n_rows].copy(), sample.origin)
        self._capacity = buffer_rows(self.shuffle_buffer_bytes, sample)
        return sample

    def configure(self, prepare) -> None:
        """prepare(X raw chunk, y raw labels) -> (X scaled, y in training units, w (B, 1|M))."""
        self._prepare = prepare

    def _epoch_chunks(self, epoch: int):
        if epoch == 0 and self._first is not None:
            first, self._first = self._first, None
            yield from self._head
            self._head = []
            yield from first
        else:
            yield from self.stream.chunks()

    def batches(self, epoch: int, batch_size: int):
        from ..data.shuffle import ShuffleBuffer, prefetch, rebatch

        rng = np.random.default_rng(self.seed * 1_000_003 + epoch)
        buffer = ShuffleBuffer(self._capacity or 65536, rng)
        record = epoch == 0 and self.labels is None
        ys: list[np.ndarray] = []

        def prepared():
            for batch in self._epoch_chunks(epoch):
                if record:
                    ys.append(batch.y.copy())
                yield self._prepare(batch.X, batch.y)

        def rows():
            # decoding and scaling run one chunk ahead in a thread, overlapping the training step
            for item in prefetch(prepared()):
                yield from buffer.push(item)
            yield from buffer.flush()

        yield from rebatch(rows(), batch_size)
        if record:
            self.labels = np.concatenate(ys) if ys else np.zeros(0, np.float32)
            self.n_rows = int(self.labels.shape[0])
            self.complete = True
