"""Pipe mode end to end: `linear-learner train` as a subprocess reading FIFOs fed by local_test/pipe_feeder.py."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from linear_learner.model.artifact import load_artifact
from support.opt_ml import CSV, RECORDIO, OptMl, write_csv, write_recordio

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("pipe_feeder", REPO / "local_test" / "pipe_feeder.py")
pipe_feeder = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pipe_feeder)
PipeFeeder = pipe_feeder.PipeFeeder

HP = {"predictor_type": "binary_classifier", "epochs": 3, "mini_batch_size": 100, "num_models": 4}
# Both modes stream with the same small shuffle buffer, so they must train the identical model.
STREAM_ENV = {"LINEAR_LEARNER_MEMORY_BUDGET": "1000", "LINEAR_LEARNER_SHUFFLE_BUFFER": "64K"}


def _data(n: int = 3000, d: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X @ rng.normal(size=d) + 0.3 * rng.normal(size=n) > 0).astype(np.float32)
    order = np.argsort(y, kind="stable")  # label-sorted: training only works if the feed shuffles
    return X[order], y[order]


def _set_mode(opt: OptMl, mode: str, channels: dict, **extra) -> None:
    cfg = opt.base / "input" / "config" / "inputdataconfig.json"
    idc = json.loads(cfg.read_text())
    for name in channels:
        idc[name]["TrainingInputMode"] = mode
        idc[name].update(extra)
    cfg.write_text(json.dumps(idc))


def _file_job(tmp_path: Path, files: dict[str, Path], content_type: str) -> OptMl:
    opt = OptMl(tmp_path / "file")
    opt.write_config(HP, {name: content_type for name in files})
    for name, path in files.items():
        shutil.copy(path, opt.channel(name) / path.name)
    return opt


def _pipe_job(tmp_path: Path, files: dict[str, Path], content_type: str, **extra) -> OptMl:
    opt = OptMl(tmp_path / "pipe")
    opt.write_config(HP, {name: content_type for name in files})
    _set_mode(opt, "Pipe", files, **extra)
    (opt.base / "input" / "data").mkdir(parents=True, exist_ok=True)
    return opt


def _run_pipe(opt: OptMl, files: dict[str, Path], env: dict, **feeder_kw):
    feeders = [
        PipeFeeder(opt.base / "input" / "data", name, [path], **feeder_kw) for name, path in files.items()
    ]
    for f in feeders:
        f.start()
    try:
        run = opt.train(timeout=300, extra_env=env)
    finally:
        for f in feeders:
            f.stop()
    for f in feeders:
        assert f.error is None, f.error
    return run, feeders


def test_file_and_pipe_streaming_train_the_same_model(tmp_path):
    X, y = _data()
    src = {"train": write_recordio(tmp_path / "src" / "train.pbr", X, y)}
    file_opt = _file_job(tmp_path, src, RECORDIO)
    run = file_opt.train(timeout=300, extra_env=STREAM_ENV)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "streaming it" in run.stdout
    pipe_opt = _pipe_job(tmp_path, src, RECORDIO)
    run, (feeder,) = _run_pipe(pipe_opt, src, STREAM_ENV)
    assert run.returncode == 0, run.stderr[-3000:]
    # epochs 0..2 plus one pass for model selection and one for the train report: one FIFO each
    assert feeder.completed[:3] == [0, 1, 2]
    a, b = load_artifact(file_opt.model_dir), load_artifact(pipe_opt.model_dir)
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.bias, b.bias)
    assert a.threshold == b.threshold
    acc = float(np.mean(((X @ a.weights[:, 0] + a.bias[0]) > 0) == (y > 0.5)))
    assert acc > 0.9, acc  # label-sorted input trained well: the streamed order is shuffled


def test_a_pipe_job_says_that_it_writes_no_checkpoints(tmp_path):
    X, y = _data(500, 3)
    src = {"train": write_recordio(tmp_path / "src" / "train.pbr", X, y)}
    opt = _pipe_job(tmp_path, src, RECORDIO)
    config = opt.base / "input" / "config" / "checkpointconfig.json"
    config.write_text(json.dumps({"LocalPath": str(tmp_path / "ckpt")}))
    run, _ = _run_pipe(opt, src, {})
    assert run.returncode == 0, run.stderr[-3000:]
    (warning,) = [
        line for line in (run.stdout + run.stderr).splitlines() if "checkpoints are written" in line
    ]
    assert "streamed (Pipe mode" in warning and "a restart trains from the first epoch" in warning
    assert not (tmp_path / "ckpt").exists() or not any((tmp_path / "ckpt").iterdir())


def test_pipe_csv_gzip_and_recordio_wrapper(tmp_path):
    X, y = _data(1200, 4, seed=1)
    src = {
        "train": write_csv(tmp_path / "src" / "train.csv", X, y),
        "validation": write_csv(tmp_path / "src" / "v.csv", X[:300], y[:300]),
    }
    opt = _pipe_job(tmp_path, src, CSV, CompressionType="Gzip", RecordWrapperType="RecordIO")
    run, _ = _run_pipe(opt, src, {}, gzip=True, wrap_recordio=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "#quality_metric: host=algo-1, validation" in run.stdout or "validation " in run.stdout
    assert opt.model_files()


def test_fifo_that_never_appears_is_a_client_error(tmp_path):
    X, y = _data(200, 3)
    src = {"train": write_recordio(tmp_path / "src" / "train.pbr", X, y)}
    opt = _pipe_job(tmp_path, src, RECORDIO)
    run = opt.train(timeout=120, extra_env={"LINEAR_LEARNER_PIPE_TIMEOUT": "1"})
    assert run.returncode == 1
    line = opt.failure_line()
    assert line.startswith("ClientError") and "pipe 'train_0'" in line and "byte 0" in line, line
    assert opt.model_files() == []


def test_a_fifo_that_is_never_written_to_is_a_client_error(tmp_path):
    """The FIFO exists but no writer ever opens it: a plain blocking open() would wait forever."""
    X, y = _data(200, 3)
    src = {"train": write_recordio(tmp_path / "src" / "train.pbr", X, y)}
    opt = _pipe_job(tmp_path, src, RECORDIO)
    os.mkfifo(opt.base / "input" / "data" / "train_0")
    run = opt.train(timeout=120, extra_env={"LINEAR_LEARNER_PIPE_TIMEOUT": "2"})
    assert run.returncode == 1, run.stderr[-2000:]
    line = opt.failure_line()
    assert line.startswith("ClientError: channel 'train' pipe 'train_0' (byte 0): no data for 2 s"), line
    assert opt.model_files() == []


def test_sigterm_while_waiting_on_a_silent_fifo_stops_the_job(tmp_path):
    X, y = _data(200, 3)
    src = {"train": write_recordio(tmp_path / "src" / "train.pbr", X, y)}
    opt = _pipe_job(tmp_path, src, RECORDIO)
    fifo = opt.base / "input" / "data" / "train_0"
    os.mkfifo(fifo)
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(opt.base), "LINEAR_LEARNER_PIPE_TIMEOUT": "600"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "linear_learner.cli", "train"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    writer = None
    try:
        deadline = time.monotonic() + 60
        while writer is None and time.monotonic() < deadline:
            # once the job has opened its end, a writer opens the FIFO and never writes
            try:
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: the job has not opened the FIFO yet
                time.sleep(0.05)
        assert writer is not None, "the job never opened its FIFO"
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if writer is not None:
            os.close(writer)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, out[-3000:]
    assert opt.failure_line().startswith("ClientError: training was stopped by SIGTERM"), opt.failure_line()
    assert "waiting for data on channel 'train' pipe 'train_0'" in opt.failure_line()
    assert opt.model_files() == []


def _stride(data: bytes) -> int:
    length = int.from_bytes(data[4:8], "little")
    return 8 + length + (4 - length % 4) % 4


@pytest.mark.parametrize(
    ("mangle", "expect"),
    [
        (lambda b: b[: 3 * _stride(b)] + b"\x00" * 4 + b[3 * _stride(b) + 4 :], "bad magic"),
        (lambda b: b[:-7], "truncated payload"),
    ],
)
def test_bad_framing_in_a_pipe_names_pipe_and_byte(tmp_path, mangle, expect):
    X, y = _data(50, 3)
    good = write_recordio(tmp_path / "src" / "good.pbr", X, y)
    bad = tmp_path / "src" / "train.pbr"
    bad.write_bytes(mangle(good.read_bytes()))
    src = {"train": bad}
    opt = _pipe_job(tmp_path, src, RECORDIO)
    run, _ = _run_pipe(opt, src, {})
    assert run.returncode == 1, run.stderr[-2000:]
    line = opt.failure_line()
    assert "pipe 'train_0'" in line and "byte " in line and expect in line, line
    if expect == "bad magic":
        assert f"at byte {3 * _stride(good.read_bytes())}" in line, line


def test_empty_pipe_is_a_client_error(tmp_path):
    empty = tmp_path / "src" / "train.pbr"
    empty.parent.mkdir(parents=True)
    empty.write_bytes(b"")
    src = {"train": empty}
    opt = _pipe_job(tmp_path, src, RECORDIO)
    run, _ = _run_pipe(opt, src, {})
    assert run.returncode == 1
    line = opt.failure_line()
    assert "pipe 'train_0'" in line and "0 records" in line and "byte 0" in line, line
