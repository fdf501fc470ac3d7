"""Fast paths equal their reference decoders, and no input makes them fail with anything but ClientError.

RecordIO-protobuf: matrices written by the SageMaker SDK's own writers decode identically through the
vectorised path, the protobuf-library fallback and the chunked streaming reader. CSV: the compiled
one-pass parser equals the per-line reference decoder on random numeric tables and random text.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sagemaker.amazon.common import write_numpy_to_dense_tensor, write_spmatrix_to_sparse_tensor

from linear_learner.codecs import csv as csv_codec
from linear_learner.codecs import protobuf as pb
from linear_learner.data.chunks import iter_csv, iter_recordio
from linear_learner.errors import ClientError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
shapes = st.tuples(st.integers(1, 40), st.integers(1, 12))


def _same(a, b) -> None:
    assert a.is_sparse == b.is_sparse
    if a.is_sparse:
        assert (a.X != b.X).nnz == 0 and a.X.shape == b.X.shape
    else:
        np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)


def _streamed(data: bytes, chunk: int):
    parts = list(iter_recordio(io.BytesIO(data), "s", None, chunk_bytes=chunk))
    X = (
        sp.vstack([p.X for p in parts], format="csr")
        if any(p.is_sparse for p in parts)
        else np.vstack([p.X for p in parts])
    )
    return X, np.concatenate([p.y for p in parts])


@FAST
@given(st.data(), shapes, st.sampled_from([np.float32, np.float64]), st.integers(16, 4096))
def test_sdk_dense_fast_equals_fallback_and_stream(data, shape, dtype, chunk):
    X = data.draw(hnp.arrays(np.float32, shape, elements=finite32)).astype(dtype)
    y = data.draw(hnp.arrays(np.float32, shape[0], elements=finite32))
    buf = io.BytesIO()
    write_numpy_to_dense_tensor(buf, X, y)
    raw = buf.getvalue()
    fast = pb.decode_records(raw, source="s", require_label=True)
    slow = pb.decode_records(raw, source="s", require_label=True, fast=False)
    _same(fast, slow)
    Xs, ys = _streamed(raw, chunk)
    np.testing.assert_array_equal(Xs, slow.X)
    np.testing.assert_array_equal(ys, slow.y)


@FAST
@given(st.data(), shapes, st.integers(16, 4096))
def test_sdk_sparse_fast_equals_fallback_and_stream(data, shape, chunk):
    n, d = shape
    mask = data.draw(hnp.arrays(np.bool_, shape, elements=st.booleans()))
    values = data.draw(hnp.arrays(np.float32, shape, elements=finite32))
    S = sp.csr_matrix(np.where(mask & (values != 0), values, np.float32(0)))
    y = data.draw(hnp.arrays(np.float32, n, elements=finite32))
    buf = io.BytesIO()
    write_spmatrix_to_sparse_tensor(buf, S, y)
    raw = buf.getvalue()
    fast = pb.decode_records(raw, source="s", require_label=True)
    slow = pb.decode_records(raw, source="s", require_label=True, fast=False)
    _same(fast, slow)
    Xs, ys = _streamed(raw, chunk)
    assert (sp.csr_matrix(Xs) != slow.X).nnz == 0
    np.testing.assert_array_equal(ys, slow.y)


@FAST
@given(st.binary(max_size=300), st.booleans())
def test_random_bytes_give_a_batch_or_client_error(raw, fast):
    with contextlib.suppress(ClientError):
        pb.decode_records(raw, source="s", require_label=True, fast=fast)
    with contextlib.suppress(ClientError):
        list(iter_recordio(io.BytesIO(raw), "s", None, chunk_bytes=64))


@FAST
@given(st.binary(max_size=300).map(lambda b: b"\x0a\x23\xd7\xce" + b), st.booleans())
def test_random_payloads_behind_a_magic_give_a_batch_or_client_error(raw, fast):
    with contextlib.suppress(ClientError):
        pb.decode_records(raw, source="s", require_label=True, fast=fast)


number_text = st.one_of(
    finite32.map(repr),
    finite32.map(lambda v: f"{v:.17g}"),
    finite32.map(lambda v: f"{v:.3e}"),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: f"{v:.18e}"),  # np.savetxt's default: 19 digits
    st.integers(-(10**25), 10**25).map(str),
    st.integers(9 * 10**18, 10**19 - 1).map(str),  # 19 digits: overflow int64 if all are kept
    st.sampled_from(
        ["0", "-0", ".5", "5.", "+1", "1E5", " 2 ", "1e-45", "3.4028236e38", "1e400", "nan", "1_0", ""]
    ),
)


@FAST
@given(st.lists(st.lists(number_text, min_size=3, max_size=3), min_size=1, max_size=20), st.booleans())
def test_csv_compiled_equals_reference(rows, crlf):
    text = ("\r\n" if crlf else "\n").join(",".join(r) for r in rows) + "\n"
    data = text.encode()
    outcomes = []
    for fast in (True, False):
        try:
            b = csv_codec.decode_csv(data, source="s", has_label=True, fast=fast)
            outcomes.append((b.X.tolist(), b.y.tolist(), b.first_row))
        except ClientError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]


@FAST
@given(st.binary(max_size=200))
def test_csv_random_bytes_give_a_batch_or_client_error(raw):
    for fast in (True, False):
        with contextlib.suppress(ClientError):
            csv_codec.decode_csv(raw, source="s", has_label=True, fast=fast)


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_csv_streaming_equals_whole_and_keeps_line_numbers(chunk):
    rng = np.random.default_rng(0)
    M = rng.normal(size=(300, 4)).astype(np.float32)
    lines = [",".join(repr(float(v)) for v in row) for row in M]
    lines.insert(100, "")  # a blank line, skipped but counted
    data = ("\n".join(lines) + "\n").encode()
    whole = csv_codec.decode_csv(data, source="s", has_label=True)
    parts = list(iter_csv(io.BytesIO(data), "s", None, chunk_bytes=chunk))
    np.testing.assert_array_equal(np.vstack([p.X for p in parts]), whole.X)
    bad = data.replace(lines[200].encode(), b"1,2,x,4")
    with pytest.raises(ClientError, match=r"line 201 column 3"):
        list(iter_csv(io.BytesIO(bad), "s", None, chunk_bytes=chunk))


@pytest.mark.parametrize(
    "field",
    [
        "9.493612587089644839e-01",
        "9.999999999999999999e+00",
        "-9.223372036854775808e+03",
        "9999999999999999999",
    ],
)
def test_csv_nineteen_significant_digits_parse_exactly(field):
    """np.savetxt writes %.18e (19 digits); the compiled parser once overflowed int64 and flipped signs."""
    data = f"1,{field},0.5\n".encode()
    fast = csv_codec.decode_csv(data, source="s", has_label=True, fast=True)
    assert fast.X[0, 0] == np.float32(float(field))
    assert fast.X[0, 1] == np.float32(0.5)
