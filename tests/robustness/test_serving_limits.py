"""Hostile request bodies against a real server: each gets a short 4xx (or 204) and the same workers stay up.

After every request the test checks /ping, a valid prediction, and that the worker processes are the
ones that were there before (a worker that crashed or was killed for memory would have been replaced).
"""

from __future__ import annotations

import struct

import psutil
import pytest
import requests
from robust_server import FEATURES, Server

from linear_learner.codecs import record_pb2, recordio

MB = 1 << 20


def _sparse_record(keys: list[int], shape: list[int]) -> bytes:
    record = record_pb2.Record()
    tensor = record.features["values"].float32_tensor
    tensor.values.extend([1.0] * len(keys))
    tensor.keys.extend(keys)
    tensor.shape.extend(shape)
    return recordio.encode_frame(record.SerializeToString())


CASES = {
    "json-nested-100k": ("application/json", b"[" * 100_000 + b"]" * 100_000, 400),
    "json-nested-unclosed": ("application/json", b'{"instances":' + b"[" * 1_000_000, 400),
    "json-5MB-row": ("application/json", b"[" + b"1," * (5 * MB // 2) + b"1]", 400),
    "json-huge-int": ("application/json", b"[[" + b"9" * 100_000 + b",1,2]]", 400),
    "json-huge-float": ("application/json", b"[[1e999999,1,2]]", 400),
    "json-many-keys": (
        "application/json",
        b"{" + b",".join(b'"k%d":1' % i for i in range(300_000)) + b"}",
        400,
    ),
    "jsonlines-3M-empty": ("application/jsonlines", b"\n" * 3_000_000, 204),
    "csv-3M-empty-lines": ("text/csv", b"\n" * 3_000_000, 204),
    "csv-3M-empty-lines-then-row": ("text/csv", b"\n" * 3_000_000 + b"1,2,3\n", 200),
    "csv-50MB-line": ("text/csv", b"1," * (25 * MB) + b"1\n", 400),
    "csv-50MB-field": ("text/csv", b"1" * (50 * MB), 400),
    "sparse-shape-2^64": ("application/x-recordio-protobuf", _sparse_record([2**64 - 1], [2**64 - 1]), 400),
    "sparse-key-2^64": ("application/x-recordio-protobuf", _sparse_record([2**64 - 1], [FEATURES]), 400),
    "recordio-length-2^29": (
        "application/x-recordio-protobuf",
        struct.pack("<II", recordio.MAGIC, 2**29 - 1),
        400,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_body_gets_a_short_client_error_and_the_worker_stays_up(server: Server, name: str) -> None:
    content_type, body, status = CASES[name]
    workers = server.workers()
    rss_before = sum(psutil.Process(p).memory_info().rss for p in workers)
    response = requests.post(
        f"{server.url}/invocations", data=body, headers={"Content-Type": content_type}, timeout=120
    )
    assert response.status_code == status, response.text[:300]
    assert len(response.content) < 2000  # a short message (or a one-row prediction), never the input
    if status >= 400:
        assert response.headers["Content-Type"].startswith("text/plain") and response.text.strip()
    assert server.healthy()
    ok = requests.post(
        f"{server.url}/invocations", data=b"1,2,3", headers={"Content-Type": "text/csv"}, timeout=30
    )
    assert ok.status_code == 200 and ok.json()["predictions"][0]["predicted_label"] in (0, 1)
    assert server.workers() == workers, "a worker died or was replaced"
    rss_after = sum(psutil.Process(p).memory_info().rss for p in workers)
    # bounded: a few copies of the (at most 64 MiB) body per worker, not a blow-up
    assert rss_after - rss_before < 1200 * MB, (rss_before, rss_after)
