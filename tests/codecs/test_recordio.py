"""RecordIO framing (contract §12.1, §12.5, P04) against the SageMaker SDK's reader and writer."""

from __future__ import annotations

import contextlib
import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sagemaker.amazon.common import _write_recordio, read_recordio

from linear_learner.codecs.recordio import (
    MAGIC_BYTES,
    encode_frame,
    encode_frames,
    iter_frames,
    iter_frames_from_stream,
    iter_record_chunks,
)
from linear_learner.errors import ClientError

SRC = "channel 'train' file 'a.pbr'"


def frames(data: bytes, *, stream: bool, chunk_size: int = 7) -> list[tuple[int, bytes]]:
    if stream:
        it = iter_frames_from_stream(io.BytesIO(data), source=SRC, chunk_size=chunk_size)
    else:
        it = iter_frames(data, source=SRC)
    return [(offset, bytes(payload)) for offset, payload in it]


def header(length: int, cflag: int = 0) -> bytes:
    return MAGIC_BYTES + struct.pack("<I", (cflag << 29) | length)


PAYLOADS = [b"", b"a", b"ab", b"abc", b"abcd", b"hello world", bytes(range(256))]


@pytest.mark.parametrize("stream", [False, True])
def test_reads_sdk_writer_output_with_offsets(stream: bool) -> None:
    buf = io.BytesIO()
    for p in PAYLOADS:
        _write_recordio(buf, p)
    got = frames(buf.getvalue(), stream=stream)
    assert [p for _, p in got] == PAYLOADS
    offsets, pos = [], 0
    for p in PAYLOADS:
        offsets.append(pos)
        pos += 8 + len(p) + (-len(p)) % 4
    assert [o for o, _ in got] == offsets


def test_encode_is_byte_identical_to_sdk_and_sdk_reads_it() -> None:
    buf = io.BytesIO()
    for p in PAYLOADS:
        _write_recordio(buf, p)
    assert encode_frames(PAYLOADS) == buf.getvalue()
    assert list(read_recordio(io.BytesIO(encode_frames(PAYLOADS)))) == PAYLOADS
    assert encode_frame(b"abcde") == header(5) + b"abcde\0\0\0"


@pytest.mark.parametrize("stream", [False, True])
def test_missing_final_pad_is_accepted(stream: bool) -> None:
    data = encode_frames([b"abcd", b"xyz"])[:-1]
    assert frames(data, stream=stream) == [(0, b"abcd"), (12, b"xyz")]


@pytest.mark.parametrize("stream", [False, True])
def test_continuation_parts_are_joined_with_magic(stream: bool) -> None:
    data = header(3, 1) + b"abc\0" + header(2, 2) + b"de\0\0" + header(1, 3) + b"f\0\0\0" + encode_frame(b"z")
    expected = b"abc" + MAGIC_BYTES + b"de" + MAGIC_BYTES + b"f"
    assert frames(data, stream=stream) == [(0, expected), (36, b"z")]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("data", "offset", "reason"),
    [
        (b"1.0,2.0,3.0\n4,5,6\n", 0, "bad magic number 0x2C302E31"),
        (encode_frame(b"abcd") + b"\0" * 8, 12, "bad magic number 0x00000000"),
        (encode_frame(b"abcd") + MAGIC_BYTES[:3], 12, "truncated header: 3 bytes left"),
        (header(100) + b"x" * 10, 0, "truncated payload: header declares 100 bytes, only 10 remain"),
        (
            encode_frame(b"ab") + header(2, 2) + b"cd\0\0",
            12,
            "continuation flag 2 (middle part) without a first part",
        ),
        (header(2, 3) + b"cd\0\0", 0, "continuation flag 3 (last part) without a first part"),
        (header(2, 5) + b"cd\0\0", 0, "continuation flag 5 is not 0, 1, 2 or 3"),
        (header(2, 1) + b"cd\0\0", 0, "multi-part record has no last part (flag 3)"),
        (header(2, 1) + b"cd\0\0" + encode_frame(b"x"), 12, "started at byte 0 has no last part"),
    ],
)
def test_errors_name_source_offset_reason_and_expected_type(
    stream: bool, data: bytes, offset: int, reason: str
) -> None:
    with pytest.raises(ClientError) as info:
        frames(data, stream=stream)
    message = str(info.value)
    assert message.startswith(f"{SRC}: invalid RecordIO record at byte {offset} (")
    assert reason in message
    assert message.endswith("; expected application/x-recordio-protobuf")


def test_encode_frame_rejects_oversized_payload() -> None:
    class Huge(bytes):
        def __len__(self) -> int:
            return 1 << 29

    with pytest.raises(ValueError, match="29-bit"):
        encode_frame(Huge())


def test_stream_reads_in_chunks_without_reading_everything_first() -> None:
    class Counting(io.BytesIO):
        reads = 0

        def read(self, n: int = -1) -> bytes:
            assert n > 0, "must never read the whole stream at once"
            Counting.reads += 1
            return super().read(n)

    data = encode_frames([bytes([i]) * 13 for i in range(50)])
    got = [bytes(p) for _, p in iter_frames_from_stream(Counting(data), source=SRC, chunk_size=64)]
    assert got == [bytes([i]) * 13 for i in range(50)]
    assert Counting.reads >= len(data) // 64


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 7), st.integers(0, 300), st.booleans(), st.integers(1, 64))
def test_random_bytes_give_frames_or_client_error(
    tail: bytes, cflag: int, length: int, with_header: bool, chunk: int
) -> None:
    data = header(length, cflag) + tail if with_header else tail
    for stream in (False, True):
        with contextlib.suppress(ClientError):
            frames(data, stream=stream, chunk_size=chunk)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=8), st.integers(1, 64))
def test_stream_equals_buffer(payloads: list[bytes], chunk: int) -> None:
    data = encode_frames(payloads)
    assert frames(data, stream=True, chunk_size=chunk) == frames(data, stream=False)
    assert [p for _, p in frames(data, stream=False)] == payloads


def test_stream_rejects_oversized_record_before_buffering() -> None:
    data = header(100_000_000) + b"x" * 64
    with pytest.raises(ClientError) as info:
        list(iter_frames_from_stream(io.BytesIO(data), source=SRC, max_record_bytes=1 << 20))
    assert str(info.value) == (
        f"{SRC}: invalid RecordIO record at byte 0 (record of 100000000 bytes exceeds the limit of 1048576 bytes); "
        "expected application/x-recordio-protobuf"
    )
    assert [
        bytes(p)
        for _, p in iter_frames_from_stream(io.BytesIO(encode_frame(b"ok")), source=SRC, max_record_bytes=2)
    ] == [b"ok"]


@pytest.mark.parametrize("chunk", [1, 5, 16, 64, 1 << 20])
def test_record_chunks_hold_whole_records_and_absolute_offsets(chunk: int) -> None:
    parts = header(3, 1) + b"abc\0" + header(1, 3) + b"d\0\0\0"
    data = encode_frames([b"x" * 9, b""]) + parts + encode_frame(b"yz")
    chunks = list(iter_record_chunks(io.BytesIO(data), source=SRC, chunk_size=chunk))
    assert b"".join(c for _, c, _ in chunks) == data
    assert sum(n for _, _, n in chunks) == 4
    got = [f for offset, c, _ in chunks for f in frames_at(c, offset)]
    assert got == frames(data, stream=False)


def frames_at(chunk: bytes, offset: int) -> list[tuple[int, bytes]]:
    return [(o, bytes(p)) for o, p in iter_frames(chunk, source=SRC, base_offset=offset)]


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        (
            header(100) + b"x" * 10,
            "at byte 32 (truncated payload: header declares 100 bytes, only 10 remain)",
        ),
        (b"\0" * 8, "at byte 32 (bad magic number 0x00000000"),
        (MAGIC_BYTES[:2], "at byte 32 (truncated header: 2 bytes left"),
        (header(1, 1) + b"a\0\0\0", "at byte 32 (multi-part record has no last part"),
    ],
)
def test_record_chunks_report_damage_with_absolute_offsets(tail: bytes, reason: str) -> None:
    data = encode_frames([b"a" * 8, b"b" * 8]) + tail
    with pytest.raises(ClientError) as info:
        list(iter_record_chunks(io.BytesIO(data), source=SRC, chunk_size=16))
    assert reason in str(info.value)


def test_record_chunks_accept_missing_final_pad_and_cap_size() -> None:
    data = encode_frames([b"abcd", b"xyz"])[:-1]
    chunks = list(iter_record_chunks(io.BytesIO(data), source=SRC))
    assert b"".join(c for _, c, _ in chunks) == data and sum(n for _, _, n in chunks) == 2
    with pytest.raises(ClientError, match="record of 100 bytes exceeds the limit of 10 bytes"):
        list(iter_record_chunks(io.BytesIO(header(100) + b"x" * 100), source=SRC, max_record_bytes=10))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=8), st.integers(1, 64))
def test_record_chunks_equal_frames(payloads: list[bytes], chunk: int) -> None:
    data = encode_frames(payloads)
    chunks = list(iter_record_chunks(io.BytesIO(data), source=SRC, chunk_size=chunk))
    assert [f for offset, c, _ in chunks for f in frames_at(c, offset)] == frames(data, stream=False)
