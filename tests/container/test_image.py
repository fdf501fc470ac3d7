"""The image as SageMaker uses it: `docker run IMAGE train` on a mounted /opt/ml, `docker run IMAGE serve`,
and `docker stop` within SageMaker's SIGTERM-to-SIGKILL windows (contract §1, §7, §8)."""

from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests
from container_support import (
    BINARY_HYPERPARAMETERS,
    CSV,
    RECORDIO,
    Split,
    docker,
    docker_run,
    docker_train,
    report,
    unique_name,
    write_opt_ml,
)

pytestmark = [
    pytest.mark.container,
    pytest.mark.skipif(
        os.environ.get("OLL_CONTAINER_TESTS") != "1",
        reason="container tests need a container engine: run local_test/container_tests.sh (sets OLL_CONTAINER_TESTS=1)",
    ),
]


def test_image_metadata(image: str) -> None:
    """Exec-form entrypoint, port 8080, the bind-to-port label, unbuffered Python, no compiler on board."""
    config = json.loads(docker("image", "inspect", "--format", "{{json .Config}}", image).stdout)
    assert config["Entrypoint"] == ["linear-learner"]
    assert not config.get("Cmd")
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Labels"]["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PYTHONUNBUFFERED"] == "TRUE"
    assert env["PATH"].startswith("/opt/venv/bin:")
    probe = docker_run(
        "--entrypoint",
        "sh",
        image,
        "-c",
        "command -v gcc cc || true; ls /opt/venv/bin/pip* /root/.cache 2>/dev/null || true; "
        "python -c 'import importlib.util as u; print(u.find_spec(\"torch\") is None)'",
    )
    assert probe.stdout.split() == ["True"], (
        f"compiler, pip in the venv, a pip cache or torch in the image: {probe.stdout}"
    )
    size = int(docker("image", "inspect", "--format", "{{.Size}}", image).stdout)
    report(f"image size: {size / 1e6:.0f} MB ({size} bytes)")


@pytest.mark.parametrize("content_type", [CSV, RECORDIO], ids=["csv", "recordio"])
def test_docker_run_train(
    image: str, breast_cancer: dict[str, Split], tmp_path: Path, content_type: str
) -> None:
    base = write_opt_ml(tmp_path / "opt_ml", breast_cancer, content_type, BINARY_HYPERPARAMETERS)
    proc = docker_train(base, image)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    model = base / "model" / "model_algo-1"
    assert zipfile.is_zipfile(model)
    assert not (base / "output" / "failure").exists()
    assert "#quality_metric: host=" in out and "test binary_classification_accuracy" in out
    # The container's hostname is not algo-1 here, but the metric lines must still be well formed.
    accuracy = [line for line in out.splitlines() if "test binary_classification_accuracy <score>=" in line]
    assert float(accuracy[-1].rsplit("=", 1)[1]) > 0.85


def test_docker_run_train_client_error(image: str, breast_cancer: dict[str, Split], tmp_path: Path) -> None:
    """A bad hyperparameter: exit 1, a ClientError line in output/failure, nothing in model/."""
    hp = {**BINARY_HYPERPARAMETERS, "epochs": "zero"}
    base = write_opt_ml(tmp_path / "opt_ml", breast_cancer, RECORDIO, hp)
    proc = docker_train(base, image)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (base / "output" / "failure").read_text().startswith("ClientError:")
    assert list((base / "model").iterdir()) == []


def _csv_rows(X: np.ndarray) -> str:
    return "\n".join(",".join(f"{v:.9g}" for v in row) for row in X)


def test_docker_run_serve(trained_tree: Path, breast_cancer: dict[str, Split], serve_container) -> None:
    served = serve_container(trained_tree / "model")
    report(f"cold start (docker run -> first 200 on /ping): {served.cold_start_s:.2f} s")
    assert served.cold_start_s < 60

    test = breast_cancer["test"]
    r = requests.post(
        f"{served.url}/invocations",
        data=_csv_rows(test.X),
        headers={"Content-Type": "text/csv", "Accept": "application/json"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    assert len(predictions) == len(test.y)
    labels = np.array([p["predicted_label"] for p in predictions])
    scores = np.array([p["score"] for p in predictions])
    assert set(np.unique(labels)) <= {0, 1}
    assert np.all((scores >= 0) & (scores <= 1))
    assert (labels == test.y).mean() > 0.85

    # The SageMaker SDK's own RecordIO-protobuf writer and reader, as LinearLearnerPredictor uses them.
    from sagemaker.amazon.common import RecordDeserializer, RecordSerializer

    r = requests.post(
        f"{served.url}/invocations",
        data=RecordSerializer().serialize(test.X),
        headers={
            "Content-Type": "application/x-recordio-protobuf",
            "Accept": "application/x-recordio-protobuf",
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    records = RecordDeserializer().deserialize(__import__("io").BytesIO(r.content), r.headers["Content-Type"])
    pb_labels = np.array([rec.label["predicted_label"].float32_tensor.values[0] for rec in records])
    np.testing.assert_array_equal(pb_labels, labels)


def test_docker_stop_serving_within_30s(trained_tree: Path, serve_container) -> None:
    served = serve_container(trained_tree / "model")
    t0 = time.monotonic()
    docker("stop", "-t", "30", served.name, timeout=60)
    elapsed = time.monotonic() - t0
    code = int(docker("inspect", "--format", "{{.State.ExitCode}}", served.name).stdout)
    report(f"docker stop of the serving container: {elapsed:.2f} s (exit {code})")
    assert elapsed < 30
    assert code != 137, "the server ignored SIGTERM and was killed"


def test_docker_stop_training_within_120s(image: str, tmp_path: Path) -> None:
    """SIGTERM mid-training: the process stops at a mini-batch boundary, long before SIGKILL, with a failure
    reason and never a half-written model (either no model file or a complete one, no temp files)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20_000, 10)).astype(np.float32)
    y = (X @ rng.normal(size=10) + rng.normal(size=20_000) > 0).astype(np.float32)
    hp = {
        "predictor_type": "binary_classifier",
        "epochs": 100_000,
        "mini_batch_size": 10,
        "early_stopping_patience": 100_000,
    }
    base = write_opt_ml(tmp_path / "opt_ml", {"train": Split(X, y)}, RECORDIO, hp)
    name = unique_name("oll-train-stop")
    docker("run", "-d", "--name", name, "-v", f"{base}:/opt/ml", image, "train")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            logs = docker("logs", name, check=False)
            if (
                "epoch=0" in logs.stdout + logs.stderr
            ):  # at least one epoch finished: a model exists in memory
                break
            state = docker("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
            assert state == "running", (
                f"training ended before it could be stopped:\n{logs.stdout}{logs.stderr}"
            )
            time.sleep(0.2)
        else:
            pytest.fail("no epoch finished within 120 s")
        t0 = time.monotonic()
        docker("stop", "-t", "120", name, timeout=180)
        elapsed = time.monotonic() - t0
        code = int(docker("inspect", "--format", "{{.State.ExitCode}}", name).stdout)
        logs = docker("logs", name, check=False)
    finally:
        docker("rm", "-f", name, check=False)
    model_files = sorted(p.name for p in (base / "model").iterdir())
    report(f"docker stop of a training container: {elapsed:.2f} s (exit {code}, model/ {model_files})")
    assert elapsed < 120
    assert code == 143, logs.stdout[-2000:] + logs.stderr[-2000:]
    assert model_files in ([], ["model_algo-1"]), f"partial files left in model/: {model_files}"
    if model_files:
        with zipfile.ZipFile(base / "model" / "model_algo-1") as zf:
            assert zf.testzip() is None
    else:
        reason = (base / "output" / "failure").read_text()
        assert "SIGTERM" in reason, reason


def test_entrypoint_usage(image: str) -> None:
    """An unknown argument is refused with a usage line, not a traceback."""
    proc = docker_run(image, "bogus", timeout=120)
    assert proc.returncode != 0
    assert "usage" in (proc.stdout + proc.stderr).lower()
