"""Each loss end to end against the mathematics on synthetic data with a known answer, and against
scikit-learn where it implements the same objective.

(Named test_loss_behaviour.py rather than test_losses.py: pytest's default import mode needs unique
basenames and tests/learner/test_losses.py holds the unit tests.)
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.linear_model import HuberRegressor, LinearRegression, QuantileRegressor
from sklearn.svm import LinearSVC

from support.jobs import Run, train_job

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

TRUE_W, TRUE_B = np.array([2.0, -1.0]), 3.0
COMMON = {"epochs": 15, "mini_batch_size": 20, "num_models": 4}


def _regression(outliers: bool, seed: int = 0, spread: bool = False):
    """Noise uniform in ±0.2 (inside every epsilon band), or N(0, 1) for a well-resolved quantile."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, 2)).astype(np.float32)
    noise = rng.normal(size=400) if spread else rng.uniform(-0.2, 0.2, size=400)
    y = X @ TRUE_W + TRUE_B + noise
    if outliers:
        y[rng.random(400) < 0.05] += 50.0  # gross outliers, all on one side
    return X, y.astype(np.float32)


def _separable(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 2)).astype(np.float32)
    score = X @ np.array([1.5, -1.0])
    keep = np.abs(score) > 0.5  # a clear gap between the classes
    return X[keep], (score[keep] > 0).astype(np.float32)


CASES = {
    "squared": ("regressor", {"loss": "squared_loss"}, True),
    "absolute": ("regressor", {"loss": "absolute_loss"}, True),
    "huber": ("regressor", {"loss": "huber_loss", "huber_delta": 1.0}, True),
    # a smaller step and more passes: the pinball subgradient keeps adam jittering around the quantile
    "quantile": (
        "regressor",
        {"loss": "quantile_loss", "quantile": 0.9, "learning_rate": 0.003, "epochs": 30},
        "spread",
    ),
    "eps_absolute": (
        "regressor",
        {"loss": "eps_insensitive_absolute_loss", "loss_insensitivity": 0.5},
        False,
    ),
    "eps_squared": ("regressor", {"loss": "eps_insensitive_squared_loss", "loss_insensitivity": 0.5}, False),
    "hinge": ("binary_classifier", {"loss": "hinge_loss"}, None),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Run]:
    root = tmp_path_factory.mktemp("losses")

    def one(key: str) -> tuple[str, Run]:
        ptype, hp, outliers = CASES[key]
        data = (
            _separable() if outliers is None else _regression(outliers is True, spread=outliers == "spread")
        )
        return key, train_job(root / key, {"predictor_type": ptype, **COMMON, **hp}, {"train": data})

    with ThreadPoolExecutor(max_workers=3) as pool:
        out = dict(pool.map(one, CASES))
    for key, run in out.items():
        assert run.returncode == 0, (key, run.log[-3000:])
    return out


def _fit_line(run: Run) -> tuple[np.ndarray, float]:
    return run.arrays["weights"][:, 0].astype(np.float64), float(run.arrays["bias"][0])


def test_absolute_and_huber_ignore_gross_outliers_that_pull_squared_loss(runs):
    X, y = _regression(True)
    w_sq, b_sq = _fit_line(runs["squared"])
    ols = LinearRegression().fit(X, y)
    assert b_sq == pytest.approx(ols.intercept_, abs=0.2)  # squared loss = least squares
    assert b_sq - TRUE_B > 1.5  # pulled up by the 5 % outliers (about 0.05 * 50)
    huber = HuberRegressor(epsilon=1.35, alpha=0.0).fit(X, y)
    for key in ("absolute", "huber"):
        w, b = _fit_line(runs[key])
        assert b == pytest.approx(TRUE_B, abs=0.3), key
        np.testing.assert_allclose(w, TRUE_W, atol=0.2, err_msg=key)
        assert b == pytest.approx(huber.intercept_, abs=0.3)


def test_quantile_090_covers_about_90_percent_like_scikit_learn(runs):
    X, y = _regression(False, spread=True)
    pred = runs["quantile"].predict_raw(X)[:, 0]
    assert np.mean(y <= pred) == pytest.approx(0.9, abs=0.05)
    sk = QuantileRegressor(quantile=0.9, alpha=0.0, solver="highs").fit(X, y)
    assert np.mean(np.abs(pred - sk.predict(X))) < 0.2


@pytest.mark.parametrize("key", ["eps_absolute", "eps_squared"])
def test_eps_insensitive_losses_leave_residuals_under_epsilon_unpenalised(runs, key):
    run = runs[key]
    objective = run.metric("train", f"{run.manifest['loss']}_objective")
    mae = run.metric("train", "absolute_loss")
    assert objective < 0.01 < mae < 0.5  # residuals remain, but all inside the 0.5 band cost nothing


def test_hinge_separates_separable_data_with_a_raw_margin_score(runs):
    X, y = _separable()
    run = runs["hinge"]
    f = run.predict_raw(X)[:, 0]
    threshold = run.manifest["threshold"]
    assert np.mean((f > threshold) == (y == 1)) == 1.0
    assert f.max() > 1.0 and f.min() < 0.0  # a margin score, not a probability
    assert run.metric("train", "binary_classification_accuracy") == 1.0
    assert LinearSVC(C=10.0).fit(X, y).score(X, y) == 1.0  # same objective family, same verdict
    assert np.mean(f[y == 1] >= 0.9) > 0.9  # positives pushed to the margin f >= 1 (m = 1)
