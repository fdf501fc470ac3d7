"""hyperparameters.json strings -> Hyperparameters: encodings, auto, cross-field rules, one error,
and the exact strings the SageMaker Python SDK sends."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linear_learner.config.hyperparams import Hyperparameters, default_configuration, parse_hyperparameters
from linear_learner.config.schema import LOSSES_BY_TYPE, PARAMS, TUNING_METRICS
from linear_learner.errors import ClientError

BIN = {"predictor_type": "binary_classifier"}
REG = {"predictor_type": "regressor"}
MC = {"predictor_type": "multiclass_classifier", "num_classes": "3"}


def parse(**kw: object) -> Hyperparameters:
    return parse_hyperparameters({k: v for k, v in kw.items()})


def error(raw: dict) -> str:
    with pytest.raises(ClientError) as err:
        parse_hyperparameters(raw)
    return str(err.value)


# ---- encodings (reference §1.1, P09) ----


@pytest.mark.parametrize(
    ("text", "value"),
    [("True", True), ("true", True), ("TRUE", True), ("False", False), ("false", False), ('"false"', False)],
)
def test_booleans_any_case_and_json_quoted(text: str, value: bool) -> None:
    assert parse(**BIN, use_bias=text).use_bias is value


@pytest.mark.parametrize("text", ["1", "0", "yes", "no", "t", "", "True!"])
def test_booleans_nothing_else(text: str) -> None:
    assert "use_bias: must be true or false" in error({**BIN, "use_bias": text})


def test_plain_and_json_encoded_configs_train_the_same_model() -> None:
    plain = parse_hyperparameters(
        {"predictor_type": "binary_classifier", "use_bias": "False", "optimizer": "adam"}
    )
    dumped = parse_hyperparameters(
        {
            k: json.dumps(v)
            for k, v in {
                "predictor_type": "binary_classifier",
                "use_bias": False,
                "optimizer": "adam",
            }.items()
        }
    )
    assert plain.as_log_dict() == dumped.as_log_dict()
    assert parse(**BIN, optimizer='"adam"').optimizer == "adam"
    assert parse(**BIN, epochs='"2"').epochs == 2
    assert parse(**BIN, optimizer='  " ADAM " ').optimizer == "adam"


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("learning_rate", "1e-05", 1e-05),
        ("learning_rate", " 0.1 ", 0.1),
        ("epochs", "10", 10),
        ("epochs", "10.0", 10),
        ("epochs", "1e1", 10),
        ("mini_batch_size", "+200", 200),
        ("num_calibration_samples", "123456789012345678901", 123456789012345678901),
        ("init_bias", "-2.5", -2.5),
        ("wd", "0", 0.0),
    ],
)
def test_numbers_in_python_float_syntax(name: str, text: str, value: object) -> None:
    got = getattr(parse(**BIN, **{name: text}), name)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("epochs", "10.5", "epochs: not an integer ('10.5')"),
        ("epochs", "abc", "epochs: not an integer ('abc')"),
        ("epochs", "0", "epochs: must be an integer >= 1 (got '0')"),
        ("learning_rate", "nan", "learning_rate: must be a finite number (got 'nan')"),
        ("learning_rate", "inf", "learning_rate: must be a finite number (got 'inf')"),
        ("learning_rate", "1e999", "learning_rate: must be a finite number"),
        ("learning_rate", "-1", "learning_rate: must be a number > 0 or 'auto' (got '-1')"),
        ("learning_rate", "fast", "learning_rate: not a number or 'auto' ('fast')"),
        ("momentum", "1", "momentum: must be a number in [0, 1) or 'auto' (got '1')"),
        ("target_recall", "0", "target_recall: must be a number in (0, 1) (got '0')"),
        ("optimizer", "AdamW", "optimizer: must be one of auto, sgd, adam, rmsprop (got 'adamw')"),
        ("positive_example_weight_mult", "0", "must be a number > 0 or 'auto' or 'balanced' (got '0')"),
        ("init_method", '"xavier"', "init_method: must be one of uniform, normal (got 'xavier')"),
    ],
)
def test_bad_values_quote_value_and_allowed_set(name: str, text: str, message: str) -> None:
    assert message in error({**BIN, name: text})


def test_non_string_json_values_accepted_as_their_str() -> None:
    h = parse_hyperparameters({"predictor_type": "regressor", "epochs": 3, "use_bias": False, "wd": 1e-05})
    assert (h.epochs, h.use_bias, h.wd) == (3, False, 1e-05)
    assert h.raw["use_bias"] == "False"
    assert "epochs: must be a string (got JSON list)" in error({**BIN, "epochs": [3]})


# ---- names ----


def test_reserved_and_ignored_keys() -> None:
    raw = {
        **BIN,
        "_kvstore": "dist_sync",
        "_num_gpus": "auto",
        "force_dense": "True",
        "sagemaker_program": "x",
    }
    raw |= {"_enable_profiler": "false", "_data_format": "record", "sagemaker_region": '"us-west-2"'}
    h = parse_hyperparameters(raw)
    assert h.raw == raw and h.tuning_objective_metric is None and h.log_level == "info"


def test_log_level() -> None:
    assert parse(**BIN, _log_level="DEBUG").log_level == "debug"
    assert "_log_level: must be one of info, debug (got 'trace')" in error({**BIN, "_log_level": "trace"})


def test_unknown_names_with_suggestions() -> None:
    msg = error({**BIN, "epoch": "3", "learningrate": "0.1", "zzz": "1"})
    assert "unknown hyperparameter 'epoch' (did you mean 'epochs'?)" in msg
    assert "unknown hyperparameter 'learningrate' (did you mean 'learning_rate'?)" in msg
    assert "unknown hyperparameter 'zzz'" in msg and "'zzz' (did" not in msg


def test_every_kind_of_problem_in_one_message() -> None:
    raw = {"epochs": "0", "learning_rate": "-1", "mini_batch_size": "abc", "epoch": "3", "use_bias": "yes"}
    raw |= {"optimizer": "adagrad", "_tuning_objective_metric": "train:mse", "wd": "nan"}
    msg = error(raw)
    assert msg.startswith("invalid hyperparameters: missing required hyperparameter 'predictor_type'; ")
    parts = msg.split("; ")
    assert len(parts) == 9, parts
    for needle in [
        "epochs: must be an integer >= 1 (got '0')",
        "learning_rate: must be a number > 0 or 'auto' (got '-1')",
        "mini_batch_size: not an integer ('abc')",
        "unknown hyperparameter 'epoch' (did you mean 'epochs'?)",
        "use_bias: must be true or false (got 'yes')",
        "optimizer: must be one of auto, sgd, adam, rmsprop (got 'adagrad')",
        "_tuning_objective_metric: must start with 'validation:' or 'test:' (got 'train:mse')",
        "wd: must be a finite number (got 'nan')",
    ]:
        assert needle in msg
    assert msg.endswith("unknown hyperparameter 'epoch' (did you mean 'epochs'?)")  # unknown names last


# ---- auto resolution (reference §1.2, D1) ----


def test_defaults_resolved_binary() -> None:
    h = parse(**BIN)
    assert (h.optimizer, h.loss, h.learning_rate) == ("adam", "logistic", 0.01)
    assert (h.l1, h.wd, h.momentum, h.beta_1, h.beta_2) == (0.0, 1e-4, 0.0, 0.9, 0.999)
    assert (h.bias_lr_mult, h.bias_wd_mult, h.lr_scheduler_step) == (10.0, 0.0, 100)
    assert (h.lr_scheduler_factor, h.lr_scheduler_minimum_lr) == (0.99, 1e-5)
    assert (h.num_models, h.num_calibration_samples) == (32, 10_000_000)
    assert (h.normalize_data, h.normalize_label, h.unbias_data, h.unbias_label) == (True, False, True, False)
    assert (h.feature_dim, h.num_classes, h.positive_example_weight_mult) == (None, None, 1.0)
    assert (h.epochs, h.mini_batch_size, h.binary_classifier_model_selection_criteria) == (
        15,
        1000,
        "accuracy",
    )
    assert h.user_set == {"predictor_type"} and h.warnings == ()


@pytest.mark.parametrize(
    ("optimizer", "lr"), [("sgd", 0.1), ("adam", 0.01), ("rmsprop", 0.01), ("auto", 0.01)]
)
def test_learning_rate_auto_depends_on_optimizer(optimizer: str, lr: float) -> None:
    assert parse(**BIN, optimizer=optimizer, learning_rate="AUTO").learning_rate == lr


def test_regressor_label_scaling_follows_use_bias() -> None:
    h = parse(**REG)
    assert (h.loss, h.normalize_label, h.unbias_label, h.unbias_data) == ("squared_loss", True, True, True)
    h = parse(**REG, use_bias="false")
    assert (h.normalize_label, h.unbias_label, h.unbias_data) == (True, False, False)
    h = parse(**REG, use_bias="false", unbias_data="true", normalize_label="false")
    assert (h.normalize_label, h.unbias_label, h.unbias_data) == (False, False, True)


def test_label_scaling_ignored_for_classifiers() -> None:
    h = parse(**BIN, normalize_label="true", unbias_label="true")
    assert (h.normalize_label, h.unbias_label) == (False, False)
    assert any("normalize_label applies only to regressor" in w for w in h.warnings)


def test_data_dependent_values_stay_symbolic() -> None:
    h = parse(**BIN, feature_dim="auto", positive_example_weight_mult="Balanced")
    assert (h.feature_dim, h.positive_example_weight_mult) == (None, "balanced")
    assert parse(**BIN, positive_example_weight_mult="auto").positive_example_weight_mult == "auto"
    assert parse(**BIN, positive_example_weight_mult="2.5").positive_example_weight_mult == 2.5
    assert parse(**BIN, feature_dim="784").feature_dim == 784


def test_user_set_excludes_auto() -> None:
    h = parse(**BIN, learning_rate="auto", wd="0.01", positive_example_weight_mult="auto", l1='"0"')
    assert h.user_set == {"predictor_type", "wd", "l1"}
    assert (h.learning_rate, h.wd, h.l1) == (0.01, 0.01, 0.0)


def test_as_log_dict_is_json_and_default_configuration_strings() -> None:
    d = parse(**MC, _tuning_objective_metric="validation:dcg").as_log_dict()
    assert json.loads(json.dumps(d)) == d
    assert (
        d["num_classes"] == 3
        and d["feature_dim"] == "auto"
        and d["_tuning_objective_metric"] == "validation:dcg"
    )
    assert set(default_configuration()) == {p.name for p in PARAMS} - {"predictor_type", "num_classes"}
    assert (
        parse_hyperparameters({**default_configuration(), **BIN}).as_log_dict() == parse(**BIN).as_log_dict()
    )


# ---- cross-field rules ----


@pytest.mark.parametrize(
    ("legacy", "current"), [("f1", "f_beta"), ("cross_entropy_loss", "loss_function"), ("F1", "f_beta")]
)
def test_legacy_criteria_names(legacy: str, current: str) -> None:
    assert (
        parse(
            **BIN, binary_classifier_model_selection_criteria=legacy
        ).binary_classifier_model_selection_criteria
        == current
    )


def test_num_classes_required_and_ranged_for_multiclass_only() -> None:
    assert "num_classes: required when predictor_type is multiclass_classifier" in error(
        {"predictor_type": "multiclass_classifier"}
    )
    assert "num_classes: must be an integer in [3, 1000000] (got '2')" in error({**MC, "num_classes": "2"})
    assert parse(**MC).num_classes == 3
    h = parse(**BIN, num_classes="1")  # the SDK's own unit test sends this
    assert h.num_classes is None and "num_classes is ignored" in h.warnings[0]
    assert parse(**REG, num_classes="abc").num_classes is None


@pytest.mark.parametrize("ptype", sorted(LOSSES_BY_TYPE))
def test_loss_must_suit_predictor_type(ptype: str) -> None:
    raw = {"predictor_type": ptype, "num_classes": "4"}
    for loss in {x for v in LOSSES_BY_TYPE.values() for x in v}:
        if loss in LOSSES_BY_TYPE[ptype]:
            assert parse_hyperparameters({**raw, "loss": loss}).loss == loss
        else:
            msg = error({**raw, "loss": loss.upper()})
            assert f"loss: '{loss}' is not valid for predictor_type '{ptype}'; allowed: auto, " in msg
            assert ", ".join(LOSSES_BY_TYPE[ptype]) in msg
    assert parse_hyperparameters({**raw, "loss": "auto"}).loss == LOSSES_BY_TYPE[ptype][0]


@pytest.mark.parametrize("ptype", sorted(TUNING_METRICS))
def test_tuning_metric_valid_per_type_and_forces_one_model(ptype: str) -> None:
    raw = {"predictor_type": ptype, "num_classes": "5", "num_models": "8"}
    for metric in TUNING_METRICS[ptype]:
        h = parse_hyperparameters({**raw, "_tuning_objective_metric": f"validation:{metric}"})
        assert h.tuning_objective_metric == f"validation:{metric}" and h.num_models == 1
        assert any("forced to 1" in w for w in h.warnings)
    others = {m for v in TUNING_METRICS.values() for m in v} - set(TUNING_METRICS[ptype])
    for metric in others:
        msg = error({**raw, "_tuning_objective_metric": f"test:{metric}"})
        assert f"'{metric}' is not a test metric for predictor_type '{ptype}'; allowed: objective_loss" in msg


def test_tuning_metric_details() -> None:
    assert (
        parse(**BIN, _tuning_objective_metric='"Test:binary_f_beta"').tuning_objective_metric
        == "test:binary_f_beta"
    )
    assert parse(**BIN, _tuning_objective_metric="validation:objective_loss").num_models == 1
    assert "'rmse' is not a test metric" in error({**REG, "_tuning_objective_metric": "test:rmse"})
    assert (
        parse(**REG, _tuning_objective_metric="validation:rmse").tuning_objective_metric == "validation:rmse"
    )
    assert "must start with 'validation:' or 'test:'" in error({**REG, "_tuning_objective_metric": "mse"})


# ---- properties ----


@given(st.floats(min_value=1e-300, max_value=1e300, allow_nan=False))
def test_any_positive_float_roundtrips_through_str(x: float) -> None:
    assert parse(**BIN, learning_rate=str(x)).learning_rate == x
    assert parse(**BIN, learning_rate=json.dumps(str(x))).learning_rate == x


@given(st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=6))
def test_random_input_gives_result_or_client_error(raw: dict) -> None:
    try:
        parse_hyperparameters({**BIN, **raw})
    except ClientError as exc:
        assert str(exc).startswith("invalid hyperparameters: ")


# ---- the real SDK ----


@pytest.fixture(scope="module")
def sdk_session():  # noqa: ANN201 - sagemaker types are optional here
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-west-2"))
        mp.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
        from sagemaker.local import LocalSession

        yield LocalSession()


SDK_CASES = [
    dict(predictor_type="binary_classifier", use_bias=False, learning_rate=1e-05, epochs=10, init_bias=-0.5),
    dict(predictor_type="binary_classifier", binary_classifier_model_selection_criteria="f1", num_classes=1),
    dict(predictor_type="binary_classifier", positive_example_weight_mult="balanced", loss="hinge_loss", margin=0.0),
    dict(predictor_type="binary_classifier", positive_example_weight_mult="auto", target_recall=0.9, f_beta=2.0),
    dict(predictor_type="binary_classifier", binary_classifier_model_selection_criteria="precision_at_target_recall"),
    dict(predictor_type="binary_classifier", binary_classifier_model_selection_criteria="cross_entropy_loss"),
    dict(predictor_type="binary_classifier", binary_classifier_model_selection_criteria="recall_at_target_precision",
         target_precision=0.95, positive_example_weight_mult="3.5"),
    dict(predictor_type="multiclass_classifier", num_classes=10, balance_multiclass_weights=True, accuracy_top_k=5,
         loss="softmax_loss", optimizer="rmsprop", beta_1=0.5),
    dict(predictor_type="regressor", loss="huber_loss", huber_delta=0.25, normalize_label=False, unbias_label=True),
    dict(predictor_type="regressor", loss="quantile_loss", quantile=0.9, optimizer="sgd", momentum=0.9, wd=0.0, l1=1e-07),
    dict(predictor_type="regressor", loss="eps_insensitive_squared_loss", loss_insensitivity=0.1, init_method="normal",
         init_sigma=0.001, init_scale=0.5, use_lr_scheduler=False, lr_scheduler_step=50, lr_scheduler_factor=0.5,
         lr_scheduler_minimum_lr=1e-06),
    dict(predictor_type="regressor", loss="eps_insensitive_absolute_loss", normalize_data=False, unbias_data=False,
         num_models=4, num_calibration_samples=100000, num_point_for_scaler=500, early_stopping_patience=20,
         early_stopping_tolerance=1e-05, bias_lr_mult=1.0, bias_wd_mult=0.5, beta_2=0.99, mini_batch_size=64),
    dict(predictor_type="regressor", loss="absolute_loss", optimizer="auto", loss_insensitivity=1e-05),
    dict(predictor_type="multiclass_classifier", num_classes=1000000, loss="auto", optimizer="adam", f_beta=0.5),
]  # fmt: skip
LEGACY = {"f1": "f_beta", "cross_entropy_loss": "loss_function"}


@pytest.mark.parametrize("kwargs", SDK_CASES, ids=lambda kw: "-".join(f"{v}" for v in kw.values())[:60])
def test_sdk_hyperparameters_parse_to_what_the_sdk_meant(sdk_session, kwargs: dict) -> None:
    from sagemaker import LinearLearner

    est = LinearLearner(
        role="arn:aws:iam::123456789012:role/x",
        instance_count=1,
        instance_type="ml.c4.xlarge",
        sagemaker_session=sdk_session,
        data_location="s3://bucket/prefix/",
        **kwargs,
    )
    est.feature_dim, est.mini_batch_size = 7, 100  # what fit(RecordSet) adds
    sent = est.hyperparameters()
    assert all(isinstance(v, str) for v in sent.values())
    h = parse_hyperparameters(sent)
    expected = {**kwargs, "feature_dim": 7, "mini_batch_size": 100}
    for name, value in expected.items():
        if name == "num_classes" and kwargs["predictor_type"] != "multiclass_classifier":
            assert h.num_classes is None
            continue
        got = getattr(h, name)
        if value == "auto" and name not in ("positive_example_weight_mult",):
            assert got != "auto"  # resolved to a concrete value
        elif name == "positive_example_weight_mult" and value not in ("auto", "balanced"):
            assert got == float(value)
        else:
            assert got == LEGACY.get(value, value) and type(got) is type(LEGACY.get(value, value)), name
    assert h.user_set >= {k for k, v in kwargs.items() if v != "auto" and k != "num_classes"}


# ---- class_names (our addition: names for the evaluation report and the artifact) ----


@pytest.mark.parametrize(
    "text",
    [
        '["Fair", "Good", "Very Good"]',
        "Fair, Good,Very Good",
        "['Fair', 'Good', 'Very Good']",
        '"Fair,Good,Very Good"',
    ],
)
def test_class_names_as_json_list_comma_separated_or_sdk_str(text: str) -> None:
    h = parse(**MC, class_names=text)
    assert h.class_names == ("Fair", "Good", "Very Good")
    assert json.loads(json.dumps(h.as_log_dict()))["class_names"] == ["Fair", "Good", "Very Good"]


def test_class_names_default_is_none_and_binary_needs_two() -> None:
    assert parse(**MC).class_names is None
    assert parse(**BIN, class_names="benign,malignant").class_names == ("benign", "malignant")
    assert "binary_classifier needs 2" in error({**BIN, "class_names": "a,b,c"})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("a,b", "2 names given, num_classes=3 needs 3"), ("a,,c", "non-empty"), ("a,a,b", "repeated: a")],
)
def test_class_names_problems_are_named(text: str, fragment: str) -> None:
    assert fragment in error({**MC, "class_names": text})


def test_class_names_ignored_for_regressor_with_a_warning() -> None:
    h = parse(**REG, class_names="a,b")
    assert h.class_names is None and any("class_names" in w for w in h.warnings)
