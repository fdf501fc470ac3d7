"""Every loss against its formula (reference §2), its gradient against finite differences, and the
stacked (B, K, M) layout against M separate single-model calls."""

from __future__ import annotations

import numpy as np
import pytest

from linear_learner.learner.losses import (
    BINARY_LOSSES,
    MULTICLASS_LOSSES,
    REGRESSION_LOSSES,
    make_loss,
    objective_name,
)

ALL_LOSSES = REGRESSION_LOSSES + BINARY_LOSSES + MULTICLASS_LOSSES
PARAMS = dict(margin=1.5, quantile=0.8, loss_insensitivity=0.3, huber_delta=0.7)
KINKS = {  # |e| at which a loss is not differentiable: finite differences must stay clear of them
    "absolute_loss": [0.0],
    "eps_insensitive_squared_loss": [0.3],
    "eps_insensitive_absolute_loss": [0.3],
    "quantile_loss": [0.0],
    "huber_loss": [0.7],
}


def _problem(name: str, B: int = 40, M: int = 3, seed: int = 0):
    """Scores (B, K, M) float64, labels in the product's convention, per-model weights (B, M)."""
    rng = np.random.default_rng(seed)
    K = 4 if name in MULTICLASS_LOSSES else 1
    S = rng.normal(0.0, 1.5, size=(B, K, M))
    if name in REGRESSION_LOSSES:
        y = rng.normal(0.0, 1.5, size=B)
        for kink in KINKS.get(name, []):  # push |f - y| at least 0.05 away from every kink
            e = S[:, 0, :] - y[:, None]
            near = np.abs(np.abs(e) - kink) < 0.05
            S[:, 0, :] += np.where(near, 0.1 * np.sign(e + 1e-9), 0.0)
    elif name in BINARY_LOSSES:
        y = rng.integers(0, 2, size=B).astype(np.float64)
        if name == "hinge_loss":  # kinks at f = (m+1)/2 for positives and f = -(m-1)/2 for negatives
            for kink in (1.25, -0.25):
                near = np.abs(S[:, 0, :] - kink) < 0.05
                S[:, 0, :] += np.where(near, 0.1, 0.0)
    else:
        y = rng.integers(0, K, size=B).astype(np.float64)
    w = rng.uniform(0.5, 2.0, size=(B, M))
    return S, y, w


def _reference_value(name: str, f: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Reference §2 formulas, written independently of the implementation (f: (B,), y: (B,))."""
    e = f - y
    eps, delta, q, m = 0.3, 0.7, 0.8, 1.5
    return {
        "squared_loss": e**2,
        "absolute_loss": np.abs(e),
        "eps_insensitive_squared_loss": np.maximum(0, e**2 - eps**2),
        "eps_insensitive_absolute_loss": np.maximum(0, np.abs(e) - eps),
        "huber_loss": np.where(np.abs(e) < delta, e**2 / 2, delta * np.abs(e) - delta**2 / 2),
        "quantile_loss": q * np.maximum(y - f, 0) + (1 - q) * np.maximum(f - y, 0),
        "logistic": -(y * np.log(1 / (1 + np.exp(-f))) + (1 - y) * np.log(1 - 1 / (1 + np.exp(-f)))),
        "hinge_loss": y * np.maximum((m + 1) / 2 - f, 0) + (1 - y) * np.maximum((m - 1) / 2 + f, 0),
    }[name]


@pytest.mark.parametrize("name", REGRESSION_LOSSES + BINARY_LOSSES)
def test_value_matches_the_reference_formula(name):
    S, y, w = _problem(name)
    loss = make_loss(name, **PARAMS)
    value = loss.value(S, y, w)
    for m in range(S.shape[2]):
        np.testing.assert_allclose(value[:, m], w[:, m] * _reference_value(name, S[:, 0, m], y), rtol=1e-6)


def test_softmax_value_is_weighted_negative_log_probability():
    S, y, w = _problem("softmax_loss")
    value = make_loss("softmax_loss").value(S, y, w)
    p = np.exp(S) / np.exp(S).sum(axis=1, keepdims=True)
    expected = -np.log(p[np.arange(len(y)), y.astype(int), :]) * w
    np.testing.assert_allclose(value, expected, rtol=1e-6)


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_gradient_matches_finite_differences(name):
    S, y, w = _problem(name)
    loss = make_loss(name, **PARAMS)
    _, G = loss.value_and_grad(S, y, w)
    assert G.shape == S.shape
    h = 1e-6
    numeric = np.empty_like(S)
    for k in range(S.shape[1]):
        Sp, Sm = S.copy(), S.copy()
        Sp[:, k, :] += h
        Sm[:, k, :] -= h
        numeric[:, k, :] = (loss.value(Sp, y, w) - loss.value(Sm, y, w)) / (2 * h)
    np.testing.assert_allclose(G, numeric, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_stacked_models_equal_separate_single_model_calls(name):
    S, y, w = _problem(name, M=5)
    loss = make_loss(name, **PARAMS)
    value, G = loss.value_and_grad(S, y, w)
    for m in range(5):
        v1, g1 = loss.value_and_grad(S[:, :, m : m + 1].copy(), y, w[:, m : m + 1].copy())
        np.testing.assert_array_equal(value[:, m : m + 1], v1)
        np.testing.assert_array_equal(G[:, :, m : m + 1], g1)


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_shared_weight_column_broadcasts_over_models(name):
    """w (B, 1) means every model weighs the row the same: equal to tiling it to (B, M)."""
    S, y, w = _problem(name, M=4)
    loss = make_loss(name, **PARAMS)
    v1, g1 = loss.value_and_grad(S, y, w[:, :1].copy())
    v2, g2 = loss.value_and_grad(S, y, np.repeat(w[:, :1], 4, axis=1))
    np.testing.assert_allclose(v1, v2)
    np.testing.assert_allclose(g1, g2)


@pytest.mark.parametrize("name", REGRESSION_LOSSES + BINARY_LOSSES)
def test_float32_scores_keep_float32(name):
    S, y, w = _problem(name)
    loss = make_loss(name, **PARAMS)
    value, G = loss.value_and_grad(S.astype(np.float32), y.astype(np.float32), w.astype(np.float32))
    assert value.dtype == np.float32 and G.dtype == np.float32


@pytest.mark.filterwarnings("error")
def test_logistic_is_finite_for_huge_scores():
    S = np.array([[[-1e4, 1e4]]], np.float32).reshape(1, 1, 2)
    value, G = make_loss("logistic").value_and_grad(
        S, np.array([1.0], np.float32), np.ones((1, 1), np.float32)
    )
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(G))
    assert value[0, 0] == pytest.approx(1e4) and value[0, 1] == pytest.approx(0.0)


def test_hinge_margin_one_wants_positives_at_one_and_negatives_at_zero():
    loss = make_loss("hinge_loss", margin=1.0)
    f = np.array([1.0, 0.999, 0.0, 0.001]).reshape(4, 1, 1)
    y = np.array([1.0, 1.0, 0.0, 0.0])
    value = loss.value(f, y, np.ones((4, 1)))[:, 0]
    assert value[0] == 0 and value[1] > 0 and value[2] == 0 and value[3] > 0


def test_quantile_gradient_sign_moves_prediction_towards_the_quantile():
    """Under-prediction costs q per unit, over-prediction 1 - q: the minimiser is the q-quantile (D4)."""
    y = np.linspace(0, 1, 101)
    loss = make_loss("quantile_loss", quantile=0.9)
    candidates = np.linspace(0, 1, 201)
    totals = [loss.value(np.full((101, 1, 1), c), y, np.ones((101, 1))).sum() for c in candidates]
    assert candidates[int(np.argmin(totals))] == pytest.approx(0.9, abs=0.01)


def test_label_unit_parameters_are_rescaled_once():
    loss = make_loss("huber_loss", huber_delta=2.0, loss_insensitivity=0.5, label_scale=4.0)
    assert loss.delta == pytest.approx(0.5) and loss.epsilon == pytest.approx(0.125)


@pytest.mark.parametrize(
    ("loss", "name"),
    [
        ("logistic", "binary_classification_cross_entropy_objective"),
        ("squared_loss", "mse_objective"),
        ("softmax_loss", "multiclass_cross_entropy_objective"),
        ("hinge_loss", "hinge_loss_objective"),
        ("quantile_loss", "quantile_loss_objective"),
        ("absolute_loss", "absolute_loss_objective"),
        ("huber_loss", "huber_loss_objective"),
        ("eps_insensitive_squared_loss", "eps_insensitive_squared_loss_objective"),
        ("eps_insensitive_absolute_loss", "eps_insensitive_absolute_loss_objective"),
    ],
)
def test_objective_names(loss, name):
    assert objective_name(loss) == name == make_loss(loss).objective_name


def test_every_loss_has_a_distinct_objective_name():
    names = [objective_name(loss) for loss in ALL_LOSSES]
    assert len(set(names)) == len(ALL_LOSSES) and all(n.endswith("_objective") for n in names)


def test_unknown_loss_is_rejected():
    with pytest.raises(ValueError, match="unknown loss"):
        make_loss("cauchy_loss")


def test_softmax_unit_weight_shortcut_equals_the_weighted_path():
    """(B, 1) ones take the multiply-free path; (B, M) ones take the general one: same numbers."""
    rng = np.random.default_rng(3)
    S = (rng.normal(size=(50, 4, 6)) * 4).astype(np.float32)
    y = rng.integers(0, 4, 50).astype(np.float32)
    loss = make_loss("softmax_loss")
    unit_value, unit_grad = loss.value_and_grad(S, y, np.ones((50, 1), np.float32))
    value, grad = loss.value_and_grad(S, y, np.ones((50, 6), np.float32))
    np.testing.assert_allclose(unit_value, value, rtol=1e-6)
    np.testing.assert_allclose(unit_grad, grad, atol=1e-7)
