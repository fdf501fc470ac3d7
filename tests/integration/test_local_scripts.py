"""local_test/train_local.sh, serve_local.sh and predict.sh on the committed iris test_dir, run as a
user runs them (on a copy, so the repo's test_dir stays clean), and the committed files equal what
make_test_dir.py generates."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

LOCAL_TEST = Path(__file__).resolve().parents[2] / "local_test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def script_env(**extra: str) -> dict[str, str]:
    """PATH led by this interpreter's bin, so the scripts find the installed `linear-learner`."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}", **extra}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    test_dir = tmp_path_factory.mktemp("byo") / "test_dir"
    shutil.copytree(LOCAL_TEST / "test_dir" / "input", test_dir / "input")
    run = subprocess.run(
        [str(LOCAL_TEST / "train_local.sh"), str(test_dir)],
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return test_dir


def test_train_local_writes_model_and_named_report(trained: Path) -> None:
    assert (trained / "model" / "model_algo-1").is_file()
    doc = json.loads((trained / "output" / "data" / "metrics.json").read_text())
    assert doc["class_names"] == ["setosa", "versicolor", "virginica"]
    assert doc["channels"]["test"]["metrics"]["multiclass_accuracy"] >= 0.8


def test_serve_local_and_predict(trained: Path) -> None:
    port = free_port()
    env = script_env(PORT=str(port))
    server = subprocess.Popen(
        [str(LOCAL_TEST / "serve_local.sh"), str(trained)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while True:
            assert server.poll() is None, "serve_local.sh exited"
            try:
                if requests.get(f"http://127.0.0.1:{port}/ping", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.time() < deadline, "no /ping within 60 s"
            time.sleep(0.2)
        predict = [str(LOCAL_TEST / "predict.sh")]
        run = subprocess.run(
            [*predict, str(LOCAL_TEST / "payload.csv")], env=env, capture_output=True, text=True, timeout=30
        )
        assert run.returncode == 0 and "HTTP 200, Content-Type: application/json" in run.stderr
        assert len(json.loads(run.stdout)["predictions"]) == 15
        run = subprocess.run(
            [*predict, str(LOCAL_TEST / "payload.json"), "application/json", "text/csv"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert run.returncode == 0 and len(run.stdout.strip().splitlines()) == 15
        run = subprocess.run(
            [*predict, str(LOCAL_TEST / "payload.csv"), "text/plain"], env=env, capture_output=True, text=True
        )
        assert "HTTP 415" in run.stderr and "supported" in run.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def test_predict_usage_error() -> None:
    run = subprocess.run([str(LOCAL_TEST / "predict.sh")], capture_output=True, text=True)
    assert run.returncode == 2 and "usage:" in run.stderr


def test_committed_test_dir_is_what_make_test_dir_generates(tmp_path: Path) -> None:
    copy = tmp_path / "local_test"
    copy.mkdir()
    shutil.copy(LOCAL_TEST / "make_test_dir.py", copy)
    subprocess.run([sys.executable, str(copy / "make_test_dir.py")], check=True, capture_output=True)
    for path in sorted((copy / "test_dir").rglob("*")) + [copy / "payload.csv", copy / "payload.json"]:
        if path.is_file():
            committed = LOCAL_TEST / path.relative_to(copy)
            assert committed.read_text() == path.read_text(), committed


def _feeder(data_dir: Path, *files: Path) -> subprocess.Popen:
    cmd = [
        sys.executable,
        str(LOCAL_TEST / "pipe_feeder.py"),
        "--data-dir",
        str(data_dir),
        "--channel",
        "train",
    ]
    return subprocess.Popen([*cmd, *map(str, files)], stderr=subprocess.PIPE, text=True)


def test_pipe_feeder_reuses_a_stale_fifo_and_removes_its_own_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "part.csv"
    data.write_text("1,2\n")
    os.mkfifo(tmp_path / "train_0")  # left behind by a feeder that was killed
    proc = _feeder(tmp_path, data)
    reader = os.open(tmp_path / "train_0", os.O_RDONLY)  # blocks until the feeder opens its end
    assert os.read(reader, 100) == b"1,2\n"
    os.close(reader)
    deadline = time.monotonic() + 30
    while not (tmp_path / "train_1").exists():  # the next pass's FIFO, waiting for a reader
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "1 pass(es) written" in err
    assert not (tmp_path / "train_1").exists()


def test_pipe_feeder_reports_its_error_and_exits_non_zero(tmp_path: Path) -> None:
    data = tmp_path / "part.csv"
    data.write_text("1,2\n")
    (tmp_path / "train_0").write_text("not a fifo")
    proc = _feeder(tmp_path, data)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "train_0 exists and is not a FIFO" in err
