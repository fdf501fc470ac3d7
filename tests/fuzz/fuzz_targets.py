"""Fuzz targets for every decoder that reads user bytes, shared by the CI tests and bench/fuzz_all.py.

Each target is a Hypothesis test (`@given`) whose input strategy mixes raw random bytes with
structure-aware inputs (valid encodings from the SageMaker SDK's own writers, then mutated), so both
the framing checks and the deep value checks get exercised. The invariant is the product's promise:
every input gives a correct result or a ClientError (RequestError at inference) with a short,
non-empty message, never another exception. "Correct" is checked where the answer is known: valid
encodings decode to the matrix that was written, and each fast path equals its reference decoder.

The same functions run three ways: a few examples per target in CI (test_fuzz_decoders.py), many
examples per target for a bounded time (bench/fuzz_all.py), and coverage-guided under atheris
(bench/fuzz_all.py --engine atheris, through Hypothesis' fuzz_one_input).
"""

from __future__ import annotations

import io
import json
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linear_learner.batch import Batch
from linear_learner.codecs import csv as csv_codec
from linear_learner.codecs import jsonfmt, recordio
from linear_learner.codecs import protobuf as pb
from linear_learner.codecs.mediatype import negotiate_accept, parse_media_type
from linear_learner.config import schema
from linear_learner.config.channels import (
    load_json_config,
    parse_checkpointconfig,
    parse_inputdataconfig,
    parse_resourceconfig,
)
from linear_learner.config.hyperparams import Hyperparameters, parse_hyperparameters
from linear_learner.errors import ClientError, RequestError
from linear_learner.serving.invocations import REQUEST_TYPES, RESPONSE_TYPES, check_request_type

#: An error message may quote a short excerpt of the input, never the input itself.
MAX_MESSAGE = 1000
#: Config errors list every problem at once (P08); each problem stays short.
MAX_MESSAGE_PER_PROBLEM = 600
FEATURE_DIM = 3


@dataclass
class Stats:
    """What a run tried and what broke (the runner prints it; CI asserts there are no crashes)."""

    inputs: int = 0
    crashes: list[str] = field(default_factory=list)


STATS: dict[str, Stats] = {}


def _guard(name: str, check: Callable[[object], None]) -> Callable[[object], None]:
    """Count every input; remember the last crashing one (Hypothesis replays its shrunk example last)."""
    stats = STATS.setdefault(name, Stats())

    def run(value: object) -> None:
        stats.inputs += 1
        try:
            try:
                check(value)
            except ClientError as exc:
                message = str(exc)
                assert message.strip(), f"{name}: ClientError without a message"
                assert len(message) <= MAX_MESSAGE, f"{name}: {len(message)}-char message echoes the input"
        except Exception as exc:
            stats.crashes.append(f"{value!r:.300}\n{''.join(traceback.format_exception_only(exc))}")
            raise

    return run


# ---- strategies -------------------------------------------------------------------------------------
finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@st.composite
def matrices(draw, max_rows: int = 6, max_cols: int = 5) -> tuple[np.ndarray, np.ndarray, bool]:
    n, d = draw(st.integers(1, max_rows)), draw(st.integers(1, max_cols))
    X = np.array(draw(st.lists(finite32, min_size=n * d, max_size=n * d)), np.float32).reshape(n, d)
    y = np.array(draw(st.lists(finite32, min_size=n, max_size=n)), np.float32)
    sparse = draw(st.booleans())
    if sparse:
        X[np.array(draw(st.lists(st.booleans(), min_size=n * d, max_size=n * d))).reshape(n, d)] = 0
    return X, y, sparse


def sdk_recordio(X: np.ndarray, y: np.ndarray | None, sparse: bool) -> bytes:
    """Written by the SageMaker SDK's writers, as a user's training file or request body would be."""
    from sagemaker.amazon.common import write_numpy_to_dense_tensor, write_spmatrix_to_sparse_tensor

    buf = io.BytesIO()
    if sparse:
        write_spmatrix_to_sparse_tensor(buf, sp.csr_matrix(X), y)
    else:
        write_numpy_to_dense_tensor(buf, X, y)
    return buf.getvalue()


@st.composite
def mutated(draw, base: bytes) -> bytes:
    """A few byte flips, truncations, insertions or duplications of a valid encoding."""
    data = bytearray(base)
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "dup"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF, 0x0A, 0x12, 0x1A, 0x22]))
        elif op == "cut":
            del data[pos : pos + draw(st.integers(1, 16))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "dup":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 16))]
    return bytes(data)


@st.composite
def raw_frames(draw) -> bytes:
    """RecordIO-shaped bytes: headers with any continuation flag, lengths that lie, missing pads."""
    out = bytearray()
    for _ in range(draw(st.integers(0, 5))):
        magic = draw(st.sampled_from([recordio.MAGIC, recordio.MAGIC, recordio.MAGIC, 0x0A23D7CE, 0]))
        payload = draw(st.binary(max_size=24) | st.just(recordio.MAGIC_BYTES * 2))
        cflag = draw(st.integers(0, 7) | st.just(0))
        length = draw(st.just(len(payload)) | st.integers(0, recordio.LENGTH_MASK))
        out += recordio.HEADER.pack(magic, (cflag << 29) | length) + payload
        if draw(st.booleans()):
            out += b"\0" * ((4 - len(payload) % 4) % 4)
    return bytes(out)


json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_leaves,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=25,
)
rows = st.lists(finite32 | st.integers(-5, 5) | json_leaves, min_size=0, max_size=5)


@st.composite
def json_instances(draw) -> object:
    """The request shapes of reference D5 (and near misses) with random leaves."""
    row = draw(rows)
    keys = draw(st.lists(st.integers(-2, 5) | json_leaves, max_size=4))
    shape = draw(st.just([FEATURE_DIM]) | json_values)
    return draw(
        st.sampled_from(
            [
                row,
                {"features": row},
                {"data": {"features": {"values": row}}},
                {"data": {"features": {"keys": keys, "shape": shape, "values": row[: len(keys)]}}},
                {"data": {"features": {"keys": keys, "values": row}}},
            ]
        )
    )


def _dump(doc: object) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


json_bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(_dump),
    st.lists(json_instances(), max_size=4).map(lambda xs: _dump({"instances": xs})),
    st.lists(json_instances(), max_size=4).map(_dump),
    json_instances().map(_dump),
    st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 5000).map(lambda n: b'{"instances":' + b"[" * n),
    st.integers(300, 6000).map(lambda n: b"[[" + b"9" * n + b",1,2]]"),
)
jsonl_bodies = st.one_of(
    st.binary(max_size=64),
    st.lists(json_instances().map(_dump) | json_bodies, max_size=4).map(b"\n".join),
    st.lists(st.sampled_from([b"", b" ", b"\r", b"\t"]), max_size=50).map(b"\n".join),
)

csv_alphabet = st.sampled_from(
    list("0123456789.,-+eE \t\r\n") + ["nan", "inf", "(3", "True", "\x00", "é", "1e39"]
)
csv_bodies = st.one_of(
    st.binary(max_size=64),
    st.lists(csv_alphabet, max_size=80).map(lambda xs: "".join(xs).encode()),
    st.lists(st.lists(finite32, min_size=FEATURE_DIM, max_size=FEATURE_DIM), min_size=1, max_size=5).map(
        lambda rs: "\n".join(",".join(repr(v) for v in r) for r in rs).encode()
    ),
    st.integers(70, 3000).map(lambda n: ("1," * 2 + "1" * n).encode()),
)

media_text = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.sampled_from(
            [
                "text/csv",
                "application/json",
                "application/jsonlines",
                "application/x-recordio-protobuf",
                "*/*",
                "text/*",
                "application/*",
                "Text/CSV",
                ";",
                ",",
                "q=",
                "q=0",
                "q=0.5",
                "q=1.1",
                "q=abc",
                "charset=utf-8",
                "charset=latin-1",
                "label_size=0",
                "label_size=1",
                '"',
                "\\",
                " ",
                "=",
                "/",
            ]
        ),
        max_size=12,
    ).map("".join),
)

hp_names = st.sampled_from([p.name for p in schema.PARAMS] + [schema.TUNING_KEY, "_kvstore", "sagemaker_x"])
hp_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["auto", "true", "False", '"adam"', "1e400", "nan", "-1", "0", "3.5", "[1,2]", "a,a", "[]"]
    ),
    st.integers(0, 6000).map(lambda n: "0" * n + "1"),
    st.integers(-(2**80), 2**80).map(str),
    st.floats().map(str),
)
hp_values = hp_text | json_leaves | json_values
hyperparameter_docs = st.dictionaries(hp_names | st.text(max_size=20), hp_values, max_size=8)

channel_entries = st.dictionaries(
    st.sampled_from(
        ["ContentType", "TrainingInputMode", "S3DistributionType", "CompressionType", "RecordWrapperType"]
    )
    | st.text(max_size=6),
    media_text
    | st.sampled_from(["File", "pipe", "FastFile", "ShardedByS3Key", "Gzip", "RecordIO"])
    | json_leaves,
    max_size=5,
)
inputdataconfig_docs = st.dictionaries(
    st.sampled_from(["train", "validation", "test"]) | st.text(max_size=6),
    channel_entries | json_values,
    max_size=4,
)
config_files = st.one_of(
    st.binary(max_size=80),
    hyperparameter_docs.map(lambda d: _dump(d)),
    json_values.map(_dump),
    st.integers(1, 5000).map(lambda n: b"[" * n),
)


# ---- checks -----------------------------------------------------------------------------------------
def _check_batch(batch: Batch, feature_dim: int | None, labels: bool) -> None:
    X = batch.X
    assert X.ndim == 2 and X.dtype == np.float32
    if feature_dim is not None:
        assert X.shape[1] == feature_dim
    values = X.data if sp.issparse(X) else X
    assert np.isfinite(values).all()
    if labels:
        assert batch.y is not None and batch.y.shape == (X.shape[0],) and np.isfinite(batch.y).all()


def _same_batch(a: Batch, b: Batch) -> None:
    assert a.X.shape == b.X.shape
    if sp.issparse(a.X) or sp.issparse(b.X):
        assert (sp.csr_matrix(a.X) != sp.csr_matrix(b.X)).nnz == 0
    else:
        np.testing.assert_array_equal(a.X, b.X)
    if a.y is not None or b.y is not None:
        np.testing.assert_array_equal(a.y, b.y)


def _outcome(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except ClientError as exc:
        assert str(exc).strip() and len(str(exc)) <= MAX_MESSAGE, str(exc)[:200]
        return exc


def check_recordio(data: bytes) -> None:
    """In-memory and chunked streaming framing agree: the same frames, or both a ClientError."""
    whole = _outcome(lambda: [(o, bytes(p)) for o, p in recordio.iter_frames(data, source="s")])
    for chunk in (1, 7, 4096):
        stream = io.BytesIO(data)
        streamed = _outcome(
            lambda s=stream, c=chunk: list(recordio.iter_frames_from_stream(s, source="s", chunk_size=c))
        )
        assert isinstance(whole, ClientError) == isinstance(streamed, ClientError), (whole, streamed)
        if not isinstance(whole, ClientError):
            assert whole == streamed
            assert sum(len(p) for _, p in whole) <= len(data)  # memory bounded by the input
    if isinstance(whole, ClientError):
        raise whole


def check_protobuf(arg: tuple[bytes, bool, int | None]) -> None:
    """Fast path and protobuf-library fallback agree on any bytes; valid results are well-formed."""
    data, labels, feature_dim = arg
    fast = _outcome(
        lambda: pb.decode_records(data, source="s", require_label=labels, feature_dim=feature_dim)
    )
    slow = _outcome(
        lambda: pb.decode_records(data, source="s", require_label=labels, feature_dim=feature_dim, fast=False)
    )
    assert isinstance(fast, ClientError) == isinstance(slow, ClientError), (fast, slow)
    if isinstance(fast, ClientError):
        raise fast
    _check_batch(fast, feature_dim, labels)
    _same_batch(fast, slow)


def check_protobuf_roundtrip(arg: tuple[tuple[np.ndarray, np.ndarray, bool], bool]) -> None:
    """SDK-written records decode to exactly the matrix that was written (the correct result)."""
    (X, y, sparse), labels = arg
    data = sdk_recordio(X, y if labels else None, sparse)
    batch = pb.decode_records(data, source="s", require_label=labels)
    dense = batch.X.toarray() if sp.issparse(batch.X) else batch.X
    if sparse and not sp.issparse(batch.X):  # an all-empty sparse matrix has no width to report
        assert not X.any()
        return
    np.testing.assert_array_equal(dense, X[:, : dense.shape[1]])
    assert not X[:, dense.shape[1] :].any()
    if labels:
        np.testing.assert_array_equal(batch.y, y)


def check_csv(arg: tuple[bytes, bool, int | None]) -> None:
    """Compiled, numpy and per-line CSV decoders agree; results are finite with the right width."""
    data, has_label, feature_dim = arg
    fast = _outcome(
        lambda: csv_codec.decode_csv(data, source="s", has_label=has_label, feature_dim=feature_dim)
    )
    slow = _outcome(
        lambda: csv_codec.decode_csv(
            data, source="s", has_label=has_label, feature_dim=feature_dim, fast=False
        )
    )
    assert isinstance(fast, ClientError) == isinstance(slow, ClientError), (fast, slow)
    if isinstance(fast, ClientError):
        raise fast
    _check_batch(fast, feature_dim if fast.n_rows else None, has_label)
    _same_batch(fast, slow)


def check_json(data: bytes) -> None:
    _check_batch(jsonfmt.decode_json(data, feature_dim=FEATURE_DIM), FEATURE_DIM, labels=False)


def check_jsonlines(data: bytes) -> None:
    batch = jsonfmt.decode_jsonlines(data, feature_dim=FEATURE_DIM)
    _check_batch(batch, FEATURE_DIM, labels=False)
    assert batch.n_rows <= data.count(b"\n") + 1


def check_media(arg: tuple[str, str | None]) -> None:
    """Content-Type is parsed or refused with 415; Accept negotiated to a supported type or 406."""
    content_type, accept = arg
    parsed = parse_media_type(content_type)
    assert parsed is None or (parsed.type == parsed.type.lower() and "/" in parsed.type)
    for fn, status in (
        (lambda: check_request_type(content_type).type in REQUEST_TYPES, 415),
        (lambda: negotiate_accept(accept, RESPONSE_TYPES, "application/json") in RESPONSE_TYPES, 406),
    ):
        try:
            assert fn()
        except RequestError as exc:
            assert exc.status == status and str(exc).strip() and len(str(exc)) <= 400


def _config_message_ok(exc: ClientError, raw: object) -> None:
    problems = len(raw) if isinstance(raw, dict) else 1
    assert len(str(exc)) <= MAX_MESSAGE_PER_PROBLEM * max(problems, 1) + 200, str(exc)[:200]


def check_hyperparameters(raw: dict) -> None:
    try:
        assert isinstance(parse_hyperparameters(raw), Hyperparameters)
    except ClientError as exc:
        _config_message_ok(exc, raw)


def check_inputdataconfig(raw: dict) -> None:
    try:
        specs = parse_inputdataconfig(raw)
        assert "train" in specs
    except ClientError as exc:
        _config_message_ok(exc, raw)
    for parse in (parse_resourceconfig, lambda r: parse_checkpointconfig(r, Path("/opt/ml/checkpoints"))):
        try:
            parse(raw)
        except ClientError as exc:
            _config_message_ok(exc, raw)


_CONFIG_DIR = Path(tempfile.mkdtemp(prefix="fuzz-config-"))


def check_config_file(data: bytes) -> None:
    """A config file of any bytes: a JSON object back, or a ClientError naming the file."""
    path = _CONFIG_DIR / "hyperparameters.json"
    path.write_bytes(data)
    try:
        doc = load_json_config(path, required=True)
    except ClientError as exc:
        assert str(path) in str(exc) and len(str(exc)) <= MAX_MESSAGE + len(str(path))
        return
    assert isinstance(doc, dict)
    check_hyperparameters(doc)


# ---- the targets ---------------------------------------------------------------------------------
protobuf_inputs = st.tuples(
    st.one_of(
        st.binary(max_size=96),
        raw_frames(),
        matrices().flatmap(lambda m: mutated(sdk_recordio(m[0], m[1], m[2]))),
        matrices().map(lambda m: sdk_recordio(m[0], m[1], m[2])),
        st.binary(max_size=64).map(recordio.encode_frame),
    ),
    st.booleans(),
    st.none() | st.integers(1, 6),
)

INPUTS: dict[str, tuple[Callable[[object], None], st.SearchStrategy]] = {
    "recordio_framing": (check_recordio, st.binary(max_size=96) | raw_frames()),
    "protobuf_records": (check_protobuf, protobuf_inputs),
    "protobuf_roundtrip": (check_protobuf_roundtrip, st.tuples(matrices(), st.booleans())),
    "csv": (check_csv, st.tuples(csv_bodies, st.booleans(), st.none() | st.just(FEATURE_DIM))),
    "json": (check_json, json_bodies),
    "jsonlines": (check_jsonlines, jsonl_bodies),
    "media_type_accept": (check_media, st.tuples(media_text, st.none() | media_text)),
    "hyperparameters": (check_hyperparameters, hyperparameter_docs),
    "inputdataconfig": (check_inputdataconfig, inputdataconfig_docs),
    "config_file": (check_config_file, config_files),
}


def target(name: str, max_examples: int, **kwargs) -> Callable[[], None]:
    """A runnable Hypothesis test for one target (call it; it raises on a crashing input)."""
    check, strategy = INPUTS[name]
    guarded = _guard(name, check)

    @settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        **kwargs,
    )
    @given(strategy)
    def run(value: object) -> None:
        guarded(value)

    run.__name__ = f"fuzz_{name}"
    return run
