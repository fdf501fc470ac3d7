"""The SageMaker Python SDK v2 in local mode, end to end against the real image (no AWS).

Local mode writes a docker-compose file and runs `docker-compose up` (v1 here, against podman's Docker
API), mounts file:// channels under /opt/ml/input/data, tars /opt/ml/model into model.tar.gz under the
file:// output path, then serves that model with `docker-compose up` and talks to it on localhost.

Two paths: a generic `Estimator(image_uri=...)` with CSV channels, and the seed article's own code: the
image tagged as the built-in algorithm's ECR URI, so `sagemaker.LinearLearner` with RecordSet inputs trains
and deploys it unchanged and predictions are read from `x.label["predicted_label"].float32_tensor.values`.
"""

from __future__ import annotations

import os
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
from container_support import CSV, RECORDIO, Split, docker, free_port, report, write_channel_file

pytestmark = [
    pytest.mark.container,
    pytest.mark.skipif(
        os.environ.get("OLL_CONTAINER_TESTS") != "1",
        reason="container tests need a container engine: run local_test/container_tests.sh (sets OLL_CONTAINER_TESTS=1)",
    ),
]

REGION = "us-west-2"
ROLE = "arn:aws:iam::111111111111:role/SageMakerRole"  # never checked in local mode


def _algo_containers() -> set[str]:
    out = docker("ps", "-a", "--filter", "name=-algo-", "--format", "{{.ID}}", check=False).stdout
    return set(out.split())


@pytest.fixture
def local_session(engine: str, monkeypatch: pytest.MonkeyPatch):
    """A LocalSession that cannot reach AWS: a region, dummy credentials, no instance metadata lookups, and
    every AWS endpoint pointed at a closed loopback port so an accidental call fails at once."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local-mode-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-mode-test")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    from sagemaker.local import LocalSession

    session = LocalSession()
    # A free host port for the endpoint (local mode's default is 8080).
    session.config = {"local": {"local_code": True, "serving_port": free_port()}}
    before = _algo_containers()
    yield session
    # Local mode leaves its exited algo-1 containers behind (compose `up`, never `down`); remove ours.
    for cid in _algo_containers() - before:
        docker("rm", "-f", cid, check=False)


def _model_tar_members(model_data: str) -> list[str]:
    assert model_data.startswith("file://"), model_data
    with tarfile.open(model_data[len("file://") :]) as tf:
        return tf.getnames()


def _write_channels(root: Path, data: dict[str, Split], content_type: str) -> dict[str, Path]:
    suffix = "csv" if content_type == CSV else "pbr"
    dirs = {}
    for name, split in data.items():
        dirs[name] = root / name
        write_channel_file(dirs[name] / f"part-0.{suffix}", split.X, split.y, content_type)
    return dirs


def _no_endpoint_left(port: int) -> None:
    """After delete_endpoint nothing may still listen on the endpoint's port."""
    import requests

    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/ping", timeout=1)
        except requests.RequestException:
            return
        time.sleep(0.3)
    pytest.fail(f"the endpoint still answers on port {port} after delete_endpoint")


def test_generic_estimator_fit_deploy_predict(
    image: str, local_session, breast_cancer: dict[str, Split], tmp_path: Path
) -> None:
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.serializers import CSVSerializer

    dirs = _write_channels(tmp_path / "data", breast_cancer, CSV)
    estimator = Estimator(
        image_uri=image,
        role=ROLE,
        instance_count=1,
        instance_type="local",
        output_path=f"file://{tmp_path / 'output'}",
        sagemaker_session=local_session,
        hyperparameters={"predictor_type": "binary_classifier", "epochs": 5, "mini_batch_size": 32},
    )
    estimator.fit(
        {name: TrainingInput(f"file://{d}", content_type=CSV) for name, d in dirs.items()},
        logs=True,
    )
    assert "model_algo-1" in _model_tar_members(estimator.model_data)

    predictor = estimator.deploy(
        initial_instance_count=1,
        instance_type="local",
        serializer=CSVSerializer(),
        deserializer=JSONDeserializer(),
    )
    port = local_session.config["local"]["serving_port"]
    try:
        test = breast_cancer["test"]
        result = predictor.predict(test.X)
        predictions = result["predictions"]
        assert len(predictions) == len(test.y)
        labels = np.array([p["predicted_label"] for p in predictions])
        assert (labels == test.y).mean() > 0.85
    finally:
        predictor.delete_endpoint()
    _no_endpoint_left(port)


def evaluate_metrics(predictor, test_features: np.ndarray, test_labels: np.ndarray) -> dict[str, float]:
    """The seed article's evaluation, verbatim in substance: batches through the predictor, labels read
    from each Record's `predicted_label` tensor, then confusion counts."""
    prediction_batches = [predictor.predict(batch) for batch in np.array_split(test_features, 10)]
    test_preds = np.concatenate(
        [
            np.array([x.label["predicted_label"].float32_tensor.values[0] for x in batch])
            for batch in prediction_batches
        ]
    )
    tp = np.logical_and(test_labels, test_preds).sum()
    fp = np.logical_and(1 - test_labels, test_preds).sum()
    tn = np.logical_and(1 - test_labels, 1 - test_preds).sum()
    fn = np.logical_and(test_labels, 1 - test_preds).sum()
    return {
        "TP": tp,
        "FP": fp,
        "FN": fn,
        "TN": tn,
        "Precision": tp / (tp + fp) if tp + fp else 0.0,
        "Recall": tp / (tp + fn) if tp + fn else 0.0,
        "Accuracy": (tp + tn) / (tp + fp + tn + fn),
    }


def test_linear_learner_estimator_with_record_sets(
    image: str, local_session, breast_cancer: dict[str, Split], tmp_path: Path
) -> None:
    import sagemaker
    from sagemaker.amazon.amazon_estimator import RecordSet

    # The built-in algorithm's URI: local mode finds it among local images and neither logs in nor pulls.
    uri = sagemaker.image_uris.retrieve("linear-learner", REGION)
    docker("tag", image, uri)

    dirs = _write_channels(tmp_path / "data", breast_cancer, RECORDIO)
    record_sets = [
        RecordSet(
            f"file://{dirs[name]}",
            num_records=len(breast_cancer[name].y),
            feature_dim=breast_cancer[name].X.shape[1],
            s3_data_type="S3Prefix",
            channel=name,
            distribution="FullyReplicated",
        )
        for name in ("train", "validation", "test")
    ]
    linear = sagemaker.LinearLearner(
        role=ROLE,
        instance_count=1,
        instance_type="local",
        predictor_type="binary_classifier",
        epochs=5,
        output_path=f"file://{tmp_path / 'output'}",
        # Where record_set() would upload; given, so the SDK does not look up a default S3 bucket.
        data_location=f"file://{tmp_path / 'record-sets'}",
        sagemaker_session=local_session,
    )
    assert linear.training_image_uri() == uri
    linear.fit(record_sets, mini_batch_size=32)
    assert "model_algo-1" in _model_tar_members(linear.model_data)

    predictor = linear.deploy(initial_instance_count=1, instance_type="local")
    port = local_session.config["local"]["serving_port"]
    try:
        test = breast_cancer["test"]
        metrics = evaluate_metrics(predictor, test.X, test.y)
        report(
            f"LinearLearner (SDK local mode) test metrics: { ({k: round(float(v), 4) for k, v in metrics.items()}) }"
        )
        assert metrics["TP"] + metrics["FP"] + metrics["TN"] + metrics["FN"] == len(test.y)
        assert metrics["Accuracy"] > 0.85
        # The predictor's own deserializer gives the score too.
        records = predictor.predict(test.X[:3])
        scores = [r.label["score"].float32_tensor.values[0] for r in records]
        assert all(0.0 <= s <= 1.0 for s in scores)
    finally:
        predictor.delete_endpoint()
    _no_endpoint_left(port)
