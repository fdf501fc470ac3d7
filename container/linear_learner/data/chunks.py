"""Decoding a channel's byte stream in chunks, with absolute byte offsets and line numbers in every error.

A chunk of about CHUNK_BYTES is cut at a record (RecordIO) or line (CSV) boundary and decoded by the same
codecs the in-memory reader uses. Dense SDK-written RecordIO takes the codec's vectorised whole-buffer path
(the records' identical headers are checked with numpy); anything else is framed here, record by record,
so a framing error names the absolute byte offset in the file or pipe, not the offset in the chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from ..batch import Batch
from ..codecs import protobuf as pb_codec
from ..codecs.recordio import HEADER, LENGTH_MASK, MAGIC, MAGIC_BYTES
from ..errors import ClientError

CHUNK_BYTES = 8 << 20


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
