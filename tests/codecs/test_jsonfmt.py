"""JSON and JSON Lines requests and responses, with the SDK's serializers and deserializers as the client."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sagemaker.deserializers import JSONDeserializer, JSONLinesDeserializer
from sagemaker.serializers import JSONLinesSerializer, JSONSerializer

from linear_learner.batch import Predictions
from linear_learner.codecs.jsonfmt import decode_json, decode_jsonlines, encode_json, encode_jsonlines
from linear_learner.errors import ClientError

ROWS = [[1.0, 2.0, 3.0], [4.0, -5.5, 6]]


def as_bytes(body: str | bytes) -> bytes:
    return body.encode() if isinstance(body, str) else body


@pytest.mark.parametrize(
    "doc",
    [
        {"instances": [{"features": r} for r in ROWS]},
        {"instances": [{"data": {"features": {"values": r}}} for r in ROWS]},
        ROWS,
    ],
)
def test_dense_shapes(doc) -> None:
    batch = decode_json(as_bytes(JSONSerializer().serialize(doc)), feature_dim=3)
    assert not batch.is_sparse and batch.X.dtype == np.float32 and batch.y is None
    np.testing.assert_array_equal(batch.X, np.array(ROWS, dtype=np.float32))
    assert batch.origin == "request body"


@pytest.mark.parametrize("doc", [{"features": [1, 2, 3]}, {"data": {"features": {"values": [1, 2, 3]}}}])
def test_one_instance_object_is_one_row_as_in_json_lines(doc) -> None:
    batch = decode_json(as_bytes(JSONSerializer().serialize(doc)), feature_dim=3)
    np.testing.assert_array_equal(batch.X, np.array([[1, 2, 3]], dtype=np.float32))


def test_single_row_and_numpy_through_sdk_serializer() -> None:
    np.testing.assert_array_equal(decode_json(b"[1, 2.5, 3]", feature_dim=3).X, [[1, 2.5, 3]])
    X = np.random.default_rng(0).normal(size=(4, 3))
    body = as_bytes(JSONSerializer().serialize(X))
    np.testing.assert_array_equal(decode_json(body, feature_dim=3).X, X.astype(np.float32))


def test_sparse_and_mixed_instances_stay_sparse() -> None:
    doc = {
        "instances": [
            {"data": {"features": {"keys": [0, 1999], "shape": [2000], "values": [1, 4.5]}}},
            {"data": {"features": {"keys": [], "shape": [2000], "values": []}}},
        ]
    }
    batch = decode_json(json.dumps(doc).encode(), feature_dim=2000)
    assert batch.is_sparse and batch.X.shape == (2, 2000) and batch.X.nnz == 2
    assert batch.X[0, 1999] == 4.5 and batch.X[0, 0] == 1
    mixed = {"instances": [doc["instances"][0], {"features": [0.0] * 1999 + [7.0]}]}
    batch = decode_json(json.dumps(mixed).encode(), feature_dim=2000)
    assert batch.is_sparse and batch.X[1, 1999] == 7.0


def test_jsonlines_with_sdk_serializer_and_blank_lines() -> None:
    body = as_bytes(JSONLinesSerializer().serialize([{"features": r} for r in ROWS]))
    np.testing.assert_array_equal(decode_jsonlines(body, feature_dim=3).X, np.array(ROWS, np.float32))
    body = b'\n{"features": [1, 2, 3]}\n\n[4, 5, 6]\r\n{"data": {"features": {"keys": [2], "shape": [3], "values": [9]}}}\n'
    batch = decode_jsonlines(body, feature_dim=3)
    np.testing.assert_array_equal(batch.X.toarray(), [[1, 2, 3], [4, 5, 6], [0, 0, 9]])


@pytest.mark.parametrize("body", [b"", b"  \n", b"[]", b'{"instances": []}'])
def test_no_rows(body: bytes) -> None:
    assert decode_json(body, feature_dim=3).X.shape == (0, 3)
    if not body.strip():
        assert decode_jsonlines(body, feature_dim=3).X.shape == (0, 3)


@pytest.mark.parametrize(
    ("body", "feature_dim", "expected"),
    [
        (b"[1, 2, 3, 4]", 30, "request body row 1: got 4 features, the model expects 30"),
        (
            b'{"instances": [{"features": [1]}, {"features": [1, 2]}]}',
            30,
            "row 1: got 1 features, the model expects 30",
        ),
        (
            b"[" + b", ".join([b"1"] * 31) + b"]",
            30,
            "got 31 features, the model expects 30; rows must not include the label",
        ),
        (
            b'{"rows": [[1, 2]]}',
            3,
            'request body: unrecognised JSON document {"rows": [[1, 2]]}; expected {"instances"',
        ),
        (b'"hello"', 3, 'unrecognised JSON document "hello"; expected'),
        (b'{"instances": {"features": [1]}}', 3, 'request body: "instances" is {"features": [1]}; expected'),
        (
            b'{"instances": [{"feature": [1]}]}',
            3,
            'request body row 1: unrecognised instance {"feature": [1]}; expected',
        ),
        (b"[[1, 2, 3], 3]", 3, "request body row 2: unrecognised instance 3; expected"),
        (b"[1, null, 3]", 3, "request body row 1: row item 2 is null; expected a number"),
        (b"[1, true, 3]", 3, "row 1: row item 2 is true; expected a number"),
        (b'[[1, "2", 3]]', 3, 'row 1: row item 2 is "2"; expected a number'),
        (
            b"[[1, 2, 3], [1, NaN, 3]]",
            3,
            "request body row 2: value NaN at item 2 is not a finite float32 number",
        ),
        (b"[[1, 2, -Infinity]]", 3, "row 1: value -Infinity at item 3 is not a finite float32 number"),
        (b"[[1, 2, 1e39]]", 3, "row 1: value 1e+39 at item 3 is not a finite float32 number"),
        (b"[[1, 2, 1" + b"0" * 400 + b"]]", 3, "row 1: an integer is too large"),
        (b"[[1, 2, 3]", 3, "request body: not valid JSON (Expecting"),
        (b"[1, 2, \xff]", 3, "request body: not UTF-8 text"),
        (b"[" * 100000 + b"]" * 100000, 3, "request body: JSON is nested too deeply"),
        (b"[" + b"9" * 5000 + b"]", 3, "request body: not valid JSON"),
        (
            b"1.5,2,3\n4,5,-6e-3\n",
            3,
            "not valid JSON (Extra data: line 1 column 4 (char 3)); the body looks like CSV",
        ),
    ],
)
def test_json_errors(body: bytes, feature_dim: int, expected: str) -> None:
    with pytest.raises(ClientError) as info:
        decode_json(body, feature_dim=feature_dim)
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        (
            {"keys": [1], "shape": [4], "values": [1.0]},
            "sparse shape [4] does not match the model's 3 features",
        ),
        ({"keys": [3], "shape": [3], "values": [1.0]}, "sparse key 3 is out of range; expected 0 <= key < 3"),
        ({"keys": [-1], "shape": [3], "values": [1.0]}, "sparse key -1 is out of range"),
        (
            {"keys": [2, 0, 2], "shape": [3], "values": [1.0, 2.0, 3.0]},
            "sparse key 2 appears more than once; expected each feature index at most once",
        ),
        (
            {"keys": [1.5], "shape": [3], "values": [1.0]},
            "sparse keys [1.5]; expected a list of integer feature indices",
        ),
        ({"keys": [0, 1], "shape": [3], "values": [1.0]}, "2 keys but 1 values; expected one key per value"),
        ({"keys": [1], "values": [1.0]}, "sparse shape null; expected [3]"),
        ({"keys": [1], "shape": [10**30], "values": [1.0]}, "does not match the model's 3 features"),
        ({"keys": [1], "shape": [3], "values": [None]}, "values item 1 is null; expected a number"),
    ],
)
def test_sparse_errors_never_allocate(features: dict, expected: str) -> None:
    body = json.dumps({"instances": [{"features": [1, 2, 3]}, {"data": {"features": features}}]}).encode()
    with pytest.raises(ClientError) as info:
        decode_json(body, feature_dim=3)
    assert str(info.value).startswith("request body row 2: ")
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"features": [1, 2, 3]}\n\n{"features": [1, 2]}\n',
            "request body row 2 (line 3): got 2 features, the model expects 3",
        ),
        (b'{"features": [1, 2, 3]}\n{"features": [1, 2, 3]\n', "request body row 2 (line 2): not valid JSON"),
        (
            b'{"instances": [[1, 2, 3]]}\n',
            'row 1 (line 1): unrecognised instance {"instances": [[1, 2, 3]]}; expected one instance per line',
        ),
        (b"[1, 2, NaN]\n", "row 1 (line 1): value NaN at item 3 is not a finite float32 number"),
    ],
)
def test_jsonlines_errors(body: bytes, expected: str) -> None:
    with pytest.raises(ClientError) as info:
        decode_jsonlines(body, feature_dim=3)
    assert expected in str(info.value)


def test_encode_json_matches_built_in_bytes() -> None:
    body = encode_json(Predictions(np.array([11.719074249267578], dtype=np.float32), None))
    assert body == b'{"predictions": [{"score": 11.719074249267578}]}' and len(body) == 48
    binary = encode_json(Predictions(np.array([0.25, 0.9], dtype=np.float32), np.array([0, 1])))
    assert (
        binary
        == b'{"predictions": [{"score": 0.25, "predicted_label": 0}, {"score": 0.8999999761581421, "predicted_label": 1}]}'
    )
    parsed = JSONDeserializer().deserialize(io.BytesIO(binary), "application/json")
    assert parsed["predictions"][1]["predicted_label"] == 1 and isinstance(
        parsed["predictions"][1]["predicted_label"], int
    )


def test_encode_multiclass_and_jsonlines_read_by_sdk() -> None:
    probs = np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]], dtype=np.float32)
    pred = Predictions(probs, np.array([2, 0]))
    doc = json.loads(encode_json(pred))
    assert doc["predictions"][0] == {"score": [float(v) for v in probs[0]], "predicted_label": 2}
    body = encode_jsonlines(pred)
    assert body.endswith(b"\n") and body.count(b"\n") == 2
    rows = JSONLinesDeserializer().deserialize(io.BytesIO(body), "application/jsonlines")
    assert [r["predicted_label"] for r in rows] == [2, 0]
    assert rows[1]["score"] == [float(v) for v in probs[1]]
    assert encode_jsonlines(Predictions(np.zeros(0), None)) == b""
    assert encode_json(Predictions(np.zeros(0), None)) == b'{"predictions": []}'


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=100))
def test_random_bytes_give_a_batch_or_client_error(body: bytes) -> None:
    for decode in (decode_json, decode_jsonlines):
        with contextlib.suppress(ClientError):
            decode(body, feature_dim=2)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["instances", "features", "data", "values", "keys", "shape"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_random_json_documents_give_a_batch_or_client_error(doc) -> None:
    body = json.dumps(doc).encode()
    for decode in (decode_json, decode_jsonlines):
        try:
            batch = decode(body, feature_dim=2)
        except ClientError:
            continue
        assert batch.X.shape[1] == 2 and batch.X.dtype == np.float32
