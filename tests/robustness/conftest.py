"""Fixtures for the robustness tests: one small model served by real gunicorn (robust_server.py)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator

import pytest
from robust_server import Server, start_server, train_small_model


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("robust-serve")
    train_small_model(base)
    srv = start_server(base, base / "server.log")
    yield srv
    srv.proc.send_signal(signal.SIGTERM)
    try:
        srv.proc.wait(timeout=35)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
