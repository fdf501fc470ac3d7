"""Training faults on the real `linear-learner train`: SIGTERM at a random point, a rerun in the same
folder, and a restarted job resuming from its checkpoint to the same model as an uninterrupted run.

The signal is sent at a seeded random moment inside the epoch loop (a random epoch's line, then a
random fraction of an epoch), so each run hits a different mini-batch whatever the machine's speed;
the seed is in the test id so a failure can be replayed.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from support.opt_ml import CSV, OptMl, write_csv

# All epochs run (no early stop), so a signal sent just after epoch line E < 10 always lands inside the loop.
HYPERPARAMETERS = {
    "predictor_type": "binary_classifier",
    "feature_dim": 40,
    "epochs": 40,
    "mini_batch_size": 100,
    "early_stopping_patience": 100,
}
FILE_NAME = "linear-learner-checkpoint.zip"


def _tree(base: Path, checkpoints: Path | None = None) -> OptMl:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(20_000, 40))
    y = (X @ rng.normal(size=40) + 0.5 * rng.normal(size=20_000) > 0).astype(float)
    opt = OptMl(base)
    opt.write_config(HYPERPARAMETERS, {"train": CSV})
    write_csv(opt.channel("train") / "train.csv", X, y)
    if checkpoints is not None:
        (base / "input" / "config" / "checkpointconfig.json").write_text(
            json.dumps({"LocalPath": str(checkpoints)})
        )
    return opt


def _start(opt: OptMl, log: Path) -> subprocess.Popen:
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(opt.base)}
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "linear_learner.cli", "train"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_for(predicate, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        ended = proc.poll() is not None
        assert not ended, (
            f"training ended ({proc.returncode}) early:\n{log.read_text(errors='replace')[-3000:]}"
        )
        assert time.monotonic() < deadline, "timed out waiting to inject the fault"
        time.sleep(0.02)


def _model(opt: OptMl) -> tuple[dict, dict[str, np.ndarray]]:
    with zipfile.ZipFile(opt.model_dir / "model_algo-1") as zf:
        arrays = {
            n[:-4]: np.load(io.BytesIO(zf.read(n)), allow_pickle=False)
            for n in zf.namelist()
            if n.endswith(".npy")
        }
        return json.loads(zf.read("manifest.json")), arrays


def _same_model(a: OptMl, b: OptMl) -> None:
    (ma, aa), (mb, ab) = _model(a), _model(b)
    assert ma == mb
    assert aa.keys() == ab.keys()
    for name in aa:
        np.testing.assert_array_equal(aa[name], ab[name], err_msg=name)


def _sigterm_then_check(opt: OptMl, proc: subprocess.Popen, log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143, log.read_text(errors="replace")[-3000:]
    line = opt.failure_line()
    assert line.startswith("ClientError: training was stopped by SIGTERM"), line
    assert opt.model_files() == [], "a half-written model was left behind"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> OptMl:
    """The uninterrupted run every interrupted one must reproduce (with checkpoints on, like them)."""
    base = tmp_path_factory.mktemp("reference")
    opt = _tree(base, base / "checkpoints")
    done = opt.train(timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return opt


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigterm_at_a_random_point_then_a_rerun_in_the_same_folder(
    tmp_path: Path, reference: OptMl, seed: int
):
    opt = _tree(tmp_path)  # no checkpoint config: the rerun starts from scratch
    log = tmp_path / "first.log"
    proc = _start(opt, log)
    rng = random.Random(seed)
    line = f"epoch={rng.randrange(10)}, train"
    _wait_for(lambda: line in log.read_text(errors="replace"), proc, log)
    time.sleep(rng.uniform(0.0, 0.1))
    _sigterm_then_check(opt, proc, log)

    second = opt.train(timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert not opt.failure.exists(), "the first run's failure reason leaked into the second"
    assert (opt.base / "output" / "success").exists()
    _same_model(opt, reference)


@pytest.mark.parametrize("seed", [4, 5])
def test_restarted_job_resumes_from_its_checkpoint_to_the_same_model(
    tmp_path: Path, reference: OptMl, seed: int
):
    checkpoints = tmp_path / "checkpoints"
    opt = _tree(tmp_path, checkpoints)
    log = tmp_path / "first.log"
    proc = _start(opt, log)
    _wait_for(lambda: (checkpoints / FILE_NAME).exists(), proc, log)
    time.sleep(random.Random(seed).uniform(0.0, 0.3))
    _sigterm_then_check(opt, proc, log)
    saved = json.loads(zipfile.ZipFile(checkpoints / FILE_NAME).read("state.json"))
    assert not saved["finished"]
    assert [p.name for p in checkpoints.iterdir()] == [FILE_NAME]  # no temp file left by the signal

    resumed = opt.train(timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"after epoch {saved['epoch']}" in resumed.stdout + resumed.stderr
    _same_model(opt, reference)
