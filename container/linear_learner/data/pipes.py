"""Pipe mode: one FIFO `<channel>_<pass>` per pass over a channel (contract §5).

SageMaker creates `input/data/<channel>_0`, `_1`, ... on demand; each carries the channel's S3 objects
back to back. A FIFO that has not appeared yet is waited for with a bounded, logged retry (the platform
may be slow to start streaming); one that never appears is the job's configuration being wrong, hence a
ClientError naming the pipe. Gzip-compressed objects are detected by their magic bytes and decompressed
on the fly (SageMaker normally decompresses for us, but a Gzip object that arrives as is must not be
mistaken for data). With RecordWrapperType=RecordIO every object arrives wrapped in one RecordIO record;
`unwrap_recordio` turns that back into the objects' bytes.
"""

from __future__ import annotations

import io
import logging
import os
import select
import stat
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .. import stop as stop_request
from ..codecs.recordio import iter_frames_from_stream
from ..errors import ClientError, TrainingInterrupted

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
READ_SIZE = 16 << 20  # like the reference Pipe reader: big reads keep the FIFO drained promptly


def wait_for_fifo(path: Path, channel: str, timeout: float, poll: float = 0.1) -> None:
    """Return once `path` exists as a FIFO; ClientError after `timeout` seconds (logged while waiting)."""
    start = time.monotonic()
    next_log = start + 5.0
    while True:
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None:
            if not stat.S_ISFIFO(mode):
                raise ClientError(
                    f"channel '{channel}' pipe '{path.name}': {path} is not a FIFO; the channel's "
                    "TrainingInputMode is Pipe, so the platform should have created a named pipe there"
                )
            return
        now = time.monotonic()
        if now - start >= timeout:
            raise ClientError(
                f"channel '{channel}' pipe '{path.name}' (byte 0): FIFO {path} did not appear within "
                f"{timeout:g} s; the channel's TrainingInputMode is Pipe, so SageMaker should create one "
                "FIFO per pass over the data"
            )
        if now >= next_log:
            log.info("Waiting for pipe %s (%.0f s of %g s)", path, now - start, timeout)
            next_log = now + 5.0
        time.sleep(poll)


class FifoReader(io.RawIOBase):
    """The read end of a FIFO that waits for its writer and its data in bounded, interruptible steps.

    A plain blocking open() waits forever for a writer, and a blocking read() forever for data; both
    retry when a signal interrupts them, so a SIGTERM could not stop the job and a pipe the platform
    never fills would hang it. This opens without blocking and polls: every `interval` seconds it
    checks the stop request (TrainingInterrupted) and, after `timeout` seconds without a byte,
    raises a ClientError naming the pipe and the byte offset reached. Linux reports nothing on a
    FIFO before its first writer, so no writer and a silent writer are the same wait.
    """

    def __init__(self, path: Path, source: str, timeout: float, interval: float = 0.25) -> None:
        super().__init__()
        self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        self.source, self.timeout, self.interval = source, timeout, interval
        self.offset = 0

    def fileno(self) -> int:
        return self._fd

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        waited = 0.0
        while True:
            if self._poll.poll(int(self.interval * 1000)):
                try:
                    n = os.readv(self._fd, [buffer])
                except BlockingIOError:  # woken without data after all: wait again
                    continue
                self.offset += n
                return n
            if stop_request.REQUESTED.is_set():
                raise TrainingInterrupted(f"while waiting for data on {self.source}")
            waited += self.interval
            if waited >= self.timeout:
                writer = " (nothing was written to it)" if self.offset == 0 else ""
                raise ClientError(
                    f"{self.source} (byte {self.offset}): no data for {self.timeout:g} s{writer}; expected "
                    "the platform to stream the channel (LINEAR_LEARNER_PIPE_TIMEOUT sets the wait)"
                )

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


class GzipSniffer(io.RawIOBase):
    """A readable stream that passes bytes through, or gunzips them when they start with the gzip magic.

    Concatenated gzip members (several compressed objects back to back) are decompressed one after the
    other, as `gzip` does. Errors name `source` and the compressed byte offset.
    """

    def __init__(self, raw: BinaryIO, source: str = "") -> None:
        self.raw = raw
        self.source = source
        self._pending = b""
        self._decomp = None
        self._fresh = True  # the current gzip member has received no input yet
        self._started = False
        self._eof = False
        self._consumed = 0  # compressed bytes read so far

    def readable(self) -> bool:
        return True

    def _start(self) -> None:
        self._started = True
        head = self.raw.read(2)
        if len(head) == 1:
            head += self.raw.read(1)
        self._consumed = len(head)
        if head[:2] == GZIP_MAGIC:
            self._decomp = zlib.decompressobj(wbits=31)
            self._pending = self._inflate(head)
        else:
            self._pending = head

    def _inflate(self, data: bytes) -> bytes:
        out = []
        while data:
            try:
                out.append(self._decomp.decompress(data))
            except zlib.error as exc:
                raise ClientError(
                    f"{self.source}: invalid gzip data near compressed byte {self._consumed} ({exc})"
                ) from exc
            self._fresh = False
            if self._decomp.eof:
                data = self._decomp.unused_data
                self._decomp = zlib.decompressobj(wbits=31)
                self._fresh = True
            else:
                data = b""
        return b"".join(out)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(READ_SIZE), b""))
        if not self._started:
            self._start()
        want = size
        while not self._pending and not self._eof:
            data = self.raw.read(READ_SIZE)
            self._consumed += len(data)
            if not data:
                self._eof = True
                if self._decomp is not None and not self._fresh:
                    raise ClientError(
                        f"{self.source}: gzip data ends at byte {self._consumed} in the middle of a "
                        "compressed member (truncated object?)"
                    )
            elif self._decomp is None:
                self._pending = data
            else:
                self._pending = self._inflate(data)
        out, self._pending = self._pending[:want], self._pending[want:]
        return out

    def close(self) -> None:
        self.raw.close()
        super().close()


class UnwrappedRecordIO(io.RawIOBase):
    """RecordWrapperType=RecordIO: each object arrives as one RecordIO record; yield the objects' bytes.

    For CSV a newline is added after an object that lacks one, so two objects never merge into one line.
    """

    def __init__(self, raw: BinaryIO, source: str, add_newlines: bool) -> None:
        self._frames = iter_frames_from_stream(raw, source=f"{source} (RecordWrapperType=RecordIO)")
        self._source = source
        self._raw = raw
        self._pending = b""
        self._add_newlines = add_newlines

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(READ_SIZE), b""))
        want = size
        while len(self._pending) < want:
            frame = next(self._frames, None)
            if frame is None:
                break
            payload = bytes(frame[1])
            if payload[:2] == GZIP_MAGIC:  # a wrapped object that is itself still compressed
                payload = GzipSniffer(
                    io.BytesIO(payload), f"{self._source} record at byte {frame[0]}"
                ).readall()
            if self._add_newlines and payload and not payload.endswith(b"\n"):
                payload += b"\n"
            self._pending += payload
        out, self._pending = self._pending[:want], self._pending[want:]
        return out

    def close(self) -> None:
        self._raw.close()
        super().close()


def _grow_pipe_buffer(fd: int, size: int = 1 << 20) -> None:
    """Ask Linux for a 1 MiB pipe buffer (default 64 KiB): fewer, larger reads; harmless if refused."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (OSError, ImportError):
        pass


@dataclass
class PipeChannel:
    """The FIFOs of one Pipe-mode channel; every `open_pass` opens the next one, as SageMaker expects."""

    channel: str
    data_dir: Path
    timeout: float = 600.0
    record_wrapper: str = "None"
    is_csv: bool = False
    next_pass: int = 0

    def fifo(self, index: int) -> Path:
        return self.data_dir / f"{self.channel}_{index}"

    def open_pass(self) -> Iterator[tuple[str, BinaryIO]]:
        """Yield (source description for errors, readable byte stream) for the next FIFO, then close it.

        Closing early (the consumer stops iterating) is fine: the writer sees EPIPE and moves on.
        """
        index = self.next_pass
        self.next_pass += 1
        path = self.fifo(index)
        wait_for_fifo(path, self.channel, self.timeout)
        source = f"channel '{self.channel}' pipe '{path.name}'"
        log.info("Reading %s", path)
        raw = FifoReader(path, source, self.timeout)  # closed via the wrapper
        _grow_pipe_buffer(raw.fileno())
        stream: BinaryIO = GzipSniffer(raw, source)
        if self.record_wrapper == "RecordIO":
            stream = UnwrappedRecordIO(stream, source, add_newlines=self.is_csv)
        try:
            yield source, stream
        finally:
            stream.close()
