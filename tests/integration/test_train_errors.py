"""Every bad training input of issue 2 point 4: exit code 1, a located `ClientError:` first line in
output/failure, and nothing in model/ (known-user-problems P01-P08)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from support.opt_ml import CSV, RECORDIO, OptMl, write_csv, write_recordio

X4 = np.arange(40, dtype=np.float32).reshape(10, 4) / 10.0
Y_BIN = np.array([0, 1] * 5, dtype=np.float32)


def _fails(job: OptMl, *needles: str) -> str:
    result = job.train(timeout=120)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    line = job.failure_line()
    assert line.startswith("ClientError: "), line
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    assert "Traceback" not in job.failure.read_text()
    assert len(job.failure.read_text()) <= 1025
    assert job.model_files() == []
    return line


def _binary_csv_job(tmp_path, text: str, hps: dict | None = None) -> OptMl:
    job = OptMl(tmp_path)
    job.write_config(hps or {"predictor_type": "binary_classifier"}, {"train": CSV})
    (job.channel("train") / "part-0.csv").write_text(text)
    return job


def test_unsupported_content_type_named(tmp_path):
    job = OptMl(tmp_path)
    job.write_config({"predictor_type": "binary_classifier"}, {"train": "csv"})
    write_csv(job.channel("train") / "a.csv", X4, Y_BIN)
    _fails(job, "'train'", "'csv'", "text/csv", "application/x-recordio-protobuf")


def test_csv_read_without_content_type_is_bad_magic_with_hint(tmp_path):
    job = OptMl(tmp_path)
    job.write_config({"predictor_type": "binary_classifier"}, {"train": None})
    write_csv(job.channel("train") / "a.csv", X4, Y_BIN)
    _fails(job, "channel 'train'", "a.csv", "byte 0", "magic", "text/csv")


@pytest.mark.parametrize("streamed", [False, True])
def test_gzip_files_in_file_mode_are_named_as_gzip(tmp_path, streamed):
    import gzip

    job = OptMl(tmp_path)
    job.write_config({"predictor_type": "binary_classifier"}, {"train": CSV})
    write_csv(tmp_path / "a.csv", X4, Y_BIN)
    (job.channel("train") / "a.csv.gz").write_bytes(gzip.compress((tmp_path / "a.csv").read_bytes()))
    env = {"LINEAR_LEARNER_MEMORY_BUDGET": "100"} if streamed else {}
    result = job.train(timeout=120, extra_env=env)
    assert result.returncode == 1
    line = job.failure_line()
    assert line.startswith("ClientError: channel 'train' file 'a.csv.gz'"), line
    assert "gzip-compressed: File mode reads files as they are" in line


def test_truncated_record_names_file_and_offset(tmp_path):
    job = OptMl(tmp_path)
    job.write_config({"predictor_type": "binary_classifier"}, {"train": RECORDIO})
    path = write_recordio(job.channel("train") / "a.pbr", X4, Y_BIN)
    path.write_bytes(path.read_bytes()[:-7])
    _fails(job, "channel 'train'", "a.pbr", "byte")


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("label,f1,f2\n1,2,3\n", ("line 1", "header")),
        ("1,2,3\n0,abc,3\n", ("line 2", "column 2", "'abc'")),
        ("1,2,3\n0,nan,3\n", ("line 2", "column 2", "nan")),
        ("1,2,3\n0,inf,3\n", ("line 2", "column 2", "inf")),
        ("1,2,3\n0,,3\n", ("line 2", "column 2", "empty")),
        ("1,2,3\n0,1\n", ("line 2", "expected 3 columns", "got 2")),
        ("False,54,3\n", ("line 1", "column 1", "'False'")),
    ],
    ids=["header", "non-numeric", "nan", "inf", "empty-field", "column-count", "boolean"],
)
def test_csv_errors_name_file_line_column_and_value(tmp_path, text, needles):
    line = _fails(_binary_csv_job(tmp_path, text), "channel 'train'", "part-0.csv", *needles)
    if "header" not in needles:  # the word "header" only when line 1 is entirely non-numeric (P03)
        assert "header" not in line


def test_binary_label_must_be_0_or_1(tmp_path):
    line = _fails(_binary_csv_job(tmp_path, "0,1,2\n1,1,2\n5,3,4\n"), "line 3", "label 5", "0 or 1")
    assert "part-0.csv" in line


def test_multiclass_one_based_labels_get_a_hint(tmp_path):
    text = "1,0.5\n2,0.1\n3,0.7\n"
    hps = {"predictor_type": "multiclass_classifier", "num_classes": "3"}
    _fails(_binary_csv_job(tmp_path, text, hps), "line 3", "label 3", "num_classes=3", "1-based")


def test_multiclass_label_error_in_recordio_names_the_record(tmp_path):
    job = OptMl(tmp_path)
    job.write_config({"predictor_type": "multiclass_classifier", "num_classes": "3"}, {"train": RECORDIO})
    write_recordio(job.channel("train") / "a.pbr", X4[:4], np.array([0, 1, 2.5, 1], dtype=np.float32))
    _fails(job, "a.pbr", "record 3", "2.5")


def test_empty_channel_folder(tmp_path):
    job = OptMl(tmp_path)
    job.write_config({"predictor_type": "binary_classifier"}, {"train": CSV})
    job.channel("train")
    _fails(job, "channel 'train'", "no data files")


def test_channel_with_only_blank_lines_has_zero_records(tmp_path):
    _fails(_binary_csv_job(tmp_path, "\n\n\n"), "channel 'train'", "0 records")


def test_missing_train_channel(tmp_path):
    job = OptMl(tmp_path)
    job.write_config({"predictor_type": "binary_classifier"}, {"validation": CSV})
    write_csv(job.channel("validation") / "a.csv", X4, Y_BIN)
    _fails(job, "train")


def test_feature_dim_mismatch_dense_and_sparse(tmp_path):
    job = OptMl(tmp_path / "dense")
    job.write_config({"predictor_type": "binary_classifier", "feature_dim": "5"}, {"train": RECORDIO})
    write_recordio(job.channel("train") / "a.pbr", X4, Y_BIN)
    _fails(job, "a.pbr", "5", "4")
    job = OptMl(tmp_path / "sparse")
    job.write_config({"predictor_type": "binary_classifier", "feature_dim": "7"}, {"train": RECORDIO})
    write_recordio(job.channel("train") / "a.pbr", sp.csr_matrix(X4), Y_BIN)
    _fails(job, "a.pbr", "7", "4")


def test_validation_with_other_width_than_train(tmp_path):
    job = OptMl(tmp_path)
    job.write_config({"predictor_type": "binary_classifier"}, {"train": CSV, "validation": CSV})
    write_csv(job.channel("train") / "a.csv", X4, Y_BIN)
    write_csv(job.channel("validation") / "b.csv", X4[:, :3], Y_BIN)
    _fails(job, "channel 'validation'", "b.csv")


def test_all_hyperparameter_problems_in_one_message_before_data_is_read(tmp_path):
    job = OptMl(tmp_path)
    job.write_config(
        {"epochs": "0", "learning_rate": "-1", "mini_batch_size": "abc", "epoch": "3"}, {"train": CSV}
    )
    # no data at all: the hyperparameter problems must be reported first
    line = _fails(job, "predictor_type", "epochs", "learning_rate", "mini_batch_size", "'epoch'")
    assert "no data" not in line


def test_malformed_hyperparameters_json_names_the_file(tmp_path):
    job = OptMl(tmp_path)
    job.write_config({"predictor_type": "binary_classifier"}, {"train": CSV})
    (tmp_path / "input" / "config" / "hyperparameters.json").write_text('{"predictor_type": ')
    _fails(job, "hyperparameters.json")


def test_a_missing_hyperparameters_file_is_named_with_the_base_directory(tmp_path):
    """A mistyped SAGEMAKER_BASE_DIR finds no config at all: say so, not just 'predictor_type'."""
    job = OptMl(tmp_path / "not-the-job-folder")
    line = _fails(job, "missing required hyperparameter 'predictor_type'", "SAGEMAKER_BASE_DIR")
    assert str(tmp_path / "not-the-job-folder" / "input" / "config" / "hyperparameters.json") in line


def test_loss_that_does_not_fit_the_predictor_type(tmp_path):
    job = _binary_csv_job(
        tmp_path, "0,1\n1,2\n", {"predictor_type": "binary_classifier", "loss": "squared_loss"}
    )
    _fails(job, "squared_loss", "logistic", "hinge_loss")


def test_hidden_files_and_nested_folders(tmp_path):
    """Not an error: hidden files are skipped, nested folders read."""
    job = OptMl(tmp_path)
    job.write_config({"predictor_type": "binary_classifier", "epochs": "2"}, {"train": CSV})
    write_csv(job.channel("train") / "nested" / "deeper" / "a.csv", X4, Y_BIN)
    (job.channel("train") / ".hidden.csv").write_text("garbage,not,numbers\n")
    result = job.train()
    assert result.returncode == 0, result.stdout[-2000:]
    assert job.model_files() == ["model_algo-1"]


def test_second_run_in_the_same_folder_is_not_affected_by_a_failed_first(tmp_path):
    job = _binary_csv_job(tmp_path, "7,1,2\n")
    _fails(job)
    write_csv(job.channel("train") / "part-0.csv", X4, Y_BIN)
    result = job.train()
    assert result.returncode == 0
    assert not job.failure.exists()
    assert (tmp_path / "output" / "success").exists()
    manifest = json.loads(__import__("zipfile").ZipFile(job.model_dir / "model_algo-1").read("manifest.json"))
    assert manifest["predictor_type"] == "binary_classifier"


def test_empty_files_are_named_not_called_missing(tmp_path):
    job = OptMl(tmp_path)
    job.write_config({"predictor_type": "binary_classifier"}, {"train": CSV})
    (job.channel("train") / "data.csv").write_text("")
    _fails(job, "channel 'train'", "empty", "data.csv")


def test_recordio_file_declared_as_csv_gets_a_hint(tmp_path):
    job = OptMl(tmp_path)
    job.write_config({"predictor_type": "binary_classifier"}, {"train": CSV})
    write_recordio(job.channel("train") / "a.pbr", X4, Y_BIN)
    _fails(job, "a.pbr", "RecordIO", "application/x-recordio-protobuf")
