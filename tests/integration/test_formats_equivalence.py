"""CSV, dense RecordIO-protobuf and sparse RecordIO-protobuf of the same data give the same model."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer

from linear_learner.model.artifact import load_artifact
from support.opt_ml import CSV, RECORDIO, OptMl, write_csv, write_recordio


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True)
    # round to float32-representable decimals so the CSV text holds exactly the same numbers
    return X.astype(np.float32)[:300], y.astype(np.float32)[:300]


def _train(base, fmt: str, X, y, extra: dict | None = None):
    job = OptMl(base)
    hps = {"predictor_type": "binary_classifier", "epochs": "5", "num_models": "4", "mini_batch_size": "50"}
    hps.update(extra or {})
    job.write_config(hps, {"train": fmt})
    if fmt == CSV:
        write_csv(job.channel("train") / "a.csv", X, y)
    else:
        write_recordio(job.channel("train") / "a.pbr", X, y)
    result = job.train()
    assert result.returncode == 0, result.stdout[-2000:]
    return load_artifact(job.model_dir)


def test_csv_and_dense_recordio_give_the_same_model(tmp_path, data):
    X, y = data
    a = _train(tmp_path / "csv", CSV, X, y)
    b = _train(tmp_path / "pb", RECORDIO, X, y)
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.bias, b.bias, rtol=1e-4, atol=1e-5)
    assert a.threshold == pytest.approx(b.threshold, abs=1e-5)


def test_sparse_recordio_equals_dense_when_not_centred(tmp_path, data):
    """Sparse data is scaled but never centred (D6): the dense run with unbias_data=false matches."""
    X, y = data
    dense = _train(tmp_path / "dense", RECORDIO, X, y, {"unbias_data": "false"})
    sparse = _train(tmp_path / "sparse", RECORDIO, sp.csr_matrix(X), y, {"unbias_data": "false"})
    np.testing.assert_allclose(dense.weights, sparse.weights, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(dense.bias, sparse.bias, rtol=1e-3, atol=1e-4)
