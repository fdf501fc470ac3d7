"""Fixtures for the container tests: the real image, run by a real engine through the `docker` CLI.

The engine is podman's Docker API (local_test/engine.sh); DOCKER_HOST defaults to its socket. The image
is built once per session with local_test/build_image.sh (a cache hit when local_test/container_tests.sh
has just built it). Nothing is mocked: the tests mount real /opt/ml trees into real containers.
These tests run only with OLL_CONTAINER_TESTS=1 (each module carries the skip marker).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from container_support import (
    BINARY_HYPERPARAMETERS,
    PODMAN_SOCKET,
    RECORDIO,
    REPO,
    Served,
    Split,
    docker,
    docker_train,
    free_port,
    unique_name,
    wait_for_ping,
    write_opt_ml,
)


@pytest.fixture(scope="session")
def engine() -> str:
    """DOCKER_HOST for the session; fails (not skips) when the engine is down, since the tests were asked for."""
    os.environ.setdefault("DOCKER_HOST", PODMAN_SOCKET)
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    if shutil.which("docker") is None:
        pytest.fail("the docker CLI is not installed (local_test/engine.sh installs it)")
    proc = docker("version", "--format", "{{.Server.Version}}", timeout=30, check=False)
    if proc.returncode != 0:
        pytest.fail(
            f"no container engine at {os.environ['DOCKER_HOST']}: start it with local_test/engine.sh\n{proc.stderr}"
        )
    return os.environ["DOCKER_HOST"]


@pytest.fixture(scope="session")
def image(engine: str) -> str:
    """The product image, built from the working tree's Dockerfile (a cache hit if nothing changed)."""
    tag = os.environ.get("OLL_IMAGE", "open-linear-learner:latest")
    env = {**os.environ, "IMAGE": tag}
    started = time.monotonic()
    proc = subprocess.run(
        [str(REPO / "local_test" / "build_image.sh")], env=env, capture_output=True, text=True, timeout=1800
    )
    if proc.returncode != 0:
        pytest.fail(f"build_image.sh failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    print(
        f"\nimage {tag} ready in {time.monotonic() - started:.1f} s: {proc.stderr.strip().splitlines()[-1]}"
    )
    return tag


@pytest.fixture(scope="session")
def breast_cancer() -> dict[str, Split]:
    """scikit-learn's breast cancer data (569 x 30, binary), shuffled 80/10/10 with a fixed seed."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X, y = X.astype(np.float32), y.astype(np.float32)
    idx = np.random.default_rng(0).permutation(len(y))
    a, b = int(0.8 * len(y)), int(0.9 * len(y))
    parts = {"train": idx[:a], "validation": idx[a:b], "test": idx[b:]}
    return {name: Split(X[rows], y[rows]) for name, rows in parts.items()}


@pytest.fixture(scope="session")
def trained_tree(
    image: str, breast_cancer: dict[str, Split], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """One model trained in the container (RecordIO channels), shared by the serving tests."""
    base = write_opt_ml(
        tmp_path_factory.mktemp("opt_ml_trained"), breast_cancer, RECORDIO, BINARY_HYPERPARAMETERS
    )
    proc = docker_train(base, image)
    assert proc.returncode == 0, (
        f"training in the container failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    assert (base / "model" / "model_algo-1").is_file()
    return base


@pytest.fixture
def serve_container(image: str) -> Iterator[Callable[[Path], Served]]:
    """Starts `docker run -d -p PORT:8080 -v MODEL:/opt/ml/model IMAGE serve`; removes it afterwards."""
    started: list[str] = []

    def start(model_dir: Path, *extra: str) -> Served:
        name, port = unique_name("oll-serve"), free_port()
        t0 = time.monotonic()
        docker(
            "run",
            "-d",
            "--name",
            name,
            "-p",
            f"127.0.0.1:{port}:8080",
            "-v",
            f"{model_dir}:/opt/ml/model:ro",
            *extra,
            image,
            "serve",
        )
        started.append(name)
        first_200 = wait_for_ping(port, name)
        return Served(name, port, first_200 - t0)

    yield start
    for name in started:
        docker("rm", "-f", name, check=False, timeout=60)
