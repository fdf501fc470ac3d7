"""Helpers for the container tests (fixtures are in conftest.py): the docker CLI, /opt/ml trees, /ping.

The engine is podman's Docker API (local_test/engine.sh); DOCKER_HOST defaults to its socket. The image
is built once per session with local_test/build_image.sh (a cache hit when local_test/container_tests.sh
has just built it). Nothing is mocked: the tests mount real /opt/ml trees into real containers.

These tests run only with OLL_CONTAINER_TESTS=1 (each module carries the skip marker).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
PODMAN_SOCKET = "unix:///run/podman/podman.sock"
CSV = "text/csv"
RECORDIO = "application/x-recordio-protobuf"
CHANNELS = ("train", "validation", "test")


def docker(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    """Run the docker CLI against the engine; output captured as text."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def report(line: str) -> None:
    """A measurement worth seeing in CI: printed, and appended to $OLL_CONTAINER_REPORT when set
    (local_test/container_tests.sh prints that file after pytest, whose output it keeps short)."""
    print(f"\n{line}")
    path = os.environ.get("OLL_CONTAINER_REPORT")
    if path:
        with open(path, "a") as fh:
            fh.write(line + "\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ----------------------------------------------------------------------------------------------------
# data and /opt/ml trees


@dataclass(frozen=True)
class Split:
    X: np.ndarray
    y: np.ndarray


def write_channel_file(path: Path, X: np.ndarray, y: np.ndarray | None, content_type: str) -> None:
    """CSV: label first, no header. RecordIO-protobuf: written by the SageMaker SDK's own writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if content_type == CSV:
        data = X if y is None else np.column_stack([y, X])
        np.savetxt(path, data, delimiter=",", fmt="%.9g")
    else:
        from sagemaker.amazon.common import write_numpy_to_dense_tensor

        with open(path, "wb") as fh:
            write_numpy_to_dense_tensor(fh, X, y)


def write_opt_ml(
    base: Path, data: dict[str, Split], content_type: str, hyperparameters: dict[str, object]
) -> Path:
    """An /opt/ml tree as SageMaker lays it out for a single-host File-mode training job."""
    cfg = base / "input" / "config"
    cfg.mkdir(parents=True, exist_ok=True)
    suffix = "csv" if content_type == CSV else "pbr"
    for name, split in data.items():
        write_channel_file(
            base / "input" / "data" / name / f"part-0.{suffix}", split.X, split.y, content_type
        )
    (cfg / "hyperparameters.json").write_text(json.dumps({k: str(v) for k, v in hyperparameters.items()}))
    (cfg / "inputdataconfig.json").write_text(
        json.dumps(
            {
                name: {
                    "ContentType": content_type,
                    "TrainingInputMode": "File",
                    "S3DistributionType": "FullyReplicated",
                }
                for name in data
            }
        )
    )
    (cfg / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"})
    )
    (base / "model").mkdir(exist_ok=True)
    (base / "output").mkdir(exist_ok=True)
    return base


BINARY_HYPERPARAMETERS = {"predictor_type": "binary_classifier", "epochs": 5, "mini_batch_size": 32}


def docker_run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`docker run` in the foreground, returning the container's real exit code.

    Not `--rm`: through podman's Docker API (4.3), `docker run --rm` reports 0 whatever the container
    returned, so the container is removed afterwards instead.
    """
    name = unique_name("oll-run")
    try:
        return docker("run", "--name", name, *args, timeout=timeout, check=False)
    finally:
        docker("rm", "-f", name, check=False, timeout=60)


def docker_train(opt_ml: Path, image: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`docker run -v TREE:/opt/ml IMAGE train`, as SageMaker starts a training container."""
    return docker_run("-v", f"{opt_ml}:/opt/ml", image, "train", timeout=timeout)


# ----------------------------------------------------------------------------------------------------
# running containers


@dataclass
class Served:
    name: str
    port: int
    cold_start_s: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def wait_for_ping(port: int, name: str, deadline_s: float = 240) -> float:
    """Poll /ping until 200; returns the monotonic time of the first 200 (SageMaker allows 4 minutes)."""
    import requests

    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if requests.get(f"http://127.0.0.1:{port}/ping", timeout=2).status_code == 200:
                return time.monotonic()
        except requests.RequestException:
            pass
        state = docker("inspect", "--format", "{{.State.Status}}", name, check=False)
        if state.returncode != 0 or state.stdout.strip() in ("exited", "dead"):
            logs = docker("logs", name, check=False)
            raise AssertionError(
                f"{name} stopped before /ping answered:\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}"
            )
        time.sleep(0.05)
    raise AssertionError(f"{name}: no 200 on /ping within {deadline_s} s")
