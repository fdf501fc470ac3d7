"""RecordIO framing for application/x-recordio-protobuf (contract §12.1, §12.5).

Each record is: u32 LE magic 0xCED7230A, u32 LE length word ((cflag << 29) | length), payload, zero pad
to a 4-byte boundary. SageMaker writers always use cflag 0; DMLC's writer splits a payload that contains
the magic at an aligned offset into parts flagged 1 (first), 2 (middle), 3 (last) and drops the magic, so
the reader re-inserts it between parts. Batch transform's SingleRecord strategy strips the final pad, so a
missing pad after the last record is accepted. Everything else that does not fit is the user's data being
wrong (often a CSV channel without ContentType, P01/P04), hence ClientError with the byte offset.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from linear_learner.errors import ClientError

MAGIC = 0xCED7230A
MAGIC_BYTES = struct.pack("<I", MAGIC)
HEADER = struct.Struct("<II")
LENGTH_MASK = (1 << 29) - 1
MEDIA_TYPE = "application/x-recordio-protobuf"

Frame = tuple[int, "memoryview | bytes"]


def _error(source: str, offset: int, reason: str) -> ClientError:
    return ClientError(
        f"{source}: invalid RecordIO record at byte {offset} ({reason}); expected {MEDIA_TYPE}"
    )


def _pad(length: int) -> int:
    return (4 - length % 4) % 4


class _Joiner:
    """Turns (header offset, cflag, part) into whole payloads, joining continuation parts 1, 2..., 3."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.start: int | None = None
        self.parts: list[bytes] = []

    def feed(self, offset: int, cflag: int, part: memoryview | bytes) -> Frame | None:
        if cflag == 0:
            if self.start is not None:
                raise _error(self.source, offset, self._unfinished("a whole record (flag 0)"))
            return offset, part
        if cflag == 1:
            if self.start is not None:
                raise _error(self.source, offset, self._unfinished("another first part (flag 1)"))
            self.start, self.parts = offset, [bytes(part)]
            return None
        if cflag in (2, 3):
            if self.start is None:
                kind = "middle" if cflag == 2 else "last"
                raise _error(
                    self.source, offset, f"continuation flag {cflag} ({kind} part) without a first part"
                )
            self.parts.extend((MAGIC_BYTES, bytes(part)))
            if cflag == 2:
                return None
            frame = (self.start, b"".join(self.parts))
            self.start, self.parts = None, []
            return frame
        raise _error(self.source, offset, f"continuation flag {cflag} is not 0, 1, 2 or 3")

    def _unfinished(self, got: str) -> str:
        return f"multi-part record started at byte {self.start} has no last part (flag 3); found {got}"

    def finish(self, end: int) -> None:
        if self.start is not None:
            raise _error(
                self.source,
                self.start,
                f"multi-part record has no last part (flag 3) before the end at byte {end}",
            )


def _check_header(source: str, offset: int, magic: int, word: int) -> tuple[int, int]:
    if magic != MAGIC:
        raise _error(source, offset, f"bad magic number 0x{magic:08X}, want 0x{MAGIC:08X}")
    return word >> 29, word & LENGTH_MASK


def iter_frames(
    data: bytes | bytearray | memoryview, *, source: str, base_offset: int = 0
) -> Iterator[Frame]:
    """Yield (byte offset of the record's header, payload) for every record in an in-memory buffer.

    Whole records come back as zero-copy memoryview slices of `data`; joined multi-part records as bytes.
    Offsets (also in errors) are counted from base_offset: where `data` starts within its file or stream.
    """
    view = memoryview(data).cast("B") if not isinstance(data, memoryview) or data.format != "B" else data
    n = len(view)
    joiner = _Joiner(source)
    pos = 0
    while pos < n:
        at = base_offset + pos
        if n - pos < HEADER.size:
            raise _error(source, at, f"truncated header: {n - pos} bytes left, a header needs {HEADER.size}")
        cflag, length = _check_header(source, at, *HEADER.unpack_from(view, pos))
        end = pos + HEADER.size + length
        if end > n:
            raise _error(
                source, at, f"truncated payload: header declares {length} bytes, only {n - pos - 8} remain"
            )
        frame = joiner.feed(at, cflag, view[pos + HEADER.size : end])
        if frame is not None:
            yield frame
        pos = min(end + _pad(length), n)  # the final pad may be missing (SingleRecord batch transform)
    joiner.finish(base_offset + n)


def iter_record_chunks(
    stream: BinaryIO, *, source: str, chunk_size: int = 16 << 20, max_record_bytes: int | None = None
) -> Iterator[tuple[int, bytes, int]]:
    """Yield (byte offset, buffer, record count): runs of whole framed records of about chunk_size bytes.

    For streaming readers (Pipe FIFOs, big files): decode_records(buffer, base_offset=offset,
    first_record=records so far + 1) then decodes many records per call, the fast way, while memory stays
    bounded by chunk_size plus one record. Damaged framing is reported with absolute byte offsets.
    """
    buf, base, eof = b"", 0, False
    while not eof:
        chunk = stream.read(chunk_size)
        eof = not chunk
        buf += chunk
        pos = cut = count = 0
        while pos + HEADER.size <= len(buf):
            cflag, length = _check_header(source, base + pos, *HEADER.unpack_from(buf, pos))
            if max_record_bytes is not None and length > max_record_bytes:
                raise _error(
                    source,
                    base + pos,
                    f"record of {length} bytes exceeds the limit of {max_record_bytes} bytes",
                )
            end = pos + HEADER.size + length + _pad(length)
            if end > len(buf) and not (eof and pos + HEADER.size + length <= len(buf)):
                break  # the rest of this record is still to be read
            pos = min(end, len(buf))
            if cflag in (0, 3):  # a whole record ends here; never cut between continuation parts
                count, cut = count + 1, pos
        if cut:
            yield base, buf[:cut], count
            base, buf = base + cut, buf[cut:]
    if buf:  # a truncated or unfinished record: let the frame reader say exactly what is wrong
        for _ in iter_frames(buf, source=source, base_offset=base):
            pass
        raise _error(source, base, "incomplete record at the end of the stream")


def iter_frames_from_stream(
    stream: BinaryIO, *, source: str, chunk_size: int = 16 << 20, max_record_bytes: int | None = None
) -> Iterator[Frame]:
    """Like iter_frames, reading `stream` (a file or Pipe FIFO) in chunks, never holding it all in memory.

    Payloads are yielded as bytes copies, so the caller may keep them while reading continues. A header
    declaring more than max_record_bytes is rejected before anything is buffered for it (a misread
    length word, e.g. from a CSV file, could otherwise make us buffer up to 512 MiB).
    """
    buf = bytearray()
    base = 0  # absolute offset of buf[0]
    pos = 0  # read position inside buf
    eof = False
    joiner = _Joiner(source)

    def fill(need: int) -> bool:
        """Ensure `need` bytes are buffered after pos; False at end of stream."""
        nonlocal buf, base, pos, eof
        if len(buf) - pos >= need:
            return True
        if pos:
            del buf[:pos]
            base += pos
            pos = 0
        while len(buf) < need and not eof:
            chunk = stream.read(max(chunk_size, min(need - len(buf), chunk_size)))
            if not chunk:
                eof = True
            else:
                buf += chunk
        return len(buf) >= need

    while True:
        if not fill(1):
            break
        offset = base + pos
        if not fill(HEADER.size):
            left = len(buf) - pos
            raise _error(source, offset, f"truncated header: {left} bytes left, a header needs {HEADER.size}")
        cflag, length = _check_header(source, offset, *HEADER.unpack_from(buf, pos))
        if max_record_bytes is not None and length > max_record_bytes:
            raise _error(
                source, offset, f"record of {length} bytes exceeds the limit of {max_record_bytes} bytes"
            )
        if not fill(HEADER.size + length):
            left = len(buf) - pos - HEADER.size
            raise _error(
                source, offset, f"truncated payload: header declares {length} bytes, only {left} remain"
            )
        payload = bytes(buf[pos + HEADER.size : pos + HEADER.size + length])
        pos += HEADER.size + length
        pad = _pad(length)
        if pad:
            fill(pad)
            pos = min(pos + pad, len(buf))
        frame = joiner.feed(offset, cflag, payload)
        if frame is not None:
            yield frame
    joiner.finish(base + pos)


def encode_frame(payload: bytes) -> bytes:
    """One whole record: explicit little-endian header, cflag 0, zero pad (what SageMaker's readers expect)."""
    length = len(payload)
    if length > LENGTH_MASK:
        raise ValueError(f"RecordIO payload of {length} bytes exceeds the 29-bit length limit")
    return HEADER.pack(MAGIC, length) + bytes(payload) + b"\0" * _pad(length)


def encode_frames(payloads: Iterable[bytes]) -> bytes:
    """Concatenated records, one per payload."""
    return b"".join(encode_frame(p) for p in payloads)
