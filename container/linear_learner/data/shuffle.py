"""Seeded shuffling of a row stream, exact-size batches, and decoding one chunk ahead in a thread."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import scipy.sparse as sp

from ..batch import Batch


def _stack(parts: list):
    if len(parts) == 1:
        return parts[0]
    if any(sp.issparse(p) for p in parts):
        return sp.vstack([sp.csr_matrix(p) for p in parts], format="csr")
    return np.concatenate(parts, axis=0)


class ShuffleBuffer:
    """Seeded shuffling of a row stream in windows of exactly `capacity` rows.

    Rows accumulate until the buffer holds `capacity`; the window is permuted, the first half leaves and
    the second half stays to mix with the next rows (so rows drift across window boundaries); at the end
    the rest is permuted and leaves. Windows are cut by row count, so the order is independent of how the
    rows were chunked. Items are tuples of row-aligned arrays (X dense or CSR, y, w).
    """

    def __init__(self, capacity: int, rng: np.random.Generator) -> None:
        self.capacity = max(2, int(capacity))
        self.rng = rng
        self.parts: list[tuple] = []
        self.count = 0

    def _take(self, n: int) -> tuple:
        """Remove and return the first n buffered rows as one tuple of stacked arrays."""
        cols = list(zip(*self.parts, strict=True))
        stacked = tuple(_stack(list(c)) for c in cols)
        head = tuple(a[:n] for a in stacked)
        rest = tuple(a[n:] for a in stacked)
        self.parts = [rest] if rest[0].shape[0] else []
        self.count -= n
        return head

    def push(self, item: tuple) -> Iterator[tuple]:
        self.parts.append(item)
        self.count += item[0].shape[0]
        while self.count >= self.capacity:
            window = self._take(self.capacity)
            perm = self.rng.permutation(self.capacity)
            out = self.capacity - self.capacity // 2
            yield tuple(a[perm[:out]] for a in window)
            self.parts.insert(0, tuple(a[perm[out:]] for a in window))
            self.count += self.capacity - out

    def flush(self) -> Iterator[tuple]:
        if self.count:
            window = self._take(self.count)
            perm = self.rng.permutation(window[0].shape[0])
            yield tuple(a[perm] for a in window)


def rebatch(items: Iterable[tuple], batch_size: int) -> Iterator[tuple]:
    """Cut a stream of row-aligned tuples into batches of exactly batch_size rows (the last may be short)."""
    pending: list[tuple] = []
    count = 0
    for item in items:
        pending.append(item)
        count += item[0].shape[0]
        if count < batch_size:
            continue
        cols = [_stack(list(c)) for c in zip(*pending, strict=True)]
        n = cols[0].shape[0]
        full = n - n % batch_size
        for start in range(0, full, batch_size):
            yield tuple(c[start : start + batch_size] for c in cols)
        pending = [tuple(c[full:] for c in cols)] if full < n else []
        count = n - full
    if count:
        yield tuple(_stack(list(c)) for c in zip(*pending, strict=True))


def buffer_rows(shuffle_buffer_bytes: int, sample: Batch) -> int:
    """Rows that fit the shuffle buffer, from the bytes per row of a sample (dense, or CSR nnz)."""
    if sample.is_sparse:
        per_row = 8 * max(1.0, sample.X.nnz / max(sample.n_rows, 1)) + 16
    else:
        per_row = 4 * sample.n_features + 12
    return max(1024, int(shuffle_buffer_bytes // per_row))


_DONE = object()


def prefetch(items: Iterable, depth: int = 2) -> Iterator:
    """Produce `items` in a background thread, at most `depth` ahead, in order.

    Why: decoding (numba/numpy, GIL released) then overlaps the training step (single-threaded BLAS),
    so streaming uses the machine's second core. Memory stays bounded by `depth` chunks. An exception
    in the producer is re-raised here; leaving the loop early stops the producer.
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put((_DONE, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None and stop.is_set():
                close()

    thread = threading.Thread(target=produce, name="stream-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if item is _DONE:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=30)
