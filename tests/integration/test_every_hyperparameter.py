"""Every hyperparameter of reference §1.2 changes what `linear-learner train` does.

Each test compares what a user can see (artifact arrays and manifest, log lines, metric names) of a
run that sets the value with a baseline run, so it fails if the value were accepted and ignored.
All runs are real subprocess jobs on scikit-learn datasets; they are launched together up front (a
few at a time) because each is dominated by interpreter start-up.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from support.jobs import Run, train_job
from support.opt_ml import split_80_10_10

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

BASE = {
    "binary": {"predictor_type": "binary_classifier", "epochs": 3, "mini_batch_size": 50, "num_models": 2},
    "regressor": {"predictor_type": "regressor", "epochs": 3, "mini_batch_size": 50, "num_models": 2},
    "multiclass": {
        "predictor_type": "multiclass_classifier",
        "num_classes": 3,
        "epochs": 3,
        "mini_batch_size": 20,
        "num_models": 2,
    },
}
# Weights stay at their init; uncentred data also keeps job.py from decorrelating (rotating) the
# features, so the stored scaled weights are the trained coordinates themselves.
FROZEN = {"learning_rate": 1e-9, "use_lr_scheduler": "false", "epochs": 1, "unbias_data": "false"}
SGD = {"optimizer": "sgd", "learning_rate": 0.01, "wd": 0.01}
DEBUG = {"_log_level": "debug", "num_models": 1}

RUNS: dict[str, tuple[str, dict]] = {
    "binary": ("binary", {}),
    "debug_schedule": (
        "binary",
        {
            **DEBUG,
            "mini_batch_size": 7,
            "epochs": 2,
            "learning_rate": 0.02,
            "lr_scheduler_step": 2,
            "lr_scheduler_factor": 0.5,
            "lr_scheduler_minimum_lr": 1e-3,
        },
    ),
    "no_scheduler": ("binary", {**DEBUG, "use_lr_scheduler": "false", "lr_scheduler_step": 2}),
    "init_uniform": ("binary", {**FROZEN, "init_scale": 2.0, "init_bias": 5.0}),
    "init_normal": ("binary", {**FROZEN, "init_method": "normal", "init_sigma": 3.0, "num_models": 1}),
    "no_bias": ("binary", {"use_bias": "false", "unbias_data": "true"}),
    "l1": ("binary", {"l1": 0.5}),
    "wd": ("binary", {"wd": 1.0}),
    "sgd": ("binary", SGD),
    "sgd_momentum": ("binary", {**SGD, "momentum": 0.9}),
    "sgd_bias_lr": ("binary", {**SGD, "bias_lr_mult": 1e-6}),
    "sgd_bias_wd": ("binary", {**SGD, "bias_wd_mult": 500}),
    "adam_beta_1": ("binary", {"beta_1": 0.3}),
    "adam_beta_2": ("binary", {"beta_2": 0.5}),
    "rmsprop": ("binary", {"optimizer": "rmsprop"}),
    "hinge": ("binary", {"loss": "hinge_loss"}),
    "hinge_margin": ("binary", {"loss": "hinge_loss", "margin": 5.0}),
    "raw_features": ("binary", {"normalize_data": "false", "unbias_data": "false"}),
    "scaler_10": ("binary", {"num_point_for_scaler": 10}),
    "models_5": ("binary", {"num_models": 5, "learning_rate": 0.5}),
    "calibration_10": ("binary", {"num_calibration_samples": 10}),
    "recall_097": (
        "binary",
        {"binary_classifier_model_selection_criteria": "precision_at_target_recall", "target_recall": 0.97},
    ),
    "recall_050": (
        "binary",
        {"binary_classifier_model_selection_criteria": "precision_at_target_recall", "target_recall": 0.5},
    ),
    "precision_099": (
        "binary",
        {
            "binary_classifier_model_selection_criteria": "recall_at_target_precision",
            "target_precision": 0.99,
        },
    ),
    "precision_060": (
        "binary",
        {"binary_classifier_model_selection_criteria": "recall_at_target_precision", "target_precision": 0.6},
    ),
    "f_beta_02": ("binary", {"binary_classifier_model_selection_criteria": "f_beta", "f_beta": 0.2}),
    "f_beta_5": ("binary", {"binary_classifier_model_selection_criteria": "f_beta", "f_beta": 5}),
    "positive_20": ("binary", {"positive_example_weight_mult": 20}),
    "positive_balanced": ("binary", {"positive_example_weight_mult": "balanced"}),
    "positive_auto": ("binary", {"positive_example_weight_mult": "auto", "num_models": 16}),
    "tuning": ("binary", {"_tuning_objective_metric": "validation:roc_auc_score", "num_models": 4}),
    "feature_dim_wrong": ("binary", {"feature_dim": 31}),
    "loss_wrong": ("binary", {"loss": "squared_loss"}),
    "regressor": ("regressor", {}),
    "raw_labels": ("regressor", {"normalize_label": "false", "unbias_label": "false"}),
    "quantile_01": ("regressor", {"loss": "quantile_loss", "quantile": 0.1, "epochs": 5}),
    "quantile_09": ("regressor", {"loss": "quantile_loss", "quantile": 0.9, "epochs": 5}),
    "eps_huge": ("regressor", {"loss": "eps_insensitive_absolute_loss", "loss_insensitivity": 1e6, "wd": 0}),
    "huber_small": ("regressor", {"loss": "huber_loss", "huber_delta": 1e-3}),
    "huber_huge": ("regressor", {"loss": "huber_loss", "huber_delta": 1e6}),
    "stop_fast": ("regressor", {"epochs": 5, "early_stopping_patience": 1, "early_stopping_tolerance": 10}),
    "patience_long": (
        "regressor",
        {"epochs": 5, "early_stopping_patience": 6, "early_stopping_tolerance": 10},
    ),
    "tolerance_tiny": (
        "regressor",
        {"epochs": 5, "early_stopping_patience": 1, "early_stopping_tolerance": 1e-9, "learning_rate": 0.001},
    ),
    "multiclass": ("multiclass", {"accuracy_top_k": 2}),
    "multiclass_balanced": ("multiclass", {"accuracy_top_k": 2, "balance_multiclass_weights": "true"}),
    "multiclass_4": ("multiclass", {"num_classes": 4}),
}


def _datasets() -> dict[str, dict]:
    out = {}
    for kind, loader in (
        ("binary", load_breast_cancer),
        ("regressor", load_diabetes),
        ("multiclass", load_wine),
    ):
        X, y = loader(return_X_y=True)
        tr, va, _ = split_80_10_10(X.astype(np.float32), y.astype(np.float32))
        out[kind] = {"train": tr, "validation": va}
    return out


@pytest.fixture(scope="module")
def data() -> dict[str, dict]:
    return _datasets()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data) -> dict[str, Run]:
    root = tmp_path_factory.mktemp("every_hp")

    def one(key: str) -> tuple[str, Run]:
        kind, overrides = RUNS[key]
        return key, train_job(root / key, {**BASE[kind], **overrides}, data[kind])

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(one, RUNS))


def _ok(run: Run) -> Run:
    assert run.returncode == 0, run.log[-3000:]
    return run


def _scheduled_lrs(run: Run) -> list[tuple[int, float]]:
    found = re.findall(r"update (\d+): learning_rate of model 0 = (\S+)", run.log)
    return [(int(t), float(lr)) for t, lr in found]


def _weights(run: Run) -> np.ndarray:
    return _ok(run).arrays["scaled_weights"]


def _differs(a: Run, b: Run) -> bool:
    return not np.allclose(_weights(a), _weights(b), rtol=1e-4, atol=1e-6)


# ---- general --------------------------------------------------------------------------------------
def test_predictor_type(runs):
    assert _ok(runs["binary"]).manifest["predictor_type"] == "binary_classifier"
    assert _ok(runs["regressor"]).manifest["predictor_type"] == "regressor"
    assert "mse" in runs["regressor"].metric_names("validation")
    assert "roc_auc_score" in runs["binary"].metric_names("validation")


def test_num_classes(runs):
    assert _ok(runs["multiclass"]).arrays["weights"].shape == (13, 3)
    assert _ok(runs["multiclass_4"]).arrays["weights"].shape == (13, 4)


def test_feature_dim(runs):
    assert _ok(runs["binary"]).manifest["feature_dim"] == 30
    wrong = runs["feature_dim_wrong"]
    assert wrong.returncode == 1 and "ClientError" in wrong.failure and "31" in wrong.failure


def test_loss_that_does_not_fit_the_predictor_type_names_the_allowed_ones(runs):
    wrong = runs["loss_wrong"]
    assert wrong.returncode == 1 and not wrong.arrays
    assert "squared_loss" in wrong.failure and "logistic" in wrong.failure and "hinge_loss" in wrong.failure


def test_loss_and_its_objective_name(runs):
    hinge = _ok(runs["hinge"])
    assert hinge.manifest["loss"] == "hinge_loss"
    assert "hinge_loss_objective" in hinge.metric_names("validation")
    assert "binary_classification_cross_entropy_objective" in runs["binary"].metric_names("validation")


def test_epochs_and_mini_batch_size(runs):
    debug = _ok(runs["debug_schedule"])
    assert debug.extra["epochs_run"] == 2 and len(debug.epoch_metrics("train")) == 2
    assert _ok(runs["binary"]).extra["epochs_run"] == 3
    # 455 training rows in batches of 7: 65 updates per epoch, logged every lr_scheduler_step=2
    updates = [t for t, _ in _scheduled_lrs(debug)]
    assert max(updates) == 2 * 65 - 2


# ---- optimizers and their settings ----------------------------------------------------------------
def test_optimizer(runs):
    assert _ok(runs["binary"]).manifest["selected_model"]["optimizer"] == "adam"
    for name in ("sgd", "rmsprop"):
        assert _ok(runs[name]).manifest["selected_model"]["optimizer"] == name
        assert _differs(runs[name], runs["binary"])


def test_learning_rate_set_by_the_user_is_used_by_every_model(runs):
    assert _ok(runs["models_5"]).manifest["selected_model"]["learning_rate"] == pytest.approx(0.5)
    assert _scheduled_lrs(runs["debug_schedule"])[0] == (0, pytest.approx(0.02))


def test_momentum(runs):
    assert _differs(runs["sgd_momentum"], runs["sgd"])


@pytest.mark.parametrize("key", ["adam_beta_1", "adam_beta_2"])
def test_adam_betas(runs, key):
    assert _differs(runs[key], runs["binary"])


def test_l1_gives_exact_zeros(runs):
    assert np.sum(_weights(runs["l1"]) == 0) >= 10
    assert np.sum(_weights(runs["binary"]) == 0) == 0


def test_wd_shrinks_the_weights(runs):
    assert np.linalg.norm(_weights(runs["wd"])) < 0.5 * np.linalg.norm(_weights(runs["binary"]))


def test_bias_lr_mult_and_bias_wd_mult(runs):
    b0 = abs(float(_ok(runs["sgd"]).arrays["scaled_bias"][0]))
    assert b0 > 0.05
    assert abs(float(_ok(runs["sgd_bias_lr"]).arrays["scaled_bias"][0])) < 1e-4
    assert abs(float(_ok(runs["sgd_bias_wd"]).arrays["scaled_bias"][0])) < 0.3 * b0


def test_use_bias_false_gives_bias_exactly_zero(runs):
    run = _ok(runs["no_bias"])
    assert np.all(run.arrays["bias"] == 0) and np.all(run.arrays["scaled_bias"] == 0)
    assert abs(float(runs["binary"].arrays["bias"][0])) > 0


def test_init_method_scale_sigma_and_bias(runs):
    uniform = _weights(runs["init_uniform"])
    assert np.abs(uniform).max() > 1.0
    assert np.abs(uniform).max() <= 2.0
    assert float(runs["init_uniform"].arrays["scaled_bias"][0]) == pytest.approx(5.0, abs=1e-3)
    normal = _weights(runs["init_normal"])
    assert normal.std() == pytest.approx(3.0, rel=0.35) and np.abs(normal).max() > 2.0
    assert float(runs["init_normal"].arrays["scaled_bias"][0]) == pytest.approx(0.0, abs=1e-3)


def test_lr_scheduler_step_factor_and_minimum(runs):
    pairs = _scheduled_lrs(_ok(runs["debug_schedule"]))
    assert len(pairs) > 20
    for t, lr in pairs:
        assert lr == pytest.approx(max(0.02 * 0.5 ** (t // 2), 1e-3), rel=1e-5)
    assert "DEBUG" in runs["debug_schedule"].log  # _log_level=debug


def test_use_lr_scheduler_false_keeps_the_rate(runs):
    pairs = _scheduled_lrs(_ok(runs["no_scheduler"]))
    assert len(pairs) > 5 and all(lr == pytest.approx(0.01) for _, lr in pairs)


# ---- scaling ------------------------------------------------------------------------------------
def test_normalize_data_and_unbias_data(runs):
    base, raw = _ok(runs["binary"]).arrays, _ok(runs["raw_features"]).arrays
    assert np.all(raw["feature_std"] == 1) and not np.all(base["feature_std"] == 1)
    assert np.all(raw["feature_mean"] == 0) and not np.all(base["feature_mean"] == 0)


def test_normalize_label_and_unbias_label(runs):
    base, raw = _ok(runs["regressor"]).manifest["scaler"], _ok(runs["raw_labels"]).manifest["scaler"]
    assert raw["label_std"] == 1 and base["label_std"] > 10
    assert raw["label_mean"] == 0 and base["label_mean"] > 100


def test_num_point_for_scaler(runs, data):
    X = data["binary"]["train"][0]
    std = _ok(runs["scaler_10"]).arrays["feature_std"]
    np.testing.assert_allclose(std, np.where(X[:10].std(axis=0) > 0, X[:10].std(axis=0), 1), rtol=1e-4)
    assert not np.allclose(runs["binary"].arrays["feature_std"], std, rtol=1e-3)


# ---- parallel models, selection, calibration -------------------------------------------------------
def _model_ids(run: Run) -> set[int]:
    return {int(m) for m in re.findall(r'"model": (\d+), "Host"', run.log)}


def test_num_models(runs):
    assert _model_ids(_ok(runs["models_5"])) == set(range(5))
    assert _model_ids(runs["binary"]) == {0, 1}


def test_tuning_objective_metric_forces_one_model_and_prints_the_metric(runs):
    run = _ok(runs["tuning"])
    assert _model_ids(run) == {0}
    assert re.search(r"#quality_metric: host=\S+, validation roc_auc_score <score>=\S+", run.log)


def test_num_calibration_samples(runs):
    assert _ok(runs["calibration_10"]).manifest["threshold"] != _ok(runs["binary"]).manifest["threshold"]


def test_selection_criterion_is_used_for_early_stopping_and_stored(runs):
    run = _ok(runs["recall_097"])
    assert run.extra["selection_criterion"] == "precision_at_target_recall"
    assert "criteria=sampled_precision_at_target_recall" in run.log
    assert "criteria=sampled_accuracy" in runs["binary"].log


def test_target_recall(runs):
    high, low = _ok(runs["recall_097"]).extra, _ok(runs["recall_050"]).extra
    assert high["selection_recall"] >= 0.97 and low["selection_recall"] >= 0.5
    assert high["selection_recall"] > low["selection_recall"]


def test_target_precision(runs):
    high, low = _ok(runs["precision_099"]).extra, _ok(runs["precision_060"]).extra
    assert high["selection_precision"] >= 0.99 and low["selection_precision"] >= 0.6
    assert high["selection_precision"] > low["selection_precision"]


def test_f_beta(runs):
    small, large = _ok(runs["f_beta_02"]), _ok(runs["f_beta_5"])
    assert "binary_f_0.200" in small.metric_names("validation")
    assert "binary_f_5.000" in large.metric_names("validation")
    assert small.manifest["threshold"] > large.manifest["threshold"]  # precision-heavy vs recall-heavy


def test_positive_example_weight_mult(runs, data):
    assert _ok(runs["positive_20"]).manifest["selected_model"]["positive_example_weight_mult"] == 20
    assert _differs(runs["positive_20"], runs["binary"])
    y = data["binary"]["train"][1]
    ratio = float((y == 0).sum() / (y == 1).sum())
    balanced = _ok(runs["positive_balanced"]).manifest["selected_model"]["positive_example_weight_mult"]
    assert balanced == pytest.approx(ratio, rel=1e-5)
    auto = _ok(runs["positive_auto"]).manifest["selected_model"]["positive_example_weight_mult"]
    assert min(abs(auto - ratio ** (p / 3)) for p in range(4)) < 1e-4


def test_balance_multiclass_weights(runs):
    balanced = _ok(runs["multiclass_balanced"])
    assert "balance_multiclass_weights: class weights" in balanced.log
    assert _differs(balanced, runs["multiclass"])


def test_accuracy_top_k(runs):
    assert "multiclass_top_k_accuracy_2" in _ok(runs["multiclass"]).metric_names("validation")
    assert "multiclass_top_k_accuracy_3" in _ok(runs["multiclass_4"]).metric_names("validation")


# ---- early stopping ---------------------------------------------------------------------------------
def test_early_stopping_patience_and_tolerance(runs):
    assert _ok(runs["stop_fast"]).extra["epochs_run"] == 2
    assert "Early stop condition met" in runs["stop_fast"].log
    assert _ok(runs["patience_long"]).extra["epochs_run"] == 5  # patience > epochs: never stops
    assert _ok(runs["tolerance_tiny"]).extra["epochs_run"] == 5


# ---- loss parameters ----------------------------------------------------------------------------------
def test_margin(runs):
    assert _differs(runs["hinge_margin"], runs["hinge"])


def test_quantile(runs, data):
    X, y = data["regressor"]["train"]
    low = _ok(runs["quantile_01"]).predict_raw(X)[:, 0]
    high = _ok(runs["quantile_09"]).predict_raw(X)[:, 0]
    assert np.mean(y <= low) < 0.35 < 0.65 < np.mean(y <= high)


def test_loss_insensitivity(runs):
    huge = _ok(runs["eps_huge"])
    assert np.all(huge.arrays["scaled_bias"] == 0)  # every residual inside epsilon: nothing to learn
    assert not np.all(_ok(runs["regressor"]).arrays["scaled_bias"] == 0)


def test_huber_delta(runs):
    assert _differs(runs["huber_small"], runs["huber_huge"])
