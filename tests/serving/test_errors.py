"""Every error of issue 3 point 5 against a real server: status, Content-Type, message, and no harm done.

After each bad request the same server must still answer /ping with 200 and score a good request: a
client's mistake never costs a worker (contract §10, P14-P16).
"""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Iterator

import numpy as np
import pytest
import requests
from sagemaker.amazon.common import RecordSerializer, write_spmatrix_to_sparse_tensor
from sagemaker.serializers import CSVSerializer
from scipy import sparse as sp
from serving_helpers import Model, Models, Server

SUPPORTED_REQUESTS = (
    "text/csv",
    "application/json",
    "application/jsonlines",
    "application/x-recordio-protobuf",
)
LIMIT = 1024 * 1024  # binary_server runs with SAGEMAKER_MAX_PAYLOAD_IN_MB=1


@pytest.fixture(scope="module")
def model(models: Models) -> Model:
    return models["binary_classifier"]


@pytest.fixture
def server(binary_server: Server, model: Model) -> Iterator[Server]:
    """The shared server, checked after the test to still be healthy and still scoring correctly."""
    yield binary_server
    ping = requests.get(f"{binary_server.url}/ping", timeout=5)
    assert ping.status_code == 200 and ping.content == b""
    good = requests.post(
        f"{binary_server.url}/invocations",
        data=CSVSerializer().serialize(model.X[:2]),
        headers={"Content-Type": "text/csv", "Accept": "application/json"},
        timeout=10,
    )
    assert good.status_code == 200, good.text
    labels = [p["predicted_label"] for p in good.json()["predictions"]]
    assert labels == model.expected.labels[:2].tolist()


def post(server: Server, body: bytes | str, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{server.url}/invocations", data=body, headers=headers, timeout=30)


def assert_text_error(response: requests.Response, status: int, *fragments: str) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    text = response.text
    assert "Traceback" not in text and 'File "' not in text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return text


def csv_rows(model: Model, n: int = 3) -> str:
    return CSVSerializer().serialize(model.X[:n])


# --- 415: Content-Type -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["application/octet-stream", "text/plain", "application/x-npy", "csv"]
)
def test_unsupported_content_type_is_415_listing_the_supported(server, model, content_type) -> None:
    response = post(server, csv_rows(model), {"Content-Type": content_type})
    assert_text_error(response, 415, content_type, *SUPPORTED_REQUESTS)


def test_missing_content_type_is_415_not_a_guess(server, model) -> None:
    """P16: a bare JSON list without Content-Type gets a clear 415, not a dropped connection."""
    response = requests.post(
        f"{server.url}/invocations", data=json.dumps(model.X.tolist()).encode(), timeout=10
    )
    assert_text_error(response, 415, "missing Content-Type", *SUPPORTED_REQUESTS)


@pytest.mark.parametrize("value", ["1", "2"])
def test_csv_label_size_other_than_zero_is_415_naming_the_parameter(server, model, value) -> None:
    response = post(server, csv_rows(model), {"Content-Type": f"text/csv;label_size={value}"})
    assert_text_error(response, 415, f"label_size={value!r}", "label_size=0")


def test_non_utf8_charset_is_415(server, model) -> None:
    response = post(server, csv_rows(model), {"Content-Type": "text/csv; charset=utf-16"})
    assert_text_error(response, 415, "charset", "utf-16")


# --- 406: Accept -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["application/xml", "image/png, text/html;q=0.5", "application/json;q=0"])
def test_unsupported_accept_is_406_listing_the_supported(server, model, accept) -> None:
    response = post(server, csv_rows(model), {"Content-Type": "text/csv", "Accept": accept})
    assert_text_error(response, 406, "application/json", "application/jsonlines", "text/csv")


def test_accept_is_checked_before_the_body_is_parsed(server) -> None:
    response = post(server, b"not,numbers", {"Content-Type": "text/csv", "Accept": "application/xml"})
    assert_text_error(response, 406)


# --- 400: malformed bodies and wrong feature counts --------------------------------------------------------


def test_fewer_features_is_400_with_row_and_counts(server, model) -> None:
    """P13: the built-in's message, with both counts."""
    body = csv_rows(model, 2) + "\n" + ",".join(["1.0"] * 4)
    assert_text_error(post(server, body, {"Content-Type": "text/csv"}), 400, "line 3", "30", "got 4")


def test_one_extra_column_is_400_with_the_label_hint(server, model) -> None:
    body = "\n".join("0," + line for line in csv_rows(model, 2).split("\n"))
    assert_text_error(
        post(server, body, {"Content-Type": "text/csv"}), 400, "line 1", "got 31", "30", "label"
    )


MALFORMED = {
    "csv-token": ("text/csv", "1.0,abc," + ",".join(["1"] * 28), ["line 1", "column 2", "'abc'"]),
    "csv-nan": ("text/csv", ",".join(["nan"] * 30), ["line 1", "nan", "finite"]),
    "csv-empty-field": ("text/csv", "1.0,," + ",".join(["1"] * 28), ["line 1", "column 2", "empty"]),
    "csv-second-row-short": (
        "text/csv",
        ",".join(["1"] * 30) + "\n" + ",".join(["1"] * 29),
        ["line 2", "got 29"],
    ),
    "json-truncated": ("application/json", '{"instances": [{"features": [1, 2', ["not valid JSON"]),
    "json-unknown-shape": ("application/json", '{"rows": [[1, 2, 3]]}', ["expected", '{"instances"']),
    "json-features-string": ("application/json", '{"instances": [{"features": "1,2,3"}]}', ["row 1"]),
    "json-bare-rows-short": ("application/json", json.dumps([[1.0] * 30, [1.0] * 29]), ["row 2", "29", "30"]),
    "jsonlines-wrong-width": (
        "application/jsonlines",
        '{"features": [1, 2, 3]}\n{"features": [1, 2, 3]}',
        ["row 1", "got 3", "30"],
    ),
    "jsonlines-invalid": ("application/jsonlines", "{not json}", ["row 1", "not valid JSON"]),
    "recordio-bad-magic": (
        "application/x-recordio-protobuf",
        b"\x00\x01\x02\x03garbage",
        ["byte 0", "magic"],
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_body_is_400_naming_the_row(server, case) -> None:
    content_type, body, fragments = MALFORMED[case]
    assert_text_error(post(server, body, {"Content-Type": content_type}), 400, *fragments)


def test_truncated_recordio_is_400(server, model) -> None:
    body = RecordSerializer().serialize(model.X[:3]).getvalue()
    response = post(server, body[:-7], {"Content-Type": "application/x-recordio-protobuf"})
    assert_text_error(response, 400, "truncated")


def test_absurd_sparse_json_shape_is_400_not_out_of_memory(server) -> None:
    doc = {"instances": [{"data": {"features": {"keys": [10**12 - 1], "shape": [10**12], "values": [1.0]}}}]}
    assert_text_error(post(server, json.dumps(doc), {"Content-Type": "application/json"}), 400, "shape", "30")


def test_sparse_json_key_beyond_the_features_is_400(server) -> None:
    doc = {"instances": [{"data": {"features": {"keys": [0, 45], "shape": [30], "values": [1.0, 2.0]}}}]}
    assert_text_error(post(server, json.dumps(doc), {"Content-Type": "application/json"}), 400, "45")


def test_absurd_sparse_recordio_shape_is_400_not_out_of_memory(server) -> None:
    buf = io.BytesIO()
    write_spmatrix_to_sparse_tensor(buf, sp.csr_matrix(([1.0], ([0], [10**12 - 1])), shape=(1, 10**12)))
    response = post(server, buf.getvalue(), {"Content-Type": "application/x-recordio-protobuf"})
    assert_text_error(response, 400, "record 1", "shape", "30")


# --- 413: payload limit -------------------------------------------------------------------------------------


def test_body_over_the_limit_is_413_with_sizes(server) -> None:
    body = b"1.0," * (LIMIT // 4 + 100)
    response = post(server, body, {"Content-Type": "text/csv"})
    assert_text_error(response, 413, f"payload of {len(body)} bytes exceeds limit of {LIMIT} bytes")


def test_chunked_body_over_the_limit_is_413(server) -> None:
    chunk = b"1.0," * 16384

    def chunks() -> Iterator[bytes]:  # a generator makes requests send Transfer-Encoding: chunked
        for _ in range(2 * LIMIT // len(chunk)):
            yield chunk

    response = post(server, chunks(), {"Content-Type": "text/csv"})
    assert_text_error(response, 413, f"payload of {2 * LIMIT} bytes exceeds limit of {LIMIT} bytes")


def test_chunked_body_within_the_limit_is_scored(server, model) -> None:
    lines = [line.encode() + b"\n" for line in csv_rows(model, 5).split("\n")]
    response = post(server, iter(lines), {"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    assert [p["predicted_label"] for p in response.json()["predictions"]] == model.expected.labels[
        :5
    ].tolist()


def test_body_at_the_limit_is_not_413(server, model) -> None:
    row = csv_rows(model, 1) + "\n"
    body = (row * (LIMIT // len(row))).encode()
    assert len(body) <= LIMIT
    response = post(server, body, {"Content-Type": "text/csv", "Accept": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.content.count(b"\n") == LIMIT // len(row)


# --- 204: nothing to score ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/csv", b""),
        ("text/csv", b"\n\r\n  \n"),
        ("application/json", b""),
        ("application/json", b'{"instances": []}'),
        ("application/jsonlines", b"\n\n"),
        ("application/x-recordio-protobuf", b""),
    ],
    ids=[
        "csv-empty",
        "csv-blank-lines",
        "json-empty",
        "json-no-instances",
        "jsonlines-blank",
        "recordio-empty",
    ],
)
def test_nothing_to_score_is_204_without_a_body(server, content_type, body) -> None:
    response = post(server, body, {"Content-Type": content_type})
    assert response.status_code == 204
    assert response.content == b""
    assert "Content-Type" not in response.headers


# --- routes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Content-Type": "application/xml", "Accept": "image/png"}, {"Accept": "text/csv"}],
)
def test_ping_is_200_with_an_empty_body_whatever_the_headers(server, headers) -> None:
    response = requests.get(f"{server.url}/ping", headers=headers, timeout=5)
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nope", 404), ("GET", "/invocations", 405), ("POST", "/ping", 405)],
)
def test_other_routes_answer_in_text(server, method, path, status) -> None:
    response = requests.request(method, f"{server.url}{path}", timeout=5)
    assert_text_error(response, status, path)


def test_execution_parameters_defaults(server) -> None:
    response = requests.get(f"{server.url}/execution-parameters", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "MaxConcurrentTransforms": 2,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 1,
    }


def test_many_bad_requests_in_a_row_do_not_exhaust_workers(server, model) -> None:
    bad = np.full((1, 29), 1.0)
    for _ in range(50):
        response = post(server, CSVSerializer().serialize(bad), {"Content-Type": "text/csv"})
        assert response.status_code == 400


def test_refused_bodies_leave_the_keep_alive_connection_usable(server, model) -> None:
    """406/415/413 are decided before the body is read; the connection must still serve the next request."""
    conn = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=30)
    big = b"1.0," * 50_000
    refused = [
        ({"Content-Type": "application/octet-stream"}, big, 415),
        ({"Content-Type": "text/csv", "Accept": "image/png"}, big, 406),
        ({"Content-Type": "text/csv"}, b"1.0," * (LIMIT // 2), 413),
        ({"Content-Type": "text/csv"}, b"1.0,abc", 400),
    ]
    good = csv_rows(model, 2).encode()
    for headers, body, status in refused:
        conn.request("POST", "/invocations", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status == status
        conn.request("POST", "/invocations", body=good, headers={"Content-Type": "text/csv"})
        response = conn.getresponse()
        assert response.status == 200, response.read()
        assert len(json.loads(response.read())["predictions"]) == 2
    conn.close()
