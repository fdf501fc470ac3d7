"""Fixtures for the serving tests (helpers live in serving_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from serving_helpers import Models, Server, start_server


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    return Models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def binary_server(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One binary-classifier server shared by a module, with a 1 MiB payload limit to keep 413 tests small."""
    log_path = tmp_path_factory.mktemp("binary-server") / "server.log"
    server = start_server(
        models["binary_classifier"].base_dir, log_path, {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "1"}
    )
    yield server
    server.stop()
