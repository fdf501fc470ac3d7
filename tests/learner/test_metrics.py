"""Every metric of reference §5 against scikit-learn's implementation of the same definition."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from linear_learner.learner import metrics as M


def _binary(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.float32)
    scores = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1).round(2).astype(np.float32)  # ties on purpose
    return y, scores


def _multiclass(n: int = 300, k: int = 5, seed: int = 0, absent: int | None = None):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, size=n)
    if absent is not None:
        y[y == absent] = (absent + 1) % k
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y.astype(np.float32), probs.astype(np.float32)


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_binary_metrics_match_scikit_learn(beta):
    y, s = _binary()
    out = M.binary_metrics(y, s, threshold=0.45, beta=beta)
    pred = (s > 0.45).astype(int)
    assert out["binary_classification_accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert out["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert out["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert out[f"binary_f_{beta:.3f}"] == pytest.approx(skm.fbeta_score(y, pred, beta=beta))
    assert out["roc_auc_score"] == pytest.approx(skm.roc_auc_score(y, s))


def test_binary_metric_names_carry_beta_with_three_decimals():
    y, s = _binary()
    assert list(M.binary_metrics(y, s, 0.5, 0.5)) == [
        "binary_classification_accuracy",
        "binary_f_0.500",
        "precision",
        "recall",
        "roc_auc_score",
    ]


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("absent", [None, 2])
@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_multiclass_metrics_match_scikit_learn(beta, absent):
    y, p = _multiclass(absent=absent)
    k = p.shape[1]
    out = M.multiclass_metrics(y, p, top_k=2, beta=beta)
    pred = p.argmax(axis=1)
    assert out["multiclass_accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert out["multiclass_top_k_accuracy_2"] == pytest.approx(
        skm.top_k_accuracy_score(y, p, k=2, labels=range(k))
    )
    for name, fn in (("macro_recall", skm.recall_score), ("macro_precision", skm.precision_score)):
        assert out[name] == pytest.approx(fn(y, pred, average="macro", zero_division=0)), name
    assert out[f"macro_f_{beta:.3f}"] == pytest.approx(
        skm.fbeta_score(y, pred, beta=beta, average="macro", zero_division=0)
    )
    assert out["multiclass_balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert out["multiclass_log_loss"] == pytest.approx(skm.log_loss(y, p, labels=range(k)), rel=1e-5)
    onehot = np.eye(k)[y.astype(int)]
    assert out["dcg"] == pytest.approx(skm.dcg_score(onehot, p))


def test_multiclass_metric_names():
    y, p = _multiclass()
    assert list(M.multiclass_metrics(y, p, top_k=3, beta=2.0)) == [
        "multiclass_accuracy",
        "multiclass_top_k_accuracy_3",
        "dcg",
        "macro_recall",
        "macro_precision",
        "macro_f_2.000",
        "multiclass_balanced_accuracy",
        "multiclass_log_loss",
    ]


def test_regression_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200).astype(np.float32)
    s = (y + rng.normal(scale=0.5, size=200)).astype(np.float32)
    out = M.regression_metrics(y, s)
    assert out["mse"] == pytest.approx(skm.mean_squared_error(y, s), rel=1e-6)
    assert out["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, s)), rel=1e-6)
    assert out["absolute_loss"] == pytest.approx(skm.mean_absolute_error(y, s), rel=1e-6)


def test_roc_auc_with_one_class_is_one_half():
    assert M.roc_auc(np.ones(5), np.linspace(0, 1, 5)) == 0.5
