"""aialgs.data.Record payloads <-> Batch, and RecordIO-protobuf prediction responses (contract §12, §13).

Decoding has two paths with identical results. The protobuf library handles every valid record (Float32,
Float64 and Int32 tensors, any field order) and explains every problem. The fast path reads the exact byte
layout the SDK writers produce for float32/float64 dense and sparse rows straight from the buffer with
numpy, one parsing step for all records at once; a buffer of equal-length dense records (the usual training
file) needs no per-record Python at all. Unless every record fits that layout and the data is valid, the
whole buffer goes to the protobuf library, which then names the first bad record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from google.protobuf.message import DecodeError

from linear_learner.batch import Batch, Predictions
from linear_learner.codecs import record_pb2
from linear_learner.codecs.recordio import HEADER, LENGTH_MASK, MAGIC, encode_frame, iter_frames
from linear_learner.codecs.sparse_keys import first_repeated_key
from linear_learner.errors import ClientError, excerpt

MAX_FEATURES = 2**31 - 1  # CSR column indices are int32; larger shapes are certainly a mistake
_TENSOR_KINDS = ("float32_tensor", "float64_tensor", "int32_tensor")
_EXPECTED = "a Float32, Float64 or Int32 tensor"
# Layout constants of SDK-written records (protobuf tags: field number << 3 | wire type 2).
_VALUES_ENTRY_KEY = b"\x0a\x06values"
_TENSOR_TAGS = {0x12: "<f4", 0x1A: "<f8"}  # Value.float32_tensor = 2, Value.float64_tensor = 3
_LABEL_F32 = b"\x12\x12\x0a\x06values\x12\x08\x12\x06\x0a\x04"
_LABEL_F64 = b"\x12\x16\x0a\x06values\x12\x0c\x1a\x0a\x0a\x08"


@dataclass
class _Row:
    """One record decoded by the protobuf library: float32 values, sparse keys (None when dense), feature
    count (dense: number of values; sparse: shape[0]) and label."""

    offset: int
    values: np.ndarray
    keys: np.ndarray | None
    width: int
    label: float | None


def _fail(source: str, number: int, offset: int, what: str) -> ClientError:
    return ClientError(f"{source} record {number} (byte {offset}): {what}")


def _tensor(value: record_pb2.Value, what: str, fail) -> tuple[np.ndarray, np.ndarray, list[int]]:
    kind = value.WhichOneof("value")
    if kind not in _TENSOR_KINDS:
        fail(f"{what} holds {kind or 'nothing'}; expected {_EXPECTED}")
    tensor = getattr(value, kind)
    dtype = np.int32 if kind == "int32_tensor" else np.float64
    return np.array(tensor.values, dtype=dtype), np.array(tensor.keys, dtype=np.uint64), list(tensor.shape)


def _parse_slow(p: memoryview | bytes, offset: int, number: int, source: str, want_label: bool) -> _Row:
    """Decode one record with the protobuf library and validate its structure."""

    def fail(what: str):
        raise _fail(source, number, offset, what)

    record = record_pb2.Record()
    try:
        record.ParseFromString(bytes(p))
    except DecodeError as exc:
        fail(
            f"payload is not an aialgs.data.Record protobuf ({exc}); expected application/x-recordio-protobuf"
        )
    if "values" not in record.features:
        keys = sorted(excerpt(k, 20) for k in record.features)
        fail(f"features has no 'values' entry (found {keys}); expected features['values'] = {_EXPECTED}")
    values, keys, shape = _tensor(record.features["values"], "features['values']", fail)
    if len(keys) and not shape:
        fail(f"sparse features ({len(keys)} keys) without shape; expected shape = [feature_dim]")
    if len(keys) and len(keys) != len(values):
        fail(f"{len(keys)} keys but {len(values)} values; expected one key per value")
    if len(shape) > 1:
        fail(f"features shape {excerpt(shape)} has {len(shape)} dimensions; expected [feature_dim]")
    sparse = len(keys) > 0 or (len(values) == 0 and len(shape) == 1)
    if not sparse:
        if len(values) == 0:
            fail("features['values'] is empty; expected feature values (or keys and shape for a sparse row)")
        if shape and shape[0] != len(values):
            fail(f"dense features have {len(values)} values but shape {shape}; expected them to agree")
    label = None
    if want_label and "values" in record.label:
        lvalues, lkeys, _ = _tensor(record.label["values"], "label['values']", fail)
        if len(lkeys) or len(lvalues) != 1:
            fail(f"label['values'] has {len(lvalues)} values; expected exactly one label value")
        label = float(lvalues[0])
    width = shape[0] if sparse else len(values)
    return _Row(offset, values.astype(np.float32), keys if sparse else None, width, label)


def _decode_varints(raw: np.ndarray) -> tuple[np.ndarray, int]:
    """Packed uint64 varints (raw must end with a varint's last byte) -> values, vectorised one byte position
    at a time; also the longest varint's length in bytes (valid protobuf: at most 10)."""
    if raw.size == 0:
        return np.zeros(0, np.uint64), 0
    ends = np.flatnonzero(raw < 0x80)
    starts = np.empty_like(ends)
    starts[0], starts[1:] = 0, ends[:-1] + 1
    lengths = ends - starts + 1
    longest = int(lengths.max())
    values = (raw[starts] & 0x7F).astype(np.uint64)
    for k in range(1, min(longest, 10)):
        sel = np.flatnonzero(lengths > k)
        values[sel] |= (raw[starts[sel] + k] & 0x7F).astype(np.uint64) << np.uint64(7 * k)
    return values, longest


def _assemble(
    rows: list[_Row], *, source: str, require_label: bool, feature_dim: int | None, first_record: int
) -> Batch:
    """Check rows against each other and feature_dim, then stack them into one dense or CSR Batch."""

    def fail(i: int, what: str) -> ClientError:
        return _fail(source, first_record + i, rows[i].offset, what)

    n = len(rows)
    if n == 0:
        y0 = np.zeros(0, np.float32) if require_label else None
        return Batch(np.zeros((0, feature_dim or 0), np.float32), y0, origin=source, first_row=first_record)
    sparse = np.fromiter((r.keys is not None for r in rows), dtype=bool, count=n)
    widths = [r.width for r in rows]
    flat = np.concatenate([r.values for r in rows])
    if not sparse.any():
        d = widths[0]
        bad = next((i for i, w in enumerate(widths) if w != d), None)
        if bad is not None:
            raise fail(
                bad,
                f"has {widths[bad]} feature values but record {first_record} has {d}; "
                "expected every dense record to have the same length",
            )
        if feature_dim is not None and d != feature_dim:
            raise fail(0, f"has {d} feature values; expected feature_dim = {feature_dim}")
        X: np.ndarray | sp.csr_matrix = flat.reshape(n, d)
        counts = np.full(n, d, dtype=np.int64)
    else:
        first = int(np.argmax(sparse))
        d = widths[first]
        if feature_dim is not None and d != feature_dim:
            raise fail(
                first,
                f"sparse shape [{d}] does not match feature_dim = {feature_dim}; expected shape [{feature_dim}]",
            )
        if d > MAX_FEATURES:
            raise fail(
                first, f"sparse shape [{d}] exceeds {MAX_FEATURES} features; expected shape = [feature_dim]"
            )
        bad = next((i for i, w in enumerate(widths) if w != d), None)
        if bad is not None:
            kind = "sparse shape" if sparse[bad] else "dense length"
            raise fail(
                bad,
                f"{kind} {widths[bad]} differs from shape [{d}] of record {first_record + first}; "
                f"expected {d} features in every record",
            )
        indices = np.concatenate(
            [r.keys if r.keys is not None else np.arange(r.width, dtype=np.uint64) for r in rows]
        )
        counts = np.array([len(r.values) for r in rows], dtype=np.int64)
        indptr = np.concatenate(([0], np.cumsum(counts)))
        out = np.flatnonzero(indices >= np.uint64(d))
        if out.size:
            i = int(np.searchsorted(indptr, out[0], side="right")) - 1
            raise fail(
                i, f"sparse key {int(indices[out[0]])} is out of range for shape [{d}]; expected keys < {d}"
            )
        repeated = first_repeated_key(indices, indptr)
        if repeated is not None:
            raise fail(
                repeated[0],
                f"sparse key {repeated[1]} appears more than once; expected each feature index at most once",
            )
        X = sp.csr_matrix((flat, indices.astype(np.int32), indptr), shape=(n, d))
    nonfinite = np.flatnonzero(~np.isfinite(flat))
    if nonfinite.size:
        pos = int(nonfinite[0])
        i = int(np.searchsorted(np.cumsum(counts), pos, side="right"))
        raise fail(
            i, f"feature value {flat[pos]} is not finite; expected finite numbers (no NaN or infinity)"
        )
    y = None
    if require_label:
        missing = next((i for i, r in enumerate(rows) if r.label is None), None)
        if missing is not None:
            raise fail(missing, "has no label; expected label['values'] with one value in training data")
        y = np.array([r.label for r in rows], dtype=np.float64).astype(np.float32)
        nonfinite = np.flatnonzero(~np.isfinite(y))
        if nonfinite.size:
            i = int(nonfinite[0])
            raise fail(i, f"label {rows[i].label} is not finite; expected a finite number")
    return Batch(X, y, origin=source, first_row=first_record)


def _scan_headers(view: memoryview) -> tuple[np.ndarray, np.ndarray] | None:
    """Header offsets and payload lengths of a buffer of whole records; None if anything is unusual."""
    offsets, lengths = [], []
    pos, n, unpack = 0, len(view), HEADER.unpack_from
    while pos + HEADER.size <= n:
        magic, word = unpack(view, pos)
        if magic != MAGIC or word >> 29:
            return None
        offsets.append(pos)
        lengths.append(word)
        pos += HEADER.size + word + (-word & 3)
    if pos < n or (offsets and offsets[-1] + HEADER.size + lengths[-1] > n):
        return None
    return np.array(offsets, dtype=np.int64), np.array(lengths, dtype=np.int64)


class _Bytes:
    """Vectorised reads at one position per record; `ok` collects every record that still fits the layout."""

    def __init__(self, arr: np.ndarray, n: int) -> None:
        self.arr, self.last = arr, len(arr) - 1
        self.ok = np.ones(n, dtype=bool)

    def at(self, pos: np.ndarray) -> np.ndarray:
        return self.arr[np.clip(pos, 0, self.last)]

    def match(self, pos: np.ndarray, pattern: bytes) -> np.ndarray:
        idx = np.clip(pos[:, None] + np.arange(len(pattern)), 0, self.last)
        return (self.arr[idx] == np.frombuffer(pattern, np.uint8)).all(axis=1)

    def varint(
        self, pos: np.ndarray, width: int = 5, where: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Varints at pos (valid only where `where`); lengths use width 5 (< 2**35), shape dims 10."""
        value = np.zeros(len(pos), dtype=np.uint64)
        end = pos.copy()
        done = np.zeros(len(pos), dtype=bool)
        for k in range(width):
            b = self.at(pos + k).astype(np.uint64)
            value |= np.where(done, np.uint64(0), (b & np.uint64(0x7F)) << np.uint64(7 * k))
            stop = ~done & (b < 0x80)
            end = np.where(stop, pos + k + 1, end)
            done |= stop
        self.ok &= done if where is None else (done | ~where)
        return value.astype(np.int64) if width <= 8 else value, end


def _gather(data: bytes | memoryview, start: np.ndarray, size: np.ndarray) -> bytes:
    """Concatenate data[start[i] : start[i] + size[i]] for all i (slicing bytes beats memoryview here)."""
    return b"".join(map(data.__getitem__, map(slice, start.tolist(), (start + size).tolist())))


@dataclass
class _Layout:
    """Where each record's parts are (absolute byte positions, one array entry per record)."""

    dtype: str
    vstart: np.ndarray
    vsize: np.ndarray
    kstart: np.ndarray
    ksize: np.ndarray
    has_k: np.ndarray
    has_s: np.ndarray
    dim: np.ndarray
    fend: np.ndarray
    lab32: np.ndarray
    lab64: np.ndarray


def _layout(arr: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> _Layout | None:
    """Parse the SDK layout of every record at once; None unless all records fit it with one value type.

    Layout: features entry {key "values", Value {float32|float64 tensor {values? keys? shape?}}}, then an
    optional label entry {key "values", Value {same-type tensor {values [y]}}}.
    """
    b = _Bytes(arr, len(offsets))
    start, stop = offsets + HEADER.size, offsets + HEADER.size + lengths
    b.ok &= (lengths > 0) & (b.at(start) == 0x0A)
    size, p = b.varint(start + 1)
    fend = p + size
    b.ok &= (fend <= stop) & b.match(p, _VALUES_ENTRY_KEY + b"\x12")
    size, p = b.varint(p + 9)
    b.ok &= p + size == fend
    tag = b.at(p)
    b.ok &= np.isin(tag, list(_TENSOR_TAGS))
    size, p = b.varint(p + 1)
    b.ok &= p + size == fend

    def optional(p: np.ndarray, field_tag: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        present = (p < fend) & (b.at(p) == field_tag)
        size, body = b.varint(p + 1, where=present)
        return present, np.where(present, body, p), np.where(present, size, 0)

    _, vstart, vsize = optional(p, 0x0A)
    has_k, kstart, ksize = optional(vstart + vsize, 0x12)
    has_s, sstart, ssize = optional(kstart + ksize, 0x1A)
    dim, dim_end = b.varint(sstart, width=10, where=has_s)
    b.ok &= (sstart + ssize == fend) & (~has_s | (dim_end == fend))
    b.ok &= ~has_k | (has_s & (ksize > 0) & (b.at(kstart + ksize - 1) < 0x80))
    rest = stop - fend
    lab32 = (rest == 20) & b.match(fend, _LABEL_F32)
    lab64 = (rest == 24) & b.match(fend, _LABEL_F64)
    b.ok &= (rest == 0) | lab32 | lab64
    if not b.ok.all() or len(set(tag.tolist())) != 1:
        return None
    dtype = _TENSOR_TAGS[int(tag[0])]
    if (vsize % int(dtype[-1])).any():
        return None
    return _Layout(dtype, vstart, vsize, kstart, ksize, has_k, has_s, dim, fend, lab32, lab64)


def _labels(arr: np.ndarray, lay: _Layout) -> np.ndarray | None:
    """Label values (n,) float32 from the label entries; None if any record lacks one or one is not finite."""
    if not (lay.lab32 | lay.lab64).all():
        return None
    y = np.empty(len(lay.fend), dtype=np.float32)
    for mask, code in ((lay.lab32, "<f4"), (lay.lab64, "<f8")):
        if mask.any():
            idx = (lay.fend[mask] + 16)[:, None] + np.arange(int(code[-1]))
            y[mask] = np.ascontiguousarray(arr[idx]).view(code).ravel()
    return y if np.isfinite(y).all() else None


def _decode_vectorised(
    data: bytes | memoryview,
    view: memoryview,
    *,
    source: str,
    require_label: bool,
    feature_dim: int | None,
    first_record: int,
) -> Batch | None:
    """All records of a buffer through _layout, then numpy; per-record Python only to slice bytes."""
    scanned = _scan_headers(view)
    if scanned is None or not len(scanned[0]):
        return None
    offsets, lengths = scanned
    arr = np.frombuffer(view, np.uint8)
    lay = _layout(arr, offsets, lengths)
    if lay is None:
        return None
    counts = lay.vsize // int(lay.dtype[-1])
    sparse = lay.has_k | (lay.has_s & (lay.vsize == 0))
    if sparse.any() and not sparse.all():
        return None
    flat = np.frombuffer(_gather(data, lay.vstart, lay.vsize), dtype=lay.dtype).astype(np.float32)
    if not np.isfinite(flat).all():
        return None
    n = len(offsets)
    if not sparse.any():
        d = int(counts[0])
        if (
            d == 0
            or (counts != d).any()
            or (lay.has_s & (lay.dim != d)).any()
            or feature_dim not in (None, d)
        ):
            return None
        X: np.ndarray | sp.csr_matrix = flat.reshape(n, d)
    else:
        d = int(lay.dim[0])
        if (lay.dim != d).any() or d > MAX_FEATURES or feature_dim not in (None, d):
            return None
        raw = np.frombuffer(_gather(data, lay.kstart, lay.ksize), np.uint8)
        indices, longest = _decode_varints(raw)
        ends = np.cumsum(np.concatenate(([0], lay.ksize)))
        terminators = np.concatenate(([0], np.cumsum(raw < 0x80)))[ends]
        if longest > 10 or (np.diff(terminators) != counts).any() or (indices >= np.uint64(d)).any():
            return None
        indptr = np.concatenate(([0], np.cumsum(counts)))
        if first_repeated_key(indices, indptr) is not None:
            return None  # the per-record path names the record
        X = sp.csr_matrix((flat, indices.astype(np.int32), indptr), shape=(n, d))
    y = _labels(arr, lay) if require_label else None
    if require_label and y is None:
        return None
    return Batch(X, y, origin=source, first_row=first_record)


def _decode_fixed(view: memoryview, *, source: str, require_label: bool, first_record: int) -> Batch | None:
    """Equal-length dense records (the usual training file): every record must repeat record 1's bytes
    outside its feature and label values, so one reshape of the buffer gives X. None otherwise."""
    if len(view) < HEADER.size:
        return None
    magic, length = HEADER.unpack_from(view, 0)
    stride = HEADER.size + length + (-length & 3)
    if magic != MAGIC or length >> 29 or len(view) % stride:
        return None
    arr = np.frombuffer(view, np.uint8).reshape(-1, stride)
    lay = _layout(arr[0], np.zeros(1, np.int64), np.array([length], np.int64))
    if lay is None or lay.has_k[0] or lay.has_s[0] or lay.vsize[0] == 0:
        return None
    vstart, vstop = int(lay.vstart[0]), int(lay.vstart[0] + lay.vsize[0])
    lstart = HEADER.size + length - (4 if lay.lab32[0] else 8 if lay.lab64[0] else 0)
    if not (
        (arr[:, :vstart] == arr[0, :vstart]).all() and (arr[:, vstop:lstart] == arr[0, vstop:lstart]).all()
    ):
        return None
    X = np.ascontiguousarray(arr[:, vstart:vstop]).view(lay.dtype).astype(np.float32, copy=False)
    if not np.isfinite(X).all():
        return None
    y = None
    if require_label:
        if lstart == HEADER.size + length:
            return None
        y = np.ascontiguousarray(arr[:, lstart : HEADER.size + length]).view("<f4" if lay.lab32[0] else "<f8")
        y = y.ravel().astype(np.float32)
        if not np.isfinite(y).all():
            return None
    return Batch(X, y, origin=source, first_row=first_record)


def decode_payloads(
    frames: Iterable[tuple[int, bytes | memoryview]],
    *,
    source: str,
    require_label: bool,
    feature_dim: int | None = None,
    first_record: int = 1,
    fast: bool = True,
) -> Batch:
    """Decode Record payloads given as (byte offset, payload) frames, e.g. from iter_frames_from_stream.

    X is dense (n, d) float32 unless any record is sparse, then CSR (n, shape[0]). y is (n,) float32 when
    require_label (training), else None: labels in inference requests are ignored. fast=False forces the
    protobuf library for every record (tests and benchmarks compare the two).
    """
    frames = list(frames)
    kw = {"source": source, "require_label": require_label, "first_record": first_record}
    if fast and frames and all(len(p) <= LENGTH_MASK for _, p in frames):
        buf = b"".join(encode_frame(bytes(p)) for _, p in frames)  # re-framed: one buffer for _layout
        batch = _decode_vectorised(buf, memoryview(buf), feature_dim=feature_dim, **kw)
        if batch is not None:
            return batch
    rows = [
        _parse_slow(p, offset, first_record + i, source, require_label)
        for i, (offset, p) in enumerate(frames)
    ]
    return _assemble(rows, feature_dim=feature_dim, **kw)


def decode_records(
    data: bytes | bytearray | memoryview,
    *,
    source: str,
    require_label: bool,
    feature_dim: int | None = None,
    first_record: int = 1,
    fast: bool = True,
    base_offset: int = 0,
) -> Batch:
    """Decode every RecordIO-framed Record in `data` (a whole file or request body) into one Batch.

    Errors are ClientErrors naming `source`, the record number (counted from first_record) and the byte
    offset of its header (counted from base_offset, e.g. a chunk from iter_record_chunks). See
    decode_payloads for the result's shapes and `fast`.
    """
    view = memoryview(data).cast("B")
    kw = {"source": source, "require_label": require_label, "first_record": first_record}
    if fast:
        batch = _decode_fixed(view, **kw)
        if batch is not None and feature_dim in (None, batch.n_features):
            return batch
        batch = _decode_vectorised(
            data if isinstance(data, bytes) else view, view, feature_dim=feature_dim, **kw
        )
        if batch is not None:
            return batch
    rows = [
        _parse_slow(p, offset, first_record + i, source, require_label)
        for i, (offset, p) in enumerate(iter_frames(view, source=source, base_offset=base_offset))
    ]
    return _assemble(rows, feature_dim=feature_dim, **kw)


def _record(values: list[float], label: float | None, keys: list[int] | None = None, width: int = 0) -> bytes:
    record = record_pb2.Record()
    tensor = record.features["values"].float32_tensor
    tensor.values.extend(values)
    if keys is not None:
        tensor.keys.extend(keys)
        tensor.shape.append(width)
    if label is not None:
        record.label["values"].float32_tensor.values.append(label)
    return record.SerializeToString()


def encode_batch(X: np.ndarray | sp.spmatrix, y: np.ndarray | None = None) -> bytes:
    """RecordIO-protobuf bytes for rows of X (dense or sparse) and optional labels y, as float32 tensors.

    Byte-identical to the SDK's write_numpy_to_dense_tensor / write_spmatrix_to_sparse_tensor for float32
    input, so test fixtures and tools written with either are interchangeable.
    """
    labels = None if y is None else np.asarray(y, dtype=np.float32).tolist()
    payloads = []
    if sp.issparse(X):
        csr = sp.csr_matrix(X, dtype=np.float32)
        for i in range(csr.shape[0]):
            lo, hi = csr.indptr[i], csr.indptr[i + 1]
            keys = csr.indices[lo:hi].astype(np.uint64).tolist()
            label = None if labels is None else labels[i]
            payloads.append(_record(csr.data[lo:hi].tolist(), label, keys, csr.shape[1]))
    else:
        dense = np.asarray(X, dtype=np.float32)
        for i, row in enumerate(dense.tolist()):
            payloads.append(_record(row, None if labels is None else labels[i]))
    return b"".join(encode_frame(p) for p in payloads)


def encode_predictions(pred: Predictions) -> bytes:
    """One Record per row: empty features, label["score"] float32 ([s] or k values) and, for classifiers,
    label["predicted_label"] float32 [c]. Each Record is built fresh (contract §13 pitfall 1)."""
    scores = np.asarray(pred.scores, dtype=np.float32).reshape(pred.n_rows, -1 if pred.n_rows else 1).tolist()
    labels = None if pred.labels is None else np.asarray(pred.labels, dtype=np.float32).tolist()
    out = []
    for i, score in enumerate(scores):
        record = record_pb2.Record()
        record.label["score"].float32_tensor.values.extend(score)
        if labels is not None:
            record.label["predicted_label"].float32_tensor.values.append(labels[i])
        out.append(encode_frame(record.SerializeToString()))
    return b"".join(out)
