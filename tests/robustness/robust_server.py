"""A small model trained by `linear-learner train` and a real gunicorn server on loopback (robustness tests, load bench).

The payload limit is raised to 64 MiB so that a single 50 MB CSV line reaches the decoder instead of
being refused by the size check (which tests/serving already covers).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import requests

from support.opt_ml import CSV, OptMl, write_csv

FEATURES = 3
PAYLOAD_MB = 64


def train_small_model(base: Path) -> OptMl:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, FEATURES))
    y = (X @ np.array([1.0, -2.0, 0.5]) > 0).astype(float)
    opt = OptMl(base)
    opt.write_config(
        {"predictor_type": "binary_classifier", "feature_dim": FEATURES, "epochs": 2}, {"train": CSV}
    )
    write_csv(opt.channel("train") / "train.csv", X, y)
    done = opt.train(timeout=300)
    assert done.returncode == 0, done.stderr
    return opt


@dataclass
class Server:
    proc: subprocess.Popen
    url: str

    def workers(self) -> set[int]:
        return {c.pid for c in psutil.Process(self.proc.pid).children()}

    def healthy(self) -> bool:
        return requests.get(f"{self.url}/ping", timeout=5).status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(base: Path, log: Path, workers: int = 2, payload_mb: int = PAYLOAD_MB) -> Server:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEMAKER_")}
    env.update(
        SAGEMAKER_BASE_DIR=str(base),
        SAGEMAKER_BIND_TO_PORT=str(port),
        SAGEMAKER_MODEL_SERVER_WORKERS=str(workers),
        SAGEMAKER_MAX_PAYLOAD_IN_MB=str(payload_mb),
    )
    cli = Path(sys.executable).with_name("linear-learner")
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(cli), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(proc, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 120  # the master and each worker warm up every codec before /ping
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if server.healthy() and len(server.workers()) == workers:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server did not start\n{log.read_text()}")
