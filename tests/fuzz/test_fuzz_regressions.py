"""Every crashing input the fuzz targets found, kept as a regression test (bench/fuzz_all.py finds them).

Each one used to escape as a non-ClientError (so `linear-learner train` reported an AlgorithmError for
the user's own file) or to cost quadratic time; each now gives a short ClientError.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fuzz_targets import MAX_MESSAGE, check_config_file, check_csv

from linear_learner.codecs import csv as csv_codec
from linear_learner.config.channels import load_json_config
from linear_learner.config.hyperparams import parse_hyperparameters
from linear_learner.errors import ClientError


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 1988,  # RecursionError from json.loads
        b'{"epochs": ' + b"1" * 5000 + b"}",  # ValueError: int literal beyond 4300 digits
    ],
    ids=["deeply-nested", "huge-int-literal"],
)
def test_config_file_that_crashed_json_loads_is_a_client_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "hyperparameters.json"
    path.write_bytes(content)
    with pytest.raises(ClientError, match="hyperparameters.json") as info:
        load_json_config(path, required=True)
    assert len(str(info.value)) <= MAX_MESSAGE + len(str(path))
    check_config_file(content)


def test_integer_hyperparameter_with_more_digits_than_python_converts() -> None:
    with pytest.raises(ClientError, match="epochs: too many digits") as info:
        parse_hyperparameters({"predictor_type": "binary_classifier", "epochs": "0" * 5000 + "1"})
    assert len(str(info.value)) < 200


def test_many_repeated_class_names_are_refused_quickly_and_briefly() -> None:
    names = ",".join(str(i % 1000) for i in range(20_000))
    start = time.perf_counter()
    with pytest.raises(ClientError, match="class_names: names must be unique") as info:
        parse_hyperparameters({"predictor_type": "binary_classifier", "class_names": names})
    assert time.perf_counter() - start < 5  # was ~12 s: names.count() per name
    assert len(str(info.value)) < 300


@pytest.mark.parametrize(
    "data", [b"0\x00", b"1\x00\n", b"1,2\x00\n3,4\n"], ids=["nul", "nul-newline", "nul-row"]
)
def test_csv_field_with_a_nul_byte_is_refused_by_every_path(data: bytes) -> None:
    """numpy's bytes-to-float cast dropped trailing NULs, so the bulk path read '0\\x00' as 0."""
    for fast in (True, False):
        # a line of nothing else is called binary data, a NUL beside numbers names its column
        with pytest.raises(ClientError, match="line 1(: holds NUL bytes| column 2)"):
            csv_codec.decode_csv(data, source="s", has_label=False, fast=fast)
    with pytest.raises(ClientError):  # the fuzz check: every path agrees, the message is short
        check_csv((data, False, None))
