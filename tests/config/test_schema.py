"""The hyperparameter table: complete, self-consistent, and what the README shows."""

from __future__ import annotations

import dataclasses

import pytest

from linear_learner.config import schema
from linear_learner.config.hyperparams import Hyperparameters, default_configuration, parse_value
from linear_learner.config.schema import PARAMS, Kind, Range, render_markdown_table

# Reference §1.2, every row (beta_1/beta_2 and target_recall/target_precision share rows there).
REFERENCE_NAMES = [
    "predictor_type",
    "num_classes",
    "feature_dim",
    "mini_batch_size",
    "epochs",
    "optimizer",
    "loss",
    "learning_rate",
    "l1",
    "wd",
    "momentum",
    "beta_1",
    "beta_2",
    "bias_lr_mult",
    "bias_wd_mult",
    "use_bias",
    "init_method",
    "init_scale",
    "init_sigma",
    "init_bias",
    "use_lr_scheduler",
    "lr_scheduler_step",
    "lr_scheduler_factor",
    "lr_scheduler_minimum_lr",
    "normalize_data",
    "normalize_label",
    "unbias_data",
    "unbias_label",
    "num_point_for_scaler",
    "num_models",
    "num_calibration_samples",
    "binary_classifier_model_selection_criteria",
    "target_recall",
    "target_precision",
    "f_beta",
    "positive_example_weight_mult",
    "balance_multiclass_weights",
    "accuracy_top_k",
    "early_stopping_patience",
    "early_stopping_tolerance",
    "margin",
    "quantile",
    "loss_insensitivity",
    "huber_delta",
]
# Our own additions after the reference rows.
EXTENSION_NAMES = ["class_names"]


def test_table_has_every_reference_row_once() -> None:
    names = [p.name for p in PARAMS]
    assert names == REFERENCE_NAMES + EXTENSION_NAMES


def test_dataclass_has_one_attribute_per_row_in_order() -> None:
    fields = [f.name for f in dataclasses.fields(Hyperparameters)]
    assert fields[: len(PARAMS)] == REFERENCE_NAMES + EXTENSION_NAMES
    assert fields[len(PARAMS) :] == ["tuning_objective_metric", "log_level", "user_set", "raw", "warnings"]


@pytest.mark.parametrize("param", PARAMS, ids=lambda p: p.name)
def test_every_default_is_valid_under_its_own_rules(param: schema.Param) -> None:
    if param.default is None:
        assert param.name in ("predictor_type", "num_classes")
        return
    value, problem = parse_value(param, param.default)
    assert problem is None
    if param.default == "auto":
        assert param.auto is not None and param.auto_doc


def test_reference_defaults() -> None:
    d = default_configuration()
    assert "predictor_type" not in d and "num_classes" not in d
    expected = {"mini_batch_size": "1000", "epochs": "15", "use_bias": "true", "init_scale": "0.07"}
    expected |= {"normalize_data": "true", "num_point_for_scaler": "10000", "target_recall": "0.8"}
    expected |= {
        "positive_example_weight_mult": "1.0",
        "early_stopping_tolerance": "0.001",
        "quantile": "0.5",
    }
    assert {k: d[k] for k in expected} == expected
    assert all(isinstance(v, str) for v in d.values())


def test_losses_and_metrics_cover_every_predictor_type() -> None:
    assert set(schema.LOSSES_BY_TYPE) == set(schema.PREDICTOR_TYPES) == set(schema.TUNING_METRICS)
    loss_row = schema.BY_NAME["loss"]
    assert set(loss_row.choices) == {"auto"} | {x for v in schema.LOSSES_BY_TYPE.values() for x in v}
    assert all("objective_loss" in m for m in schema.TUNING_METRICS.values())


@pytest.mark.parametrize(
    ("rng", "inside", "outside", "text"),
    [
        (schema.GT0, [1e-9, 5], [0, -1], "> 0"),
        (schema.GE0, [0, 3], [-1e-9], ">= 0"),
        (schema.UNIT_OPEN, [0.5], [0, 1], "in (0, 1)"),
        (schema.UNIT_HALF_OPEN, [0, 0.99], [1, -0.1], "in [0, 1)"),
        (Range(lo=3, hi=1_000_000), [3, 1_000_000], [2, 1_000_001], "in [3, 1000000]"),
    ],
)
def test_ranges(rng: Range, inside: list, outside: list, text: str) -> None:
    assert all(rng.contains(x) for x in inside)
    assert not any(rng.contains(x) for x in outside)
    assert rng.describe() == text


def test_auto_rules_only_look_at_rows_above() -> None:
    """Resolution is one pass in table order, so each rule's inputs must be resolved first."""
    order = {p.name: i for i, p in enumerate(PARAMS)}
    assert order["optimizer"] < order["learning_rate"]
    assert order["use_bias"] < order["unbias_data"] < order["unbias_label"]
    assert order["predictor_type"] < order["loss"]


def test_kinds_cover_what_the_table_needs() -> None:
    kinds = {p.kind for p in PARAMS}
    assert kinds == set(Kind)
    assert schema.BY_NAME["positive_example_weight_mult"].tokens == ("auto", "balanced")


def test_markdown_table_renders_every_row() -> None:
    text = render_markdown_table()
    lines = text.strip().splitlines()
    assert lines[0] == "| name | type / allowed | default | `auto` | description |"
    assert len(lines) == 2 + len(PARAMS)
    for p, line in zip(PARAMS, lines[2:], strict=True):
        assert line.startswith(f"| `{p.name}` | ") and line.count(" | ") == 4
    assert "| `learning_rate` | a number > 0 or 'auto' | `auto` | adam 0.01, rmsprop 0.01, sgd 0.1 |" in text
    assert "`f1` → `f_beta`" in text
