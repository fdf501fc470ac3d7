"""The Flask app in-process: behaviour that a real server cannot be pushed into, and settings wiring.

An unexpected failure (a bug) cannot be provoked through the wire on purpose, so it is provoked here with
a Predictor whose predict raises: the client must get a short 500 and the traceback must reach the log.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sagemaker.serializers import CSVSerializer
from serving_helpers import Model, Models

from linear_learner.env import ServingSettings
from linear_learner.model.artifact import load_artifact
from linear_learner.model.predictor import Predictor
from linear_learner.serving.app import create_app, execution_parameters, resolve_default_accept, warm_up


class ExplodingPredictor(Predictor):
    def predict(self, X):  # type: ignore[override]
        raise RuntimeError("secret internal detail")


@pytest.fixture
def binary(models: Models) -> Model:
    return models["binary_classifier"]


def test_unexpected_error_is_a_short_500_and_the_trace_goes_to_the_log(binary, caplog) -> None:
    app = create_app(ExplodingPredictor(load_artifact(binary.base_dir / "model")), ServingSettings())
    with caplog.at_level(logging.ERROR):
        response = app.test_client().post(
            "/invocations", data=CSVSerializer().serialize(binary.X[:2]), content_type="text/csv"
        )
    assert response.status_code == 500
    assert response.content_type == "text/plain; charset=utf-8"
    body = response.get_data(as_text=True)
    assert "internal server error" in body
    assert "secret internal detail" not in body and "Traceback" not in body
    assert any(r.exc_info and "secret internal detail" in str(r.exc_info[1]) for r in caplog.records)


def test_batch_mode_terminates_json_documents_with_a_newline(binary) -> None:
    predictor = Predictor(load_artifact(binary.base_dir / "model"))
    for is_batch, ending in ((True, b"}\n"), (False, b"}")):
        app = create_app(predictor, ServingSettings(is_batch=is_batch))
        response = app.test_client().post(
            "/invocations", data=CSVSerializer().serialize(binary.X[:2]), content_type="text/csv"
        )
        assert response.status_code == 200
        assert response.get_data().endswith(ending)


def test_default_accept_comes_from_the_settings(binary) -> None:
    app = create_app(
        Predictor(load_artifact(binary.base_dir / "model")), ServingSettings(default_accept="text/csv")
    )
    response = app.test_client().post(
        "/invocations", data=CSVSerializer().serialize(binary.X[:2]), content_type="text/csv"
    )
    assert response.status_code == 200 and response.content_type == "text/csv"
    assert response.get_data().count(b"\n") == 2


@pytest.mark.parametrize("value", ["text/html", "", "nonsense"])
def test_unusable_default_accept_is_refused_at_start(value) -> None:
    with pytest.raises(ValueError, match="SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"):
        resolve_default_accept(value)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, {"MaxConcurrentTransforms": 3, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}),
        (
            {
                "SAGEMAKER_MAX_PAYLOAD_IN_MB": "20",
                "SAGEMAKER_BATCH_STRATEGY": "SingleRecord",
                "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "2",
            },
            {"MaxConcurrentTransforms": 2, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 20},
        ),
        # Unset concurrency is capped so that MaxConcurrentTransforms x MaxPayloadInMB <= 100.
        (
            {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "50"},
            {"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 50},
        ),
        (
            {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"},
            {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 100},
        ),
        (
            {"SAGEMAKER_BATCH_STRATEGY": "multi_record"},
            {"MaxConcurrentTransforms": 3, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6},
        ),
    ],
)
def test_execution_parameters_honour_the_environment(env, expected) -> None:
    settings = ServingSettings.from_env({**env, "SAGEMAKER_MODEL_SERVER_WORKERS": "3"})
    assert execution_parameters(settings) == expected


@pytest.mark.parametrize("value", ["-1", "abc"])
def test_a_payload_limit_that_is_not_a_size_is_refused(value) -> None:
    with pytest.raises(ValueError, match="SAGEMAKER_MAX_PAYLOAD_IN_MB must be"):
        ServingSettings.from_env({"SAGEMAKER_MAX_PAYLOAD_IN_MB": value})


def test_declared_content_length_over_the_limit_is_refused_before_reading(binary) -> None:
    app = create_app(
        Predictor(load_artifact(binary.base_dir / "model")), ServingSettings(max_payload_bytes=100)
    )
    response = app.test_client().post("/invocations", data=b"1," * 100, content_type="text/csv")
    assert response.status_code == 413
    assert response.get_data(as_text=True).strip() == "payload of 200 bytes exceeds limit of 100 bytes"


def test_one_output_per_row_in_order(binary) -> None:
    """Rows sent in reverse come back in reverse: batch transform joins outputs to inputs by position."""
    app = create_app(Predictor(load_artifact(binary.base_dir / "model")), ServingSettings())
    X = binary.X[::-1]
    response = app.test_client().post(
        "/invocations",
        data=CSVSerializer().serialize(X),
        content_type="text/csv",
        headers={"Accept": "text/csv"},
    )
    labels = [int(line.split(",")[0]) for line in response.get_data(as_text=True).splitlines()]
    np.testing.assert_array_equal(labels, binary.expected.labels[::-1])


@pytest.mark.parametrize("kind", ["binary_classifier", "multiclass_classifier", "regressor"])
def test_warm_up_exercises_every_format_pair(models: Models, kind: str) -> None:
    predictor = Predictor(load_artifact(models[kind].base_dir / "model"))
    warm_up(create_app(predictor, ServingSettings()), predictor.artifact.feature_dim)


def test_warm_up_fails_loudly_when_the_pipeline_is_broken(binary) -> None:
    app = create_app(ExplodingPredictor(load_artifact(binary.base_dir / "model")), ServingSettings())
    with pytest.raises(RuntimeError, match="warm-up request text/csv -> application/json answered 500"):
        warm_up(app, binary.feature_dim)
