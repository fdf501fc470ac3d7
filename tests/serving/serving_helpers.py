"""Helpers for the serving tests: models trained by `linear-learner train` on real datasets, real servers.

The server is a subprocess on a free loopback port with SAGEMAKER_BASE_DIR pointing at a tmp /opt/ml
tree, exactly as `linear-learner serve` runs in the container; nothing is mocked. (A module of its own
rather than conftest.py, which other test folders also have: `import conftest` would be ambiguous.)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from linear_learner.batch import Predictions
from linear_learner.model.artifact import load_artifact
from linear_learner.model.predictor import Predictor

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

PREDICTOR_TYPES = ("binary_classifier", "multiclass_classifier", "regressor")
#: The rows sent to the server in the prediction tests (a fixed, shuffled subset of each dataset).
N_TEST_ROWS = 40
#: `linear-learner serve` from the same environment as the tests (the console script next to python).
_CONSOLE_SCRIPT = Path(sys.executable).with_name("linear-learner")
CLI = [str(_CONSOLE_SCRIPT)] if _CONSOLE_SCRIPT.exists() else [sys.executable, "-m", "linear_learner.cli"]
SERVE_CMD = [*CLI, "serve"]
START_TIMEOUT_S = 120.0  # generous: a busy CI machine compiles and warms every codec first


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray  # (n, d) float64, as a user would hold it
    y: np.ndarray


def load_dataset(predictor_type: str) -> Dataset:
    loader = {
        "binary_classifier": load_breast_cancer,
        "multiclass_classifier": load_iris,
        "regressor": load_diabetes,
    }[predictor_type]
    X, y = loader(return_X_y=True)
    return Dataset(X=np.asarray(X, dtype=np.float64), y=np.asarray(y, dtype=np.float64))


HYPERPARAMETERS = {
    "binary_classifier": {"predictor_type": "binary_classifier"},
    "multiclass_classifier": {"predictor_type": "multiclass_classifier", "num_classes": "3"},
    "regressor": {"predictor_type": "regressor"},
}


def train_model(predictor_type: str, data: Dataset, base_dir: Path) -> None:
    """Train with the real `linear-learner train` in a tmp /opt/ml tree (label in column 0 of the CSV)."""
    config = base_dir / "input" / "config"
    config.mkdir(parents=True)
    hyperparameters = {**HYPERPARAMETERS[predictor_type], "feature_dim": str(data.X.shape[1]), "epochs": "5"}
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    channel = {
        "ContentType": "text/csv",
        "TrainingInputMode": "File",
        "S3DistributionType": "FullyReplicated",
    }
    (config / "inputdataconfig.json").write_text(json.dumps({"train": channel}))
    train_dir = base_dir / "input" / "data" / "train"
    train_dir.mkdir(parents=True)
    np.savetxt(train_dir / "train.csv", np.column_stack([data.y, data.X]), delimiter=",", fmt="%.17g")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEMAKER_")}
    cmd = [*CLI, "train"]
    done = subprocess.run(
        cmd, env={**env, "SAGEMAKER_BASE_DIR": str(base_dir)}, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"training failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    assert (base_dir / "model" / "model_algo-1").is_file()


@dataclass(frozen=True)
class Model:
    """A trained model on disk plus the rows we send and what the artifact says about them offline."""

    predictor_type: str
    base_dir: Path  # the /opt/ml tree; the artifact is in base_dir/model
    X: np.ndarray  # (N_TEST_ROWS, d) float64 rows to send
    expected: Predictions  # offline Predictor output for X as float32 (what every codec decodes to)

    @property
    def feature_dim(self) -> int:
        return int(self.X.shape[1])


def build_model(predictor_type: str, base_dir: Path) -> Model:
    data = load_dataset(predictor_type)
    order = np.random.default_rng(7).permutation(data.X.shape[0])
    held_out, train = order[:N_TEST_ROWS], order[N_TEST_ROWS:]
    train_model(predictor_type, Dataset(X=data.X[train], y=data.y[train]), base_dir)
    X = data.X[held_out]
    expected = Predictor(load_artifact(base_dir / "model")).predict(X.astype(np.float32))
    return Model(predictor_type=predictor_type, base_dir=base_dir, X=X, expected=expected)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 35.0) -> int:
        """SIGTERM and wait; the exit code (kills and fails loudly if it does not stop in time)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"server did not stop within {timeout} s after SIGTERM\n{self.log()}"
            ) from None


def server_env(base_dir: Path, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEMAKER_")}
    env.update(
        {
            "SAGEMAKER_BASE_DIR": str(base_dir),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "SAGEMAKER_MODEL_SERVER_WORKERS": "2",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def launch(base_dir: Path, log_path: Path, extra_env: dict[str, str] | None = None) -> Server:
    """Start the serve command without waiting for it (for tests about start-up failures)."""
    port = free_port()
    log_file = open(log_path, "wb")  # noqa: SIM115 - the child owns it for its lifetime
    proc = subprocess.Popen(
        SERVE_CMD, env=server_env(base_dir, port, extra_env), stdout=log_file, stderr=subprocess.STDOUT
    )
    log_file.close()
    return Server(proc=proc, url=f"http://127.0.0.1:{port}", log_path=log_path)


def start_server(base_dir: Path, log_path: Path, extra_env: dict[str, str] | None = None) -> Server:
    """Start the serve command and wait until /ping answers 200."""
    server = launch(base_dir, log_path, extra_env)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(f"server exited with {server.proc.returncode}\n{server.log()}")
        try:
            if requests.get(f"{server.url}/ping", timeout=1).status_code == 200:
                return server
        except requests.RequestException:  # refused, or accepted by the kernel before a worker is ready
            pass
        time.sleep(0.1)
    server.stop()
    raise AssertionError(f"server did not answer /ping within {START_TIMEOUT_S} s\n{server.log()}")


class Models:
    """Models per predictor type, trained on first use only (a test needing one type trains one)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._built: dict[str, Model] = {}

    def __getitem__(self, predictor_type: str) -> Model:
        if predictor_type not in self._built:
            self._built[predictor_type] = build_model(predictor_type, self._root / predictor_type)
        return self._built[predictor_type]
