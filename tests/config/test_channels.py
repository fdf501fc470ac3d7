"""inputdataconfig / resourceconfig / checkpointconfig / config-file loading."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from linear_learner.config.channels import (
    CSV,
    RECORDIO_PROTOBUF,
    ChannelSpec,
    Cluster,
    load_json_config,
    parse_checkpointconfig,
    parse_inputdataconfig,
    parse_resourceconfig,
)
from linear_learner.errors import ClientError

# What SageMaker writes for a File-mode job (contract §3), plus keys we must tolerate.
PLATFORM = {
    "train": {
        "ContentType": "text/csv",
        "TrainingInputMode": "File",
        "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": "None",
    },
    "validation": {
        "TrainingInputMode": "Pipe",
        "S3DistributionType": "ShardedByS3Key",
        "RecordWrapperType": "RecordIO",
        "CompressionType": "Gzip",
        "ShuffleConfig": {"Seed": 1},
    },
}


def test_platform_config_parses_with_defaults_and_extra_keys() -> None:
    specs = parse_inputdataconfig(PLATFORM)
    assert specs["train"] == ChannelSpec("train", CSV, {}, "File", "FullyReplicated", "None", "None")
    val = specs["validation"]
    assert val.content_type == RECORDIO_PROTOBUF  # omitted -> Linear Learner's default
    assert (val.input_mode, val.distribution, val.compression, val.record_wrapper) == (
        "Pipe",
        "ShardedByS3Key",
        "Gzip",
        "RecordIO",
    )
    assert val.is_pipe and not specs["train"].is_pipe


@pytest.mark.parametrize(
    ("given", "media", "params"),
    [
        ("Text/CSV", CSV, {}),
        ("text/csv;label_size=1", CSV, {"label_size": "1"}),
        ("text/csv; label_size=1; charset=utf-8", CSV, {"label_size": "1", "charset": "utf-8"}),
        ("Application/X-RecordIO-Protobuf", RECORDIO_PROTOBUF, {}),
        ("", RECORDIO_PROTOBUF, {}),
    ],
)
def test_content_type_case_insensitive_with_parameters(given: str, media: str, params: dict) -> None:
    spec = parse_inputdataconfig({"train": {"ContentType": given}})["train"]
    assert (spec.content_type, spec.content_params) == (media, params)


def test_p01_csv_instead_of_text_csv() -> None:
    with pytest.raises(ClientError) as err:
        parse_inputdataconfig({"train": {"ContentType": "csv"}})
    assert (
        "channel 'train': unsupported ContentType 'csv'; supported: text/csv, application/x-recordio-protobuf"
        in str(err.value)
    )


def test_every_channel_problem_in_one_error() -> None:
    raw = {
        "validation": {"ContentType": "application/json", "TrainingInputMode": "Stream"},
        "test": {"ContentType": "text/csv;label_size=2", "S3DistributionType": "Sharded"},
        "extra": {},
        "train2": {},
    }
    with pytest.raises(ClientError) as err:
        parse_inputdataconfig(raw)
    msg = str(err.value)
    assert msg.startswith("invalid input data configuration: missing required channel 'train'")
    assert "channel 'validation': unsupported ContentType 'application/json'" in msg
    assert "channel 'test': label_size must be 1 (got '2')" in msg
    assert "channel 'test': unsupported S3DistributionType 'Sharded'" in msg
    assert "unknown channel 'extra'" in msg and "unknown channel 'train2'" in msg


def test_channel_entry_must_be_object() -> None:
    with pytest.raises(ClientError, match="channel 'train': expected a JSON object"):
        parse_inputdataconfig({"train": "text/csv"})


def test_input_mode_canonicalised() -> None:
    spec = parse_inputdataconfig({"train": {"TrainingInputMode": "fastfile"}})["train"]
    assert spec.input_mode == "FastFile"


def test_resourceconfig_sorted_rank_master() -> None:
    raw = {"current_host": "algo-1", "hosts": ["algo-2", "algo-1"], "network_interface_name": "eth0"}
    cluster = parse_resourceconfig(raw)
    assert cluster == Cluster("algo-1", ("algo-1", "algo-2"), "eth0")
    assert (cluster.rank, cluster.is_master, cluster.is_multi_host) == (0, True, True)
    other = parse_resourceconfig({**raw, "current_host": "algo-2", "current_instance_type": "ml.m5.large"})
    assert (other.rank, other.is_master) == (1, False)


def test_resourceconfig_missing_is_this_host() -> None:
    cluster = parse_resourceconfig(None)
    assert cluster.hosts == (socket.gethostname(),)
    assert cluster.is_master and not cluster.is_multi_host and cluster.network_interface_name is None


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"current_host": "algo-3", "hosts": ["algo-1", "algo-2"]}, "current_host 'algo-3' is not in hosts"),
        ({"current_host": "algo-1", "hosts": []}, "'hosts' must be a non-empty list"),
        ({"hosts": ["algo-1"]}, "'current_host' must be a non-empty string"),
        ({"current_host": "a", "hosts": ["a", "a"]}, "lists a host twice"),
    ],
)
def test_resourceconfig_invalid(raw: dict, needle: str) -> None:
    with pytest.raises(ClientError, match="invalid resource configuration") as err:
        parse_resourceconfig(raw)
    assert needle in str(err.value)


def test_checkpointconfig(tmp_path: Path) -> None:
    default = tmp_path / "checkpoints"
    assert parse_checkpointconfig(None, default) is None
    assert parse_checkpointconfig({"S3Uri": "s3://b/c"}, default) == default
    assert parse_checkpointconfig({"LocalPath": "/opt/ml/ckpt", "S3Uri": "s3://b"}, default) == Path(
        "/opt/ml/ckpt"
    )
    with pytest.raises(ClientError):
        parse_checkpointconfig({"LocalPath": 3}, default)


def test_load_json_config(tmp_path: Path) -> None:
    path = tmp_path / "hyperparameters.json"
    assert load_json_config(path, required=False) is None
    with pytest.raises(ClientError, match="missing configuration file"):
        load_json_config(path, required=True)
    path.write_text(json.dumps({"epochs": "3"}))
    assert load_json_config(path, required=True) == {"epochs": "3"}


def test_load_json_config_malformed_names_file_and_position(tmp_path: Path) -> None:
    path = tmp_path / "inputdataconfig.json"
    path.write_text('{"train": {"ContentType": "text/csv",}\n}')
    with pytest.raises(ClientError) as err:
        load_json_config(path, required=True)
    assert str(path) in str(err.value) and "line 1 column" in str(err.value)
    path.write_text('["train"]')
    with pytest.raises(ClientError, match="expected a JSON object at the top level \\(got list\\)"):
        load_json_config(path, required=True)
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(ClientError, match="not UTF-8"):
        load_json_config(path, required=True)
