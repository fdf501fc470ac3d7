"""Chunked channel decoding, the seeded shuffle buffer and streamed scoring, on real files and SDK-written data."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import scipy.sparse as sp

from linear_learner.codecs.recordio import MAGIC
from linear_learner.data.chunks import iter_recordio
from linear_learner.data.shuffle import ShuffleBuffer, rebatch
from linear_learner.data.streaming import (
    ChannelStream,
    StreamSettings,
    file_streams,
    open_streamed,
    parse_size,
)
from linear_learner.errors import ClientError
from support.opt_ml import write_csv, write_recordio

RECORDIO = "application/x-recordio-protobuf"


def _rows(n=500, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, 2, n).astype(np.float32)


def _stream(channel_dir, content_type=RECORDIO, chunk=1 << 20, **kw) -> ChannelStream:
    return ChannelStream(
        "train",
        content_type,
        file_streams("train", channel_dir),
        "binary_classifier",
        None,
        chunk_bytes=chunk,
        **kw,
    )


def _shuffled(X, y, cuts, capacity, seed=3):
    buf = ShuffleBuffer(capacity, np.random.default_rng(seed))
    items = []
    for lo, hi in zip([0, *cuts], [*cuts, len(y)], strict=True):
        items += list(buf.push((X[lo:hi], y[lo:hi])))
    items += list(buf.flush())
    return [tuple(np.asarray(a) for a in b) for b in rebatch(items, 64)]


def test_shuffle_order_depends_on_rows_and_seed_not_on_chunking():
    X, y = _rows()
    a = _shuffled(X, y, [100, 101, 350], capacity=128)
    b = _shuffled(X, y, [7, 260, 261, 499], capacity=128)
    assert [len(t[0]) for t in a] == [64] * 7 + [52]
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    allx = np.vstack([t[0] for t in a])
    assert sorted(map(tuple, allx.tolist())) == sorted(map(tuple, X.tolist()))  # a permutation
    assert not np.array_equal(allx, X)
    c = _shuffled(X, y, [100], capacity=128, seed=4)
    assert not np.array_equal(np.vstack([t[0] for t in c]), allx)


def test_shuffle_buffer_mixes_label_sorted_rows_and_handles_csr():
    y = np.repeat([0.0, 1.0], 500).astype(np.float32)
    X = sp.csr_matrix(np.eye(1000, 8, dtype=np.float32))
    out = _shuffled(X, y, [300, 600], capacity=800)
    labels = np.concatenate([t[1] for t in out])
    assert 0.2 < labels[:200].mean() < 0.8  # label-sorted input, mixed output
    assert labels.shape[0] == 1000 and labels.sum() == 500


@pytest.mark.parametrize("chunk", [40, 1000, 1 << 20])
def test_chunked_recordio_equals_whole_file(tmp_path, chunk):
    X, y = _rows()
    write_recordio(tmp_path / "a.pbr", X[:300], y[:300])
    write_recordio(tmp_path / "b.pbr", X[300:], y[300:])
    parts = list(_stream(tmp_path, chunk=chunk).chunks())
    np.testing.assert_array_equal(np.vstack([p.X for p in parts]), X)
    np.testing.assert_array_equal(np.concatenate([p.y for p in parts]), y)
    assert parts[-1].origin == "channel 'train' file 'b.pbr'"


def test_errors_carry_absolute_byte_offsets_across_chunks(tmp_path):
    X, y = _rows(200, 3)
    good = write_recordio(tmp_path / "src.pbr", X, y).read_bytes()
    stride = 8 + struct.unpack_from("<I", good, 4)[0]
    stride += (4 - stride % 4) % 4
    bad = bytearray(good)
    bad[150 * stride : 150 * stride + 4] = b"\0\0\0\0"
    with pytest.raises(ClientError, match=rf"s: invalid RecordIO record at byte {150 * stride} \(bad magic"):
        list(iter_recordio(io.BytesIO(bytes(bad)), "s", None, chunk_bytes=1000))
    with pytest.raises(ClientError, match=rf"at byte {199 * stride} \(truncated payload"):
        list(iter_recordio(io.BytesIO(good[:-5]), "s", None, chunk_bytes=1000))


def _part(flag: int, body: bytes) -> bytes:
    return struct.pack("<II", MAGIC, (flag << 29) | len(body)) + body + b"\0" * ((4 - len(body) % 4) % 4)


def test_continuation_flags_are_checked_with_offsets():
    with pytest.raises(ClientError, match=r"byte 0 \(continuation flag 2 without a first part"):
        list(iter_recordio(io.BytesIO(_part(2, b"abcd")), "s", None))
    with pytest.raises(ClientError, match=r"byte 0 \(multi-part record has no last part"):
        list(iter_recordio(io.BytesIO(_part(1, b"abcd")), "s", None))
    with pytest.raises(ClientError, match=r"byte 0 \(continuation flag 5"):
        list(iter_recordio(io.BytesIO(_part(5, b"abcd")), "s", None))


def test_zero_records_names_files_and_byte_zero(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"\n\n")
    with pytest.raises(ClientError, match=r"channel 'train' file 'empty.csv': 0 records \(byte 0\)"):
        list(_stream(tmp_path, "text/csv").chunks())
    assert list(_stream(tmp_path, "text/csv", allow_empty=True).chunks()) == []


def test_csv_chunks_keep_line_numbers_in_label_errors(tmp_path):
    X, y = _rows(300, 3)
    y[250] = 7
    write_csv(tmp_path / "t.csv", X, y)
    with pytest.raises(ClientError, match=r"file 't.csv' line 251: label 7"):
        list(_stream(tmp_path, "text/csv", chunk=500).chunks())


def test_streamed_rows_multiply_like_the_matrix_and_stop_early(tmp_path):
    X, y = _rows(400, 5)
    write_recordio(tmp_path / "t.pbr", X, y)
    rows, labels = open_streamed(_stream(tmp_path, chunk=300))
    np.testing.assert_array_equal(labels, y)
    W = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(rows @ W, X @ W, rtol=1e-6)
    assert (rows[:10] @ W).shape == (10, 3)
    np.testing.assert_allclose(rows[:10] @ W, X[:10] @ W, rtol=1e-6)


def test_memory_budget_settings():
    assert parse_size("0.5", 1000) == 500
    assert parse_size("2G", 0) == 2 << 30
    assert parse_size("1500M", 0) == 1500 << 20
    s = StreamSettings.from_environ(
        {"LINEAR_LEARNER_MEMORY_BUDGET": "1G", "LINEAR_LEARNER_PIPE_TIMEOUT": "3"}
    )
    assert s.memory_budget == 1 << 30 and s.pipe_timeout == 3.0
    with pytest.raises(ClientError, match="LINEAR_LEARNER_MEMORY_BUDGET='lots' is not a size"):
        StreamSettings.from_environ({"LINEAR_LEARNER_MEMORY_BUDGET": "lots"})
