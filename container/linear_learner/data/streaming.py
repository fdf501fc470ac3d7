"""Channels read as a stream of decoded chunks, for data that does not fit the memory budget and for Pipe mode.

A pass over a channel (every file in File mode, one FIFO in Pipe mode) is decoded in chunks of about
CHUNK_BYTES by the same codecs the in-memory reader uses, so errors still name the channel, file or
pipe, line or record and absolute byte offset. `ShuffleBuffer` turns the sequential rows into a seeded
shuffled order whose result depends only on the row sequence, the seed, the epoch and the buffer size,
never on chunk boundaries: File streaming and Pipe mode therefore train identical models on the same
data. `StreamedRows` lets evaluation code compute `X @ W` without holding X.

Memory budget: in-memory training needs about IN_MEMORY_FACTOR times the channel's bytes on disk (file
bytes, decoded rows, their scaled copy and one shuffled copy per epoch). When that exceeds the budget
(default DEFAULT_BUDGET_FRACTION of the machine's memory, or of the cgroup limit when lower; override
with the environment variable LINEAR_LEARNER_MEMORY_BUDGET as bytes, e.g. `2G`, or a fraction, e.g.
`0.5`), training streams instead and peak memory is bounded by the shuffle buffer and chunk size.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import scipy.sparse as sp

from ..batch import Batch
from ..codecs import protobuf as pb_codec
from ..codecs.recordio import HEADER, LENGTH_MASK, MAGIC, MAGIC_BYTES
from ..errors import ClientError
from .labels import check_labels
from .reader import CSV
from .sources import describe, list_channel_files

log = logging.getLogger(__name__)

CHUNK_BYTES = 8 << 20
IN_MEMORY_FACTOR = 4
DEFAULT_BUDGET_FRACTION = 0.25
DEFAULT_SHUFFLE_BUFFER_BYTES = 128 << 20
BUDGET_ENV = "LINEAR_LEARNER_MEMORY_BUDGET"
SHUFFLE_ENV = "LINEAR_LEARNER_SHUFFLE_BUFFER"
PIPE_TIMEOUT_ENV = "LINEAR_LEARNER_PIPE_TIMEOUT"
_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


# ---- memory budget -----------------------------------------------------------------------------------
def machine_memory() -> int:
    """Physical memory in bytes, or the cgroup v2 limit when that is lower (containers)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total


def parse_size(text: str, total: int) -> int:
    """'0.5' -> half of total; '1500M', '2G', '123456' -> bytes. ValueError when unreadable."""
    text = text.strip().upper().removesuffix("B")
    if text and text[-1] in _UNITS:
        return int(float(text[:-1]) * _UNITS[text[-1]])
    value = float(text)
    return int(value * total) if value <= 1 else int(value)


def _env_size(environ: Mapping[str, str], name: str, default: int, total: int) -> int:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        return max(1, parse_size(raw, total))
    except ValueError:
        raise ClientError(  # noqa: B904 -- the ValueError adds nothing for the user
            f"{name}={raw!r} is not a size (use bytes like 2G or 1500M, or a fraction like 0.5)"
        )


@dataclass(frozen=True)
class StreamSettings:
    """How much memory the job may use and how the streamed rows are shuffled; built once per job."""

    memory_budget: int
    shuffle_buffer_bytes: int = DEFAULT_SHUFFLE_BUFFER_BYTES
    pipe_timeout: float = 600.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> StreamSettings:
        total = machine_memory()
        budget = _env_size(environ, BUDGET_ENV, int(DEFAULT_BUDGET_FRACTION * total), total)
        shuffle = _env_size(environ, SHUFFLE_ENV, DEFAULT_SHUFFLE_BUFFER_BYTES, total)
        try:
            timeout = float(environ.get(PIPE_TIMEOUT_ENV) or 600.0)
        except ValueError:
            raise ClientError(  # noqa: B904
                f"{PIPE_TIMEOUT_ENV}={environ.get(PIPE_TIMEOUT_ENV)!r} is not a number of seconds"
            )
        return cls(budget, min(shuffle, max(budget // 2, 1 << 20)), timeout)

    def fits_in_memory(self, files: list[Path]) -> bool:
        return IN_MEMORY_FACTOR * sum(p.stat().st_size for p in files) <= self.memory_budget


# ---- chunked decoding ------------------------------------------------------------------------------
def _read_full(stream: BinaryIO, n: int) -> bytes:
    """Up to n bytes; fewer only at end of stream (a FIFO returns at most its 64 KiB buffer per read)."""
    parts, got = [], 0
    while got < n:
        data = stream.read(n - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def _framing_error(source: str, offset: int, reason: str) -> ClientError:
    return ClientError(
        f"{source}: invalid RecordIO record at byte {offset} ({reason}); expected application/x-recordio-protobuf"
    )


def _walk_frames(buf: bytes, base: int, eof: bool, source: str) -> tuple[int, list[tuple[int, object]]]:
    """Whole records at the start of buf: (bytes consumed, [(absolute offset, payload)]).

    Checks magic, continuation flags (1 first, 2 middle, 3 last, magic re-inserted) and truncation;
    stops before a record that is not complete yet unless at end of stream, where that is an error.
    """
    view = memoryview(buf)
    n, pos, safe, frames = len(buf), 0, 0, []
    start, parts = None, []
    while pos < n:
        if n - pos < HEADER.size:
            if eof:
                raise _framing_error(source, base + pos, f"truncated header: {n - pos} bytes left")
            break
        magic, word = HEADER.unpack_from(buf, pos)
        if magic != MAGIC:
            raise _framing_error(source, base + pos, f"bad magic number 0x{magic:08X}, want 0x{MAGIC:08X}")
        cflag, length = word >> 29, word & LENGTH_MASK
        end = pos + HEADER.size + length
        if end > n:
            if eof:
                raise _framing_error(
                    source,
                    base + pos,
                    f"truncated payload: header declares {length} bytes, {n - pos - 8} remain",
                )
            break
        nxt = end + (4 - length % 4) % 4
        if nxt > n and not eof:
            break
        part = view[pos + HEADER.size : end]
        if cflag == 0:
            if start is not None:
                raise _framing_error(
                    source, base + pos, f"record started at byte {base + start} has no last part"
                )
            frames.append((base + pos, part))
        elif cflag == 1:
            if start is not None:
                raise _framing_error(
                    source, base + pos, f"record started at byte {base + start} has no last part"
                )
            start, parts = pos, [bytes(part)]
        elif cflag in (2, 3):
            if start is None:
                raise _framing_error(source, base + pos, f"continuation flag {cflag} without a first part")
            parts += [MAGIC_BYTES, bytes(part)]
            if cflag == 3:
                frames.append((base + start, b"".join(parts)))
                start, parts = None, []
        else:
            raise _framing_error(source, base + pos, f"continuation flag {cflag} is not 0, 1, 2 or 3")
        pos = min(nxt, n)
        if start is None:
            safe = pos
            kept = len(frames)
    if eof and start is not None:
        raise _framing_error(source, base + start, "multi-part record has no last part (flag 3)")
    return safe, frames[: kept if safe else 0]


def _fixed_stride(buf: bytes) -> int:
    """Bytes covered by leading records that all share the first record's header (SDK dense files)."""
    if len(buf) < HEADER.size:
        return 0
    magic, word = HEADER.unpack_from(buf, 0)
    if magic != MAGIC or word >> 29:
        return 0
    stride = HEADER.size + word + (4 - word % 4) % 4
    m = len(buf) // stride
    if m < 2:
        return 0
    heads = np.frombuffer(buf, np.uint8, count=m * stride).reshape(m, stride)[:, : HEADER.size]
    return m * stride if (heads == heads[0]).all() else 0


def iter_recordio(
    stream: BinaryIO, source: str, feature_dim: int | None, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[Batch]:
    """RecordIO-protobuf rows in chunks; dense SDK files take the vectorised whole-buffer path."""
    leftover, base, record, eof = b"", 0, 1, False
    while True:
        if eof:
            buf = leftover
        else:
            data = _read_full(stream, chunk_bytes)
            eof = not data
            buf = leftover + data if leftover else data
        if not buf:
            return
        cut = _fixed_stride(buf)
        batch = None
        if cut:
            try:
                batch = pb_codec.decode_records(
                    memoryview(buf)[:cut],
                    source=source,
                    require_label=True,
                    feature_dim=feature_dim,
                    first_record=record,
                )
            except ClientError:
                batch = None  # decode again below, so the error carries absolute byte offsets
        if batch is None:
            cut, frames = _walk_frames(buf, base, eof, source)
            if frames:
                batch = pb_codec.decode_payloads(
                    frames, source=source, require_label=True, feature_dim=feature_dim, first_record=record
                )
        leftover = buf[cut:]
        base += cut
        if batch is not None and batch.n_rows:
            record += batch.n_rows
            feature_dim = batch.n_features
            yield batch
        if eof and not cut:
            return  # at end of stream _walk_frames consumes everything or raises


def iter_csv(
    stream: BinaryIO, source: str, feature_dim: int | None, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[Batch]:
    """CSV rows in chunks cut at line ends; line numbers continue across chunks."""
    from ..codecs import csv as csv_codec

    leftover, line = b"", 1
    while True:
        data = _read_full(stream, chunk_bytes)
        eof = not data
        buf = leftover + data if leftover else data
        cut = len(buf) if eof else buf.rfind(b"\n") + 1
        piece, leftover = buf[:cut], buf[cut:]
        if piece.strip():
            batch = csv_codec.decode_csv(
                piece, source=source, has_label=True, feature_dim=feature_dim, first_line=line
            )
            if batch.n_rows:
                feature_dim = batch.n_features
                yield batch
        line += piece.count(b"\n")
        if eof:
            return


@dataclass
class ChannelStream:
    """Decoded passes over one channel: File mode re-reads the files, Pipe mode opens the next FIFO.

    `open_streams` yields (source description, byte stream) pairs for one pass.
    """

    channel: str
    content_type: str
    open_streams: Callable[[], Iterable[tuple[str, BinaryIO]]]
    predictor_type: str
    num_classes: int | None
    feature_dim: int | None = None
    chunk_bytes: int = CHUNK_BYTES
    allow_empty: bool = False  # an optional channel whose shard is empty on this host

    def chunks(self) -> Iterator[Batch]:
        """One pass: Batches of raw (unscaled) rows with labels checked. ClientError for an empty pass."""
        decode = iter_csv if self.content_type == CSV else iter_recordio
        unit = "line" if self.content_type == CSV else "record"
        rows, sources = 0, []
        for source, stream in self.open_streams():
            sources.append(source)
            for batch in decode(stream, source, self.feature_dim, self.chunk_bytes):
                if self.feature_dim is None:
                    self.feature_dim = batch.n_features
                elif batch.n_features != self.feature_dim:
                    raise ClientError(
                        f"{source}: rows have {batch.n_features} features, but earlier data (or feature_dim) "
                        f"says {self.feature_dim}"
                    )
                check_labels(batch, self.predictor_type, self.num_classes, unit=unit)
                rows += batch.n_rows
                yield batch
        if rows == 0 and not self.allow_empty:
            where = ", ".join(sources) or f"channel '{self.channel}'"
            raise ClientError(f"{where}: 0 records (byte 0); the channel '{self.channel}' holds no data")


def file_streams(channel: str, channel_dir: Path) -> Callable[[], Iterator[tuple[str, BinaryIO]]]:
    """A pass in File mode: every data file of the channel, in the stable order of list_channel_files."""
    files = list_channel_files(channel_dir, channel)

    def open_pass() -> Iterator[tuple[str, BinaryIO]]:
        for path in files:
            with open(path, "rb") as fh:
                yield describe(channel, path, channel_dir), fh

    return open_pass


# ---- seeded shuffling -----------------------------------------------------------------------------
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


class StreamedRows:
    """A (n, d) matrix that stays on disk or in the pipe: `X @ W` streams one pass chunk by chunk.

    Evaluation code written for in-memory X (`X @ W`, `X.shape`, `X[:n]`) works unchanged, holding only
    the (n, columns of W) result. `transform` (e.g. the scaler, in place) is applied to every fresh chunk;
    `limit` stops the pass early after that many rows (a FIFO may be closed before its end).
    """

    ndim = 2

    def __init__(
        self,
        stream: ChannelStream,
        n_rows: int,
        n_features: int,
        transform: Callable | None = None,
        limit: int | None = None,
    ) -> None:
        self.stream = stream
        self.n_rows = n_rows if limit is None else min(n_rows, limit)
        self.n_features = n_features
        self.transform = transform
        self.limit = limit

    @property
    def shape(self) -> tuple[int, int]:
        return self.n_rows, self.n_features

    def iter_rows(self) -> Iterator[Batch]:
        """Chunks of one pass (transformed), truncated to n_rows."""
        seen = 0
        chunks = self.stream.chunks()
        try:
            for batch in chunks:
                X = batch.X
                if seen + batch.n_rows > self.n_rows:
                    keep = self.n_rows - seen
                    X, batch = X[:keep], Batch(X[:keep], batch.y[:keep], batch.origin, batch.first_row)
                if self.transform is not None:
                    X = self.transform(X)
                yield Batch(X, batch.y, batch.origin, batch.first_row)
                seen += batch.n_rows
                if seen >= self.n_rows:
                    break
        finally:
            chunks.close()

    def __matmul__(self, W: np.ndarray) -> np.ndarray:
        out = np.empty((self.n_rows, W.shape[1]), np.result_type(np.float32, W.dtype))
        pos = 0
        for batch in self.iter_rows():
            out[pos : pos + batch.n_rows] = batch.X @ W
            pos += batch.n_rows
        if pos != self.n_rows:
            raise ClientError(
                f"channel '{self.stream.channel}': a pass delivered {pos} rows, the first pass {self.n_rows}; "
                "the data changed between passes"
            )
        return out

    def __getitem__(self, key) -> StreamedRows:
        if not isinstance(key, slice) or key.start not in (None, 0) or key.step not in (None, 1):
            raise TypeError("StreamedRows supports only leading slices X[:n]")
        stop = self.n_rows if key.stop is None else min(key.stop, self.n_rows)
        return StreamedRows(self.stream, self.n_rows, self.n_features, self.transform, stop)


def open_streamed(stream: ChannelStream) -> tuple[StreamedRows, np.ndarray]:
    """A channel scored by streaming: one pass to learn n and the labels, later passes for X @ W."""
    ys, n = [], 0
    for batch in stream.chunks():
        ys.append(batch.y)
        n += batch.n_rows
    rows = StreamedRows(stream, n, stream.feature_dim or 0)
    return rows, np.concatenate(ys).astype(np.float32, copy=False)


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
