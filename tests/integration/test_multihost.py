"""Multi-host training: 2 and 3 real `linear-learner train` processes on loopback host names.

Each process gets its own SAGEMAKER_BASE_DIR tree and resourceconfig.json (current_host 127.0.0.x,
the same sorted hosts) and a ShardedByS3Key share of the part files, as SageMaker would deliver them.
Data: scikit-learn's breast cancer set (569 rows, 30 features), split 80/10/10 with a fixed seed.

Tolerance: distributed runs use mini_batch_size per host (reference D9) and shuffle per shard, so
they do not repeat the single-host run's updates; with the same global batch (single host 100 rows,
2 hosts x 50) test accuracy must agree within 0.035 (2 of 57 rows), ROC AUC within 0.01 and
test cross-entropy within 0.03.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from support.opt_ml import RECORDIO, OptMl, split_80_10_10, write_recordio

needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch not installed (pip install torch==2.13.0)"
)
# Selection by loss: sampled accuracy on a 57-row validation set flips between epochs on noise, so
# two correct runs with different batch compositions could pick different epochs.
HP = {
    "predictor_type": "binary_classifier",
    "epochs": 5,
    "num_models": 4,
    "mini_batch_size": 50,
    "binary_classifier_model_selection_criteria": "loss_function",
}
PARTS = 6  # part files per channel; file i goes to host i % n (ShardedByS3Key-like)
_QUALITY = re.compile(r"#quality_metric: host=\S+, test (\S+) <(?:loss|score)>=(\S+)")
HIDE_TORCH = """
import sys
class _HideTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch' (hidden by the test)", name=name)
sys.meta_path.insert(0, _HideTorch())
"""


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True)
    return split_80_10_10(X.astype(np.float32), y.astype(np.float32))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Host:
    opt: OptMl
    proc: subprocess.Popen

    @property
    def log(self) -> str:
        return (self.opt.base / "train.log").read_text()

    def test_metrics(self) -> dict[str, float]:
        return {name: float(v) for name, v in _QUALITY.findall(self.log)}


def start(tmp: Path, data, n: int, hp: dict, skip=(), extra_env=None) -> list[Host]:
    """One `linear-learner train` per host; skip holds (host index, channel) pairs that get no files."""
    hosts = [f"127.0.0.{i + 1}" for i in range(n)]
    env_common = {"OLL_DIST_PORT": str(free_port()), "OLL_DIST_TIMEOUT": "20", **(extra_env or {})}
    out = []
    for i, host in enumerate(hosts):
        opt = OptMl(tmp / host)
        resource = {"current_host": host, "hosts": list(reversed(hosts)), "network_interface_name": "eth9"}
        opt.write_config(hp, dict.fromkeys(("train", "validation", "test"), RECORDIO), resource)
        idc_path = opt.base / "input" / "config" / "inputdataconfig.json"
        idc = json.loads(idc_path.read_text())
        for entry in idc.values():
            entry["S3DistributionType"] = "ShardedByS3Key"
        idc_path.write_text(json.dumps(idc))
        for name, (X, y) in zip(("train", "validation", "test"), data, strict=True):
            folder = opt.channel(name)
            if (i, name) in skip:
                continue
            for p in range(PARTS):
                if p % n == i:
                    write_recordio(folder / f"part-{p}.rec", X[p::PARTS], y[p::PARTS])
        env = {**os.environ, "SAGEMAKER_BASE_DIR": str(opt.base), **env_common}
        log = open(opt.base / "train.log", "w")  # noqa: SIM115  (closed when the process ends)
        cmd = [sys.executable, "-m", "linear_learner.cli", "train"]
        out.append(Host(opt, subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)))
    return out


def wait_all(hosts: list[Host], timeout: float = 150) -> list[int]:
    deadline = time.monotonic() + timeout
    try:
        return [h.proc.wait(max(1.0, deadline - time.monotonic())) for h in hosts]
    finally:
        for h in hosts:
            if h.proc.poll() is None:
                h.proc.kill()


@pytest.fixture(scope="module")
def single_host(tmp_path_factory, data):
    """The reference: one host, all files, the same global batch as 2 hosts x 50."""
    (host,) = start(tmp_path_factory.mktemp("single"), data, 1, {**HP, "mini_batch_size": 100})
    assert wait_all([host]) == [0], host.log[-3000:]
    return host.test_metrics()


def assert_close_to(single: dict, multi: dict) -> None:
    assert multi["binary_classification_accuracy"] == pytest.approx(
        single["binary_classification_accuracy"], abs=0.035
    )
    assert multi["roc_auc_score"] == pytest.approx(single["roc_auc_score"], abs=0.01)
    obj = "binary_classification_cross_entropy_objective"
    assert multi[obj] == pytest.approx(single[obj], abs=0.03)


@needs_torch
def test_two_hosts_train_one_model_that_matches_single_host(tmp_path, data, single_host):
    hosts = start(tmp_path, data, 2, HP)
    assert wait_all(hosts) == [0, 0], hosts[0].log[-3000:] + hosts[1].log[-3000:]
    assert hosts[0].opt.model_files() == ["model_algo-1"]
    assert hosts[1].opt.model_files() == []  # only hosts[0] writes the model
    assert hosts[1].test_metrics() == {}  # metrics are reduced and printed once, by hosts[0]
    assert_close_to(single_host, hosts[0].test_metrics())
    assert "rank 1 of 2" in hosts[1].log


@needs_torch
def test_three_hosts_with_empty_train_and_validation_shards(tmp_path, data, single_host):
    # 127.0.0.3 holds no training data, 127.0.0.2 no validation data: both still take part.
    hosts = start(tmp_path, data, 3, HP, skip={(2, "train"), (1, "validation")})
    assert wait_all(hosts) == [0, 0, 0], "\n".join(h.log[-2000:] for h in hosts)
    assert [h.opt.model_files() for h in hosts] == [["model_algo-1"], [], []]
    assert "Host 127.0.0.3 has no training data" in hosts[2].log
    metrics = hosts[0].test_metrics()
    assert metrics["binary_classification_accuracy"] > 0.9
    assert metrics["roc_auc_score"] == pytest.approx(single_host["roc_auc_score"], abs=0.02)


@needs_torch
def test_a_bad_record_on_one_host_fails_every_host_with_the_same_client_error(tmp_path, data):
    (X, y), va, te = data
    y = y.copy()
    y[1] = 3.0  # row 1 lands in part-1.rec, which only 127.0.0.2 reads
    hosts = start(tmp_path, ((X, y), va, te), 2, HP)
    assert wait_all(hosts) == [1, 1]
    reasons = {h.opt.failure_line() for h in hosts}
    assert len(reasons) == 1
    (reason,) = reasons
    assert reason.startswith("ClientError: reading channel 'train' failed on 1 of 2 hosts; host 127.0.0.2:")
    assert "part-1.rec" in reason


@needs_torch
def test_a_killed_host_makes_the_others_fail_quickly_with_a_reason(tmp_path, data):
    hosts = start(tmp_path, data, 2, {**HP, "epochs": 400, "mini_batch_size": 5, "num_models": 2})
    deadline = time.monotonic() + 90
    while "#progress_metric" not in hosts[1].log and time.monotonic() < deadline:
        assert hosts[1].proc.poll() is None, hosts[1].log[-3000:]
        time.sleep(0.2)
    hosts[0].proc.send_signal(signal.SIGKILL)  # the rendezvous host itself
    t0 = time.monotonic()
    code = hosts[1].proc.wait(60)
    took = time.monotonic() - t0
    assert code == 2 and took < 25, (code, took)
    reason = hosts[1].opt.failure_line()
    assert reason.startswith("AlgorithmError: HostLost: host 127.0.0.2 (rank 1 of 2) lost contact"), reason
    assert hosts[1].opt.model_files() == []


def test_without_torch_multi_host_fails_at_start_and_single_host_never_imports_it(tmp_path, data):
    hide = tmp_path / "hide_torch"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE_TORCH)
    env = {"PYTHONPATH": os.pathsep.join([str(hide), os.environ.get("PYTHONPATH", "")])}
    multi = start(tmp_path / "multi", data, 2, HP, extra_env=env)
    assert wait_all(multi) == [1, 1]
    for host in multi:
        reason = host.opt.failure_line()
        assert reason.startswith("ClientError: resourceconfig.json names 2 hosts"), reason
        assert "pip install 'open-linear-learner[distributed]'" in reason
        assert host.opt.model_files() == []
    (single,) = start(tmp_path / "single", data, 1, HP, extra_env=env)
    assert wait_all([single]) == [0], single.log[-3000:]
    assert single.opt.model_files() == ["model_algo-1"]
