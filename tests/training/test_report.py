"""The evaluation report: metrics.json equal to the logged #quality_metric lines, PNGs that decode,
class names carried from the hyperparameter to the plots, and the curve maths against scikit-learn.

Jobs are real: SDK-written RecordIO under a temp /opt/ml tree, `linear-learner train` as a subprocess.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from sklearn import datasets
from sklearn.metrics import precision_recall_curve, roc_curve

from linear_learner.training import plots
from linear_learner.training.report import class_names, report_channel
from support.opt_ml import RECORDIO, OptMl, split_80_10_10, write_recordio

QUALITY = re.compile(r"#quality_metric: host=\S+, (\w+) (\S+) <(?:score|loss)>=(\S+)$")


def train_job(base: Path, X, y, hp: dict, channels=("train", "validation", "test")) -> tuple[OptMl, str]:
    opt = OptMl(base)
    parts = dict(
        zip(
            ("train", "validation", "test"),
            split_80_10_10(X.astype(np.float32), y.astype(np.float32)),
            strict=True,
        )
    )
    for name in channels:
        write_recordio(opt.channel(name) / "part-0.rec", *parts[name])
    opt.write_config(hp, {name: RECORDIO for name in channels})
    run = opt.train(timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return opt, run.stdout


def final_quality_lines(stdout: str) -> dict[str, dict[str, float]]:
    """channel -> metric -> value from the final (epoch-less) #quality_metric lines."""
    out: dict[str, dict[str, float]] = {}
    for line in stdout.splitlines():
        m = QUALITY.search(line)
        if m and "epoch=" not in line:
            out.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
    return out


def assert_png(path: Path) -> None:
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert image.std() > 0.01  # not a blank canvas


@pytest.fixture(scope="module")
def digits_job(tmp_path_factory) -> tuple[OptMl, str]:
    X, y = datasets.load_digits(return_X_y=True)
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    hp = {"predictor_type": "multiclass_classifier", "num_classes": 10, "class_names": json.dumps(names)}
    hp |= {"epochs": 5, "num_models": 4}
    return train_job(tmp_path_factory.mktemp("digits"), X, y, hp)


def test_multiclass_report_matches_the_log_and_names_classes(digits_job) -> None:
    opt, stdout = digits_job
    data = opt.base / "output" / "data"
    doc = json.loads((data / "metrics.json").read_text())
    assert doc["report_channel"] == "test"
    assert doc["class_names"][:3] == ["zero", "one", "two"]
    assert doc["plots"] == ["confusion_matrix.png", "per_class_recall.png"]
    logged = final_quality_lines(stdout)
    assert set(logged) == {"validation", "test"} == set(doc["channels"])
    for channel, metrics in logged.items():
        assert doc["channels"][channel]["metrics"] == metrics  # same floats, exactly
    test = doc["channels"]["test"]
    counts = np.array(test["confusion_matrix"])
    assert counts.shape == (10, 10) and counts.sum() == test["rows"]
    assert np.trace(counts) / counts.sum() == pytest.approx(test["metrics"]["multiclass_accuracy"])
    assert np.allclose(test["per_class_recall"], np.diag(counts) / counts.sum(axis=1))
    for name in doc["plots"]:
        assert_png(data / name)


def test_class_names_are_stored_in_the_model_artifact(digits_job) -> None:
    from linear_learner.model.artifact import load_artifact

    artifact = load_artifact(digits_job[0].model_dir)
    assert artifact.class_names[-1] == "nine" and len(artifact.class_names) == 10


def test_binary_report_has_curves_and_the_calibrated_threshold(tmp_path: Path) -> None:
    X, y = datasets.load_breast_cancer(return_X_y=True)
    hp = {
        "predictor_type": "binary_classifier",
        "class_names": "malignant,benign",
        "epochs": 5,
        "num_models": 4,
    }
    opt, stdout = train_job(tmp_path, X, y, hp, channels=("train", "validation"))
    data = opt.base / "output" / "data"
    doc = json.loads((data / "metrics.json").read_text())
    assert doc["report_channel"] == "validation"  # no test channel
    assert doc["plots"] == [
        "confusion_matrix.png",
        "per_class_recall.png",
        "precision_recall_curve.png",
        "roc_curve.png",
    ]
    assert doc["threshold"] is not None
    assert doc["channels"]["validation"]["metrics"] == final_quality_lines(stdout)["validation"]
    assert len(doc["channels"]["validation"]["per_class_recall"]) == 2
    for name in doc["plots"]:
        assert_png(data / name)


def test_regression_report_has_scatter_and_residual_plots(tmp_path: Path) -> None:
    X, y = datasets.load_diabetes(return_X_y=True)
    opt, stdout = train_job(tmp_path, X, y, {"predictor_type": "regressor", "epochs": 5, "num_models": 4})
    data = opt.base / "output" / "data"
    doc = json.loads((data / "metrics.json").read_text())
    assert doc["plots"] == ["predicted_vs_actual.png", "residuals.png"] and doc["class_names"] is None
    assert doc["channels"]["test"]["metrics"] == final_quality_lines(stdout)["test"]
    assert "confusion_matrix" not in doc["channels"]["test"]
    for name in doc["plots"]:
        assert_png(data / name)


# ---- pieces, on small real arrays ----


def test_report_channel_prefers_test_then_validation_then_train() -> None:
    assert report_channel({"train": 1, "validation": 2, "test": 3}) == "test"
    assert report_channel({"validation": 2, "train": 1}) == "validation"
    assert report_channel({"train": 1}) == "train"
    assert report_channel({}) is None


def test_class_names_fall_back_to_indices(digits_job) -> None:
    import dataclasses

    from linear_learner.model.artifact import load_artifact

    artifact = load_artifact(digits_job[0].model_dir)
    assert class_names(artifact, 10)[4] == "four"
    assert class_names(dataclasses.replace(artifact, class_names=None), 10) == [str(i) for i in range(10)]


def test_curves_equal_scikit_learn_on_real_scores() -> None:
    X, y = datasets.load_breast_cancer(return_X_y=True)
    scores = np.round(X[:, 0] / X[:, 0].max(), 2)  # a real feature as a score, with many ties
    curves = plots.binary_curves(y.astype(float), scores)
    precision, recall, thresholds = precision_recall_curve(y, scores)
    # scikit-learn lists thresholds ascending and stops at full recall; ours are descending, all of them
    n = len(thresholds)
    assert np.allclose(curves["threshold"][::-1][:n], thresholds)
    assert np.allclose(curves["precision"][::-1][:n], precision[:-1])
    assert np.allclose(curves["recall"][::-1][:n], recall[:-1])
    fpr, tpr, _ = roc_curve(y, scores, drop_intermediate=False)
    assert np.allclose(np.r_[0.0, curves["fpr"]], fpr) and np.allclose(np.r_[0.0, curves["recall"]], tpr)
    assert plots.binary_curves(np.ones(5), np.arange(5.0)) is None  # one class: no curve


def test_operating_point_uses_the_predictors_strict_rule() -> None:
    y = np.array([0, 0, 1, 1.0])
    op = plots.operating_point(y, np.array([0.1, 0.5, 0.5, 0.9]), 0.5)  # score > 0.5 only
    assert op == {"precision": 1.0, "recall": 0.5, "fpr": 0.0}


def test_row_normalise_leaves_absent_classes_blank() -> None:
    norm = plots.row_normalise(np.array([[3, 1, 0], [0, 0, 0], [0, 2, 2]]))
    assert np.allclose(norm[0], [0.75, 0.25, 0]) and np.isnan(norm[1]).all() and np.allclose(norm[2].sum(), 1)


def test_heatmap_draws_an_absent_class_and_skips_huge_k(tmp_path: Path) -> None:
    counts = np.array([[5, 1, 0], [0, 0, 0], [1, 0, 4]])
    path = plots.confusion_heatmap(tmp_path / "cm.png", counts, ["a", "b", "c"], "t")
    assert_png(path)
    k = plots.MAX_MATRIX_CLASSES + 1
    assert (
        plots.confusion_heatmap(tmp_path / "big.png", np.eye(k, dtype=int), [str(i) for i in range(k)], "t")
        is None
    )
    assert not (tmp_path / "big.png").exists()


def test_classes_without_rows_get_a_warning_and_a_null_recall(tmp_path) -> None:
    """num_classes=12 on the ten digits: classes 10 and 11 cannot be learned or scored."""
    X, y = datasets.load_digits(return_X_y=True)
    hp = {"predictor_type": "multiclass_classifier", "num_classes": 12, "epochs": 2, "num_models": 2}
    opt, stdout = train_job(tmp_path, X, y, hp)
    (warning,) = [line for line in stdout.splitlines() if "never occur" in line]
    assert "2 of num_classes=12 classes never occur in the training data (class 10, 11)" in warning
    doc = json.loads((opt.base / "output" / "data" / "metrics.json").read_text())
    recall = doc["channels"]["test"]["per_class_recall"]
    assert recall[10] is None and recall[11] is None
    assert all(isinstance(r, float) for r in recall[:10])
    assert_png(opt.base / "output" / "data" / "per_class_recall.png")
