"""Every request format x every response format x every predictor type, through the SageMaker SDK v2.

Requests are written by the SDK's serializers and responses read by its deserializers, so what passes
here is what a user's `Predictor.predict` would see; the served numbers must equal the offline
Predictor's on the same artifact (reference D8: the endpoint cannot disagree with the model file).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import requests
import scipy.sparse as sp
from sagemaker.amazon.common import (
    RecordDeserializer,
    RecordSerializer,
    write_numpy_to_dense_tensor,
    write_spmatrix_to_sparse_tensor,
)
from sagemaker.deserializers import CSVDeserializer, JSONDeserializer, JSONLinesDeserializer
from sagemaker.serializers import CSVSerializer, JSONLinesSerializer, JSONSerializer
from serving_helpers import PREDICTOR_TYPES, Model, Models, Server, start_server

from linear_learner.model.artifact import load_artifact
from linear_learner.model.predictor import Predictor

CSV, JSON, JSONLINES, RECORDIO = (
    "text/csv",
    "application/json",
    "application/jsonlines",
    "application/x-recordio-protobuf",
)


def _recordio(X: np.ndarray) -> bytes:
    return RecordSerializer().serialize(X).getvalue()


#: How the SDK writes each request type for rows X (float64, as a user holds them).
SERIALIZERS: dict[str, Callable[[np.ndarray], bytes | str]] = {
    CSV: CSVSerializer().serialize,
    JSON: lambda X: JSONSerializer().serialize({"instances": [{"features": row} for row in X.tolist()]}),
    JSONLINES: lambda X: JSONLinesSerializer().serialize([{"features": row} for row in X.tolist()]),
    RECORDIO: _recordio,
}


def _from_json(doc: object) -> list[dict]:
    assert isinstance(doc, dict) and list(doc) == ["predictions"]
    return doc["predictions"]


def _from_records(records: list) -> list[dict]:
    out = []
    for record in records:
        assert len(record.features) == 0
        entry: dict = {"score": list(record.label["score"].float32_tensor.values)}
        if "predicted_label" in record.label:
            (label,) = record.label["predicted_label"].float32_tensor.values
            assert label == int(label)
            entry["predicted_label"] = int(label)
        out.append(entry)
    return out


def _from_csv(kind: str) -> Callable[[list[list[str]]], list[dict]]:
    def parse(rows: list[list[str]]) -> list[dict]:
        if kind == "regressor":
            assert all(len(row) == 1 for row in rows)
            return [{"score": float(row[0])} for row in rows]
        return [{"predicted_label": int(r[0]), "score": [float(v) for v in r[1:]]} for r in rows]

    return parse


def read_response(kind: str, accept: str, body: bytes) -> list[dict]:
    """The SDK's deserializer for `accept`, normalised to one dict per row."""
    stream = io.BytesIO(body)
    if accept == JSON:
        return _from_json(JSONDeserializer().deserialize(stream, accept))
    if accept == JSONLINES:
        return JSONLinesDeserializer().deserialize(stream, accept)
    if accept == RECORDIO:
        return _from_records(RecordDeserializer().deserialize(stream, accept))
    rows = CSVDeserializer().deserialize(stream, accept)
    return _from_csv(kind)([row for row in rows if row])


def assert_matches(kind: str, got: list[dict], expected) -> None:
    """Same number of rows, same order, scores equal to the offline float32 scores, labels equal."""
    assert len(got) == expected.n_rows
    scores = [np.atleast_1d(np.asarray(entry["score"], dtype=np.float64)) for entry in got]
    served = np.asarray(scores, dtype=np.float32)
    want = expected.scores.reshape(expected.n_rows, -1)
    np.testing.assert_array_equal(served, want)
    if kind == "regressor":
        assert all(set(entry) == {"score"} for entry in got)
    else:
        labels = [entry["predicted_label"] for entry in got]
        assert all(type(label) is int for label in labels)
        np.testing.assert_array_equal(np.asarray(labels), expected.labels)


@pytest.fixture(scope="module", params=PREDICTOR_TYPES)
def served(request, models: Models, tmp_path_factory) -> Iterator[tuple[Model, Server]]:
    model = models[request.param]
    server = start_server(model.base_dir, tmp_path_factory.mktemp(request.param) / "server.log")
    yield model, server
    assert server.stop() == 0


def post(server: Server, body: bytes | str, content_type: str, accept: str | None) -> requests.Response:
    headers = {"Content-Type": content_type}
    if accept is not None:
        headers["Accept"] = accept
    return requests.post(f"{server.url}/invocations", data=body, headers=headers, timeout=30)


@pytest.mark.parametrize("accept", [JSON, JSONLINES, RECORDIO, CSV])
@pytest.mark.parametrize("content_type", [CSV, JSON, JSONLINES, RECORDIO])
def test_every_request_and_response_format(served, content_type: str, accept: str) -> None:
    model, server = served
    response = post(server, SERIALIZERS[content_type](model.X), content_type, accept)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == accept
    if accept in (JSONLINES, CSV):
        lines = response.content.split(b"\n")
        assert lines[-1] == b"" and len(lines) == model.X.shape[0] + 1  # one \n-terminated line per row
    assert_matches(
        model.predictor_type, read_response(model.predictor_type, accept, response.content), model.expected
    )


ALTERNATIVE_JSON = {
    "bare list of rows (SDK JSONSerializer on an ndarray)": lambda X: JSONSerializer().serialize(X),
    "data.features.values": lambda X: JSONSerializer().serialize(
        {"instances": [{"data": {"features": {"values": row}}} for row in X.tolist()]}
    ),
    "sparse keys/shape/values": lambda X: JSONSerializer().serialize(
        {
            "instances": [
                {
                    "data": {
                        "features": {
                            "keys": [int(j) for j in np.flatnonzero(row)],
                            "shape": [len(row)],
                            "values": [float(v) for v in row[row != 0]],
                        }
                    }
                }
                for row in X
            ]
        }
    ),
}


@pytest.mark.parametrize("form", list(ALTERNATIVE_JSON))
def test_other_json_request_shapes(served, form: str) -> None:
    model, server = served
    response = post(server, ALTERNATIVE_JSON[form](model.X), JSON, JSON)
    assert response.status_code == 200, response.text
    assert_matches(
        model.predictor_type, read_response(model.predictor_type, JSON, response.content), model.expected
    )


def test_single_json_row_gives_one_prediction(served) -> None:
    model, server = served
    response = post(server, JSONSerializer().serialize(model.X[0]), JSON, JSONLINES)
    assert response.status_code == 200, response.text
    got = read_response(model.predictor_type, JSONLINES, response.content)
    assert len(got) == 1
    np.testing.assert_array_equal(
        np.atleast_1d(np.float32(got[0]["score"])), model.expected.scores[:1].reshape(-1)
    )


def test_sparse_recordio_scores_like_dense(served) -> None:
    """Sparse RecordIO (SDK write_spmatrix_to_sparse_tensor) must score exactly like the dense rows (P18)."""
    model, server = served
    X = model.X.copy()
    X[np.abs(X) < np.median(np.abs(X))] = 0.0  # make it really sparse
    buf = io.BytesIO()
    write_spmatrix_to_sparse_tensor(buf, sp.csr_matrix(X))
    dense = post(server, _recordio(X), RECORDIO, JSON)
    sparse = post(server, buf.getvalue(), RECORDIO, JSON)
    assert dense.status_code == sparse.status_code == 200, sparse.text
    assert dense.json() == sparse.json()


@pytest.mark.parametrize("dtype", ["Float32", "Int32"])
def test_recordio_tensor_types(served, dtype: str) -> None:
    """The SDK's writer with float32 or integer arrays (RecordSerializer itself always sends Float64)."""
    model, server = served
    X = model.X.astype(np.float32) if dtype == "Float32" else np.round(model.X).astype(int)
    buf = io.BytesIO()
    write_numpy_to_dense_tensor(buf, X)
    response = post(server, buf.getvalue(), RECORDIO, JSON)
    assert response.status_code == 200, response.text
    expected = Predictor(load_artifact(model.base_dir / "model")).predict(X.astype(np.float32))
    assert_matches(
        model.predictor_type, read_response(model.predictor_type, JSON, response.content), expected
    )


@pytest.mark.parametrize(
    "content_type",
    ["text/csv; charset=utf-8", "text/csv;label_size=0", "TEXT/CSV ; Label_Size=0 ; charset=UTF-8"],
)
def test_csv_media_type_parameters_accepted(served, content_type: str) -> None:
    model, server = served
    body = (
        CSVSerializer().serialize(model.X[:3]).replace("\n", "\r\n") + "\r\n"
    )  # CRLF and a trailing newline
    response = post(server, body, content_type, CSV)
    assert response.status_code == 200, response.text
    assert response.content.count(b"\n") == 3


@pytest.mark.parametrize(
    "accept", [None, "*/*", "application/*", "text/csv;q=0.2, application/jsonlines;q=0.9"]
)
def test_accept_negotiation(served, accept: str | None) -> None:
    model, server = served
    expected = {None: JSON, "*/*": JSON, "application/*": JSON}.get(accept, JSONLINES)
    response = post(server, CSVSerializer().serialize(model.X[:2]), CSV, accept)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == expected
