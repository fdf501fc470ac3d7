"""Record payloads <-> Batch against the real SageMaker SDK writers and readers (contract §12, P04, P18)."""

from __future__ import annotations

import contextlib
import io
import struct

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sagemaker.amazon.common import (
    RecordDeserializer,
    RecordSerializer,
    read_records,
    write_numpy_to_dense_tensor,
    write_spmatrix_to_sparse_tensor,
)

from linear_learner.batch import Predictions
from linear_learner.codecs import record_pb2
from linear_learner.codecs.protobuf import decode_payloads, decode_records, encode_batch, encode_predictions
from linear_learner.codecs.recordio import encode_frames, iter_frames, iter_frames_from_stream
from linear_learner.errors import ClientError

SRC = "channel 'train' file 'a.pbr'"


def dense_bytes(X: np.ndarray, y: np.ndarray | None = None) -> bytes:
    buf = io.BytesIO()
    write_numpy_to_dense_tensor(buf, X, y)
    return buf.getvalue()


def sparse_bytes(X: sp.spmatrix, y: np.ndarray | None = None) -> bytes:
    buf = io.BytesIO()
    write_spmatrix_to_sparse_tensor(buf, X, y)
    return buf.getvalue()


def same(a, b) -> None:
    assert a.is_sparse == b.is_sparse
    if a.is_sparse:
        assert a.X.shape == b.X.shape
        for u, v in ((a.X.indptr, b.X.indptr), (a.X.indices, b.X.indices), (a.X.data, b.X.data)):
            np.testing.assert_array_equal(u, v)
    else:
        np.testing.assert_array_equal(a.X, b.X)
    assert (a.y is None) == (b.y is None)
    if a.y is not None:
        np.testing.assert_array_equal(a.y, b.y)
    assert a.X.dtype == np.float32 and a.first_row == b.first_row and a.origin == b.origin


def both(data: bytes, **kw):
    """Decode with the vectorised paths, the per-record layout parser and the protobuf library only: all
    three must agree exactly."""
    kw.setdefault("source", SRC)
    kw.setdefault("require_label", True)
    fast = decode_records(data, fast=True, **kw)
    same(fast, decode_records(data, fast=False, **kw))
    same(fast, decode_payloads(iter_frames(data, source=kw["source"]), fast=True, **kw))
    return fast


def errors(data: bytes, **kw) -> str:
    """The error message, which must be the same with and without the fast path."""
    kw.setdefault("source", SRC)
    kw.setdefault("require_label", True)
    messages = []
    for fast in (True, False):
        with pytest.raises(ClientError) as info:
            decode_records(data, fast=fast, **kw)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    return messages[0]


RNG = np.random.default_rng(7)
X32 = RNG.normal(size=(20, 6)).astype(np.float32)
Y = RNG.integers(0, 3, 20).astype(np.float32)


@pytest.mark.parametrize("xtype", [np.float32, np.float64, int])
@pytest.mark.parametrize("ytype", [np.float32, np.float64, int])
def test_dense_round_trip_all_sdk_tensor_types(xtype, ytype) -> None:
    X = (X32 * 100).astype(xtype)
    batch = both(dense_bytes(X, Y.astype(ytype)))
    np.testing.assert_array_equal(batch.X, X.astype(np.float32))
    np.testing.assert_array_equal(batch.y, Y)
    assert batch.y.dtype == np.float32 and batch.origin == SRC and batch.first_row == 1


@pytest.mark.parametrize("xtype", [np.float32, np.float64, int])
def test_sparse_round_trip_with_zero_rows_and_corners(xtype) -> None:
    dense = np.zeros((5, 7), dtype=xtype)
    dense[0, 0] = 1
    dense[0, 6] = 2
    dense[4, 0] = 3
    dense[4, 6] = 4
    dense[2, 3] = 5  # rows 1 and 3 are all zero: only `shape` is written
    batch = both(sparse_bytes(sp.csr_matrix(dense), Y[:5]))
    assert batch.is_sparse and batch.X.shape == (5, 7)
    np.testing.assert_array_equal(batch.X.toarray(), dense.astype(np.float32))
    np.testing.assert_array_equal(batch.y, Y[:5])


def test_all_zero_sparse_matrix() -> None:
    batch = both(sparse_bytes(sp.csr_matrix((3, 4), dtype=np.float32)), require_label=False)
    assert batch.is_sparse and batch.X.shape == (3, 4) and batch.X.nnz == 0 and batch.y is None


def test_inference_ignores_labels_and_accepts_sdk_record_serializer() -> None:
    body = RecordSerializer().serialize(X32.astype(np.float64)).getvalue()
    batch = both(body, source="request body", require_label=False, feature_dim=6)
    np.testing.assert_array_equal(batch.X, X32)
    assert batch.y is None


def contract_hex(text: str) -> bytes:
    """Bytes written as in contract §12.3: hex pairs and "quoted" ASCII."""
    out = b""
    for i, part in enumerate(text.split('"')):
        out += part.encode() if i % 2 else bytes.fromhex(part)
    return out


def test_contract_example_bytes_decode() -> None:
    dense = contract_hex(
        '0a 23 d7 ce 2c 00 00 00 0a 16 0a 06 "values" 12 0c 12 0a 0a 08 00 00 80 3f 00 00 00 40 '
        '12 12 0a 06 "values" 12 08 12 06 0a 04 00 00 40 40'
    )
    batch = both(dense)
    np.testing.assert_array_equal(batch.X, [[1.0, 2.0]])
    np.testing.assert_array_equal(batch.y, [3.0])
    payload = contract_hex(
        '0a 18 0a 06 "values" 12 0e 12 0c 0a 04 00 00 a0 40 12 01 03 1a 01 0a '
        '12 12 0a 06 "values" 12 08 12 06 0a 04 00 00 80 3f'
    )
    assert len(payload) == 46
    sparse = contract_hex("0a 23 d7 ce 2e 00 00 00") + payload + b"\0\0"
    batch = both(sparse)
    assert batch.is_sparse
    np.testing.assert_array_equal(batch.X.toarray(), [[0, 0, 0, 5.0, 0, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(batch.y, [1.0])
    batch = both(sparse[:-2])  # SingleRecord batch transform strips the final pad
    assert batch.X.nnz == 1


def test_encode_batch_is_byte_identical_to_sdk() -> None:
    assert encode_batch(X32, Y) == dense_bytes(X32, Y)
    assert encode_batch(X32) == dense_bytes(X32)
    S = sp.random(20, 50, density=0.1, format="csr", dtype=np.float32, random_state=3)
    assert encode_batch(S, Y) == sparse_bytes(S, Y)
    assert encode_batch(S) == sparse_bytes(S)


def test_streaming_frames_give_the_same_batch_and_record_numbers() -> None:
    data = dense_bytes(X32, Y)
    batch = decode_payloads(
        iter_frames_from_stream(io.BytesIO(data), source=SRC, chunk_size=100),
        source=SRC,
        require_label=True,
        first_record=41,
    )
    np.testing.assert_array_equal(batch.X, X32)
    assert batch.first_row == 41
    bad = bytearray(data)
    stride = len(data) // 20
    bad[stride * 3 + 8 + 16 : stride * 3 + 8 + 20] = struct.pack("<f", np.nan)
    with pytest.raises(ClientError, match=rf"record 44 \(byte {stride * 3}\): feature value nan"):
        decode_payloads(iter_frames(bytes(bad), source=SRC), source=SRC, require_label=True, first_record=41)


def test_empty_input_is_an_empty_batch() -> None:
    batch = decode_records(b"", source=SRC, require_label=True, feature_dim=4)
    assert batch.X.shape == (0, 4) and batch.y.shape == (0,)


def make(
    values=None, keys=None, shape=None, label=(1.0,), kind="float32_tensor", label_kind="float32_tensor"
):
    rec = record_pb2.Record()
    if values is not None or keys is not None or shape is not None:
        tensor = getattr(rec.features["values"], kind)
        tensor.values.extend(values or [])
        tensor.keys.extend(keys or [])
        tensor.shape.extend(shape or [])
    if label is not None:
        getattr(rec.label["values"], label_kind).values.extend(label)
    return rec.SerializeToString()


@pytest.mark.parametrize(
    ("payloads", "kw", "expected"),
    [
        (
            [make([1.0, 2.0]), make([1.0, np.nan])],
            {},
            "record 2 (byte 52): feature value nan is not finite; expected finite",
        ),
        ([make([1.0, np.inf])], {}, "record 1 (byte 0): feature value inf is not finite"),
        ([make([1.0], label=(np.nan,))], {}, "record 1 (byte 0): label nan is not finite"),
        (
            [make([1.0, 2.0]), make([1.0, 2.0, 3.0])],
            {},
            "record 2 (byte 52): has 3 feature values but record 1 has 2; expected every dense",
        ),
        (
            [make([1.0, 2.0])],
            {"feature_dim": 3},
            "record 1 (byte 0): has 2 feature values; expected feature_dim = 3",
        ),
        ([make([1.0], label=None)], {}, "record 1 (byte 0): has no label; expected label['values']"),
        (
            [make([1.0], label=(1.0, 2.0))],
            {},
            "label['values'] has 2 values; expected exactly one label value",
        ),
        (
            [make([1.0], keys=[0])],
            {},
            "sparse features (1 keys) without shape; expected shape = [feature_dim]",
        ),
        ([make([1.0, 2.0], keys=[0], shape=[4])], {}, "1 keys but 2 values; expected one key per value"),
        (
            [make([1.0], keys=[4], shape=[4])],
            {},
            "record 1 (byte 0): sparse key 4 is out of range for shape [4]; expected keys < 4",
        ),
        (
            [make([1.0], keys=[2**64 - 1], shape=[4])],
            {},
            "sparse key 18446744073709551615 is out of range for shape [4]",
        ),
        (
            [make([1.0], keys=[1], shape=[10**12])],
            {},
            "sparse shape [1000000000000] exceeds 2147483647 features",
        ),
        ([make([1.0], keys=[1], shape=[2**64 - 1])], {}, "sparse shape [18446744073709551615] exceeds"),
        (
            [make([1.0], keys=[1], shape=[2**64 - 1])],
            {"feature_dim": 5},
            "sparse shape [18446744073709551615] does not match feature_dim = 5",
        ),
        (
            [make([1.0], keys=[1], shape=[4]), make([1.0], keys=[1], shape=[5])],
            {},
            "record 2 (byte 56): sparse shape 5 differs from shape [4] of record 1",
        ),
        (
            [make([1.0], keys=[1], shape=[4]), make([1.0, 2.0])],
            {},
            "dense length 2 differs from shape [4] of record 1; expected 4 features",
        ),
        (
            [make([1.0], keys=[1], shape=[4, 2])],
            {},
            "features shape [4, 2] has 2 dimensions; expected [feature_dim]",
        ),
        (
            [make([1.0, 2.0], shape=[3])],
            {},
            "dense features have 2 values but shape [3]; expected them to agree",
        ),
        ([make([])], {}, "features['values'] is empty; expected feature values"),
        (
            [make(None)],
            {},
            "features has no 'values' entry (found []); expected features['values'] = a Float32",
        ),
        ([b"\x0a\x05\x0a\x03abc"], {}, "features has no 'values' entry (found ['abc'])"),
        ([b"\xff\xff\xff"], {}, "record 1 (byte 0): payload is not an aialgs.data.Record protobuf"),
        (
            [make([1.0, 2.0], keys=[0, 2], shape=[4]), make([1.0, 2.0, 3.0], keys=[3, 1, 3], shape=[4])],
            {},
            "record 2 (byte 60): sparse key 3 appears more than once; expected each feature index at most once",
        ),
    ],
)
def test_error_messages_say_where_what_and_expected(payloads, kw, expected) -> None:
    message = errors(encode_frames(payloads), **kw)
    assert message.startswith(f"{SRC} record ")
    assert expected in message


def test_bytes_tensor_is_rejected_by_name() -> None:
    rec = record_pb2.Record()
    rec.features["values"].bytes.value.append(b"jpeg")
    assert "features['values'] holds bytes; expected a Float32, Float64 or Int32 tensor" in errors(
        encode_frames([rec.SerializeToString()])
    )


def test_csv_sent_as_recordio_names_the_offset_and_type() -> None:
    message = errors(b"1.0,2.0\n3.0,4.0\n")
    assert (
        message
        == f"{SRC}: invalid RecordIO record at byte 0 (bad magic number 0x2C302E31, want 0xCED7230A); expected application/x-recordio-protobuf"
    )


def test_encode_predictions_read_by_sdk() -> None:
    scores = np.array([0.25, 0.9999949932098389, 0.5], dtype=np.float32)
    labels = np.array([0, 1, 1])
    body = encode_predictions(Predictions(scores, labels))
    records = RecordDeserializer().deserialize(io.BytesIO(body), "application/x-recordio-protobuf")
    assert [r.label["score"].float32_tensor.values[0] for r in records] == pytest.approx(scores.tolist())
    assert [r.label["predicted_label"].float32_tensor.values[0] for r in records] == [0.0, 1.0, 1.0]
    assert all(len(r.features) == 0 for r in records)
    assert len(body) == 3 * len(encode_predictions(Predictions(scores[:1], labels[:1])))  # not quadratic


def test_encode_predictions_regressor_and_multiclass() -> None:
    records = read_records(io.BytesIO(encode_predictions(Predictions(np.array([1.5, -2.0]), None))))
    assert [list(r.label["score"].float32_tensor.values) for r in records] == [[1.5], [-2.0]]
    assert all("predicted_label" not in r.label for r in records)
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]], dtype=np.float32)
    records = read_records(io.BytesIO(encode_predictions(Predictions(probs, np.array([2, 0])))))
    np.testing.assert_allclose([list(r.label["score"].float32_tensor.values) for r in records], probs)
    assert [r.label["predicted_label"].float32_tensor.values[0] for r in records] == [2.0, 0.0]


@st.composite
def matrices(draw):
    n = draw(st.integers(1, 12))
    d = draw(st.integers(1, 9))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    values = draw(st.lists(st.floats(-1e6, 1e6, width=32), min_size=n * d, max_size=n * d))
    X = np.array(values, dtype=dtype).reshape(n, d)
    mask = np.array(draw(st.lists(st.booleans(), min_size=n * d, max_size=n * d))).reshape(n, d)
    X[mask] = 0
    y = np.array(draw(st.lists(st.floats(-10, 10, width=32), min_size=n, max_size=n)), dtype=np.float32)
    return X, y, draw(st.booleans()), draw(st.booleans())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrices())
def test_fast_path_equals_protobuf_library(case) -> None:
    X, y, sparse, with_label = case
    data = (
        sparse_bytes(sp.csr_matrix(X), y if with_label else None)
        if sparse
        else dense_bytes(X, y if with_label else None)
    )
    batch = both(data, require_label=with_label)
    got = batch.X.toarray() if sparse else batch.X
    np.testing.assert_array_equal(got, X.astype(np.float32))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.booleans())
def test_random_payloads_give_a_batch_or_client_error(payload: bytes, require_label: bool) -> None:
    for fast in (True, False):
        with contextlib.suppress(ClientError):
            decode_records(encode_frames([payload]), source=SRC, require_label=require_label, fast=fast)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_sdk_records_give_a_batch_or_client_error(data) -> None:
    S = sp.csr_matrix(np.array([[0, 1.5, 0, 2], [3, 0, 0, 0]], dtype=np.float32))
    good = bytearray(sparse_bytes(S, np.array([1, 0], np.float32)) + dense_bytes(X32[:2, :4], Y[:2]))
    for _ in range(data.draw(st.integers(1, 4))):
        good[data.draw(st.integers(0, len(good) - 1))] = data.draw(st.integers(0, 255))
    for fast in (True, False):
        with contextlib.suppress(ClientError):
            decode_records(bytes(good), source=SRC, require_label=True, fast=fast)


@pytest.mark.parametrize("xtype", [np.float32, np.float64])
@pytest.mark.parametrize("ytype", [np.float32, np.float64, None])
def test_fast_path_is_taken_for_sdk_layouts(xtype, ytype) -> None:
    """White-box: the SDK's float layouts must not silently fall back to the slow path."""
    from linear_learner.codecs import protobuf

    labels = None if ytype is None else Y[:5].astype(ytype)
    dense = dense_bytes(X32[:5].astype(xtype), labels)
    kw = {"source": SRC, "require_label": labels is not None, "first_record": 1}
    assert protobuf._decode_fixed(memoryview(dense), **kw)
    assert protobuf._decode_vectorised(dense, memoryview(dense), feature_dim=6, **kw)
    S = sp.csr_matrix(np.array([[0, 1, 0], [0, 0, 0], [2, 0, 3], [0, 0, 0], [1, 1, 1]], dtype=xtype))
    sparse = sparse_bytes(S, labels)
    assert protobuf._decode_vectorised(sparse, memoryview(sparse), feature_dim=3, **kw)


def test_vectorised_varints_match_protobuf_encoding() -> None:
    from google.protobuf.internal import encoder

    from linear_learner.codecs.protobuf import _decode_varints

    values = [0, 1, 127, 128, 300, 2**32, 2**63, 2**64 - 1, 5]
    raw = b"".join(encoder._VarintBytes(v) for v in values)
    decoded, longest = _decode_varints(np.frombuffer(raw, np.uint8))
    assert decoded.tolist() == values and longest == 10


def test_mixed_dense_sparse_and_int32_records_decode_to_csr() -> None:
    payloads = [
        make([1.0, 0.0, 2.0]),
        make([5.0], keys=[2], shape=[3]),
        make([7], keys=[0], shape=[3], kind="int32_tensor", label=(0,), label_kind="int32_tensor"),
    ]
    batch = both(encode_frames(payloads))
    assert batch.is_sparse
    np.testing.assert_array_equal(batch.X.toarray(), [[1, 0, 2], [0, 0, 5], [7, 0, 0]])
    np.testing.assert_array_equal(batch.y, [1, 1, 0])


def test_chunked_stream_decode_equals_whole_and_errors_are_absolute() -> None:
    from linear_learner.codecs.recordio import iter_record_chunks

    S = sp.random(40, 12, density=0.3, format="csr", dtype=np.float32, random_state=5)
    y = np.arange(40, dtype=np.float32) % 2
    data = sparse_bytes(S, y)
    whole = both(data)
    batches, seen = [], 0
    for offset, chunk, count in iter_record_chunks(io.BytesIO(data), source=SRC, chunk_size=300):
        batches.append(
            decode_records(chunk, source=SRC, require_label=True, first_record=seen + 1, base_offset=offset)
        )
        seen += count
    assert len(batches) > 3 and seen == 40
    np.testing.assert_array_equal(sp.vstack([b.X for b in batches]).toarray(), whole.X.toarray())
    bad = bytearray(data)
    offsets = [o for o, _ in iter_frames(data, source=SRC)]
    bad[offsets[30] + 8 + 12] ^= 0xFF  # damage record 31's tensor header
    with pytest.raises(ClientError, match=rf"record 31 \(byte {offsets[30]}\)"):
        seen = 0
        for offset, chunk, count in iter_record_chunks(io.BytesIO(bytes(bad)), source=SRC, chunk_size=300):
            decode_records(chunk, source=SRC, require_label=True, first_record=seen + 1, base_offset=offset)
            seen += count
