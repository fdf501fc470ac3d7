"""The committed record_pb2.py must be what protoc makes of proto/record.proto, and wire-identical to the SDK's."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from linear_learner.codecs import record_pb2

ROOT = Path(__file__).resolve().parents[2]


def test_regenerated_descriptor_equals_committed(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{ROOT / 'proto'}",
            f"--python_out={tmp_path}",
            str(ROOT / "proto" / "record.proto"),
        ],
        check=True,
    )
    spec = importlib.util.spec_from_file_location("regenerated_record_pb2", tmp_path / "record_pb2.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # same file name and content: the default pool accepts it again
    assert module.DESCRIPTOR.serialized_pb == record_pb2.DESCRIPTOR.serialized_pb


def test_descriptor_matches_sagemaker_sdk() -> None:
    sdk = pytest.importorskip("sagemaker.amazon.record_pb2")
    assert sdk.DESCRIPTOR.serialized_pb == record_pb2.DESCRIPTOR.serialized_pb
    assert record_pb2.DESCRIPTOR.name == "record.proto"
    assert record_pb2.DESCRIPTOR.package == "aialgs.data"


def test_field_numbers_are_the_wire_contract() -> None:
    value = record_pb2.Value.DESCRIPTOR.fields_by_name
    assert {n: value[n].number for n in value} == {
        "float32_tensor": 2,
        "float64_tensor": 3,
        "int32_tensor": 7,
        "bytes": 9,
    }
    rec = record_pb2.Record.DESCRIPTOR.fields_by_name
    assert [rec[n].number for n in ("features", "label", "uid", "metadata", "configuration")] == [
        1,
        2,
        3,
        4,
        5,
    ]
