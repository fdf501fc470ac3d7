"""Channels read as a stream of decoded chunks, for data that does not fit the memory budget and for Pipe mode.

A pass over a channel (every file in File mode, one FIFO in Pipe mode) is decoded in chunks of about
CHUNK_BYTES (data/chunks.py) by the same codecs the in-memory reader uses, so errors still name the channel, file or
pipe, line or record and absolute byte offset. `ShuffleBuffer` (data/shuffle.py) turns the rows into a seeded
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

from ..batch import Batch
from ..errors import ClientError
from .chunks import CHUNK_BYTES, iter_csv, iter_recordio
from .labels import check_labels
from .reader import CSV, GZIP_HINT, GZIP_MAGIC
from .sources import describe, list_channel_files

log = logging.getLogger(__name__)

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
            source = describe(channel, path, channel_dir)
            with open(path, "rb") as fh:
                if fh.read(2) == GZIP_MAGIC:
                    raise ClientError(f"{source} (byte 0): unreadable as it is{GZIP_HINT}")
                fh.seek(0)
                yield source, fh

    return open_pass


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
