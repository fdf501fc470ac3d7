"""Pipe-mode plumbing on real FIFOs: waiting for the next FIFO, gzip on the fly, RecordIO-wrapped objects."""

from __future__ import annotations

import gzip
import io
import os
import threading
import time

import pytest

from linear_learner.codecs.recordio import encode_frame
from linear_learner.data.pipes import GzipSniffer, PipeChannel, UnwrappedRecordIO, wait_for_fifo
from linear_learner.errors import ClientError


def _feed_fifo(path, data: bytes, delay: float = 0.0) -> threading.Thread:
    def run():
        time.sleep(delay)
        os.mkfifo(path)
        with open(path, "wb") as fh:
            fh.write(data)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_fifo_that_never_appears_names_pipe_and_timeout(tmp_path):
    with pytest.raises(ClientError, match=r"channel 'train' pipe 'train_0' \(byte 0\).*within 0.2 s"):
        wait_for_fifo(tmp_path / "train_0", "train", timeout=0.2, poll=0.05)


def test_a_regular_file_where_the_fifo_should_be_is_a_client_error(tmp_path):
    (tmp_path / "train_0").write_bytes(b"1,2\n")
    with pytest.raises(ClientError, match="is not a FIFO"):
        wait_for_fifo(tmp_path / "train_0", "train", timeout=1)


def test_passes_open_the_next_fifo_each_time_and_wait_for_late_ones(tmp_path):
    channel = PipeChannel("train", tmp_path, timeout=10)
    threads = [
        _feed_fifo(tmp_path / "train_0", b"first"),
        _feed_fifo(tmp_path / "train_1", b"second", delay=0.3),
    ]
    got = []
    for _ in range(2):
        for source, stream in channel.open_pass():
            got.append((source, stream.read()))
    for t in threads:
        t.join(5)
    assert got == [
        ("channel 'train' pipe 'train_0'", b"first"),
        ("channel 'train' pipe 'train_1'", b"second"),
    ]


def test_gzip_members_back_to_back_are_decompressed_and_plain_data_passes():
    data = gzip.compress(b"a,1\n" * 1000) + gzip.compress(b"b,2\n")
    stream = GzipSniffer(io.BytesIO(data), "pipe")
    chunks = []
    while chunk := stream.read(100):
        chunks.append(chunk)
    assert b"".join(chunks) == b"a,1\n" * 1000 + b"b,2\n"
    assert GzipSniffer(io.BytesIO(b"1,2\n"), "pipe").read() == b"1,2\n"


def test_truncated_gzip_is_a_client_error_naming_the_source():
    data = gzip.compress(b"x" * 10000)[:-10]
    stream = GzipSniffer(io.BytesIO(data), "channel 'train' pipe 'train_0'")
    with pytest.raises(ClientError, match=r"channel 'train' pipe 'train_0': gzip data ends at byte \d+"):
        while stream.read(1 << 16):
            pass


def test_recordio_wrapped_objects_are_unwrapped_with_newlines_for_csv():
    wrapped = encode_frame(b"1,2\n3,4") + encode_frame(gzip.compress(b"5,6\n"))
    out = UnwrappedRecordIO(io.BytesIO(wrapped), "pipe", add_newlines=True).read()
    assert out == b"1,2\n3,4\n5,6\n"


def test_bad_wrapper_framing_names_pipe_and_byte():
    wrapped = encode_frame(b"1,2\n") + b"\x00" * 8
    with pytest.raises(ClientError, match=r"pipe.*RecordWrapperType=RecordIO.*byte 12"):
        UnwrappedRecordIO(io.BytesIO(wrapped), "pipe", add_newlines=True).read()


def test_a_fifo_nobody_writes_to_is_a_client_error_after_the_timeout(tmp_path):
    from linear_learner.data.pipes import FifoReader

    os.mkfifo(tmp_path / "train_0")
    reader = FifoReader(tmp_path / "train_0", "channel 'train' pipe 'train_0'", timeout=0.5, interval=0.05)
    start = time.monotonic()
    with pytest.raises(ClientError, match=r"pipe 'train_0' \(byte 0\): no data for 0.5 s \(nothing was"):
        reader.read(100)
    assert time.monotonic() - start < 5
    reader.close()


def test_a_writer_that_stalls_is_named_with_the_byte_offset_reached(tmp_path):
    from linear_learner.data.pipes import FifoReader

    path = tmp_path / "train_0"
    os.mkfifo(path)
    reader = FifoReader(path, "channel 'train' pipe 'train_0'", timeout=0.5, interval=0.05)
    writer = os.open(path, os.O_WRONLY)
    os.write(writer, b"1,2,3\n")
    assert reader.read(100) == b"1,2,3\n"
    with pytest.raises(ClientError, match=r"\(byte 6\): no data for 0.5 s; expected"):
        reader.read(100)
    os.close(writer)
    reader.close()


def test_a_stop_request_ends_the_wait(tmp_path):
    from linear_learner import stop
    from linear_learner.data.pipes import FifoReader
    from linear_learner.errors import TrainingInterrupted

    os.mkfifo(tmp_path / "train_0")
    reader = FifoReader(tmp_path / "train_0", "channel 'train' pipe 'train_0'", timeout=60, interval=0.05)
    threading.Timer(0.3, stop.REQUESTED.set).start()
    try:
        with pytest.raises(TrainingInterrupted, match="waiting for data on channel 'train' pipe 'train_0'"):
            reader.read(100)
    finally:
        stop.REQUESTED.clear()
        reader.close()


def test_data_then_end_of_file_read_whole(tmp_path):
    from linear_learner.data.pipes import FifoReader

    path = tmp_path / "train_0"
    feeder = _feed_fifo(path, b"x" * 300_000, delay=0.0)
    while not path.exists():
        time.sleep(0.01)
    reader = FifoReader(path, "pipe", timeout=10)
    assert io.BufferedReader(reader).read() == b"x" * 300_000
    feeder.join()
    reader.close()
