"""Paths under SAGEMAKER_BASE_DIR and the SAGEMAKER_* serving settings, read once and frozen.

Nothing in the package reads the environment at import time: cli.py builds these objects and passes
them down, so tests can relocate everything with SAGEMAKER_BASE_DIR or by constructing them directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BASE_DIR = "/opt/ml"


@dataclass(frozen=True)
class Paths:
    """The /opt/ml-shaped tree (contract §2)."""

    base: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Paths:
        environ = os.environ if environ is None else environ
        return cls(Path(environ.get("SAGEMAKER_BASE_DIR") or DEFAULT_BASE_DIR))

    @property
    def config_dir(self) -> Path:
        return self.base / "input" / "config"

    @property
    def hyperparameters_file(self) -> Path:
        return self.config_dir / "hyperparameters.json"

    @property
    def inputdataconfig_file(self) -> Path:
        return self.config_dir / "inputdataconfig.json"

    @property
    def resourceconfig_file(self) -> Path:
        return self.config_dir / "resourceconfig.json"

    @property
    def checkpointconfig_file(self) -> Path:
        return self.config_dir / "checkpointconfig.json"

    @property
    def data_dir(self) -> Path:
        return self.base / "input" / "data"

    def channel_dir(self, channel: str) -> Path:
        return self.data_dir / channel

    def pipe_path(self, channel: str, epoch: int) -> Path:
        return self.data_dir / f"{channel}_{epoch}"

    @property
    def model_dir(self) -> Path:
        return self.base / "model"

    @property
    def output_dir(self) -> Path:
        return self.base / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def success_file(self) -> Path:
        return self.output_dir / "success"

    @property
    def default_checkpoint_dir(self) -> Path:
        return self.base / "checkpoints"


def _int_env(environ: Mapping[str, str], names: tuple[str, ...], default: int | None) -> int | None:
    for name in names:
        raw = environ.get(name)
        if raw is not None and raw.strip():
            try:
                return int(raw.strip())
            except ValueError as exc:
                raise ValueError(f"{name} must be an integer (got {raw!r})") from exc
    return default


@dataclass(frozen=True)
class ServingSettings:
    """Effective server settings (contract §8): port, workers, timeout, payload cap, defaults."""

    port: int = 8080
    workers: int = 1
    timeout_s: int = 60
    max_payload_bytes: int = 6 * 1024 * 1024
    max_payload_mb: int = 6
    default_accept: str = "application/json"
    batch_strategy: str | None = None
    max_concurrent_transforms: int | None = None
    is_batch: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServingSettings:
        environ = os.environ if environ is None else environ
        port = _int_env(environ, ("SAGEMAKER_BIND_TO_PORT",), 8080)
        workers = _int_env(
            environ, ("SAGEMAKER_MODEL_SERVER_WORKERS", "MODEL_SERVER_WORKERS"), os.cpu_count() or 1
        )
        timeout = _int_env(environ, ("SAGEMAKER_MODEL_SERVER_TIMEOUT", "MODEL_SERVER_TIMEOUT"), 60)
        payload_mb = _int_env(environ, ("SAGEMAKER_MAX_PAYLOAD_IN_MB",), 6)
        if payload_mb is not None and payload_mb < 0:
            raise ValueError(
                f"SAGEMAKER_MAX_PAYLOAD_IN_MB must be 0 (100 MiB) or a positive number of MiB (got {payload_mb})"
            )
        if payload_mb == 0:
            payload_mb = 100
        concurrent = _int_env(environ, ("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS",), None)
        strategy = (environ.get("SAGEMAKER_BATCH_STRATEGY") or "").strip() or None
        accept = (environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or "").strip() or "application/json"
        return cls(
            port=int(port or 8080),
            workers=max(1, int(workers or 1)),
            timeout_s=max(1, int(timeout or 60)),
            max_payload_bytes=int(payload_mb or 6) * 1024 * 1024,
            max_payload_mb=int(payload_mb or 6),
            default_accept=accept,
            batch_strategy=strategy,
            max_concurrent_transforms=concurrent,
            is_batch=(environ.get("SAGEMAKER_BATCH", "").strip().lower() == "true"),
        )
