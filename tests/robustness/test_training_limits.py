"""Training configurations and files beyond any machine: refused early with a ClientError, exit 1, no model.

Each job is the real `linear-learner train` in a tmp /opt/ml tree. The memory check (training/memory.py)
runs before the parameters are allocated, so a job asking for terabytes fails in seconds with a reason
instead of a MemoryError deep in the loop or the kernel's OOM killer with no reason at all.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from linear_learner.codecs import record_pb2, recordio
from support.opt_ml import CSV, RECORDIO, OptMl, write_csv


def _job(tmp_path: Path, hyperparameters: dict, content_type: str = CSV) -> OptMl:
    opt = OptMl(tmp_path)
    opt.write_config(hyperparameters, {"train": content_type})
    return opt


def _assert_client_error(opt: OptMl, done, *fragments: str) -> None:
    assert done.returncode == 1, done.stderr[-2000:]
    line = opt.failure_line()
    assert line.startswith("ClientError: "), line
    for fragment in fragments:
        assert fragment in line, line
    assert len(line) <= 1024
    assert opt.model_files() == []
    assert "Traceback" not in done.stderr


def test_million_classes_with_wide_features_is_refused_before_reading_data(tmp_path: Path) -> None:
    opt = _job(
        tmp_path,
        {"predictor_type": "multiclass_classifier", "num_classes": 1_000_000, "feature_dim": 100_000},
    )
    write_csv(opt.channel("train") / "train.csv", np.zeros((4, 100_000), np.float32)[:, :3], np.zeros(4))
    start = time.monotonic()
    done = opt.train(timeout=120)
    _assert_client_error(opt, done, "needs about", "num_classes 1000000", "reduce num_models")
    assert time.monotonic() - start < 60


def test_memory_check_uses_the_width_found_in_the_data(tmp_path: Path) -> None:
    """feature_dim auto: a sparse record declaring 2^31-1 features is accepted by the codec, refused here."""
    opt = _job(tmp_path, {"predictor_type": "regressor"}, RECORDIO)
    record = record_pb2.Record()
    tensor = record.features["values"].float32_tensor
    tensor.values.append(1.0)
    tensor.keys.append(2**31 - 2)
    tensor.shape.append(2**31 - 1)
    record.label["values"].float32_tensor.values.append(1.0)
    (opt.channel("train") / "part-0.pbr").write_bytes(recordio.encode_frame(record.SerializeToString()) * 20)
    _assert_client_error(opt, opt.train(timeout=120), "needs about", "feature_dim 2147483647")


def test_sparse_shape_of_2_to_the_64_is_a_located_client_error(tmp_path: Path) -> None:
    opt = _job(tmp_path, {"predictor_type": "regressor"}, RECORDIO)
    record = record_pb2.Record()
    tensor = record.features["values"].float32_tensor
    tensor.values.append(1.0)
    tensor.keys.append(2**64 - 1)
    tensor.shape.append(2**64 - 1)
    record.label["values"].float32_tensor.values.append(1.0)
    (opt.channel("train") / "part-0.pbr").write_bytes(recordio.encode_frame(record.SerializeToString()))
    _assert_client_error(opt, opt.train(timeout=120), "part-0.pbr", "record 1", "18446744073709551615")


def test_single_50mb_csv_line_is_refused_without_a_crash(tmp_path: Path) -> None:
    opt = _job(tmp_path, {"predictor_type": "regressor"})
    (opt.channel("train") / "train.csv").write_bytes(b"1," * (25 << 20) + b"1\n")
    _assert_client_error(opt, opt.train(timeout=300), "needs about", "feature_dim 26214400")


def test_millions_of_empty_lines_around_real_rows_train_normally(tmp_path: Path) -> None:
    opt = _job(tmp_path, {"predictor_type": "regressor", "feature_dim": 2, "epochs": 2})
    rows = b"".join(b"%d,%d,%d\n" % (2 * i + 1, i, 1) for i in range(50))
    (opt.channel("train") / "train.csv").write_bytes(b"\n" * 2_000_000 + rows + b"\r\n" * 1_000_000)
    done = opt.train(timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert opt.model_files() == ["model_algo-1"]


def test_only_empty_lines_is_a_client_error(tmp_path: Path) -> None:
    opt = _job(tmp_path, {"predictor_type": "regressor", "feature_dim": 2})
    (opt.channel("train") / "train.csv").write_bytes(b"\n" * 3_000_000)
    _assert_client_error(opt, opt.train(timeout=300), "train")


def test_a_mini_batch_size_beyond_the_data_is_cut_to_it_not_refused(tmp_path: Path) -> None:
    """The batch buffers are sized by the rows a batch can hold: 10^9 on 200 rows is one batch."""
    opt = _job(tmp_path, {"predictor_type": "regressor", "feature_dim": 3, "mini_batch_size": 10**9})
    rng = np.random.default_rng(0)
    write_csv(opt.channel("train") / "train.csv", rng.normal(size=(200, 3)), rng.normal(size=200))
    done = opt.train(timeout=120)
    assert done.returncode == 0, opt.failure_line()
    assert "using one batch per epoch" in done.stdout + done.stderr


def test_batch_buffers_beyond_memory_name_mini_batch_size(tmp_path: Path) -> None:
    hp = {"predictor_type": "binary_classifier", "num_models": 32, "mini_batch_size": 3000}
    opt = OptMl(tmp_path)
    opt.write_config(hp, {"train": CSV, "validation": CSV})
    rng = np.random.default_rng(0)
    write_csv(opt.channel("train") / "train.csv", rng.normal(size=(3000, 3)), rng.integers(0, 2, 3000))
    write_csv(opt.channel("validation") / "val.csv", rng.normal(size=(10, 3)), rng.integers(0, 2, 10))
    # 4 buffers x 3000 rows x 32 models x 4 bytes = 1.5 MB of batch buffers; everything else < 0.1 MB
    done = opt.train(timeout=120, extra_env={"LINEAR_LEARNER_MEMORY_LIMIT": str(1 << 20)})
    _assert_client_error(
        opt, done, "needs about", "mini_batch_size 3,000 x num_models 32", "reduce mini_batch_size"
    )
