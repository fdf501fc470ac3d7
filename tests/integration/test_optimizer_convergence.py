"""Each optimizer reaches scikit-learn's optimum on a convex problem; L1 zeroes irrelevant features.

Logistic regression on a well-posed synthetic problem (labels drawn from a logistic model, so the
unregularised optimum is finite), with correlated features on very different scales. With wd = 0
and l1 = 0 the objective (mean log loss) does not depend on how the product scales or decorrelates
the features, so the artifact's folded weights (weights.npy, bias.npy, original units) are scored
on the training rows with numpy and compared with LogisticRegression(C=inf)'s optimum.

With l1 set (which keeps the features undecorrelated, training/job.py) the objective is
mean log loss + l1 * ||w * feature_std||_1 (reference §6: the penalty acts on scaled features),
which is LogisticRegression(l1_ratio=1, C=1/(n * l1)) on standardised features.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from support.jobs import Run, train_job

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

EPOCHS = 20
COMMON = {
    "predictor_type": "binary_classifier",
    "num_models": 1,
    "epochs": EPOCHS,
    "mini_batch_size": 50,
    "wd": 0.0,
    "early_stopping_patience": EPOCHS + 1,  # patience > epochs: never stops early
    "binary_classifier_model_selection_criteria": "loss_function",
}
OPTIMIZERS = {
    "sgd": {"optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.01},
    "adam": {"optimizer": "adam", "learning_rate": 0.01},
    "rmsprop": {"optimizer": "rmsprop", "learning_rate": 0.003},
}
L1 = 0.03
NOISE_COLUMNS = 10
L1_RUN = {"optimizer": "adam", "learning_rate": 0.01, "l1": L1, "mini_batch_size": 200}


def _problem(n: int = 2000, seed: int = 0, noise_columns: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Six correlated features (pairwise 0.64) on scales 0.1..100, labels ~ Bernoulli(sigmoid(x.w))."""
    rng = np.random.default_rng(seed)
    latent = 0.8 * rng.normal(size=(n, 1)) + 0.6 * rng.normal(size=(n, 6))
    logit = latent @ np.array([1.5, -1.0, 0.5, 0.0, 1.0, -0.5]) + 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    X = latent * np.array([1.0, 10.0, 0.1, 100.0, 2.0, 0.5]) + np.array([0, 5, -1, 50, 0, 3])
    if noise_columns:
        X = np.hstack([X, 3 * rng.normal(size=(n, noise_columns))])
    return X.astype(np.float32), y


def _objective(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, l1_std: np.ndarray | None = None
) -> float:
    f = X.astype(np.float64) @ w + b
    value = float(np.mean(np.logaddexp(0.0, f) - y * f))
    return value if l1_std is None else value + L1 * float(np.abs(w * l1_std).sum())


def _folded(run: Run) -> tuple[np.ndarray, float]:
    return run.arrays["weights"][:, 0].astype(np.float64), float(run.arrays["bias"][0])


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Run]:
    root = tmp_path_factory.mktemp("optimizers")
    jobs = {**OPTIMIZERS, "l1": L1_RUN}

    def one(key: str) -> tuple[str, Run]:
        data = _problem(noise_columns=NOISE_COLUMNS if key == "l1" else 0)
        return key, train_job(root / key, {**COMMON, **jobs[key]}, {"train": data})

    with ThreadPoolExecutor(max_workers=3) as pool:
        out = dict(pool.map(one, jobs))
    for key, run in out.items():
        assert run.returncode == 0, (key, run.log[-3000:])
    return out


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_optimizer_reaches_the_scikit_learn_optimum_within_1_percent(runs, name):
    X, y = _problem()
    sk = LogisticRegression(C=np.inf, tol=1e-12, max_iter=100_000).fit(X.astype(np.float64), y)
    optimum = _objective(X, y, sk.coef_[0], float(sk.intercept_[0]))
    ours = _objective(X, y, *_folded(runs[name]))
    assert runs[name].manifest["selected_model"]["optimizer"] == name
    assert runs[name].extra["epochs_run"] == EPOCHS
    assert ours >= optimum - 1e-6  # the same objective: nothing beats its minimum
    assert (ours - optimum) / optimum < 0.01


def test_l1_gives_exact_zeros_on_irrelevant_features_at_the_l1_optimum(runs):
    X, y = _problem(noise_columns=NOISE_COLUMNS)
    run = runs["l1"]
    std = run.arrays["feature_std"].astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # saga's convergence chatter
        sk = LogisticRegression(l1_ratio=1.0, C=1 / (len(y) * L1), solver="saga", tol=1e-10, max_iter=100_000)
        sk.fit(X.astype(np.float64) / std, y)
    assert np.all(sk.coef_[0][-NOISE_COLUMNS:] == 0)  # the optimum itself drops the noise columns
    w, b = _folded(run)
    assert np.all(w[-NOISE_COLUMNS:] == 0.0)  # exactly zero, in the served weights
    assert np.all(run.arrays["scaled_weights"][-NOISE_COLUMNS:, 0] == 0.0)
    assert np.all(w[[0, 1, 4]] != 0.0)  # the strong true features survive
    optimum = _objective(X, y, sk.coef_[0] / std, float(sk.intercept_[0]), std)
    ours = _objective(X, y, w, b, std)
    assert ours >= optimum - 1e-6 and (ours - optimum) / optimum < 0.01
