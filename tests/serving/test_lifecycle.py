"""Start-up and shutdown of the real server: fail fast on a broken model, log settings, drain on SIGTERM."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from sagemaker.serializers import CSVSerializer
from serving_helpers import Model, free_port, launch, start_server

#: SageMaker sends SIGKILL 30 s after SIGTERM (contract §7).
SIGKILL_AFTER_S = 30.0
FAST_EXIT_S = 15.0


def opt_ml_copy(model: Model, tmp_path: Path) -> Path:
    base = tmp_path / "opt_ml"
    shutil.copytree(model.base_dir / "model", base / "model")
    return base


def wait_exit(server, limit: float) -> tuple[int, float]:
    start = time.monotonic()
    try:
        code = server.proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
        raise AssertionError(f"still running after {limit} s\n{server.log()}") from None
    return code, time.monotonic() - start


@pytest.mark.parametrize("problem", ["missing", "corrupt", "empty-dir"])
def test_broken_model_exits_fast_with_a_clear_line(tmp_path, problem) -> None:
    base = tmp_path / "opt_ml"
    (base / "model").mkdir(parents=True)
    if problem == "corrupt":
        (base / "model" / "model_algo-1").write_bytes(b"PK\x03\x04 this is not a zip")
    elif problem == "missing":
        (base / "model" / "model.tar.gz").write_bytes(b"\x1f\x8b not extracted")
    server = launch(base, tmp_path / "server.log")
    code, _ = wait_exit(server, FAST_EXIT_S)
    assert code != 0
    log = server.log()
    assert f"cannot load model from {base / 'model' / 'model_algo-1'}" in log
    assert "Listening at" not in log  # never opened the port, so never answered /ping


def test_unusable_default_accept_exits_fast(models, tmp_path) -> None:
    base = opt_ml_copy(models["regressor"], tmp_path)
    server = launch(base, tmp_path / "server.log", {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/html"})
    code, _ = wait_exit(server, FAST_EXIT_S)
    assert code != 0
    assert "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT='text/html'" in server.log()


def test_worker_that_cannot_load_the_model_stops_the_master(tmp_path) -> None:
    """A model that breaks between the master's check and a worker's load: exit 3, no respawn loop.

    Several workers fail at once on purpose: gunicorn then raises HaltServer from inside its own halt().
    """
    code = (
        "import sys\n"
        "from linear_learner.env import ServingSettings\n"
        "from linear_learner.model.artifact import ModelLoadError\n"
        "from linear_learner.serving.server import gunicorn_options, serve\n"
        "def build():\n"
        "    raise ModelLoadError('cannot load model from /somewhere/model_algo-1: gone')\n"
        f"sys.exit(serve(build, gunicorn_options(ServingSettings(port={free_port()}, workers=4))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=FAST_EXIT_S)
    assert proc.returncode == 3, (proc.returncode, proc.stderr[-1500:])
    assert "cannot load model from /somewhere/model_algo-1" in proc.stderr
    assert proc.stderr.count("Booting worker") <= 8  # stopped instead of respawning


def test_settings_logged_and_sigterm_drains_an_in_flight_request(models, tmp_path) -> None:
    model = models["binary_classifier"]
    base = opt_ml_copy(model, tmp_path)
    server = start_server(
        base,
        tmp_path / "server.log",
        {
            "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": "45",
            "SAGEMAKER_MAX_PAYLOAD_IN_MB": "7",
        },
    )
    deadline = time.monotonic() + 20  # /ping answers once the first worker is ready; wait for the others
    while server.log().count("model loaded and warmed up") < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    log = server.log()
    assert log.count("model loaded and warmed up") == 3, log  # once per worker
    assert "request pipeline checked and warmed up" in log  # and once in the master, before the port opens
    for fragment in (
        "0.0.0.0:",
        "3 workers",
        "timeout 45 s",
        f"max payload {7 * 1024 * 1024} bytes",
        "feature_dim=30",
    ):
        assert fragment in log, (fragment, log)

    # A request still being sent when SIGTERM arrives gets its full answer before the server exits.
    rows = (CSVSerializer().serialize(model.X) + "\n").encode()
    first_part_sent = threading.Event()
    result: dict = {}

    def body():
        yield rows
        first_part_sent.set()
        time.sleep(1.0)
        yield rows * 99

    def send() -> None:
        try:
            result["response"] = requests.post(
                f"{server.url}/invocations", data=body(), headers={"Content-Type": "text/csv"}, timeout=30
            )
        except requests.RequestException as exc:
            result["error"] = exc

    sender = threading.Thread(target=send)
    sender.start()
    assert first_part_sent.wait(timeout=10)
    time.sleep(0.2)
    start = time.monotonic()
    code = server.stop(timeout=SIGKILL_AFTER_S)
    elapsed = time.monotonic() - start
    sender.join(timeout=30)
    assert code == 0, server.log()
    assert elapsed < SIGKILL_AFTER_S
    assert "error" not in result, result
    response = result["response"]
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 100 * model.X.shape[0]
